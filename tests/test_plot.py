"""neos.plot: what the inference figures draw, and the atomic figure writer."""

from __future__ import annotations

import numpy as np
import pytest

import relaxed
from neos import plot

plt = plot.plt

#: pyhf 0.7.6 hello world at mu = 1, scipy converged tightly (tolerance 1e-14; GUIDE.md's
#: numbers, from pyhf's default tolerance, differ by ~1e-5 relative).
HELLO_CLS_OBS = 0.05251552
HELLO_CLS_EXP = [0.0026064, 0.01382064, 0.06445515, 0.2352609, 0.57304165]

#: Two channels (2 + 1 bins), every sample-level modifier kind that changes yields per sample.
TWO_CHANNEL_SPEC = {
    "channels": [
        {
            "name": "CR",
            "samples": [
                {
                    "name": "bkg",
                    "data": [100.0, 80.0],
                    "modifiers": [
                        {"name": "syst", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                        {
                            "name": "shape",
                            "type": "histosys",
                            "data": {"hi_data": [110.0, 78.0], "lo_data": [92.0, 83.0]},
                        },
                        {"name": "stat", "type": "staterror", "data": [5.0, 4.0]},
                    ],
                },
                {
                    "name": "sig",
                    "data": [1.0, 2.0],
                    "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                },
            ],
        },
        {
            "name": "SR",
            "samples": [
                {
                    "name": "bkg",
                    "data": [20.0],
                    "modifiers": [
                        {"name": "syst", "type": "normsys", "data": {"hi": 1.2, "lo": 0.85}},
                        {"name": "stat", "type": "staterror", "data": [2.0]},
                    ],
                },
                {
                    "name": "sig",
                    "data": [10.0],
                    "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                },
            ],
        },
    ]
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def hello(hello_world_spec):
    model = relaxed.Model(hello_world_spec)
    data = np.asarray([51.0, 48.0] + model.config.auxdata.tolist())
    return model, data


@pytest.fixture(scope="module")
def hello_fit(hello):
    model, data = hello
    pars, corr = relaxed.infer.mle.fit(
        data, model, return_uncertainties=True, return_correlations=True
    )
    return np.asarray(pars), np.asarray(corr)


@pytest.fixture(scope="module")
def two_channel():
    return relaxed.Model(TWO_CHANNEL_SPEC)


def _line(ax, label):
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return line


# -- brazil band -------------------------------------------------------------------------------
def _fake_scan(n=6):
    mu = np.linspace(0.0, 2.5, n)
    exp = np.exp(-np.outer(mu, [3.0, 2.2, 1.6, 1.1, 0.8]))
    return mu, np.exp(-1.5 * mu), exp


def test_brazil_band_draws_the_inputs():
    mu, obs, exp = _fake_scan()
    fig, ax = plt.subplots()
    assert plot.brazil_band(ax, mu, obs, exp) is ax
    np.testing.assert_array_equal(_line(ax, "observed").get_xydata(), np.c_[mu, obs])
    np.testing.assert_array_equal(_line(ax, "expected").get_ydata(), exp[:, 2])
    assert _line(ax, "expected").get_linestyle() == "--"
    level = _line(ax, "CL$_s$ = 0.05")
    assert list(level.get_ydata()) == [0.05, 0.05] and level.get_color() == "red"
    # the 2 sigma band (first) spans -2..+2 sigma, the 1 sigma band -1..+1 sigma
    two, one = ax.collections
    for band, (lo, hi) in ((two, (0, 4)), (one, (1, 3))):
        ys = band.get_paths()[0].vertices[:, 1]
        assert ys.min() == pytest.approx(exp[:, lo].min())
        assert ys.max() == pytest.approx(exp[:, hi].max())
    assert ax.get_xlabel() == r"$\mu$" and ax.get_ylabel() == "CL$_s$"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == [r"expected $\pm2\sigma$", r"expected $\pm1\sigma$"]


def test_brazil_band_marks_limits_and_tested_poi():
    mu, obs, exp = _fake_scan()
    fig, ax = plt.subplots()
    plot.brazil_band(
        ax, mu, None, exp, level=0.1, limits=(1.25, [0.5, 0.75, 1.0, 1.5, 2.0]), test_poi=0.7
    )
    labels = [line.get_label() for line in ax.get_lines()]
    assert "observed" not in labels
    assert _line(ax, "observed limit 1.25").get_xdata()[0] == 1.25
    assert _line(ax, "expected limit 1").get_xdata()[0] == 1.0
    assert _line(ax, r"tested $\mu$ = 0.7").get_xdata()[0] == 0.7
    assert list(_line(ax, "CL$_s$ = 0.1").get_ydata()) == [0.1, 0.1]


@pytest.mark.parametrize(
    ("obs", "exp", "message"),
    [
        (np.zeros(5), np.zeros((6, 5)), r"cls_obs must have shape \(6,\)"),
        (None, np.zeros((6, 4)), r"cls_exp must have shape \(6, 5\)"),
        (None, np.zeros((5, 6)), r"pass cls_exp.T"),
    ],
)
def test_brazil_band_rejects_mismatched_shapes(obs, exp, message):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=message):
        plot.brazil_band(ax, np.linspace(0, 1, 6), obs, exp)


def test_brazil_arrays_from_upper_limit_scan_match_pyhf(hello):
    model, data = hello
    # the scan must bracket every limit (the +2 sigma one is above 2)
    scan = np.asarray([0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
    obs, exp, scan_results = relaxed.infer.upper_limit(data, model, scan=scan, return_results=True)
    poi, cls_obs, cls_exp = plot.brazil_arrays(scan_results)
    np.testing.assert_array_equal(poi, scan)
    assert cls_exp.shape == (6, 5)
    assert cls_obs[2] == pytest.approx(HELLO_CLS_OBS, rel=1e-5)
    assert cls_exp[2] == pytest.approx(HELLO_CLS_EXP, rel=1e-5)
    fig, ax = plt.subplots()
    plot.brazil_band(ax, poi, cls_obs, cls_exp, limits=(obs, exp))
    np.testing.assert_allclose(_line(ax, "observed").get_ydata(), cls_obs)
    with pytest.raises(ValueError, match="3 POI values but 6 results"):
        plot.brazil_arrays((scan[:3], scan_results[1]))


# -- stacked histograms ------------------------------------------------------------------------
def test_stacked_totals_equal_the_model(two_channel):
    model = two_channel
    cfg = model.config
    pars = np.asarray(cfg.suggested_init())
    for name, value in (("mu", 2.5), ("syst", 0.7), ("shape", -1.3)):
        pars[cfg.par_slice(name)] = value
    pars[cfg.par_slice("stat")] = [1.05, 0.9, 1.1]
    fig, ax = plt.subplots()
    data = [105.0, 90.0, 33.0]
    assert plot.stacked_histograms(ax, model, pars, data=data) is ax
    stack = {p.get_label(): p for p in ax.patches if p.get_label() in cfg.samples}
    assert list(stack) == ["bkg", "sig"]
    total = np.asarray(model.expected_actualdata(pars))
    np.testing.assert_allclose(stack["sig"].get_data().values, total, rtol=1e-12)
    # bkg alone = the model with the signal switched off (mu = 0)
    no_signal = pars.copy()
    no_signal[cfg.par_slice("mu")] = 0.0
    bkg = np.asarray(model.expected_actualdata(no_signal))
    np.testing.assert_allclose(stack["bkg"].get_data().values, bkg, rtol=1e-12)
    np.testing.assert_allclose(stack["sig"].get_data().baseline, bkg, rtol=1e-12)
    # data points with sqrt(n) error bars at the bin centres
    points = ax.containers[0]
    np.testing.assert_array_equal(points.lines[0].get_xydata(), np.c_[[0.5, 1.5, 2.5], data])
    segments = points.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], 2 * np.sqrt(data))
    # one channel boundary at bin 2, both channels labelled
    boundaries = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert boundaries == [2]
    assert sorted(t.get_text() for t in ax.texts) == ["CR", "SR"]
    assert ax.get_xlabel() == "bin index" and ax.get_ylabel() == "events"


def test_stacked_band_from_covariance(hello):
    model, data = hello
    pars = np.asarray([1.5, 1.0, 1.0])
    var = np.asarray([0.25, 0.01, 0.04])
    fig, ax = plt.subplots()
    plot.stacked_histograms(ax, model, pars, data=data, cov=np.diag(var))
    (band,) = [p for p in ax.patches if p.get_label() == "uncertainty"]
    signal, background = np.asarray([12.0, 11.0]), np.asarray([50.0, 52.0])
    total = 1.5 * signal + background
    # d(total)/d(mu) = signal, d(total_b)/d(gamma_b) = background_b
    expected = np.sqrt(signal**2 * var[0] + background**2 * var[1:])
    np.testing.assert_allclose(band.get_data().values, total + expected, rtol=1e-12)
    np.testing.assert_allclose(band.get_data().baseline, total - expected, rtol=1e-12)


def test_stacked_band_from_given_uncertainty_and_fit_output(hello, hello_fit):
    model, data = hello
    pars, _ = hello_fit
    fig, ax = plt.subplots()
    plot.stacked_histograms(ax, model, pars, data=data[:2], uncertainty=[3.0, 4.0])
    (band,) = [p for p in ax.patches if p.get_label() == "uncertainty"]
    total = np.asarray(model.expected_actualdata(pars[:, 0]))
    np.testing.assert_allclose(band.get_data().values - total, [3.0, 4.0], rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": [1.0, 2.0, 3.0]}, "data must have 2 main bins"),
        ({"pars": [1.0, 1.0]}, r"pars must have shape \(3,\)"),
        ({"cov": np.eye(2)}, r"cov must have shape \(3, 3\)"),
        ({"uncertainty": [1.0]}, r"uncertainty must have shape \(2,\)"),
        ({"cov": np.eye(3), "uncertainty": [1.0, 1.0]}, "not both"),
    ],
)
def test_stacked_rejects_bad_input(hello, kwargs, message):
    model, _ = hello
    kwargs = {"pars": [1.0, 1.0, 1.0], **kwargs}
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=message):
        plot.stacked_histograms(ax, model, **kwargs)


# -- pulls -------------------------------------------------------------------------------------
def test_pulls_of_the_hello_world_fit(hello, hello_fit):
    model, _ = hello
    pars, _ = hello_fit
    fig, ax = plt.subplots()
    assert plot.pulls(ax, model, pars) is ax
    sigma = np.asarray([3.0 / 50.0, 7.0 / 52.0])  # shapesys: 1/sqrt(tau), tau = (b/delta)^2
    points = ax.containers[0]
    np.testing.assert_allclose(points.lines[0].get_ydata(), (pars[1:, 0] - 1.0) / sigma)
    half = [0.5 * (s[1, 1] - s[0, 1]) for s in points.lines[2][0].get_segments()]
    np.testing.assert_allclose(half, pars[1:, 1] / sigma)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "uncorr_bkguncrt[0]",
        "uncorr_bkguncrt[1]",
    ]
    bands = sorted((p.get_y(), p.get_y() + p.get_height()) for p in ax.patches)
    assert bands == [(-2.0, 2.0), (-1.0, 1.0)]


