"""Every public entry point checks its inputs before any work and names what is wrong.

One parametrized test per class of bad input, for the API (``relaxed.infer``, the model, the
workspace) and for the ``neos`` command line (one line ``neos: error: ...``, exit status 2);
valid edge cases (a POI on its bound, zero or non-integer counts) still work; inside ``jit``
the checks are turned on by :func:`relaxed.infer.checked`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relaxed
from neos.cli import main
from relaxed.exceptions import (
    InvalidArgument,
    InvalidData,
    InvalidMeasurement,
    InvalidModel,
    InvalidParameters,
    LimitNotBracketed,
    RelaxedError,
)
from relaxed.infer import calculators, checked, hypotest, intervals, mle, upper_limit

NAN, INF = float("nan"), float("inf")


def _hello(mu_bounds: list[float] | None = None) -> dict[str, Any]:
    """pyhf's hello world (``uncorrelated_background``) as a workspace."""
    parameters = [] if mu_bounds is None else [{"name": "mu", "bounds": [mu_bounds]}]
    return {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "signal",
                        "data": [12.0, 11.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": [50.0, 52.0],
                        "modifiers": [
                            {"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "SR", "data": [51.0, 48.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": parameters}}],
        "version": "1.0.0",
    }


@pytest.fixture(scope="module")
def hello() -> tuple[relaxed.Model, jax.Array]:
    ws = relaxed.Workspace(_hello())
    model = ws.model()
    return model, ws.data(model)


def _data(data: jax.Array, index: int, value: float) -> jax.Array:
    return data.at[index].set(value)


