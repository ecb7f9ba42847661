"""The ``neos`` command line (built on click, like pyhf's).

- ``neos train``: the main job; trains a network for the expected CLs (see
  :mod:`neos.train`) and writes metrics, the trained workspace, figures and a checkpoint.
- ``neos inspect WORKSPACE``: a workspace's channels, samples, bins and parameters (inits,
  bounds, constraint types), as tables (default) or ``--json``.
- ``neos fit WORKSPACE``: the maximum-likelihood fit (``--poi-value`` fixes the POI), as JSON
  with uncertainties from the exact Hessian (default) or ``--table`` with pulls and
  correlations (:func:`relaxed.infer.fit_summary`); ``--plot FILE`` draws the pulls and the
  correlation matrix.
- ``neos cls WORKSPACE``: observed and expected CLs of ``--poi-value`` (pyhf's ``cls``
  output), ``--test-stat``, ``--calctype``, ``--ntoys``; with ``--test-stat q0`` the numbers
  are discovery p-values (keys ``p0_obs`` and ``p0_exp``). ``--plot FILE`` draws the Brazil
  band of a POI scan (``--scan``, default from 0 to twice the tested value, extended until the
  expected +2 sigma CLs is below ``--level``) with the tested value marked.
- ``neos upper-limit WORKSPACE``: the observed and expected upper limits on the POI at
  ``--level``; ``--plot FILE`` draws the Brazil band (the ``--scan`` grid, or 0 to 1.2 times
  the largest limit found by root finding) with the limits marked. A ``--scan`` is computed
  in chunks of ``--chunk`` points dealt round ``--devices`` (:mod:`relaxed.infer.scans`);
  ``--shard I/N`` computes one shard of the points and writes a partial result.
- ``neos grid BKGONLY PATCHSET``: CLs (and with ``--upper-limits`` the upper limits) of every
  signal hypothesis of a patch set (:func:`relaxed.infer.grid.hypotest_grid`); ``--plot FILE``
  draws the exclusion contours in the plane of the patch set's two labels
  (:func:`neos.plot.exclusion`). ``--shard I/N`` computes one shard of the patches and writes
  a partial result file (:mod:`neos.grid_shards`); ``--devices`` deals the compiled calls
  round local devices; ``--dask`` computes the patches in chunks on Dask workers
  (``--scheduler``, ``--workers``, ``--chunk-size``, ``--retries``, ``--pilot``,
  ``--resume-dir``; :mod:`neos.grid_dask`).
- ``neos toys WORKSPACE``: toy-based CLs of ``--poi-value`` with ``--ntoys`` and ``--seed``,
  and the test statistic of every toy (:mod:`relaxed.infer.toys`); ``--shard I/N`` computes
  one shard of the toys and writes a partial result, ``--devices`` spreads the toys over local
  devices. Toys whose fits do not converge are dropped and counted.
- ``neos merge FILE...``: the partial results of ``neos toys --shard``, ``neos upper-limit
  --scan ... --shard`` or ``neos grid --shard`` combined into exactly the output of one run
  (missing or repeated shards and files of different inputs are errors).

A WORKSPACE is a pyhf JSON file, or ``-`` for standard input; ``-p/--patch FILE`` (repeatable)
applies JSON Patch files to the model specification in order, as ``pyhf cls -p``.
``--measurement`` picks the measurement (default: the first). Every subcommand takes
``--json`` or ``--table`` and ``--output-file``. The group options ``--cache-dir DIR`` and
``--no-cache`` move or turn off JAX's persistent compilation cache (:mod:`relaxed.cache`;
default ``$RELAXED_CACHE_DIR``, else ``~/.cache/relaxed/jax``); ``--optimize-for`` chooses
between compiled code that compiles fast (the default for ``fit``, ``cls`` and ``upper-limit``,
which run it once) and code that runs fast (the default for grids, pseudo-experiments and
training; :func:`relaxed.cache.optimize_for`).

Figures are written atomically in the format of the file's suffix (``.png``, ``.pdf``,
``.svg``...); missing parent folders are created, as for ``--output-file``. The JSON output is
the same with or without ``--plot``, and never holds ``NaN`` or ``Infinity``: a number that
cannot be computed (or a fit that does not converge) is reported as an error (exit status 1).

Bad input is reported as one line, ``neos: error: ...``, with exit status 2, before anything
is computed: a workspace whose observed counts are negative or not finite, a ``--poi-value``
outside the POI's bounds, a ``--scan`` outside them, or one that does not bracket the limits
(:mod:`relaxed.infer.checks`; a limit above the POI's upper bound is reported the same way,
never clipped). No existing file is overwritten by a failed run.

:func:`main` runs the command and returns its exit status, :data:`cli` is the click group
(for click's tools, such as its test runner) and :func:`parse_args` parses without running.

Example:
    >>> from click.testing import CliRunner
    >>> usage = CliRunner().invoke(cli, ["upper-limit", "--help"]).output
    >>> usage.splitlines()[0]
    'Usage: neos upper-limit [OPTIONS] WORKSPACE'
    >>> "--level FLOAT the CLs level" in " ".join(usage.split())
    True
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

import click
from click.core import ParameterSource

__all__ = ["main", "cli", "parse_args", "UsageError"]

_STDIN = "-"
_SIGMAS = ("-2σ", "-1σ", "", "+1σ", "+2σ")


class UsageError(Exception):
    """Bad input on the command line (a file that is missing or not a valid workspace...):
    :func:`main` prints it as ``neos: error: ...`` and returns 2.

    Example:
        >>> main(["inspect", "no-such-file.json"])
        2
    """


class _ResultError(Exception):
    """A result that cannot be computed or drawn (a non-finite number): exit status 1."""


# -- option types (checked while parsing, before anything is computed) ------------------------
class _FiniteFloat(click.ParamType):
    name = "float"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _Level(_FiniteFloat):
    name = "float"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        number = super().convert(value, param, ctx)
        if not 0.0 < number < 1.0:
            self.fail(f"the CLs level must be between 0 and 1, got {value}", param, ctx)
        return number


class _Scan(click.ParamType):
    name = "START,STOP,NUM"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[float, float, int]:
        if isinstance(value, tuple):
            return value
        try:
            start, stop, num = str(value).split(",")
            grid = (float(start), float(stop), int(num))
        except ValueError:
            self.fail(f"must be START,STOP,NUM (e.g. 0,5,21), got {value!r}", param, ctx)
        if not (math.isfinite(grid[0]) and math.isfinite(grid[1]) and grid[0] < grid[1]):
            self.fail(f"START,STOP,NUM needs finite START < STOP, got {value!r}", param, ctx)
        if grid[2] < 2:
            self.fail(f"START,STOP,NUM needs at least 2 points, got {value!r}", param, ctx)
        return grid


class _Shard(click.ParamType):
    name = "I/N"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            index, count = (int(part) for part in str(value).split("/"))
        except ValueError:
            self.fail(
                f"must be I/N (e.g. 2/10: the second of ten shards), got {value!r}", param, ctx
            )
        if not 1 <= index <= count:
            self.fail(f"I/N needs 1 <= I <= N, got {value!r}", param, ctx)
        return index, count


class _FigurePath(click.ParamType):
    name = "FILE"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from neos.plot import figure_format

        try:
            figure_format(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)
        return str(value)


def _option(*decls: str, **kwargs: Any) -> Callable[[Any], Any]:
    """``click.option`` with the default shown in ``--help``."""
    kwargs.setdefault("show_default", True)
    return click.option(*decls, **kwargs)


def _stack(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply ``decorators`` so that they appear in ``--help`` in the order given."""

    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _workspace_options(argument: bool = True) -> Callable[[Any], Any]:
    decorators: list[Callable[[Any], Any]] = []
    if argument:
        decorators.append(click.argument("workspace", metavar="WORKSPACE"))
        decorators.append(
            _option(
                "-p",
                "--patch",
                "patches",
                multiple=True,
                metavar="FILE",
                show_default=False,
                help="a JSON Patch file applied to the model specification before the model "
                "is built; repeat to apply several, in order ('-' reads standard input)",
            )
        )
    decorators.append(
        _option(
            "--measurement",
            default=None,
            show_default="the first one",
            help="name of the measurement (POI and parameter settings) to use",
        )
    )
    return _stack(*decorators)


def _output_options(json_default: bool) -> Callable[[Any], Any]:
    return _stack(
        _option(
            "--json/--table",
            "as_json",
            default=json_default,
            help="print JSON or a readable table",
        ),
        _option(
            "--output-file",
            default=None,
            metavar="FILE",
            show_default="standard output",
            help="write the output to FILE instead (atomically; missing folders are created)",
        ),
    )


def _plot_option(what: str) -> Callable[[Any], Any]:
    return _option(
        "--plot",
        type=_FigurePath(),
        default=None,
        show_default="no figure",
        help=f"also draw {what} into FILE (.png, .pdf, .svg...; written atomically)",
    )