def test_pulls_of_gaussian_constraints(two_channel):
    model = two_channel
    cfg = model.config
    values = np.asarray(cfg.suggested_init())
    errors = np.full(cfg.npars, 0.5)
    values[cfg.par_slice("syst")] = 0.8
    values[cfg.par_slice("stat")] = [1.1, 0.95, 1.0]
    fig, ax = plt.subplots()
    plot.pulls(ax, model, np.c_[values, errors])
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names == ["shape", "syst", "stat[0]", "stat[1]", "stat[2]"]  # parameter order
    # staterror widths: relative MC uncertainty of the bin's total, 5/100, 4/80, 2/20
    sigma = np.asarray([1.0, 1.0, 5.0 / 100.0, 4.0 / 80.0, 2.0 / 20.0])
    order = [cfg.par_names.index(n) for n in names]
    centre = np.asarray([0.0, 0.0, 1.0, 1.0, 1.0])
    got = ax.containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(got, (values[order] - centre) / sigma, rtol=1e-10)


def test_pulls_reject_bad_input(hello):
    model, _ = hello
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"\(3,\) or \(3, 2\)"):
        plot.pulls(ax, model, np.zeros((3, 3)))
    free_only = relaxed.Model(
        {
            "channels": [
                {
                    "name": "c",
                    "samples": [
                        {
                            "name": "s",
                            "data": [5.0],
                            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                        }
                    ],
                }
            ]
        }
    )
    with pytest.raises(ValueError, match="no constrained nuisance parameters"):
        plot.pulls(ax, free_only, [[1.0, 0.1]])