# -- the API: one case per class of bad input ------------------------------------------------
# (id, call(model, data), exception class, regular expression the message must match)
API_CASES: list[tuple[str, Callable[[Any, Any], Any], type[Exception], str]] = [
    # the tested POI value
    (
        "poi_test above the bound",
        lambda m, d: hypotest(12.0, d, m),
        InvalidParameters,
        r"poi_test=12\.0 is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    (
        "poi_test negative under qtilde",
        lambda m, d: hypotest(-1.0, d, m, test_stat="qtilde"),
        InvalidParameters,
        r"poi_test=-1\.0 is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    (
        "poi_test NaN",
        lambda m, d: hypotest(NAN, d, m),
        InvalidParameters,
        r"poi_test=nan is not a finite value of POI 'mu'",
    ),
    (
        "poi_test inf",
        lambda m, d: hypotest(INF, d, m, test_stat="q"),
        InvalidParameters,
        r"poi_test=inf is not a finite value",
    ),
    (
        "poi_test not a scalar",
        lambda m, d: hypotest(np.array([1.0, 2.0]), d, m),
        InvalidParameters,
        r"poi_test must be a scalar, got shape \(2,\)",
    ),
    (
        "poi_val of a fixed-POI fit",
        lambda m, d: mle.fixed_poi_fit(20.0, d, m),
        InvalidParameters,
        r"poi_val=20\.0 is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    (
        "poi_test of the asymptotic calculator",
        lambda m, d: calculators.AsymptoticCalculator(d, m).teststatistic(-2.0),
        InvalidParameters,
        r"poi_test=-2\.0 is outside the bounds",
    ),
    (
        "poi_test of the toy calculator",
        lambda m, d: calculators.toy_result(NAN, d, m, ntoys=10),
        InvalidParameters,
        r"poi_test=nan",
    ),
    # observed data
    (
        "main count NaN",
        lambda m, d: hypotest(1.0, _data(d, 0, NAN), m),
        InvalidData,
        r"data\[0\] is nan: observation bin 0 of channel 'SR' must be a finite count >= 0",
    ),
    (
        "main count inf",
        lambda m, d: mle.fit(_data(d, 1, INF), m),
        InvalidData,
        r"data\[1\] is inf: observation bin 1 of channel 'SR'",
    ),
    (
        "main count negative",
        lambda m, d: mle.fit(_data(d, 1, -3.0), m),
        InvalidData,
        r"data\[1\] is -3\.0: observation bin 1 of channel 'SR'",
    ),
    (
        "auxiliary datum NaN",
        lambda m, d: hypotest(1.0, _data(d, 2, NAN), m),
        InvalidData,
        r"data\[2\] is nan: auxiliary datum 0 \(of parameter 'uncorr_bkguncrt\[0\]', Poisson",
    ),
    (
        "auxiliary datum negative (Poisson)",
        lambda m, d: mle.fixed_poi_fit(1.0, _data(d, 3, -5.0), m),
        InvalidData,
        r"data\[3\] is -5\.0: auxiliary datum 1 .*must be finite and >= 0",
    ),
    (
        "data of the wrong length",
        lambda m, d: hypotest(1.0, d[:2], m),
        InvalidData,
        r"expected data of length 4 \(2 main bins in channels \['SR'\] \+ 2 auxiliary",
    ),
    (
        "several data sets for one fit",
        lambda m, d: mle.fit(jnp.stack([d, d]), m),
        InvalidData,
        r"got shape \(2, 4\); map over data sets with jax.vmap",
    ),
    (
        "logpdf of negative data",
        lambda m, d: m.logpdf(m.config.suggested_init(), _data(d, 0, -1.0)),
        InvalidData,
        r"data\[0\] is -1\.0: observation bin 0 of channel 'SR'",
    ),
    # parameters: init_pars, par_bounds, fixed_params, parameter vectors
    (
        "init_pars of the wrong length",
        lambda m, d: mle.fit(d, m, init_pars=[1.0, 1.0]),
        InvalidParameters,
        r"init_pars must have shape \(3,\).*'mu', 'uncorr_bkguncrt\[0\]'.*got shape \(2,\)",
    ),
    (
        "init_pars NaN",
        lambda m, d: hypotest(1.0, d, m, init_pars=[NAN, 1.0, 1.0]),
        InvalidParameters,
        r"init_pars\[0\] \(parameter 'mu'\) is nan: parameter values must be finite",
    ),
    (
        "init_pars outside the bounds",
        lambda m, d: mle.fit(d, m, init_pars=[1.0, 20.0, 1.0]),
        InvalidParameters,
        r"init_pars\[1\] \(parameter 'uncorr_bkguncrt\[0\]'\) is 20\.0, outside its bounds",
    ),
    (
        "par_bounds of the wrong length",
        lambda m, d: hypotest(1.0, d, m, par_bounds=[(0.0, 10.0)]),
        InvalidParameters,
        r"par_bounds must have shape \(3, 2\).*got shape \(1, 2\)",
    ),
    (
        "par_bounds NaN",
        lambda m, d: mle.fit(d, m, par_bounds=[(0.0, NAN), (1e-10, 10.0), (1e-10, 10.0)]),
        InvalidParameters,
        r"par_bounds\[0\] \(parameter 'mu'\) is \[0, nan\]",
    ),
    (
        "par_bounds inverted",
        lambda m, d: mle.fit(d, m, par_bounds=[(0.0, 10.0), (5.0, 1.0), (1e-10, 10.0)]),
        InvalidParameters,
        r"par_bounds\[1\] \(parameter 'uncorr_bkguncrt\[0\]'\) is \[5, 1\]",
    ),
    (
        "fixed_params of the wrong length",
        lambda m, d: mle.fit(d, m, fixed_params=[False]),
        InvalidParameters,
        r"fixed_params must have 3 entries",
    ),
    (
        "fixed POI in a hypothesis test",
        lambda m, d: hypotest(1.0, d, m, fixed_params=[True, False, False]),
        InvalidParameters,
        r"the parameter of interest 'mu' \(index 0\) is fixed",
    ),
    (
        "NaN parameters for the Hessian",
        lambda m, d: mle.hessian_uncertainties([NAN, 1.0, 1.0], d, m, [False] * 3),
        InvalidParameters,
        r"pars\[0\] \(parameter 'mu'\) is nan",
    ),
    (
        "fixed flags of the wrong length for the Hessian",
        lambda m, d: mle.hessian_uncertainties([1.0] * 3, d, m, [False]),
        InvalidParameters,
        r"fixed_params must have 3 entries",
    ),
    (
        "logpdf with a parameter vector of the wrong length",
        lambda m, d: m.logpdf([1.0], d),
        InvalidParameters,
        r"expected a parameter vector of length 3.*got shape \(1,\)",
    ),
    (
        "expected_data with a parameter vector of the wrong length",
        lambda m, d: m.expected_data([1.0, 1.0]),
        InvalidParameters,
        r"expected a parameter vector of length 3.*got shape \(2,\)",
    ),
    # CLs level
    *[
        (
            f"level {level}",
            lambda m, d, level=level: upper_limit(d, m, level=level),
            InvalidArgument,
            rf"level={level!r} must be between 0 and 1 \(exclusive\)",
        )
        for level in (0.0, 1.0, -0.1, 1.5, NAN)
    ],
    (
        "level of a scan",
        lambda m, d: upper_limit(d, m, scan=[0.0, 1.0, 2.0], level=2.0),
        InvalidArgument,
        r"level=2\.0 must be between 0 and 1",
    ),
    # scans and brackets
    (
        "empty scan",
        lambda m, d: upper_limit(d, m, scan=[]),
        InvalidParameters,
        r"scan must be a 1-d array of at least 2 POI values, got shape \(0,\)",
    ),
    (
        "unsorted scan",
        lambda m, d: upper_limit(d, m, scan=[3.0, 1.0, 2.0]),
        InvalidParameters,
        r"scan must be strictly increasing: scan\[1\] = 1\.0 follows scan\[0\] = 3\.0",
    ),
    (
        "scan with NaN",
        lambda m, d: intervals.linear_grid_scan(d, m, [0.0, NAN, 2.0]),
        InvalidParameters,
        r"scan\[1\] is nan: scan values must be finite",
    ),
    (
        "scan outside the POI's bounds",
        lambda m, d: upper_limit(d, m, scan=[0.0, 5.0, 20.0]),
        InvalidParameters,
        r"scan\[2\] = 20\.0 is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    (
        "root bracket reversed",
        lambda m, d: intervals.root_scan(d, m, 5.0, 0.0),
        InvalidParameters,
        r"bounds_low=5\.0 and bounds_up=0\.0 must be finite with bounds_low < bounds_up",
    ),
    (
        "root bracket outside the POI's bounds",
        lambda m, d: intervals.root_scan(d, m, 0.0, 50.0),
        InvalidParameters,
        r"the bracket \[0, 50\] is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    # option names and counts
    (
        "unknown test statistic",
        lambda m, d: hypotest(1.0, d, m, test_stat="qq"),
        InvalidParameters,
        r"unknown test statistic 'qq'; choose one of \['q', 'q0', 'qtilde'\]",
    ),
    (
        "unknown calctype",
        lambda m, d: hypotest(1.0, d, m, calctype="asymptotic"),
        InvalidParameters,
        r"unknown calctype 'asymptotic'",
    ),
    (
        "unknown base distribution",
        lambda m, d: hypotest(1.0, d, m, calc_base_dist="gauss"),
        InvalidParameters,
        r"unknown calc_base_dist 'gauss'",
    ),
    *[
        (
            f"ntoys {n}",
            lambda m, d, n=n: hypotest(1.0, d, m, calctype="toybased", ntoys=n),
            InvalidParameters,
            rf"ntoys must be a positive integer, got {n}",
        )
        for n in (0, -5)
    ],
]


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [case[1:] for case in API_CASES],
    ids=[case[0] for case in API_CASES],
)
def test_bad_api_input_raises_a_named_error(hello, call, error, pattern):
    model, data = hello
    with pytest.raises(error, match=pattern) as caught:
        call(model, data)
    assert isinstance(caught.value, RelaxedError)


