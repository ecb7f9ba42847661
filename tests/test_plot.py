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
    scan = np.asarray([0.0, 0.5, 1.0, 1.5, 2.0])
    obs, exp, scan_results = relaxed.infer.upper_limit(data, model, scan=scan, return_results=True)
    poi, cls_obs, cls_exp = plot.brazil_arrays(scan_results)
    np.testing.assert_array_equal(poi, scan)
    assert cls_exp.shape == (5, 5)
    assert cls_obs[2] == pytest.approx(HELLO_CLS_OBS, rel=1e-5)
    assert cls_exp[2] == pytest.approx(HELLO_CLS_EXP, rel=1e-5)
    fig, ax = plt.subplots()
    plot.brazil_band(ax, poi, cls_obs, cls_exp, limits=(obs, exp))
    np.testing.assert_allclose(_line(ax, "observed").get_ydata(), cls_obs)
    with pytest.raises(ValueError, match="3 POI values but 5 results"):
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