# -- correlation matrix ------------------------------------------------------------------------
def test_correlation_matrix_image(hello_fit):
    _, corr = hello_fit
    labels = ["mu", "g0", "g1"]
    fig, ax = plt.subplots()
    assert plot.correlation_matrix(ax, corr, labels) is ax
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), corr)
    assert image.get_clim() == (-1.0, 1.0) and image.get_cmap().name == "RdBu_r"
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in corr.ravel()]
    assert len(fig.axes) == 2  # the colour bar


def test_correlation_matrix_large_is_not_annotated():
    fig, ax = plt.subplots()
    plot.correlation_matrix(ax, np.eye(13), colorbar=False)
    assert len(ax.texts) == 0 and len(fig.axes) == 1


@pytest.mark.parametrize(
    ("corr", "labels", "message"),
    [
        (np.eye(3)[:2], None, "square"),
        (np.eye(3), ["a", "b"], "2 labels for a 3x3"),
    ],
)
def test_correlation_matrix_rejects_bad_input(corr, labels, message):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=message):
        plot.correlation_matrix(ax, corr, labels)


# -- writing figures ---------------------------------------------------------------------------
@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF")])
def test_save_figure_formats(tmp_path, suffix, magic):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = plot.save_figure(fig, tmp_path / "new" / f"fig{suffix}", dpi=30)
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in path.parent.iterdir()] == [f"fig{suffix}"]