# -- limits that are not inside the searched range ------------------------------------------
@pytest.mark.parametrize(
    ("scan", "pattern"),
    [
        (
            [0.0, 0.25, 0.5],
            r"the observed and all 5 expected upper limits are above the last "
            r"scan point mu = 0\.5 \(CLs there: 0\.3155, .* > level 0\.05\)",
        ),
        (
            [3.0, 4.0, 5.0],
            r"the observed and all 5 expected upper limits are below the first "
            r"scan point mu = 3 \(CLs there: 1\.1\d*e-07, .* < level 0\.05\)",
        ),
    ],
    ids=["scan too low", "scan too high"],
)
def test_scan_that_does_not_bracket_the_limits(hello, scan, pattern):
    model, data = hello
    with pytest.raises(LimitNotBracketed, match=pattern) as caught:
        upper_limit(data, model, scan=scan)
    assert len(caught.value.which) == 6
    assert (caught.value.low, caught.value.high) == (scan[0], scan[-1])


@pytest.fixture(scope="module")
def narrow() -> tuple[relaxed.Model, jax.Array]:
    """The hello world with the POI bounded to [0, 1.2]: the observed limit (1.01) and the
    expected -2 .. 0 sigma ones are inside, the +1 and +2 sigma ones (1.50, 2.05) above."""
    ws = relaxed.Workspace(_hello(mu_bounds=[0.0, 1.2]))
    model = ws.model()
    return model, ws.data(model)


