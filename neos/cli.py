"""The ``neos`` command line.

- ``neos train``: the main job; trains a network for the expected CLs (see
  :mod:`neos.train`) and writes metrics, the trained workspace, figures and a checkpoint.
- ``neos inspect WORKSPACE.json``: a workspace's channels, samples, bins and parameters (inits,
  bounds, constraint types).
- ``neos fit WORKSPACE.json``: the maximum-likelihood fit (``--poi-value`` fixes the POI), as
  JSON with uncertainties from the exact Hessian; ``--table`` prints a table with pulls and
  correlations instead (:func:`relaxed.infer.fit_summary`), ``--plot FILE`` draws the pulls and
  the correlation matrix.
- ``neos cls WORKSPACE.json``: observed and expected CLs of ``--poi-value`` (pyhf's
  ``cls`` output), ``--test-stat``, ``--calctype``; ``--plot FILE`` draws the Brazil band of a
  POI scan (``--scan``, default from 0 to twice the tested value, extended until the expected
  +2 sigma CLs is below 0.05) with the tested value marked.
- ``neos upper-limit WORKSPACE.json``: the observed and expected upper limits on the POI;
  ``--plot FILE`` draws the Brazil band (the ``--scan`` grid, or 0 to 1.2 times the largest
  limit found by root finding) with the limits marked.

Figures are written atomically in the format of the file's suffix (``.png``, ``.pdf``,
``.svg``...); missing parent folders are created, as for ``--output-file``. The JSON output is
the same with or without ``--plot``.

Every subcommand reports bad input as one line, ``neos: error: ...``, and exits with status 2;
bad ``--plot`` paths are reported before anything is computed, and no existing file is
overwritten by a failed run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser", "UsageError"]


class UsageError(Exception):
    """Bad input on the command line (a file that is missing or not a valid workspace...):
    :func:`main` prints it as ``neos: error: ...`` and returns 2.

    Example:
        >>> main(["inspect", "no-such-file.json"])
        2
    """


def _load_workspace(path: str, validate: bool = True) -> Any:
    import relaxed
    from relaxed.exceptions import RelaxedError

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        spec = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not a JSON file ({err})") from err
    try:
        return relaxed.Workspace(spec, validate=validate)
    except RelaxedError as err:
        raise UsageError(f"{path}: not a valid workspace: {err}") from err


def _model_and_data(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from relaxed.exceptions import RelaxedError

    ws = _load_workspace(args.workspace)
    try:
        model = ws.model(measurement_name=args.measurement)
        data = ws.data(model)
    except RelaxedError as err:
        raise UsageError(f"{args.workspace}: {err}") from err
    return ws, model, data


def _emit(text: str, output_file: str | None) -> None:
    if output_file is None:
        print(text)
        return
    from relaxed.histfactory.workspace import write_text_atomic

    write_text_atomic(Path(output_file), text + "\n")


def _inspect(args: argparse.Namespace) -> int:
    from relaxed.histfactory.summary import describe, format_summary

    ws, model, data = _model_and_data(args)
    info = describe(model, data[: model.config.nmaindata])
    info["measurement"] = ws.get_measurement(args.measurement)["name"]
    info["measurements"] = ws.measurement_names
    if args.json:
        _emit(json.dumps(info, indent=2), args.output_file)
    else:
        head = (
            f"Workspace {args.workspace}\n"
            f"Measurement: {info['measurement']} (of {', '.join(info['measurements'])})\n"
        )
        _emit(head + format_summary(info), args.output_file)
    return 0


def _floats(values: Any) -> list[float]:
    import numpy as np

    return [float(v) for v in np.ravel(np.asarray(values))]


def _check_plot(path: str | None) -> None:
    """Fail early (before any fit) on a --plot path that cannot take a figure."""
    if path is None:
        return
    from neos.plot import figure_format

    try:
        figure_format(path)
    except ValueError as err:
        raise UsageError(f"--plot: {err}") from err


def _save_plot(fig: Any, path: str) -> None:
    import matplotlib.pyplot as plt

    from neos.plot import save_figure

    try:
        save_figure(fig, path, dpi=120)
    except (OSError, ValueError) as err:
        raise UsageError(f"--plot: cannot write {path}: {err}") from err
    finally:
        plt.close(fig)


def _plot_fit(model: Any, pars: Any, corr: Any, path: str) -> None:
    """Pulls of the constrained parameters and the correlation matrix (non-fixed ones)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from neos import plot
    from relaxed.infer.summary import prefit_constraints

    values = np.asarray(pars, dtype=np.float64)
    free = values[:, 1] > 0
    names = [n for n, keep in zip(model.config.par_names, free, strict=True) if keep]
    _, width = prefit_constraints(model)
    n_pulls = int(np.sum(np.isfinite(width) & free))
    size = max(len(names), n_pulls)
    fig, (ax_pulls, ax_corr) = plt.subplots(
        1, 2, figsize=(5.0 + 0.6 * size, 3.5 + 0.25 * size), width_ratios=(1.1, 1.0)
    )
    if n_pulls:
        plot.pulls(ax_pulls, model, values)
    else:
        ax_pulls.text(0.5, 0.5, "no constrained nuisance parameters", ha="center", va="center")
        ax_pulls.set_axis_off()
    ax_pulls.set_title("pulls")
    if names:
        plot.correlation_matrix(ax_corr, np.asarray(corr)[np.ix_(free, free)], names)
    else:
        ax_corr.text(0.5, 0.5, "no fitted parameters", ha="center", va="center")
        ax_corr.set_axis_off()
    ax_corr.set_title("correlations")
    fig.tight_layout()
    _save_plot(fig, path)