def test_save_figure_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    fig, _ = plt.subplots()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plot.save_figure(fig, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_figure_format_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="unknown image suffix '.txt'"):
        plot.figure_format(tmp_path / "fig.txt")
    with pytest.raises(ValueError, match="no file suffix"):
        plot.figure_format(tmp_path / "fig")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ValueError, match="it is a folder"):
        plot.figure_format(tmp_path / "dir.png")
    with pytest.raises(ValueError, match="is not a folder"):
        plot.figure_format(tmp_path / "file" / "fig.png")
    assert plot.figure_format(tmp_path / "missing" / "fig.SVG") == "svg"


# -- exclusion contours ------------------------------------------------------------------------
#: Radii where the synthetic CLs below crosses 0.05: observed, then expected -2 .. +2 sigma.
R_OBS = 6.0
R_EXP = (4.2, 5.1, 5.7, 6.6, 7.5)


def _cls_at(r, radius):
    """exp(-r^2 / s^2), with s such that the value is 0.05 at r = radius."""
    return np.exp(-np.log(20.0) * (r / radius) ** 2)


def _synthetic_grid(broken=()):
    """Patch-set-like records on a jittered 11 x 11 grid of two masses in [0, 10]^2."""
    rng = np.random.default_rng(7)
    records = []
    for i, (x, y) in enumerate((x, y) for x in range(11) for y in range(11)):
        x, y = x + rng.uniform(-0.2, 0.2), y + rng.uniform(-0.2, 0.2)
        r = np.hypot(x, y)
        records.append(
            {
                "name": f"sig_{i}",
                "values": [x, y],
                "labels": ["m1", "m2"],
                "CLs_obs": float(_cls_at(r, R_OBS)) if i not in broken else float("nan"),
                "CLs_exp": [float(_cls_at(r, radius)) for radius in R_EXP],
                "converged": i not in broken,
            }
        )
    return records