def test_limit_above_the_poi_bound_is_an_error_not_a_clipped_number(narrow):
    model, data = narrow
    with pytest.raises(LimitNotBracketed) as caught:
        upper_limit(data, model)
    message = str(caught.value)
    assert message.startswith(
        "the expected +1 sigma and expected +2 sigma upper limits are above the upper bound "
        "1.2 of POI 'mu' (CLs there: "
    )
    assert "widen the POI's bounds" in message
    assert caught.value.which == ["expected +1 sigma", "expected +2 sigma"]


# -- valid edge cases still work ------------------------------------------------------------
@pytest.mark.parametrize("poi_test", [0.0, 10.0])
def test_poi_on_its_bound_is_valid(hello, poi_test):
    model, data = hello
    cls_obs = float(hypotest(poi_test, data, model))
    assert 0.0 <= cls_obs <= 1.0


def test_zero_and_non_integer_counts_are_valid(hello):
    model, data = hello
    zeros = data.at[:2].set(0.0)
    pars = mle.fit(zeros, model)
    assert np.all(np.isfinite(pars)) and float(pars[0]) == 0.0
    # pyhf 0.7.6 gives 0.05777486 for the observation (51.5, 48.2)
    cls_obs = float(hypotest(1.0, data.at[:2].set(jnp.asarray([51.5, 48.2])), model))
    assert cls_obs == pytest.approx(0.05777486, rel=1e-4)
    spec = _hello()
    spec["observations"][0]["data"] = [0.0, 48.5]
    ws = relaxed.Workspace(spec)
    assert ws.data(ws.model()).tolist()[:2] == [0.0, 48.5]


def test_a_bracketing_scan_still_gives_the_limits(hello):
    model, data = hello
    obs, exp = upper_limit(data, model, scan=[0.0, 1.5, 3.0])
    assert 0.0 < float(obs) < 3.0 and all(0.0 < float(v) < 3.0 for v in exp)


# -- specifications with numbers that are not finite -----------------------------------------
@pytest.mark.parametrize(
    ("path", "value", "error", "pattern"),
    [
        (
            ("observations", 0, "data", 1),
            -3.0,
            InvalidData,
            r"observations\[0\]\.data\[1\]: observation bin 1 of channel 'SR' is -3\.0: counts "
            "must be finite and >= 0",
        ),
        (("observations", 0, "data", 0), NAN, InvalidData, r"observations\[0\]\.data\[0\]:.*nan"),
        (
            ("channels", 0, "samples", 1, "data", 0),
            NAN,
            InvalidModel,
            r"channels\[0\]\.samples\[1\]\.data\[0\]: sample 'background' in channel 'SR' has "
            "yield nan",
        ),
        (
            ("channels", 0, "samples", 0, "data", 1),
            -INF,
            InvalidModel,
            r"channels\[0\]\.samples\[0\]\.data\[1\]: .*-inf",
        ),
    ],
    ids=["negative observation", "NaN observation", "NaN yield", "infinite yield"],
)
def test_workspace_numbers_must_be_finite(path, value, error, pattern):
    spec = _hello()
    target: Any = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(error, match=pattern):
        ws = relaxed.Workspace(spec)
        ws.data(ws.model())