def _stat_options(test_stats: Sequence[str]) -> Callable[[Any], Any]:
    return _stack(
        _option(
            "--test-stat",
            type=click.Choice(list(test_stats)),
            default="qtilde",
            help="test statistic (arXiv:1007.1727): qtilde (q_mu with mu-hat >= 0), q (q_mu)"
            + (", q0 (discovery: p-values of mu = 0)" if "q0" in test_stats else ""),
        ),
        _option(
            "--calctype",
            type=click.Choice(["asymptotics", "toybased"]),
            default="asymptotics",
            help="asymptotic formulae or pseudo-experiments",
        ),
        _option(
            "--ntoys",
            type=click.IntRange(min=1),
            default=2000,
            help="pseudo-experiments per hypothesis (with --calctype toybased)",
        ),
    )


def _level_option(help_text: str) -> Callable[[Any], Any]:
    return _option("--level", type=_Level(), default=0.05, help=help_text)


# -- the command group --------------------------------------------------------------------------
@click.group(
    name="neos",
    no_args_is_help=False,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "show_default": True,
        "max_content_width": 100,
    },
)
@_option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=None,
    show_default="$RELAXED_CACHE_DIR, else ~/.cache/relaxed/jax",
    help="keep JAX's compiled code in DIR, so that the next run skips compiling",
    metavar="DIR",
)
@_option("--no-cache", is_flag=True, default=False, help="turn the compilation cache off")
@_option(
    "--optimize-for",
    type=click.Choice(["auto", "compile", "run"]),
    default="auto",
    help="compiled code optimised for a short compilation or a fast run; auto: compile for "
    "fit, cls and upper-limit, run for grids, pseudo-experiments and training "
    "(relaxed.cache.optimize_for)",
)
@click.pass_context
def cli(ctx: click.Context, cache_dir: str | None, no_cache: bool, optimize_for: str) -> None:
    """Differentiable HEP analysis: inspect workspaces, run inference, train neural
    observables for the expected CLs.

    Bad input is reported as one line, "neos: error: ...", with exit status 2.
    """
    if cache_dir is not None and no_cache:
        raise click.UsageError("--cache-dir and --no-cache exclude each other")
    ctx.ensure_object(dict)
    ctx.obj["globals"] = {"cache_dir": cache_dir, "no_cache": no_cache}
    ctx.obj["optimize_for"] = optimize_for


def _dispatch(name: str, params: dict[str, Any]) -> Any:
    """Run subcommand ``name`` (or, for :func:`parse_args`, return what would run)."""
    ctx = click.get_current_context()
    settings = ctx.find_root().obj
    if settings.get("dry_run"):
        return name, {**settings["globals"], **params}
    _apply_cache(**settings["globals"])
    defaults = (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
    explicit = frozenset(p for p in params if ctx.get_parameter_source(p) not in defaults)
    from relaxed import cache

    previous = cache.optimize_for()
    _apply_optimization(settings.get("optimize_for", "auto"), name, params)
    try:
        return _RUNNERS[name](SimpleNamespace(**params, explicit=explicit))
    finally:  # a command run inside a Python session leaves the session's mode as it was
        cache.optimize_for(previous)


def _apply_optimization(mode: str, name: str, params: dict[str, Any]) -> None:
    """``--optimize-for``: "auto" compiles for a short compilation where a command runs its
    compiled program once (fit, cls, upper-limit: the eRJR hypothesis test compiles in 0.7 s
    instead of 1.3 s and runs in 10 ms instead of 2 ms; ``neos cls`` takes 1.75 s instead of
    2.1 s), and for a fast run where the work grows with the input: signal grids (the 64
    eRJR points with upper limits: 15 s instead of 27 s), pseudo-experiments, training."""
    if mode == "auto":
        many = name in ("train", "grid", "toys") or params.get("calctype") == "toybased"
        mode = "run" if many else "compile"
    from relaxed import cache

    cache.optimize_for(mode)


def _apply_cache(cache_dir: str | None, no_cache: bool) -> None:
    if cache_dir is None and not no_cache:
        return  # relaxed set it up from $RELAXED_CACHE_DIR when it was imported
    from relaxed import cache

    if no_cache:
        cache.set_cache_dir(None)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = cache.set_cache_dir(cache_dir)
    if folder is None:
        reason = str(caught[-1].message) if caught else "it cannot be used"
        raise UsageError(f"--cache-dir {cache_dir}: {reason}")


@cli.command("train", short_help="train a network for the expected CLs (the main job)")
@_option("--steps", type=int, default=20, help="optimisation steps")
@_option("--out", default="neos-run", help="output folder")
@_option("--seed", type=int, default=0, help="random seed")
@_option(
    "--loss",
    default="cls",
    help="figure of merit: cls, discovery, poi_uncert, inferno or bce",
)
@_option("--method", default="kde", help="soft histograms: kde or softmax")
@_option("--nmc", type=int, default=500, help="events per blob")
@_option(
    "--config",
    default=None,
    metavar="FILE",
    show_default="none",
    help="TOML file with training settings (the options above override it where given)",
)
@_option(
    "--analysis",
    default=None,
    metavar="FILE",
    show_default="none",
    help="TOML analysis description: your samples, systematics and channels, and the "
    "training settings (--steps, --seed and --loss override it where given; see "
    "neos/examples/dilepton.toml)",
)
@_option(
    "--resume",
    is_flag=True,
    default=False,
    help="continue the run in --out from its checkpoint up to --steps (a finished run is "
    "left as it is)",
)
@_option(
    "--force",
    is_flag=True,
    default=False,
    help="remove the run in --out, if any, and start afresh",
)
@_option("--quiet", is_flag=True, default=False, help="no progress bar")
@_output_options(json_default=False)
def _train_command(**params: Any) -> Any:
    """Train a network for the expected CLs (the main job).

    Prints the expected CLs before and after training (a line, or --json); writes
    metrics.json, workspace.json (pyhf), workspace_hs3.json (HS3), summary.png, training.gif
    (the built-in blobs only) and
    checkpoint.npz into --out. --analysis FILE trains on your own samples, systematics and
    channels (neos/examples/dilepton.toml).
    A folder that already holds a run is refused unless --resume (continue it; a finished
    run is reported and left as it is) or --force (replace it) is given. Ctrl-C saves the
    last completed step (exit status 130); --resume continues from it. Exit status 1 when
    training stops on a non-finite loss.
    """
    return _dispatch("train", params)


@cli.command("inspect", short_help="channels, samples, bins and parameters of a workspace")
@_workspace_options()
@_output_options(json_default=False)
def _inspect_command(**params: Any) -> Any:
    """Print a workspace's channels, samples, bins and parameters.

    WORKSPACE is a pyhf JSON workspace or an HS3 document (--measurement then names its
    analysis), or - for standard input.
    """
    return _dispatch("inspect", params)


@cli.command("convert", short_help="HS3 to pyhf JSON, or pyhf JSON to HS3")
@click.argument("input_file", metavar="IN")
@click.argument("output_file", metavar="OUT")
@_option(
    "--measurement",
    default=None,
    show_default="the first one (HS3: the only analysis)",
    help="pyhf input: the measurement to write as the HS3 analysis; HS3 input: the analysis",
)
def _convert_command(**params: Any) -> Any:
    """Convert a workspace between HS3 and pyhf's JSON format, the direction from IN: an HS3
    document (hs3_version 0.2) becomes a pyhf workspace, a pyhf workspace an HS3 document.
    Interpolation codes are written explicitly in HS3; what pyhf's format cannot express
    (a LogNormal constraint, a non-default interpolation code, ...) is an error naming it.
    IN or OUT may be - for standard input or output.
    """
    return _dispatch("convert", params)


@cli.command("fit", short_help="maximum-likelihood fit")
@_workspace_options()
@_option(
    "--poi-value",
    "--test-poi",
    type=_FiniteFloat(),
    default=None,
    show_default="free",
    help="fix the POI at this value",
)
@_output_options(json_default=True)
@_plot_option("the pulls and the correlation matrix")
def _fit_command(**params: Any) -> Any:
    """Maximum-likelihood fit: best-fit values, uncertainties (exact Hessian) and -2 log L.

    WORKSPACE is a pyhf JSON workspace or an HS3 document (--measurement then names its
    analysis), or - for standard input.
    """
    return _dispatch("fit", params)


@cli.command("cls", short_help="observed and expected CLs of a POI value (or p0 with q0)")
@_workspace_options()
@_option(
    "--poi-value",
    "--test-poi",
    type=_FiniteFloat(),
    default=1.0,
    help="the POI value to test (not with --test-stat q0, which tests 0)",
)
@_stat_options(["q", "qtilde", "q0"])
@_level_option("the CLs level drawn on the --plot figure (and marked in the table)")
@_option(
    "--scan",
    type=_Scan(),
    default=None,
    show_default="0 to twice --poi-value, extended until the expected +2 sigma CLs is below "
    "--level",
    help="the POI grid of the --plot figure",
)
@_output_options(json_default=True)
@_plot_option("the Brazil band of CLs against the POI")
def _cls_command(**params: Any) -> Any:
    """Observed and expected CLs (-2 .. +2 sigma) of a POI value, as pyhf cls.

    WORKSPACE is a pyhf JSON workspace, or - for standard input. With --test-stat q0 the
    numbers are the discovery p-values p0 (observed and expected), not CLs.
    """
    return _dispatch("cls", params)


@cli.command("upper-limit", short_help="observed and expected upper limits on the POI")
@_workspace_options()
@_stat_options(["q", "qtilde"])
@_level_option("the CLs level: limits at 1 - LEVEL confidence level")
@_option(
    "--scan",
    type=_Scan(),
    default=None,
    show_default="root finding",
    help="a POI grid to interpolate the limits on",
)
@_option(
    "--shard",
    type=_Shard(),
    default=None,
    show_default="the whole scan",
    help="with --scan: compute shard I of N (1-based) of the scan points and write a partial "
    "result for 'neos merge'",
)
@_option(
    "--chunk",
    type=click.IntRange(min=1),
    default=None,
    show_default="16 points, 1 with --calctype toybased; at most the scan's points",
    help="with --scan: points per compiled call; shards hold whole chunks, and only shards of "
    "the same --chunk merge",
)
@_option(
    "--devices",
    type=click.IntRange(min=1),
    default=None,
    show_default="all local devices",
    help="with --scan: deal the chunks round the first N local devices (the numbers do not "
    "depend on it)",
)
@_output_options(json_default=True)
@_plot_option("the Brazil band with the limits marked")
def _upper_limit_command(**params: Any) -> Any:
    """Observed and expected (-2 .. +2 sigma) upper limits on the POI.

    WORKSPACE is a pyhf JSON workspace or an HS3 document (--measurement then names its
    analysis), or - for standard input. With --scan the CLs values of the points are
    computed in chunks of --chunk points, dealt round --devices; with --shard I/N the output
    is a partial result file of the shard's points (no limits): run the N shards anywhere
    and combine their files with 'neos merge', which prints exactly the output of one run
    with the same --chunk.
    """
    return _dispatch("upper-limit", params)


@cli.command("grid", short_help="CLs of every signal hypothesis of a patch set")
@click.argument("bkgonly", metavar="BKGONLY")
@click.argument("patchset", metavar="PATCHSET")
@_workspace_options(argument=False)
@_option(
    "--test-stat",
    type=click.Choice(["q", "qtilde"]),
    default="qtilde",
    help="test statistic (arXiv:1007.1727): qtilde (q_mu with mu-hat >= 0) or q (q_mu)",
)
@_option(
    "--poi-value",
    "--test-poi",
    type=_FiniteFloat(),
    default=1.0,
    help="the POI value tested for every signal hypothesis",
)
@_option(
    "--upper-limits", is_flag=True, default=False, help="also the upper limit of each hypothesis"
)
@_level_option("the CLs level of the exclusion (and of the upper limits)")
@_output_options(json_default=True)
@_plot_option("the exclusion contours in the plane of the patch set's two labels")
@_option("--quiet", is_flag=True, default=False, help="no progress bar")
@_option(
    "--shard",
    type=_Shard(),
    default=None,
    show_default="the whole grid",
    help="compute only shard I of N (the patches at 0-based positions k with k % N == I-1) "
    "and write a partial result file (JSON) for 'neos merge'",
)
@_option(
    "--devices",
    type=click.IntRange(min=1),
    default=None,
    show_default="all local devices",
    help="deal the compiled calls round the first N local devices (the numbers do not "
    "depend on it; not with --dask, whose workers use their own devices)",
)
@_option(
    "--dask",
    is_flag=True,
    default=False,
    help="compute the patches in chunks on Dask workers (an embedded local cluster, or "
    "--scheduler)",
)
@_option(
    "--scheduler",
    default=None,
    metavar="ADDR",
    show_default="an embedded LocalCluster",
    help="with --dask: the address of a running Dask scheduler (tcp://host:8786)",
)
@_option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    show_default="one per CPU core",
    help="with --dask: the embedded cluster's workers (one thread each)",
)
@_option(
    "--worker-processes/--worker-threads",
    "worker_processes",
    default=True,
    help="with --dask: the embedded cluster's workers are processes, or threads of this "
    "process (they share its compiled programs)",
)
@_option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=16,
    help="with --dask: patches per Dask task (of one model structure; a multiple of 16, the "
    "grid's compiled call, wastes no padded points)",
)
@_option(
    "--retries",
    type=click.IntRange(min=0),
    default=1,
    help="with --dask: how many times a failed chunk runs again before it is reported",
)
@_option(
    "--pilot",
    is_flag=True,
    default=False,
    help="with --dask: run the first chunk alone, then the others; with a cold cache they "
    "load its compiled programs instead of each compiling them (faster where workers "
    "outnumber free cores)",
)
@_option(
    "--resume-dir",
    default=None,
    metavar="DIR",
    show_default="none",
    help="with --dask: write each finished chunk to DIR as it arrives; a rerun with the "
    "same DIR computes only the patches not there",
)
def _grid_command(**params: Any) -> Any:
    """CLs of every signal hypothesis (patch) of a patch set: an exclusion grid.

    BKGONLY is the background-only pyhf workspace and PATCHSET the pyhf patch set (either
    may be - for standard input). The JSON output is one record per patch: name, values,
    labels, CLs_obs, CLs_exp (-2 .. +2 sigma), converged and, with --upper-limits,
    upper_limit_obs and upper_limit_exp (null for a limit not bracketed inside the POI's
    bounds, with upper_limit_note saying which and why).

    With --shard I/N the output is a partial result file of the shard's patches (the same
    records, with the shard and a fingerprint of the inputs and settings); 'neos merge'
    makes the grid of the N shards, identical to a single run. The compiled calls (16
    patches each) are dealt round the local devices (--devices N: the first N), with the
    same numbers on any number of them. With --dask the patches are computed in chunks on
    Dask workers (numbers identical to a run without it); a chunk that still fails after
    --retries is reported with its patches (exit status 1).
    """
    return _dispatch("grid", params)


