"""Hypothesis strategy for random valid HistFactory workspaces covering every modifier.

Channels have 1-3 bins; samples carry random subsets of: normfactor (shared POI), shapefactor
(shared across channels of equal binning), normsys and histosys (a name shared by both types
and across channels), shapesys (one per sample and channel), staterror (one per channel,
combined over samples), lumi (configured in the measurement). Yields and uncertainties include
exact zeros so that fixed bins are exercised; the measurement may fix a parameter.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SAMPLES = ("sig", "bkg1", "bkg2")


@st.composite
def yields(draw: st.DrawFn, n: int, low: float = 1.0, high: float = 80.0) -> list[float]:
    values = draw(st.lists(st.floats(low, high), min_size=n, max_size=n))
    zeros = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    # at most one exact zero per sample, never all bins zero
    k = zeros.index(True) if any(zeros) and n > 1 else None
    return [0.0 if i == k else round(v, 3) for i, v in enumerate(values)]


@st.composite
def workspaces(draw: st.DrawFn) -> dict[str, Any]:
    nchannels = draw(st.integers(1, 3))
    channels, observations = [], []
    use_lumi = draw(st.booleans())
    for c in range(nchannels):
        nbins = draw(st.integers(1, 3))
        names = draw(
            st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=3, unique=True).map(sorted)
        )
        if c == 0 and "sig" not in names:
            names = ["sig", *names]
        samples = []
        for name in names:
            data = draw(yields(nbins))
            modifiers: list[dict[str, Any]] = []
            if name == "sig":
                modifiers.append({"name": "mu", "type": "normfactor", "data": None})
            if draw(st.booleans()):
                ns = draw(st.sampled_from(["ns_a", "ns_b", "shared_np"]))
                hi = round(draw(st.floats(1.01, 1.6)), 3)
                lo = round(draw(st.floats(0.5, 0.99)), 3)
                if draw(st.booleans()):
                    hi, lo = lo, hi  # anti-correlated variation
                modifiers.append({"name": ns, "type": "normsys", "data": {"hi": hi, "lo": lo}})
            if draw(st.booleans()):
                hs = draw(st.sampled_from(["hs_a", "shared_np"]))
                up = [round(v * draw(st.floats(0.8, 1.3)), 3) for v in data]
                dn = [round(v * draw(st.floats(0.7, 1.2)), 3) for v in data]
                modifiers.append(
                    {"name": hs, "type": "histosys", "data": {"hi_data": up, "lo_data": dn}}
                )
            if name != "sig" and draw(st.booleans()):
                unc = [round(draw(st.floats(0.0, 0.3)) * v, 3) for v in data]
                modifiers.append({"name": f"shapesys_{name}_c{c}", "type": "shapesys", "data": unc})
            if name != "sig" and draw(st.booleans()):
                unc = [round(draw(st.floats(0.0, 0.2)) * v, 3) for v in data]
                modifiers.append({"name": f"stat_c{c}", "type": "staterror", "data": unc})
            if name == "bkg2" and draw(st.booleans()):
                modifiers.append({"name": f"sf_{nbins}bins", "type": "shapefactor", "data": None})
            if use_lumi and draw(st.booleans()):
                modifiers.append({"name": "lumi", "type": "lumi", "data": None})
            samples.append({"name": name, "data": data, "modifiers": modifiers})
        channels.append({"name": f"ch{c}", "samples": samples})
        total = [sum(s["data"][b] for s in samples) for b in range(nbins)]
        observations.append(
            {"name": f"ch{c}", "data": [float(round(t * draw(st.floats(0.7, 1.3)))) for t in total]}
        )
    modifier_names = {
        (m["name"], m["type"]) for ch in channels for s in ch["samples"] for m in s["modifiers"]
    }
    parameters: list[dict[str, Any]] = []
    if ("lumi", "lumi") in modifier_names:
        sigma = round(draw(st.floats(0.01, 0.1)), 3)
        parameters.append(
            {
                "name": "lumi",
                "auxdata": [1.0],
                "sigmas": [sigma],
                "bounds": [[1 - 5 * sigma, 1 + 5 * sigma]],
                "inits": [1.0],
            }
        )
    fixable = sorted(n for n, t in modifier_names if t in ("normsys", "histosys"))
    if fixable and draw(st.booleans()):
        parameters.append({"name": draw(st.sampled_from(fixable)), "fixed": True})
    if draw(st.booleans()):
        parameters.append({"name": "mu", "bounds": [[-5.0, 10.0]], "inits": [0.5]})
    return {
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": parameters}}],
        "version": "1.0.0",
    }


CODES = st.sampled_from(
    [
        {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}},
        {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
        {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code2"}},
        {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code4p"}},
    ]
)