def test_measurement_inits_must_be_finite():
    spec = _hello()
    spec["measurements"][0]["config"]["parameters"] = [{"name": "mu", "inits": [NAN]}]
    with pytest.raises(InvalidMeasurement, match=r"parameters\[0\]\.inits\[0\]: .*'mu'.*nan"):
        relaxed.Workspace(spec).model()


# -- inside jit: relaxed.infer.checked ------------------------------------------------------
@pytest.fixture(scope="module")
def checked_cls(hello):
    model, _ = hello
    return checked(lambda mu, data: hypotest(mu, data, model))


def test_checked_passes_valid_inputs_through(hello, checked_cls):
    model, data = hello
    assert float(checked_cls(1.0, data)) == pytest.approx(float(hypotest(1.0, data, model)))


@pytest.mark.parametrize(
    ("poi", "index", "value", "error", "pattern"),
    [
        (NAN, None, 0.0, InvalidParameters, r"poi_test=nan is not finite or outside the "),
        (11.0, None, 0.0, InvalidParameters, r"poi_test=11\.0 .*bounds \[0, 10\] of POI 'mu'"),
        (1.0, 0, -3.0, InvalidData, r"data\[0\] is -3\.0: counts must be finite and >= 0"),
        (1.0, 3, NAN, InvalidData, r"data\[3\] is nan"),
    ],
    ids=["NaN POI", "POI above its bound", "negative observation", "NaN auxiliary datum"],
)
def test_checked_raises_inside_jit(hello, checked_cls, poi, index, value, error, pattern):
    _, data = hello
    if index is not None:
        data = data.at[index].set(value)
    with pytest.raises(error, match=pattern):
        checked_cls(poi, data)


def test_checked_sees_through_vmap_and_scans(hello):
    model, data = hello
    cls = checked(jax.vmap(lambda mu: hypotest(mu, data, model)))
    assert cls(jnp.asarray([0.5, 1.0])).shape == (2,)
    with pytest.raises(InvalidParameters, match="poi_test=nan"):
        cls(jnp.asarray([1.0, NAN]))
    limits = checked(lambda level: upper_limit(data, model, scan=[0.0, 1.5, 3.0], level=level))
    assert 0.0 < float(limits(0.05)[0]) < 3.0
    with pytest.raises(InvalidArgument, match=r"level=1\.5 must be between 0 and 1"):
        limits(1.5)
    with pytest.raises(LimitNotBracketed, match="outside the scan"):
        limits(1e-12)