def _fit(args: argparse.Namespace) -> int:
    from relaxed.infer import mle

    _check_plot(args.plot)
    _, model, data = _model_and_data(args)
    cfg = model.config
    with_corr = args.table or args.plot is not None
    kwargs = {
        "return_uncertainties": True,
        "return_correlations": with_corr,
        "return_fitted_val": True,
    }
    if args.poi_value is None:
        out = mle.fit(data, model, **kwargs)
    else:
        if cfg.poi_index is None:
            raise UsageError(f"{args.workspace}: --poi-value needs a measurement with a POI")
        out = mle.fixed_poi_fit(args.poi_value, data, model, **kwargs)
    pars, corr, nll = out if with_corr else (out[0], None, out[1])
    if args.plot is not None:
        _plot_fit(model, pars, corr, args.plot)
    if args.table:
        from relaxed.infer.summary import fit_summary

        _emit(fit_summary(model, pars, corr, nll), args.output_file)
        return 0
    result = {
        "mle_parameters": {name: _floats(pars[cfg.par_slice(name), 0]) for name in cfg.par_order},
        "uncertainties": {name: _floats(pars[cfg.par_slice(name), 1]) for name in cfg.par_order},
        "twice_nll": float(nll),
    }
    if args.poi_value is not None:
        result["poi_value"] = args.poi_value
    _emit(json.dumps(result, indent=2), args.output_file)
    return 0


def _brazil_figure(
    path: str,
    scan_results: Any,
    level: float,
    limits: Any = None,
    test_poi: float | None = None,
    title: str = "",
) -> None:
    import matplotlib.pyplot as plt

    from neos import plot

    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    plot.brazil_band(
        ax, *plot.brazil_arrays(scan_results), level=level, limits=limits, test_poi=test_poi
    )
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    _save_plot(fig, path)


def _auto_scan(data: Any, model: Any, poi_value: float, level: float, kwargs: dict) -> Any:
    """CLs on 21 points from 0 to ``hi``: ``hi`` starts at twice the tested value (1 for 0)
    and doubles (up to the POI's upper bound) until the expected +2 sigma CLs at ``hi`` is
    below ``level``, so that every expected limit is inside the plot."""
    import numpy as np

    from relaxed.infer import upper_limit

    upper = model.config.suggested_bounds()[model.config.poi_index][1]
    hi = min(2.0 * poi_value if poi_value > 0 else 1.0, upper)
    for _ in range(8):
        scan = np.linspace(0.0, hi, 21)
        *_, scan_results = upper_limit(data, model, scan=scan, return_results=True, **kwargs)
        plus_two = float(scan_results[1][-1][1][4])
        if not plus_two > level or hi >= upper:
            break
        hi = min(2.0 * hi, upper)
    return scan_results