@cli.command("toys", short_help="toy-based CLs and the test-statistic distributions (shardable)")
@_workspace_options()
@_option(
    "--poi-value",
    "--test-poi",
    type=_FiniteFloat(),
    default=1.0,
    help="the POI value to test (not with --test-stat q0, which tests 0)",
)
@_option(
    "--test-stat",
    type=click.Choice(["q", "qtilde", "q0"]),
    default="qtilde",
    help="test statistic (arXiv:1007.1727): qtilde (q_mu with mu-hat >= 0), q (q_mu), q0 "
    "(discovery: p-values of mu = 0)",
)
@_option("--ntoys", type=click.IntRange(min=1), default=2000, help="toys per hypothesis")
@_option(
    "--seed",
    type=click.IntRange(min=0, max=2**32 - 1),
    default=0,
    help="random seed; toy i of a hypothesis depends on (seed, i) only",
)
@_option(
    "--shard",
    type=_Shard(),
    default=None,
    show_default="all toys",
    help="compute shard I of N (1-based) and write a partial result for 'neos merge'",
)
@_option(
    "--chunk",
    type=click.IntRange(min=1),
    default=256,
    help="toys per compiled call (at most --ntoys); shards hold whole chunks, and "
    "only shards of the same --chunk merge",
)
@_option(
    "--devices",
    type=click.IntRange(min=1),
    default=None,
    show_default="all local devices",
    help="deal the chunks round the first N local devices (the numbers do not depend on it)",
)
@_output_options(json_default=True)
def _toys_command(**params: Any) -> Any:
    """Toy-based CLs of a POI value, with the test statistics of every toy.

    WORKSPACE is a pyhf JSON workspace or an HS3 document (--measurement then names its
    analysis), or - for standard input. The JSON output holds the settings, a fingerprint of
    the model and data, the observed q and q_A, the test statistic of every toy (s+b and
    b-only), the indices of the toys whose fits did not converge (dropped and counted: the
    p-values are fractions of the converged toys) and the result. With --shard I/N it holds
    the shard's toys only (no result): run the N shards anywhere (a batch array job) and
    combine their files with 'neos merge', which gives exactly the output of one run.
    """
    return _dispatch("toys", params)


@cli.command("merge", short_help="combine the partial results of '--shard' runs")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@_output_options(json_default=True)
def _merge_command(**params: Any) -> Any:
    """Combine the partial results of 'neos toys --shard I/N', 'neos upper-limit --scan ...
    --shard I/N' or 'neos grid --shard I/N' into the result of one run.

    Every shard 1/N .. N/N must be given once; the files must come from the same workspace,
    settings and seed (missing or repeated shards and files of different inputs are errors
    naming them). The output equals that of the command without --shard, apart from timing.
    """
    return _dispatch("merge", params)


# -- reading the input ------------------------------------------------------------------------
def _display(path: str) -> str:
    return "<stdin>" if path == _STDIN else path


def _read_json(path: str, what: str = "") -> Any:
    """The JSON document in file ``path`` (``-``: standard input); errors name ``what path``."""
    name = f"{what}{_display(path)}"
    if path == _STDIN:
        stream = sys.stdin
        buffer = getattr(stream, "buffer", None)
        try:
            text = buffer.read().decode("utf-8") if buffer is not None else stream.read()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"{name}: cannot read standard input: {err}") from err
    else:
        file = Path(path)
        if not file.is_file():
            raise UsageError(f"{name}: no such file")
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"{name}: cannot read it: {err}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"{name}: not a JSON file ({err})") from err