# -- the command line ------------------------------------------------------------------------
def _write(tmp_path, spec: dict[str, Any], name: str = "ws.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))  # NaN and inf are written as the tokens NaN, Infinity
    return str(path)


def _cli_error(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("neos: error: ") and captured.err.count("\n") == 1
    return captured.err


def _spec_with(path: tuple[Any, ...], value: Any, mu_bounds: list[float] | None = None) -> dict:
    spec = _hello(mu_bounds)
    target: Any = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return spec


CLI_CASES = [
    (
        "cls on a negative observation",
        ("observations", 0, "data", 1),
        -3.0,
        ["cls"],
        r"observations\[0\]\.data\[1\]: observation bin 1 of channel 'SR' is -3\.0",
    ),
    (
        "fit on a NaN observation",
        ("observations", 0, "data", 0),
        NAN,
        ["fit"],
        r"observations\[0\]\.data\[0\]: observation bin 0 of channel 'SR' is nan",
    ),
    (
        "inspect an infinite observation",
        ("observations", 0, "data", 0),
        INF,
        ["inspect"],
        r"is inf: counts must be finite",
    ),
    (
        "upper-limit on a NaN yield",
        ("channels", 0, "samples", 0, "data", 0),
        NAN,
        ["upper-limit"],
        r"channels\[0\]\.samples\[0\]\.data\[0\]: sample 'signal' .* yield nan",
    ),
    (
        "cls of a POI above its bound",
        None,
        None,
        ["cls", "--poi-value", "12"],
        r"--poi-value: poi_test=12\.0 is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    (
        "cls of a negative POI (qtilde)",
        None,
        None,
        ["cls", "--poi-value", "-1"],
        r"poi_test=-1\.0 is outside the bounds \[0, 10\]",
    ),
    (
        "fit with the POI fixed outside its bounds",
        None,
        None,
        ["fit", "--poi-value", "20"],
        r"--poi-value: poi_val=20\.0 is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    (
        "upper-limit with a scan outside the POI's bounds",
        None,
        None,
        ["upper-limit", "--scan", "0,20,3"],
        r"--scan: scan\[2\] = 20\.0 is outside the bounds \[0, 10\] of POI 'mu'",
    ),
    (
        "upper-limit with a scan that does not bracket the limits",
        None,
        None,
        ["upper-limit", "--scan", "0,0.5,3"],
        r"--scan: the observed and all 5 expected upper limits are above the last scan point "
        r"mu = 0\.5",
    ),
    (
        "cls plot with a scan outside the POI's bounds",
        None,
        None,
        ["cls", "--scan", "0,11,3", "--plot", "{tmp}/cls.png"],
        r"--scan: scan\[2\] = 11\.0 is outside the bounds",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "argv", "pattern"),
    [case[1:] for case in CLI_CASES],
    ids=[case[0] for case in CLI_CASES],
)
def test_bad_cli_input_is_one_line_exit_2(tmp_path, capsys, path, value, argv, pattern):
    spec = _hello() if path is None else _spec_with(path, value)
    workspace = _write(tmp_path, spec)
    command = [argv[0], workspace, *(a.replace("{tmp}", str(tmp_path)) for a in argv[1:])]
    err = _cli_error(capsys, command)
    assert re.search(pattern, err), err
    assert not (tmp_path / "cls.png").exists()


def test_cli_limit_above_the_poi_bound(tmp_path, capsys, narrow):
    workspace = _write(tmp_path, _hello(mu_bounds=[0.0, 1.2]))
    err = _cli_error(capsys, ["upper-limit", workspace])
    assert "the expected +1 sigma and expected +2 sigma upper limits are above the upper " in err
    assert "bound 1.2 of POI 'mu'" in err


def _strict_json(text: str) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("argv", [["fit"], ["cls", "--poi-value", "0"], ["inspect", "--json"]])
def test_cli_json_is_strict_json(tmp_path, capsys, hello, argv):
    workspace = _write(tmp_path, _hello())
    assert main([argv[0], workspace, *argv[1:]]) == 0
    result = _strict_json(capsys.readouterr().out)
    numbers = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, float):
            numbers.append(value)

    collect(result)
    assert numbers and all(math.isfinite(v) for v in numbers)


def test_cli_fit_with_a_non_finite_result_is_an_error(tmp_path, capsys, monkeypatch):
    """A number that cannot be computed is exit status 1, never exit 0 with NaN tokens."""
    real = mle.fit

    def fit_with_nan(*args: Any, **kwargs: Any) -> Any:
        pars, corr, nll = real(*args, **kwargs)
        return pars.at[0, 1].set(NAN), corr, nll

    monkeypatch.setattr(mle, "fit", fit_with_nan)
    workspace = _write(tmp_path, _hello())
    err = _cli_error(capsys, ["fit", workspace, "--table"], code=1)
    assert err == "neos: error: fit: uncertainties.mu[0] is nan: it cannot be computed\n"


def test_workspace_spec_is_not_changed_by_the_checks():
    spec = _hello()
    before = copy.deepcopy(spec)
    relaxed.Workspace(spec).model()
    assert spec == before