def _cls(args: argparse.Namespace) -> int:
    from relaxed.exceptions import RelaxedError
    from relaxed.infer import hypotest

    scan = _scan(args.scan)
    _check_plot(args.plot)
    if args.plot is not None and args.test_stat == "q0":
        raise UsageError("--plot draws CLs against the POI: use --test-stat q or qtilde")
    _, model, data = _model_and_data(args)
    if model.config.poi_index is None:
        raise UsageError(f"{args.workspace}: the measurement has no parameter of interest")
    kwargs: dict[str, Any] = {"test_stat": args.test_stat, "calctype": args.calctype}
    if args.calctype == "toybased":
        kwargs["ntoys"] = args.ntoys
    try:
        cls_obs, cls_exp = hypotest(args.poi_value, data, model, return_expected_set=True, **kwargs)
    except RelaxedError as err:
        raise UsageError(str(err)) from err
    result = {"CLs_obs": float(cls_obs), "CLs_exp": _floats(cls_exp)}
    if args.plot is not None:
        from relaxed.infer import upper_limit

        try:
            if scan is None:
                scan_results = _auto_scan(data, model, args.poi_value, 0.05, kwargs)
            else:
                *_, scan_results = upper_limit(
                    data, model, scan=scan, return_results=True, **kwargs
                )
        except RelaxedError as err:
            raise UsageError(str(err)) from err
        _brazil_figure(
            args.plot,
            scan_results,
            0.05,
            test_poi=args.poi_value,
            title=f"CL$_s$ = {float(cls_obs):.3g} at {model.config.poi_name} = {args.poi_value:g}",
        )
    _emit(json.dumps(result, indent=2), args.output_file)
    return 0


def _scan(text: str | None) -> Any:
    if text is None:
        return None
    import numpy as np

    try:
        start, stop, num = text.split(",")
        scan = np.linspace(float(start), float(stop), int(num))
    except ValueError as err:
        raise UsageError(f"--scan must be START,STOP,NUM (e.g. 0,5,21), got {text!r}") from err
    if scan.size < 2:
        raise UsageError(f"--scan needs at least 2 points, got {text!r}")
    return scan


def _upper_limit(args: argparse.Namespace) -> int:
    import numpy as np

    from relaxed.exceptions import RelaxedError
    from relaxed.infer import upper_limit

    scan = _scan(args.scan)
    if not 0.0 < args.level < 1.0:
        raise UsageError(f"--level must be between 0 and 1, got {args.level}")
    _check_plot(args.plot)
    _, model, data = _model_and_data(args)
    if model.config.poi_index is None:
        raise UsageError(f"{args.workspace}: the measurement has no parameter of interest")
    try:
        if args.plot is not None and scan is not None:
            obs, exp, scan_results = upper_limit(
                data, model, scan=scan, level=args.level, return_results=True
            )
        else:
            obs, exp = upper_limit(data, model, scan=scan, level=args.level)
            if args.plot is not None:  # root finding: a grid just wide enough for the limits
                found = np.asarray([float(obs), *_floats(exp)])
                found = found[np.isfinite(found)]
                if found.size:
                    hi = 1.2 * float(found.max())
                else:
                    hi = model.config.suggested_bounds()[model.config.poi_index][1]
                *_, scan_results = upper_limit(
                    data,
                    model,
                    scan=np.linspace(0.0, hi, 25),
                    level=args.level,
                    return_results=True,
                )
    except RelaxedError as err:
        raise UsageError(str(err)) from err
    result = {"obs": float(obs), "exp": _floats(exp), "level": args.level}
    if args.plot is not None:
        _brazil_figure(
            args.plot,
            scan_results,
            args.level,
            limits=(obs, exp),
            title=f"upper limits at {100 * (1 - args.level):g}% CL: observed {float(obs):.3g}, "
            f"expected {float(exp[2]):.3g}",
        )
    _emit(json.dumps(result, indent=2), args.output_file)
    return 0


def _train(args: argparse.Namespace) -> int:
    from neos.train import TrainConfig, TrainingError, load_config, train
    from relaxed.exceptions import RelaxedError

    overrides = {
        "steps": args.steps,
        "seed": args.seed,
        "loss": args.loss,
        "method": args.method,
        "nmc": args.nmc,
    }
    try:
        if args.config is not None:
            config = load_config(args.config, **overrides)
        else:
            config = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
            config.validate()
    except (RelaxedError, TypeError) as err:
        raise UsageError(str(err)) from err
    try:
        result = train(config, out=args.out, resume=args.resume, progress=not args.quiet)
    except TrainingError as err:
        print(f"neos: training stopped: {err}", file=sys.stderr)
        return 1
    except RelaxedError as err:
        raise UsageError(str(err)) from err
    first, last = result["cls_soft"][0], result["cls_soft"][-1]
    print(
        f"expected CLs (soft, train): {first:.4g} -> {last:.4g}; "
        f"hard histograms, test sample: {result['cls_hard_test']:.4g}; "
        f"compiled step {result['step_time_s']:.3g} s; outputs in {args.out}"
    )
    return 0