def _by_label(ax, label):
    (found,) = [c for c in ax.collections if c.get_label() == label]
    return found


def _radii(contour):
    xy = np.concatenate([p.vertices for p in contour.get_paths()])
    return np.hypot(xy[:, 0], xy[:, 1])


def test_exclusion_contours_lie_where_the_cls_crosses_the_level():
    records = _synthetic_grid()
    fig, ax = plt.subplots()
    assert plot.exclusion(ax, records, ["m1 [GeV]", "m2 [GeV]"], level=0.05) is ax
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("m1 [GeV]", "m2 [GeV]")
    observed, expected = _by_label(ax, "observed"), _by_label(ax, "expected")
    # log CLs is quadratic in r, interpolated linearly on triangles of side ~1.4: |dr| < 0.1
    assert _radii(observed) == pytest.approx(np.full(len(_radii(observed)), R_OBS), abs=0.1)
    assert _radii(expected) == pytest.approx(np.full(len(_radii(expected)), R_EXP[2]), abs=0.1)
    assert len(_radii(observed)) > 10  # a curve across the quarter plane, not a point
    assert observed.get_linestyle()[0][1] is None and expected.get_linestyle()[0][1] is not None
    # the +-1 sigma band is the ring between the -1 sigma (5.1) and +1 sigma (6.6) contours
    (band,) = _by_label(ax, r"expected $\pm1\sigma$").get_paths()
    for angle in np.radians([10.0, 45.0, 80.0]):
        direction = np.array([np.cos(angle), np.sin(angle)])
        assert band.contains_point(direction * 0.5 * (R_EXP[1] + R_EXP[3]))
        assert not band.contains_point(direction * (R_EXP[1] - 0.4))
        assert not band.contains_point(direction * (R_EXP[3] + 0.4))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        r"expected $\pm1\sigma$",
        "expected",
        "observed",
        "excluded",
        "not excluded",
    ]


def test_exclusion_draws_every_point_once():
    broken = {5, 60}
    records = _synthetic_grid(broken=broken)
    fig, ax = plt.subplots()
    plot.exclusion(ax, records, ["m1", "m2"])
    excluded, kept = _by_label(ax, "excluded"), _by_label(ax, "not excluded")
    failed = _by_label(ax, "not converged")
    obs = np.asarray([r["CLs_obs"] for r in records])
    n_excluded = int(np.sum(obs < 0.05))  # NaN (the broken points) is not < 0.05
    assert 20 < n_excluded < 100 and len(excluded.get_offsets()) == n_excluded
    assert len(kept.get_offsets()) == 121 - n_excluded - 2
    np.testing.assert_allclose(failed.get_offsets(), [records[i]["values"] for i in sorted(broken)])
    # the excluded points are those beyond the observed radius
    r = np.hypot(*np.asarray(excluded.get_offsets()).T)
    assert r.min() > R_OBS
    # the broken points are left out of the contours, which stay where they were
    assert _radii(_by_label(ax, "observed")) == pytest.approx(
        np.full(len(_radii(_by_label(ax, "observed"))), R_OBS), abs=0.1
    )