def _is_hs3(doc: Any) -> bool:
    """An HS3 document (``distributions``, or ``metadata.hs3_version``), not pyhf JSON."""
    if not isinstance(doc, dict) or "channels" in doc:
        return False
    metadata = doc.get("metadata")
    return "distributions" in doc or (isinstance(metadata, dict) and "hs3_version" in metadata)


def _load_workspace(path: str, validate: bool = True, doc: Any = None) -> Any:
    import relaxed
    from relaxed.exceptions import RelaxedError

    spec = _read_json(path) if doc is None else doc
    try:
        return relaxed.Workspace(spec, validate=validate)
    except RelaxedError as err:
        raise UsageError(f"{_display(path)}: not a valid workspace: {err}") from err


def _hs3_error(path: str, err: Exception) -> UsageError:
    """An HS3 error for the command line (the analysis is chosen with --measurement)."""
    hint = " (here: --measurement NAME)" if getattr(err, "path", None) == "analyses" else ""
    return UsageError(f"{_display(path)}: {err}{hint}")


def _hs3_workspace(path: str, doc: Any, analysis: str | None) -> tuple[Any, Any]:
    """The pyhf translation of an HS3 document's analysis and its interpolation settings."""
    import relaxed
    from relaxed.exceptions import RelaxedError

    try:
        spec = relaxed.hs3.to_pyhf(doc, analysis=analysis, strict_interpolation=False)
        settings = relaxed.hs3.pyhf_modifier_settings(doc, analysis=analysis)
    except RelaxedError as err:
        raise _hs3_error(path, err) from err
    return _load_workspace(path, doc=spec), settings


def _has_unbinned_data(doc: Any) -> bool:
    data = doc.get("data") if isinstance(doc, dict) else None
    return isinstance(data, list) and any(
        isinstance(d, dict) and d.get("type") == "unbinned" for d in data
    )


def _hs3_combined(path: str, doc: Any, analysis: str | None) -> tuple[Any, Any, Any]:
    """An HS3 analysis with unbinned data: its :class:`relaxed.combined.CombinedModel` and
    data, read directly (HS3 workspace, model, data)."""
    import relaxed
    from relaxed.exceptions import RelaxedError

    try:
        ws = relaxed.hs3.load(doc)
        model = ws.model(analysis=analysis)
        return ws, model, ws.data(model)
    except RelaxedError as err:
        raise _hs3_error(path, err) from err


def _read_patch(path: str) -> list[Any]:
    patch = _read_json(path, "--patch ")
    if not (
        isinstance(patch, list)
        and all(isinstance(op, dict) and "op" in op and "path" in op for op in patch)
    ):
        raise UsageError(
            f"--patch {_display(path)}: not a JSON Patch (a list of operations such as "
            '{"op": "replace", "path": "/channels/0/samples/0/data", "value": [...]})'
        )
    return patch


def _check_one_stdin(*paths: str) -> None:
    if sum(path == _STDIN for path in paths) > 1:
        raise UsageError("only one input can be '-' (standard input)")


def _model(
    ws: Any, measurement: str | None, patches: Sequence[Any], settings: Any = None
) -> tuple[Any, Any]:
    model = (
        ws.model(measurement_name=measurement, patches=list(patches), modifier_settings=settings)
        if patches
        else ws.model(measurement_name=measurement, modifier_settings=settings)
    )
    return model, ws.data(model)


def _model_and_data(args: SimpleNamespace) -> tuple[Any, Any, Any]:
    """The workspace, its model (measurement and patches applied) and the observed data. An
    HS3 document is read through its pyhf translation (``--measurement`` names its analysis)."""
    from relaxed.exceptions import RelaxedError

    _check_one_stdin(args.workspace, *args.patches)
    doc = _read_json(args.workspace)
    args.document = doc
    settings = None
    measurement = args.measurement
    if _is_hs3(doc):
        if args.patches:
            raise UsageError(
                f"--patch: JSON Patches apply to pyhf JSON workspaces; "
                f"{_display(args.workspace)} is an HS3 document (convert it with 'neos convert')"
            )
        if _has_unbinned_data(doc):  # a combined likelihood: no pyhf translation exists
            return _hs3_combined(args.workspace, doc, measurement)
        ws, settings = _hs3_workspace(args.workspace, doc, measurement)
        measurement = None  # the translation's only measurement is the analysis
    else:
        ws = _load_workspace(args.workspace, doc=doc)
    patches = [_read_patch(path) for path in args.patches]
    try:
        model, data = _model(ws, measurement, patches, settings)
    except RelaxedError as err:
        raise UsageError(_model_error(ws, args, patches, err)) from err
    return ws, model, data


def _model_error(ws: Any, args: SimpleNamespace, patches: list[Any], err: Exception) -> str:
    """The message for a model that cannot be built: the first patch that breaks it, by name."""
    from relaxed.exceptions import RelaxedError

    if patches:
        for k in range(len(patches) + 1):
            try:
                _model(ws, args.measurement, patches[:k])
            except RelaxedError as first:
                if k == 0:
                    break
                return f"--patch {_display(args.patches[k - 1])}: cannot apply it: {first}"
    return f"{_display(args.workspace)}: {err}"


# -- writing the output ---------------------------------------------------------------------
def _emit(text: str, output_file: str | None) -> None:
    if output_file is None:
        click.echo(text)
        return
    from relaxed.io import write_text_atomic

    try:
        write_text_atomic(Path(output_file), text + "\n")
    except OSError as err:
        raise UsageError(f"--output-file: cannot write {output_file}: {err}") from err