def _add_workspace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="a HistFactory JSON workspace (pyhf format)")
    parser.add_argument(
        "--measurement", default=None, help="measurement name (default: the first one)"
    )
    parser.add_argument(
        "--output-file", default=None, help="write the output to this file instead of stdout"
    )


def _add_plot_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--plot",
        default=None,
        metavar="FILE",
        help=f"also draw {what} into FILE (.png, .pdf, .svg...; written atomically)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``neos`` command (subcommands ``train``, ``inspect``,
    ``fit``, ``cls``, ``upper-limit``).

    Example:
        >>> args = build_parser().parse_args(["cls", "ws.json", "--poi-value", "2"])
        >>> args.command, args.poi_value, args.test_stat
        ('cls', 2.0, 'qtilde')
    """
    parser = argparse.ArgumentParser(
        prog="neos",
        description="Differentiable HEP analysis: inspect workspaces, run inference, train "
        "neural observables for the expected CLs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a network for the expected CLs (main job)")
    train.add_argument("--steps", type=int, default=None, help="optimisation steps (20)")
    train.add_argument("--out", default="neos-run", help="output folder (neos-run)")
    train.add_argument("--seed", type=int, default=None, help="random seed (0)")
    train.add_argument("--loss", default=None, help="cls, discovery, poi_uncert or bce (cls)")
    train.add_argument("--method", default=None, help="kde or softmax (kde)")
    train.add_argument("--nmc", type=int, default=None, help="events per blob (500)")
    train.add_argument("--config", default=None, help="TOML file with training settings")
    train.add_argument("--resume", action="store_true", help="resume from the checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    inspect = sub.add_parser(
        "inspect", help="print a workspace's channels, samples, bins and parameters"
    )
    _add_workspace_arguments(inspect)
    inspect.add_argument("--json", action="store_true", help="print JSON instead of tables")
    inspect.set_defaults(run=_inspect)

    fit = sub.add_parser("fit", help="maximum-likelihood fit, printed as JSON (or --table)")
    _add_workspace_arguments(fit)
    fit.add_argument(
        "--poi-value", type=float, default=None, help="fix the POI at this value (default: free)"
    )
    fit.add_argument(
        "--table",
        action="store_true",
        help="print a table (values, uncertainties, pulls, correlations) instead of JSON",
    )
    _add_plot_argument(fit, "the pulls and the correlation matrix")
    fit.set_defaults(run=_fit)

    cls = sub.add_parser("cls", help="observed and expected CLs of a POI value, as JSON")
    _add_workspace_arguments(cls)
    cls.add_argument(
        "--poi-value", "--test-poi", type=float, default=1.0, help="the POI value to test"
    )
    cls.add_argument("--test-stat", choices=["q", "qtilde", "q0"], default="qtilde")
    cls.add_argument("--calctype", choices=["asymptotics", "toybased"], default="asymptotics")
    cls.add_argument("--ntoys", type=int, default=2000, help="toys per hypothesis (toybased)")
    cls.add_argument(
        "--scan",
        default=None,
        help="START,STOP,NUM POI grid for --plot (default: 0 to twice --poi-value, extended "
        "until the expected +2 sigma CLs is below 0.05)",
    )
    _add_plot_argument(cls, "the Brazil band of CLs against the POI")
    cls.set_defaults(run=_cls)

    limit = sub.add_parser("upper-limit", help="observed and expected upper limits, as JSON")
    _add_workspace_arguments(limit)
    limit.add_argument(
        "--scan", default=None, help="START,STOP,NUM POI grid (default: root finding)"
    )
    limit.add_argument("--level", type=float, default=0.05, help="CLs level (default 0.05)")
    _add_plot_argument(limit, "the Brazil band with the limits marked")
    limit.set_defaults(run=_upper_limit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``neos`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code
    (0 on success, 2 for bad input, 1 when training stops on a non-finite loss).

    Example:
        >>> from pathlib import Path
        >>> example = Path(__file__).parent / "examples" / "example_workspace.json"
        >>> main(["inspect", str(example), "--json", "--output-file", "/dev/null"])
        0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except UsageError as err:
        print(f"neos: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