def test_exclusion_skips_contours_that_nothing_crosses():
    records = [
        {"values": [x, y], "CLs_obs": 0.5, "CLs_exp": [0.3, 0.4, 0.5, 0.6, 0.7]}
        for x, y in [(0, 0), (1, 0), (0, 1), (1, 1)]
    ]
    fig, ax = plt.subplots()
    plot.exclusion(ax, records, ["a", "b"])
    assert [c.get_label() for c in ax.collections] == ["not excluded"]
    assert len(ax.collections[0].get_offsets()) == 4


@pytest.mark.parametrize(
    ("records", "labels", "level", "message"),
    [
        (_synthetic_grid()[:2], ["m1", "m2"], 0.05, "at least 3 points"),
        (_synthetic_grid(broken={0, 1, 2})[:4], ["m1", "m2"], 0.05, "got 1 of 4"),
        (
            [{"values": [v, v], "CLs_obs": 0.1, "CLs_exp": [0.1] * 5} for v in range(4)],
            ["m1", "m2"],
            0.05,
            "one line",
        ),
        (_synthetic_grid(), ["m1"], 0.05, "two parameters"),
        (_synthetic_grid(), ["m1", "m2"], 1.5, "between 0 and 1"),
        (
            [{"values": [1.0, 2.0, 3.0], "CLs_obs": 0.1, "CLs_exp": [0.1] * 5}],
            ["a", "b"],
            0.05,
            r"records\[0\]\['values'\] must hold the two",
        ),
        ([{"values": [1.0, 2.0], "CLs_exp": [0.1] * 5}], ["a", "b"], 0.05, "needs 'values'"),
        (
            [{"values": [1.0, 2.0], "CLs_obs": 0.1, "CLs_exp": [0.1] * 4}],
            ["a", "b"],
            0.05,
            "5 values",
        ),
    ],
)
def test_exclusion_rejects_bad_input(records, labels, level, message):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=message):
        plot.exclusion(ax, records, labels, level=level)


def test_exclusion_figure_closes_itself_on_bad_input():
    before = plt.get_fignums()
    with pytest.raises(ValueError, match="at least 3 points"):
        plot.exclusion_figure(_synthetic_grid()[:2], ["m1", "m2"])
    assert plt.get_fignums() == before
    fig = plot.exclusion_figure(_synthetic_grid(), ["m1", "m2"], level=0.1, title="grid")
    (ax,) = fig.axes
    assert ax.get_title() == "grid" and ax.get_legend().get_title().get_text() == "CL$_s$ = 0.1"


# -- whole figures for the command line ---------------------------------------------------------
def test_brazil_figure_names_the_poi():
    mu, obs, exp = _fake_scan()
    results = [(o, list(e)) for o, e in zip(obs, exp, strict=True)]
    fig = plot.brazil_figure(
        (mu, results), level=0.1, test_poi=1.0, poi_label="mu_SIG", title="a title"
    )
    (ax,) = fig.axes
    assert ax.get_xlabel() == "mu_SIG" and ax.get_title() == "a title"
    assert _line(ax, "tested mu_SIG = 1").get_xdata()[0] == 1.0
    assert list(_line(ax, "CL$_s$ = 0.1").get_ydata()) == [0.1, 0.1]
    np.testing.assert_array_equal(_line(ax, "observed").get_ydata(), obs)


def test_fit_figure_shows_pulls_and_correlations(hello, hello_fit):
    model, _ = hello
    pars, corr = hello_fit
    fig = plot.fit_figure(model, pars, corr)
    pulls_ax, corr_ax = fig.axes[:2]
    assert (pulls_ax.get_title(), corr_ax.get_title()) == ("pulls", "correlations")
    assert [t.get_text() for t in pulls_ax.get_xticklabels()] == [
        "uncorr_bkguncrt[0]",
        "uncorr_bkguncrt[1]",
    ]
    np.testing.assert_allclose(corr_ax.images[0].get_array(), corr)
