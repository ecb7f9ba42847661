"""The ``neos`` command line.

``neos inspect WORKSPACE.json`` prints a workspace's channels, samples, bins and parameters
(inits, bounds, constraint types). Every subcommand reports bad input as one line,
``neos: error: ...``, and exits with status 2.
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
    """Bad input on the command line (a file that is missing or not a valid workspace...)."""


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


def _add_workspace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="a HistFactory JSON workspace (pyhf format)")
    parser.add_argument(
        "--measurement", default=None, help="measurement name (default: the first one)"
    )
    parser.add_argument(
        "--output-file", default=None, help="write the output to this file instead of stdout"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``neos`` command."""
    parser = argparse.ArgumentParser(
        prog="neos",
        description="Differentiable HEP analysis: inspect workspaces, run inference, train "
        "neural observables for the expected CLs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    inspect = sub.add_parser(
        "inspect", help="print a workspace's channels, samples, bins and parameters"
    )
    _add_workspace_arguments(inspect)
    inspect.add_argument("--json", action="store_true", help="print JSON instead of tables")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``neos`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
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