def _plain(value: Any) -> Any:
    """``value`` with arrays and numpy scalars turned into Python floats, ints and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    import numpy as np

    array = np.asarray(value)
    if array.dtype == bool:
        return array.tolist()
    return np.asarray(array, dtype=np.float64).tolist()


def _non_finite(value: Any, where: str = "") -> tuple[str, float] | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, value)
    if isinstance(value, Mapping):
        items: Any = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _non_finite(item, key)
        if found is not None:
            return found
    return None


def _checked(result: Any, what: str) -> Any:
    """``result`` as plain JSON data; a non-finite number is an error naming it."""
    result = _plain(result)
    found = _non_finite(result)
    if found is not None:
        raise _ResultError(f"{what}: {found[0]} is {found[1]}: it cannot be computed")
    return result


def _failure(err: Exception, where: str = "") -> Exception:
    """The command-line error for a ``relaxed`` error: a fit that did not converge is a
    result that cannot be computed (exit status 1); anything else is bad input (exit
    status 2, the message names what is wrong and where)."""
    from relaxed.exceptions import FailedMinimization

    text = f"{where}: {err}" if where else str(err)
    return _ResultError(text) if isinstance(err, FailedMinimization) else UsageError(text)


def _output(result: Any, args: SimpleNamespace, table: Callable[[Any], str]) -> None:
    text = json.dumps(result, indent=2, allow_nan=False) if args.as_json else table(result)
    _emit(text, args.output_file)


def _save_plot(fig: Any, path: str) -> None:
    import matplotlib.pyplot as plt

    from neos.plot import save_figure

    try:
        save_figure(fig, path, dpi=120)
    except (OSError, ValueError) as err:
        raise UsageError(f"--plot: cannot write {path}: {err}") from err
    finally:
        plt.close(fig)


def _g(value: float) -> str:
    return f"{value:.6g}"


def _limit(value: float | None) -> str:
    """A limit of a grid record; None (not bracketed inside the POI's bounds) as "none"."""
    return "none" if value is None else _g(value)


def _rows(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]


def _with_patches(args: SimpleNamespace) -> str:
    name = f"Workspace {_display(args.workspace)}"
    if args.patches:
        name += " patched with " + ", ".join(_display(p) for p in args.patches)
    return name


# -- the subcommands ------------------------------------------------------------------------
def _convert(args: SimpleNamespace) -> int:
    import relaxed
    from relaxed.exceptions import RelaxedError

    doc = _read_json(args.input_file)
    try:
        if _is_hs3(doc):
            out = relaxed.hs3.to_pyhf(doc, analysis=args.measurement)
        else:
            ws = _load_workspace(args.input_file, doc=doc)
            out = relaxed.hs3.from_pyhf(ws.spec, measurement=args.measurement)
    except RelaxedError as err:
        raise _hs3_error(args.input_file, err) from err
    text = json.dumps(out, indent=2)
    if args.output_file == _STDIN:
        click.echo(text)
        return 0
    from relaxed.io import write_text_atomic

    try:
        write_text_atomic(Path(args.output_file), text + "\n")
    except OSError as err:
        raise UsageError(f"OUT: cannot write {args.output_file}: {err}") from err
    return 0


def _inspect_combined(args: SimpleNamespace, ws: Any, model: Any) -> int:
    """``neos inspect`` of an HS3 likelihood with unbinned data: its parts and parameters."""
    cfg = model.config
    info = {
        "format": "HS3",
        "model": repr(model),
        "parts": {name: part.describe_data() for name, part in model.parts.items()},
        "poi": cfg.poi_name,
        "parameters": [
            {"name": n, "init": i, "bounds": list(b), "fixed": f}
            for n, i, b, f in zip(
                cfg.par_names,
                cfg.suggested_init(),
                cfg.suggested_bounds(),
                cfg.suggested_fixed(),
                strict=True,
            )
        ],
    }

    def table(info: Any) -> str:
        rows = [f"  {name}: {text}" for name, text in info["parts"].items()]
        pars = [
            f"  {p['name']:<20} init {p['init']:<10.6g} bounds {p['bounds']}"
            + (" (fixed)" if p["fixed"] else "")
            for p in info["parameters"]
        ]
        return "\n".join(
            [ws.summary(), "", f"Model of the analysis: {info['model']}", "Parts (data layout):"]
            + rows
            + [f"Parameters ({len(pars)}; POI: {info['poi']}):"]
            + pars
        )

    _output(info, args, table)
    return 0


def _inspect(args: SimpleNamespace) -> int:
    from relaxed.histfactory.summary import describe, format_summary

    ws, model, data = _model_and_data(args)
    hs3 = _is_hs3(args.document)
    if not hasattr(model.config, "nmaindata"):  # a combined (binned + unbinned) likelihood
        return _inspect_combined(args, ws, model)
    info = describe(model, data[: model.config.nmaindata])
    info["format"] = "HS3" if hs3 else "pyhf"
    info["measurement"] = ws.get_measurement(None if hs3 else args.measurement)["name"]
    info["measurements"] = ws.measurement_names
    info = _checked(info, "inspect")

    def table(info: Any) -> str:
        import relaxed

        head = ""
        if hs3:  # the document as written, then the model of its analysis
            head = relaxed.hs3.load(args.document).summary() + "\n\nModel of the analysis:\n"
        return (
            f"{head}{_with_patches(args)}\n"
            f"Measurement: {info['measurement']} (of {', '.join(info['measurements'])})\n"
            + format_summary(info)
        )

    _output(info, args, table)
    return 0


def _floats(values: Any) -> list[float]:
    import numpy as np

    return [float(v) for v in np.ravel(np.asarray(values))]


def _fit(args: SimpleNamespace) -> int:
    from relaxed.exceptions import InvalidParameters, RelaxedError
    from relaxed.infer import mle

    _, model, data = _model_and_data(args)
    cfg = model.config
    if args.poi_value is not None and cfg.poi_index is None:
        raise UsageError(f"{_display(args.workspace)}: --poi-value needs a measurement with a POI")
    with_corr = not args.as_json or args.plot is not None
    kwargs = {
        "return_uncertainties": True,
        "return_correlations": with_corr,
        "return_fitted_val": True,
    }
    try:
        if args.poi_value is None:
            out = mle.fit(data, model, **kwargs)
        else:
            out = mle.fixed_poi_fit(args.poi_value, data, model, **kwargs)
    except RelaxedError as err:
        where = "--poi-value" if isinstance(err, InvalidParameters) and args.poi_value else ""
        raise _failure(err, where) from err
    pars, corr, nll = out if with_corr else (out[0], None, out[1])
    result: dict[str, Any] = {
        "mle_parameters": {name: _floats(pars[cfg.par_slice(name), 0]) for name in cfg.par_order},
        "uncertainties": {name: _floats(pars[cfg.par_slice(name), 1]) for name in cfg.par_order},
        "twice_nll": float(nll),
    }
    if args.poi_value is not None:
        result["poi_value"] = args.poi_value
    result = _checked(result, "fit")
    if args.plot is not None:
        from neos.plot import fit_figure

        _save_plot(fit_figure(model, pars, corr), args.plot)

    def table(_: Any) -> str:
        from relaxed.infer.summary import fit_summary

        return fit_summary(model, pars, corr, nll)

    _output(result, args, table)
    return 0


def _stat_kwargs(args: SimpleNamespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"test_stat": args.test_stat, "calctype": args.calctype}
    if args.calctype == "toybased":
        kwargs["ntoys"] = args.ntoys
    return kwargs


def _linspace(grid: tuple[float, float, int] | None) -> Any:
    if grid is None:
        return None
    import numpy as np

    return np.linspace(*grid)


def _auto_scan(data: Any, model: Any, poi_value: float, level: float, kwargs: dict) -> Any:
    """CLs on 21 points from 0 (or the POI's lower bound, if above) to ``hi``: ``hi`` starts
    at twice the tested value (1 for 0) and doubles (up to the POI's upper bound) until the
    expected +2 sigma CLs at ``hi`` is below ``level``, so that every expected limit is inside
    the plot."""
    import numpy as np

    from relaxed.infer.intervals import cls_scan

    lower, upper = model.config.suggested_bounds()[model.config.poi_index]
    lo = max(0.0, lower)
    hi = min(max(2.0 * poi_value, lo + 1.0), upper)
    for _ in range(8):
        scan_results = cls_scan(data, model, np.linspace(lo, hi, 21), **kwargs)
        plus_two = float(scan_results[1][-1][1][4])
        if not plus_two > level or hi >= upper:
            break
        hi = min(2.0 * hi, upper)
    return scan_results


def _needs_poi(model: Any, args: SimpleNamespace) -> None:
    if model.config.poi_index is None:
        raise UsageError(
            f"{_display(args.workspace)}: the measurement has no parameter of interest"
        )


def _stat_title(args: SimpleNamespace) -> str:
    toys = f", {args.ntoys} toys" if args.calctype == "toybased" else ""
    return f"test statistic {args.test_stat}, {args.calctype}{toys}"


def _cls_table(result: Any, args: SimpleNamespace, poi: str, poi_value: float) -> str:
    if args.test_stat == "q0":
        from statistics import NormalDist

        def z(p: float) -> str:
            return f"Z = {NormalDist().inv_cdf(1.0 - p):.3f}" if 0.0 < p < 1.0 else ""

        values = [result["p0_obs"], *result["p0_exp"]]
        head = f"Discovery p-values p0 of {poi} = 0 ({_stat_title(args)})"
        rows = [["p0 observed", _g(values[0]), z(values[0])]]
        rows += [
            [f"p0 expected {s}".rstrip(), _g(v), z(v)]
            for s, v in zip(_SIGMAS, values[1:], strict=True)
        ]
        return "\n".join([head, *_rows(rows)])
    values = [result["CLs_obs"], *result["CLs_exp"]]
    head = f"CLs of {poi} = {poi_value:g} ({_stat_title(args)})"
    rows = [["CLs observed", _g(values[0]), _excluded(values[0], args.level)]]
    rows += [
        [f"CLs expected {s}".rstrip(), _g(v), _excluded(v, args.level)]
        for s, v in zip(_SIGMAS, values[1:], strict=True)
    ]
    return "\n".join([head, *_rows(rows)])


def _excluded(cls: float, level: float) -> str:
    cl = f"{100 * (1 - level):g}% CL"
    return f"excluded at {cl}" if cls < level else f"not excluded at {cl}"


def _cls(args: SimpleNamespace) -> int:
    from relaxed.exceptions import InvalidParameters, RelaxedError
    from relaxed.infer import hypotest

    is_q0 = args.test_stat == "q0"
    if is_q0 and args.plot is not None:
        raise UsageError("--plot draws CLs against the POI: use --test-stat q or qtilde")
    if is_q0 and "poi_value" in args.explicit and args.poi_value != 0.0:
        raise UsageError(
            "--test-stat q0 tests the background-only hypothesis (POI = 0): leave out --poi-value"
        )
    poi_value = 0.0 if is_q0 else args.poi_value
    _, model, data = _model_and_data(args)
    _needs_poi(model, args)
    poi = model.config.poi_name
    kwargs = _stat_kwargs(args)
    try:
        obs, exp = hypotest(poi_value, data, model, return_expected_set=True, **kwargs)
    except RelaxedError as err:
        raise _failure(err, "--poi-value" if isinstance(err, InvalidParameters) else "") from err
    keys = ("p0_obs", "p0_exp") if is_q0 else ("CLs_obs", "CLs_exp")
    result = _checked({keys[0]: float(obs), keys[1]: _floats(exp)}, "cls")
    if args.plot is not None:
        from neos.plot import brazil_figure
        from relaxed.infer.intervals import cls_scan

        scan = _linspace(args.scan)
        try:
            if scan is None:
                scan_results = _auto_scan(data, model, poi_value, args.level, kwargs)
            else:
                scan_results = cls_scan(data, model, scan, **kwargs)
        except RelaxedError as err:
            raise _failure(err, "--scan" if scan is not None else "--plot") from err
        fig = brazil_figure(
            scan_results,
            args.level,
            test_poi=poi_value,
            poi_label=poi,
            title=f"CL$_s$ = {result['CLs_obs']:.3g} at {poi} = {poi_value:g}",
        )
        _save_plot(fig, args.plot)
    _output(result, args, lambda r: _cls_table(r, args, poi, poi_value))
    return 0


def _limits_table(result: Any, args: SimpleNamespace, poi: str) -> str:
    how = "root finding" if args.scan is None else "scan {:g}..{:g}, {} points".format(*args.scan)
    head = (
        f"Upper limits on {poi} at {100 * (1 - args.level):g}% CL (CLs = {args.level:g}; "
        f"{_stat_title(args)}; {how})"
    )
    rows = [["observed", _g(result["obs"])]]
    rows += [[f"expected {s}".rstrip(), _g(v)] for s, v in zip(_SIGMAS, result["exp"], strict=True)]
    return "\n".join([head, *_rows(rows)])


def _check_scan_options(args: SimpleNamespace) -> None:
    """Options of ``neos upper-limit`` that do not go together, found before anything is read."""
    if args.scan is None:
        given = [name for name in ("shard", "chunk", "devices") if name in args.explicit]
        if given:
            raise UsageError(
                f"--{given[0]} needs --scan: only the points of a scan are split (root finding "
                "tests one POI value after another)"
            )
    if args.shard is not None:
        if not args.as_json:
            raise UsageError("--shard writes a partial result file, which is JSON (not --table)")
        if args.plot is not None:
            raise UsageError(
                "--plot draws the whole scan; a --shard holds part of it (merge the shards "
                "with 'neos merge')"
            )
    if args.devices is not None:
        import jax

        local = jax.local_devices()
        if args.devices > len(local):
            raise UsageError(
                f"--devices {args.devices}: this machine has {len(local)} local device(s)"
            )


def _upper_limit(args: SimpleNamespace) -> int:
    import numpy as np

    from relaxed.exceptions import RelaxedError
    from relaxed.infer import upper_limit

    _check_scan_options(args)
    _, model, data = _model_and_data(args)
    _needs_poi(model, args)
    poi = model.config.poi_name
    kwargs = _stat_kwargs(args)
    if args.scan is not None:
        return _scan_upper_limit(args, model, data, kwargs)
    try:
        obs, exp = upper_limit(data, model, level=args.level, **kwargs)
    except RelaxedError as err:
        raise _failure(err) from err
    result = _checked({"obs": float(obs), "exp": _floats(exp), "level": args.level}, "upper-limit")
    if args.plot is not None:
        # root finding: a grid just wide enough for the limits
        lower, upper = model.config.suggested_bounds()[model.config.poi_index]
        lo = max(0.0, lower)
        hi = min(1.2 * max(result["obs"], *result["exp"]), upper)
        if not hi > lo:
            hi = upper
        try:
            *_, scan_results = upper_limit(
                data,
                model,
                scan=np.linspace(lo, hi, 25),
                level=args.level,
                return_results=True,
                **kwargs,
            )
        except RelaxedError as err:
            raise _failure(err, "--plot") from err
        _limits_plot(args, poi, result, (obs, exp), scan_results)
    _output(result, args, lambda r: _limits_table(r, args, poi))
    return 0


def _limits_plot(
    args: SimpleNamespace, poi: str, result: Any, limits: Any, scan_results: Any
) -> None:
    from neos.plot import brazil_figure

    fig = brazil_figure(
        scan_results,
        args.level,
        limits=limits,
        poi_label=poi,
        title=f"upper limits on {poi} at {100 * (1 - args.level):g}% CL: observed "
        f"{result['obs']:.3g}, expected {result['exp'][2]:.3g}",
    )
    _save_plot(fig, args.plot)


def _scan_upper_limit(args: SimpleNamespace, model: Any, data: Any, kwargs: dict) -> int:
    """``neos upper-limit --scan``: the points' CLs values in chunks over the local devices
    (:func:`relaxed.infer.scans.scan_values`), then the limits, or a shard's partial file."""
    import jax
    import jax.numpy as jnp

    from relaxed import cache
    from relaxed.exceptions import RelaxedError
    from relaxed.infer import intervals, scans, toys

    start = time.perf_counter()
    poi = model.config.poi_name
    scan = _linspace(args.scan)
    npoints = len(scan)
    chunk = min(args.chunk or scans.DEFAULT_CHUNK[args.calctype], npoints)
    first, count, shard = 0, npoints, args.shard
    if shard is not None:
        nchunks = math.ceil(npoints / chunk)
        if shard[1] > nchunks:
            raise UsageError(
                f"--shard {shard[0]}/{shard[1]}: {npoints} scan points in chunks of {chunk} "
                f"make {nchunks} chunk(s), fewer than {shard[1]} shards; use --chunk "
                f"{max(npoints // shard[1], 1)} or less"
            )
        first, count = toys.shard_range(shard[0] - 1, shard[1], npoints, chunk)
    try:
        values = scans.scan_values(
            data,
            model,
            scan,
            first=first,
            count=count,
            chunk=chunk,
            devices=args.devices,
            **kwargs,
        )
        if shard is None:
            obs, exp = scans.scan_limits(scan, values, args.level, model)
    except RelaxedError as err:
        raise _failure(err, "--scan") from err
    if shard is not None:
        settings = {
            "poi": poi,
            "test_stat": args.test_stat,
            "calctype": args.calctype,
            **({"ntoys": args.ntoys} if args.calctype == "toybased" else {}),
            "level": args.level,
            "chunk": chunk,
            "compiled_for": cache.optimize_for(),
        }
        doc = scans.to_document(
            values, scan, settings, toys.fingerprint(model, data), first=first, shard=shard
        )
        local = jax.local_devices()
        doc["timing"] = {
            "wall_s": time.perf_counter() - start,
            "devices": [str(d) for d in local[: args.devices or len(local)]],
        }
        _emit(json.dumps(doc, indent=2, allow_nan=False), args.output_file)
        return 0
    result = _checked({"obs": float(obs), "exp": _floats(exp), "level": args.level}, "upper-limit")
    if args.plot is not None:
        grid = jnp.asarray(scan, dtype=jnp.float64)
        scan_results = (grid, intervals._results_list(grid, values))
        _limits_plot(args, poi, result, (obs, exp), scan_results)
    _output(result, args, lambda r: _limits_table(r, args, poi))
    return 0


def _plane(patchset: Any, name: str) -> None:
    """Check, before anything is computed, that --plot can draw the patch set's exclusion."""
    import numpy as np

    labels = list(patchset.labels)
    if len(labels) != 2:
        raise UsageError(
            f"--plot draws the exclusion in the plane of two parameters; {name} has "
            f"{len(labels)} labels {labels}"
        )
    try:
        points = np.asarray([p.values for p in patchset], dtype=np.float64).reshape(-1, 2)
    except ValueError as err:
        raise UsageError(f"--plot needs numbers as the values of {name}'s patches") from err
    if len(points) < 3 or np.linalg.matrix_rank(points - points.mean(axis=0)) < 2:
        raise UsageError(
            f"--plot needs at least 3 signal hypotheses not all on one line in "
            f"({labels[0]}, {labels[1]}); {name} has {len(points)}"
        )


def _number(value: Any) -> str:
    return _g(value) if isinstance(value, int | float) else str(value)


def _grid_table(records: Any, args: SimpleNamespace, labels: Sequence[str], head: str) -> str:
    header = ["name", *labels, "CLs_obs", "CLs_exp_median", "excluded", "converged"]
    if args.upper_limits:
        header += ["limit_obs", "limit_exp_median"]
    rows = [header]
    for r in records:
        row = [r["name"], *(_number(v) for v in r["values"])]
        row += [_g(r["CLs_obs"]), _g(r["CLs_exp"][2])]
        row += [
            "yes" if r["CLs_obs"] < args.level else "no",
            "yes" if r["converged"] else "NO",
        ]
        if args.upper_limits:
            row += [_limit(r["upper_limit_obs"]), _limit(r["upper_limit_exp"][2])]
        rows.append(row)
    return "\n".join([head, *_rows(rows)])


_DASK_OPTIONS = (
    "scheduler",
    "workers",
    "worker_processes",
    "chunk_size",
    "retries",
    "pilot",
    "resume_dir",
)


def _check_grid_options(args: SimpleNamespace) -> None:
    """Options that do not go together, found before anything is read or computed."""
    given = [name for name in _DASK_OPTIONS if name in args.explicit]
    if given and not args.dask:
        raise UsageError(f"--{given[0].replace('_', '-')} needs --dask")
    if args.dask and args.devices is not None:
        raise UsageError(
            "--devices deals one process's compiled calls round its devices; with --dask each "
            "worker computes its chunks on all of its own local devices"
        )
    if args.scheduler is not None:
        local = [name for name in ("workers", "worker_processes") if name in args.explicit]
        if local:
            raise UsageError(
                f"--{local[0].replace('_', '-')} sizes the embedded cluster; with --scheduler "
                "the scheduler's own workers compute the chunks"
            )
    if args.shard is not None:
        if not args.as_json:
            raise UsageError("--shard writes a partial result file, which is JSON (not --table)")
        if args.plot is not None:
            raise UsageError(
                "--plot draws the whole grid; a --shard holds part of it (merge the shards "
                "with 'neos merge', then plot)"
            )


def _dask_grid(
    ws: Any,
    patchset: Any,
    args: SimpleNamespace,
    settings: dict[str, Any],
    selected: list[str] | None,
) -> list[dict[str, Any]]:
    """The grid's records computed on Dask (``--dask``); failed chunks are exit status 1."""
    try:
        from neos import grid_dask

        grid_dask.require_dask()
    except ImportError as err:
        raise UsageError(f"--dask: {err}") from err
    from relaxed.infer.grid import hypotest_grid

    # bad input is reported before a cluster starts: every model is built and checked, and
    # nothing is computed (the models are kept with the objects for the chunks)
    hypotest_grid(ws, patchset, patches=[], **settings)
    try:
        with grid_dask.open_client(
            args.scheduler, args.workers, processes=args.worker_processes
        ) as client:
            result = grid_dask.dask_grid(
                ws,
                patchset,
                client,
                patches=selected,
                chunk_size=args.chunk_size,
                resume_dir=args.resume_dir,
                retries=args.retries,
                progress=not args.quiet,
                pilot=args.pilot,
                verify=False,  # verified above
                **settings,
            )
    except grid_dask.GridChunkError as err:
        raise _ResultError(f"grid: {err}") from err
    except grid_dask.GridResumeError as err:
        raise UsageError(f"--resume-dir: {err}") from err
    except ImportError as err:  # a worker without neos (a cluster's own environment)
        raise UsageError(f"--dask: a worker cannot import what it needs: {err}") from err
    except OSError as err:  # no scheduler at --scheduler, an unwritable --resume-dir...
        where = f"--scheduler {args.scheduler}" if args.scheduler else "--dask"
        raise UsageError(f"{where}: {err}") from err
    if result.reused:
        nchunks = len(result.computed)
        print(
            f"neos: {result.reused} patches read back from {args.resume_dir}; "
            f"{sum(map(len, result.computed))} computed in {nchunks} "
            f"chunk{'' if nchunks == 1 else 's'}",
            file=sys.stderr,
        )
    return result.records


def _grid(args: SimpleNamespace) -> int:
    import jax

    import relaxed
    from relaxed.exceptions import RelaxedError

    _check_grid_options(args)
    local = jax.local_devices()
    if args.devices is not None and args.devices > len(local):
        raise UsageError(f"--devices {args.devices}: this machine has {len(local)} local device(s)")
    _check_one_stdin(args.bkgonly, args.patchset)
    ws = _load_workspace(args.bkgonly)
    doc = _read_json(args.patchset)
    name = _display(args.patchset)
    try:
        from relaxed.infer.grid import hypotest_grid
    except ImportError as err:
        raise UsageError(f"neos grid needs relaxed.infer.grid: {err}") from err
    try:
        patchset = relaxed.PatchSet(doc)
    except RelaxedError as err:
        raise UsageError(f"{name}: not a valid patch set: {err}") from err
    labels = [str(label) for label in patchset.labels]
    if args.plot is not None:
        _plane(patchset, name)
    try:
        poi = ws.get_measurement(args.measurement)["config"]["poi"]
    except RelaxedError as err:
        raise UsageError(f"{_display(args.bkgonly)}: {err}") from err
    settings = {
        "poi_test": args.poi_value,
        "measurement_name": args.measurement,
        "test_stat": args.test_stat,
        "upper_limits": args.upper_limits,
        "level": args.level,
    }
    selected = None
    if args.shard is not None:
        from neos.grid_shards import shard_patches

        selected = shard_patches([p.name for p in patchset.patches], *args.shard)
    start = time.perf_counter()
    try:
        if args.dask:
            records = _dask_grid(ws, patchset, args, settings, selected)
        else:
            subset = {} if selected is None else {"patches": selected}
            records = hypotest_grid(
                ws, patchset, progress=not args.quiet, devices=args.devices, **settings, **subset
            )
    except RelaxedError as err:
        raise _failure(err, name) from err
    wall = time.perf_counter() - start
    records = _plain(list(records))
    bad = [(r.get("name"), found) for r in records if (found := _non_finite(r)) is not None]
    if bad:
        listed = "; ".join(f"{patch!r}: {where} is {value}" for patch, (where, value) in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise _ResultError(
            f"grid: numbers that cannot be computed in {len(bad)} of {len(records)} patches: "
            f"{listed}{more}"
        )
    if args.shard is not None:
        from neos.grid_shards import grid_partial, grid_settings

        partial = grid_partial(
            ws, patchset, args.shard, records, grid_settings(ws, **settings), wall_s=wall
        )
        _emit(json.dumps(partial, indent=2, allow_nan=False), args.output_file)
        return 0
    hypotheses = "hypothesis" if len(records) == 1 else "hypotheses"
    head = (
        f"Patch set {name}: {len(records)} signal {hypotheses} in ({', '.join(labels)}); "
        f"CLs of {poi} = {args.poi_value:g} (test statistic {args.test_stat}); excluded: "
        f"observed CLs < {args.level:g}"
    )
    _output(records, args, lambda r: _grid_table(r, args, labels, head))
    if args.plot is not None:
        from neos.plot import exclusion_figure

        try:
            fig = exclusion_figure(
                records, labels, args.level, title=f"{poi} = {args.poi_value:g}, {name}"
            )
        except ValueError as err:
            raise _ResultError(f"--plot: {err}") from err
        _save_plot(fig, args.plot)
    return 0


def _toys_table(doc: Any) -> str:
    settings = doc["settings"]
    poi, value = settings["poi"], settings["poi_value"]
    toys, observed = doc["toys"], doc["observed"]
    what = "Discovery p-values p0" if settings["test_stat"] == "q0" else "CLs"
    head = (
        f"{what} of {poi} = {value:g} from toys (test statistic {settings['test_stat']}, "
        f"{settings['ntoys']} toys per hypothesis, seed {settings['seed']})"
    )
    rows = [["q observed", _g(observed["q"])], ["q Asimov", _g(observed["q_A"])]]
    last = toys["first"] + toys["count"] - 1
    if "shard" in doc:
        shard = doc["shard"]
        rows.append(
            [
                f"shard {shard['index']}/{shard['count']}",
                f"toys {toys['first']} .. {last} (combine the shards with neos merge)",
            ]
        )
    failed = f"s+b {len(doc['nonconverged_sb'])}, b-only {len(doc['nonconverged_b'])}"
    rows.append(["toys not converged", f"{failed} (dropped: p-values from the converged toys)"])
    result = doc.get("result")
    if result is not None:

        def number(v: float | None) -> str:
            return "undefined" if v is None else _g(v)

        if settings["test_stat"] == "q0":
            rows.append(["p0 observed", number(result["CLsb_obs"])])
            values = result["CLsb_exp"]
            name = "p0"
        else:
            rows += [
                ["CLs observed", number(result["CLs_obs"])],
                ["CLsb observed", number(result["CLsb_obs"])],
                ["CLb observed", number(result["CLb_obs"])],
            ]
            values, name = result["CLs_exp"], "CLs"
        rows += [
            [f"{name} expected {s}".rstrip(), number(v)]
            for s, v in zip(_SIGMAS, values, strict=True)
        ]
    return "\n".join([head, *_rows(rows)])


def _toys(args: SimpleNamespace) -> int:
    import time

    import jax

    from relaxed import cache
    from relaxed.exceptions import InvalidParameters, RelaxedError
    from relaxed.infer import toys

    is_q0 = args.test_stat == "q0"
    if is_q0 and "poi_value" in args.explicit and args.poi_value != 0.0:
        raise UsageError(
            "--test-stat q0 tests the background-only hypothesis (POI = 0): leave out --poi-value"
        )
    poi_value = 0.0 if is_q0 else args.poi_value
    start = time.perf_counter()
    local = jax.local_devices()
    if args.devices is not None and args.devices > len(local):
        raise UsageError(f"--devices {args.devices}: this machine has {len(local)} local device(s)")
    _, model, data = _model_and_data(args)
    _needs_poi(model, args)
    chunk = min(args.chunk, args.ntoys)
    first, count, shard = 0, args.ntoys, None
    if args.shard is not None and args.shard[1] > 1:
        shard = args.shard
        nchunks = math.ceil(args.ntoys / chunk)
        if shard[1] > nchunks:
            raise UsageError(
                f"--shard {shard[0]}/{shard[1]}: {args.ntoys} toys in chunks of {chunk} make "
                f"{nchunks} chunk(s), fewer than {shard[1]} shards; use --chunk "
                f"{max(args.ntoys // shard[1], 1)} or less"
            )
        first, count = toys.shard_range(shard[0] - 1, shard[1], args.ntoys, chunk)
    settings = {
        "poi": model.config.poi_name,
        "poi_value": poi_value,
        "test_stat": args.test_stat,
        "ntoys": args.ntoys,
        "seed": args.seed,
        "chunk": chunk,
        "compiled_for": cache.optimize_for(),
    }
    try:
        stats = toys.toy_stats(
            poi_value,
            data,
            model,
            test_stat=args.test_stat,
            ntoys=count,
            first=first,
            key=jax.random.PRNGKey(args.seed),
            chunk=chunk,
            devices=args.devices,
        )
        doc = toys.to_document(stats, settings, toys.fingerprint(model, data), shard=shard)
    except RelaxedError as err:
        where = "--poi-value" if isinstance(err, InvalidParameters) else ""
        raise _failure(err, where) from err
    if not doc["observed"]["converged"]:
        raise _ResultError(
            "toys: a fit to the observed or the Asimov data (or a fit that makes the toys) did "
            "not converge"
        )
    doc["timing"] = {
        "wall_s": time.perf_counter() - start,
        "devices": [str(d) for d in local[: args.devices or len(local)]],
    }
    _output(doc, args, _toys_table)
    return 0


def _merge(args: SimpleNamespace) -> int:
    from relaxed.exceptions import RelaxedError
    from relaxed.infer import toys

    _check_one_stdin(*args.files)
    if args.output_file is not None:
        target = Path(args.output_file).resolve()
        for path in args.files:
            if path != _STDIN and Path(path).resolve() == target:
                raise UsageError(f"--output-file {args.output_file} is one of the inputs")
    docs = [_read_json(path) for path in args.files]
    names = [_display(path) for path in args.files]
    kinds = {d.get("kind") if isinstance(d, Mapping) else None for d in docs}
    if "grid" in kinds:
        return _merge_grid(args, kinds)
    if "relaxed.scan" in kinds:
        return _merge_scan(args, docs, names, kinds)
    try:
        doc = toys.merge_documents(docs, names)
    except RelaxedError as err:
        raise UsageError(f"merge: {err}") from err
    timings = [d.get("timing") if isinstance(d, Mapping) else None for d in docs]
    order = sorted(range(len(docs)), key=lambda i: docs[i]["toys"]["first"])
    seconds = [t.get("wall_s") for t in timings if isinstance(t, Mapping)]
    doc["timing"] = {
        "wall_s": sum(s for s in seconds if isinstance(s, int | float)),
        "shards": [timings[i] for i in order],
    }
    _output(doc, args, _toys_table)
    return 0


def _merge_scan(args: SimpleNamespace, docs: list[Any], names: list[str], kinds: set[Any]) -> int:
    """``neos merge`` of ``neos upper-limit --scan ... --shard`` files: the output of one
    ``neos upper-limit`` run (the limits, as JSON or a table)."""
    from relaxed.exceptions import RelaxedError
    from relaxed.infer import scans

    if kinds != {"relaxed.scan"}:
        raise UsageError(
            "merge: the files mix shards of an upper-limit scan with other results; merge "
            "each kind apart"
        )
    try:
        doc = scans.merge_documents(docs, names)
    except RelaxedError as err:
        raise UsageError(f"merge: {err}") from err
    limits = doc["result"]
    result = {"obs": _finite(limits["obs"]), "exp": [_finite(v) for v in limits["exp"]]}
    result = _checked({**result, "level": limits["level"]}, "upper-limit")
    settings, grid = doc["settings"], doc["scan"]
    shown = SimpleNamespace(
        scan=(grid[0], grid[-1], len(grid)),
        level=settings["level"],
        test_stat=settings.get("test_stat", "unknown"),
        calctype=settings.get("calctype", "unknown"),
        ntoys=settings.get("ntoys"),
        as_json=args.as_json,
        output_file=args.output_file,
    )
    _output(result, shown, lambda r: _limits_table(r, shown, settings["poi"]))
    return 0


def _finite(value: float | None) -> float:
    """A number of a merged document (``None``: not finite)."""
    return math.nan if value is None else value


def _merge_grid(args: SimpleNamespace, kinds: set[Any]) -> int:
    """``neos merge`` of ``neos grid --shard`` files: the records of one run, as JSON."""
    from neos.grid_shards import GridMergeError, merge_grid_partials

    if kinds != {"grid"}:
        raise UsageError("merge: the files mix grid shards with other results")
    if _STDIN in args.files:
        raise UsageError("merge: grid shards are read from files, not standard input")
    try:
        merged = merge_grid_partials(args.files)
    except GridMergeError as err:
        raise UsageError(f"merge: {err}") from err
    _emit(json.dumps(merged["records"], indent=2, allow_nan=False), args.output_file)
    return 0


def _train(args: SimpleNamespace) -> int:
    from neos.train import TrainConfig, TrainingError, TrainingInterrupted, load_config, train
    from relaxed.exceptions import RelaxedError

    if args.resume and args.force:
        raise UsageError(
            "--resume and --force exclude each other: --resume continues the run in --out, "
            "--force replaces it"
        )

    names = ("steps", "seed", "loss", "method", "nmc")
    overrides = {name: getattr(args, name) for name in names if name in args.explicit}
    analysis = None
    try:
        if args.analysis is not None:
            from neos.analysis import load_analysis

            if args.config is not None:
                raise UsageError(
                    "--analysis and --config exclude each other: an analysis description "
                    "holds the training settings too"
                )
            blob_only = sorted({"method", "nmc"} & set(overrides))
            if blob_only:
                raise UsageError(
                    f"--{blob_only[0]} applies to the built-in blobs only, not to --analysis"
                )
            analysis = load_analysis(args.analysis, **overrides)
            config = analysis.config
        elif args.config is not None:
            config = load_config(args.config, **overrides)
        else:
            config = TrainConfig(**{name: getattr(args, name) for name in names}).validate()
    except (RelaxedError, TypeError) as err:
        raise UsageError(str(err)) from err
    try:
        options = {"analysis": analysis} if analysis is not None else {}
        result = train(
            None if analysis is not None else config,
            out=args.out,
            resume=args.resume,
            force=args.force,
            progress=not args.quiet,
            **options,
        )
    except TrainingError as err:
        print(f"neos: training stopped: {err}", file=sys.stderr)
        return 1
    except TrainingInterrupted as err:
        print(f"neos: {err}", file=sys.stderr)
        return 130
    except RelaxedError as err:
        raise UsageError(str(err)) from err
    if result.get("already_finished"):
        print(
            f"neos: {args.out} already holds a finished run of {result['steps'][-1]} steps "
            f"({config.steps} requested); nothing was changed (--force starts afresh)",
            file=sys.stderr,
        )
    summary = _checked(
        {
            "steps": result["steps"][-1],
            "cls_soft_first": result["cls_soft"][0],
            "cls_soft_last": result["cls_soft"][-1],
            "cls_hard_test": result["cls_hard_test"],
            "step_time_s": result["step_time_s"],
            "out": str(args.out),
        },
        "train",
    )

    def table(r: Any) -> str:
        return (
            f"expected CLs (soft, train): {r['cls_soft_first']:.4g} -> {r['cls_soft_last']:.4g}; "
            f"hard histograms, test sample: {r['cls_hard_test']:.4g}; "
            f"compiled step {_seconds(r['step_time_s'])}; outputs in {r['out']}"
        )

    def _seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3g} s"

    _output(summary, args, table)
    return 0


_RUNNERS: dict[str, Callable[[SimpleNamespace], int]] = {
    "train": _train,
    "inspect": _inspect,
    "convert": _convert,
    "fit": _fit,
    "cls": _cls,
    "upper-limit": _upper_limit,
    "grid": _grid,
    "toys": _toys,
    "merge": _merge,
}


# -- entry points ---------------------------------------------------------------------------
def _one_line(message: str) -> str:
    return " ".join(message.split())


def parse_args(argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Parse ``argv`` as :func:`main` would, without running anything: the subcommand's name
    and its parameters (with the group options ``cache_dir`` and ``no_cache``), converted and
    checked (``--scan`` becomes ``(start, stop, num)``).

    Raises:
        UsageError: what :func:`main` reports with exit status 2 (``--help`` included).

    Example:
        >>> command, params = parse_args(["cls", "ws.json", "--poi-value", "2"])
        >>> command, params["poi_value"], params["test_stat"], params["patches"]
        ('cls', 2.0, 'qtilde', ())
        >>> parse_args(["upper-limit", "ws.json", "--scan", "0,5"])
        Traceback (most recent call last):
        ...
        neos.cli.UsageError: Invalid value for '--scan': must be START,STOP,NUM (e.g. 0,5,21), got '0,5'
    """  # noqa: E501
    try:
        parsed = cli.main(
            args=list(argv), prog_name="neos", standalone_mode=False, obj={"dry_run": True}
        )
    except click.ClickException as err:
        raise UsageError(_one_line(err.format_message())) from None
    if not isinstance(parsed, tuple):
        raise UsageError("nothing to run (--help)")
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``neos`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code:
    0 on success (and for ``--help``), 2 for bad input, 1 when a result cannot be computed or
    training stops on a non-finite loss.

    Example:
        >>> from pathlib import Path
        >>> example = Path(__file__).parent / "examples" / "example_workspace.json"
        >>> main(["inspect", str(example), "--json", "--output-file", "/dev/null"])
        0
        >>> main(["cls", str(example), "--test-stat", "z"])
        2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = cli.main(args=args, prog_name="neos", standalone_mode=False, obj={})
    except click.ClickException as err:
        print(f"neos: error: {_one_line(err.format_message())}", file=sys.stderr)
        return 2
    except UsageError as err:
        print(f"neos: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except _ResultError as err:
        print(f"neos: error: {_one_line(str(err))}", file=sys.stderr)
        return 1
    except click.Abort:
        print("neos: aborted", file=sys.stderr)
        return 130
    return int(code or 0)


def run() -> NoReturn:
    """The ``neos`` console command: :func:`main`, then a direct exit with its code.

    An interpreter that has used JAX takes 0.2-0.3 s to tear down (its CPU client, thread
    pools and loaded programs), longer than a cached ``neos cls`` computes. Every result is
    written (files atomically, then closed) before :func:`main` returns, so ``run`` flushes
    the standard streams, runs the exit handlers and ends the process without the teardown.
    """
    code = main()
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is not None:
        run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written there
            code = code or 1
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
