r"""Signal grids in pieces: shards computed apart (other machines, other days) and merged into
exactly the grid of one run.

**Which patches a shard computes.** Shard :math:`i` of :math:`N` (``neos grid ... --shard
i/N``, :math:`1 \le i \le N`) computes the patches at the positions :math:`k` (0-based, in the
patch set's order) with :math:`k \bmod N = i - 1`: shard 1/3 takes patches 0, 3, 6, ...,
shard 2/3 patches 1, 4, 7, .... Round robin rather than contiguous blocks: neighbouring signal
points cost about the same (same structure, similar fits), so every shard gets a similar share
of the work. A shard with no patch (:math:`N` larger than the patch set) is valid and empty.

**Why the numbers are exact.** Every shard builds and aligns the models of the *whole* patch
set and pads its compiled calls to the size the whole grid uses
(:func:`relaxed.infer.grid.hypotest_grid` with ``patches=``), so a patch's record is
bit-identical whichever shard (or Dask chunk) computes it, on machines of the same kind (the
compiled code is the machine's own: another processor may round the last bits differently).

**The partial result file** (JSON, written atomically):

- ``schema_version`` (:data:`SCHEMA_VERSION`) and ``kind: "grid"``;
- ``shard``: ``{"index": i, "count": N, "rule": "k % N == i - 1"}``;
- ``inputs``: the sha256 digests of the workspace and of the patch set
  (:func:`relaxed.histfactory.patchset.digest`) and the number of patches;
- ``settings``: what the numbers depend on besides the inputs (:func:`grid_settings`);
- ``fingerprint``: the sha256 of ``inputs`` and ``settings`` (:func:`grid_fingerprint`):
  shards of different inputs or settings refuse to merge;
- ``indices`` and ``patches``: the positions and names of the shard's patches;
- ``records``: one per patch, exactly as the JSON output of ``neos grid`` writes them;
- ``timing`` (``wall_s``) and ``software`` (versions): informative, not compared.

:func:`merge_grid_partials` checks that the files hold every shard of one grid once and
returns the grid: its ``records`` are the records of a single ``neos grid`` run, in the patch
set's order.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "SHARD_RULE",
    "GridMergeError",
    "parse_shard",
    "shard_patches",
    "canonical_json",
    "grid_inputs",
    "grid_settings",
    "grid_fingerprint",
    "hypotest_kwargs",
    "grid_partial",
    "compute_grid_shard",
    "write_grid_partial",
    "read_grid_partial",
    "merge_grid_partials",
]

#: The version of the partial result file's layout.
SCHEMA_VERSION = 1

#: Which patches shard ``i`` of ``N`` computes (``k``: a patch's 0-based position).
SHARD_RULE = "k % N == i - 1"


class GridMergeError(ValueError):
    """Partial grid files that do not make one grid (a missing or duplicate shard, shards of
    different inputs or settings, a file that is not a partial grid); the message names the
    files.

    Example:
        >>> merge_grid_partials([])
        Traceback (most recent call last):
        ...
        neos.grid_shards.GridMergeError: no partial grid files to merge
    """


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` as ``(i, N)``, with :math:`1 \\le i \\le N`.

    Raises:
        ValueError: ``text`` is not of that form.

    Example:
        >>> parse_shard("2/3")
        (2, 3)
        >>> parse_shard("0/3")
        Traceback (most recent call last):
        ...
        ValueError: a shard is I/N with 1 <= I <= N (e.g. 1/4), got '0/3'
    """
    try:
        first, second = str(text).split("/")
        index, count = int(first), int(second)
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise ValueError(f"a shard is I/N with 1 <= I <= N (e.g. 1/4), got {text!r}")
    return index, count


def _check_shard(index: int, count: int) -> None:
    if not (isinstance(index, int) and isinstance(count, int) and 1 <= index <= count):
        raise ValueError(f"a shard is (i, N) with 1 <= i <= N, got ({index!r}, {count!r})")


def shard_patches(names: Sequence[str], index: int, count: int) -> list[str]:
    """The names that shard ``index`` of ``count`` computes: positions ``k`` with
    ``k % count == index - 1`` (:data:`SHARD_RULE`).

    Example:
        >>> shard_patches(["a", "b", "c", "d", "e"], 2, 3)
        ['b', 'e']
    """
    _check_shard(index, count)
    return list(names[index - 1 :: count])


def _patchset_document(patchset: Any) -> dict[str, Any]:
    """The JSON document of a :class:`relaxed.PatchSet` (or of the patch set of a document),
    in one normal form, so that a document and its object have the same digest."""
    import relaxed

    if not isinstance(patchset, relaxed.PatchSet):
        patchset = relaxed.PatchSet(patchset, validate=False)
    return {
        "metadata": patchset.metadata,
        "patches": [patch.to_dict() for patch in patchset.patches],
        "version": patchset.version,
    }


#: Workspace or PatchSet -> (canonical JSON text, its sha256), kept with the object (both are
#: treated as immutable, as relaxed.infer.grid treats them)
_CANONICAL: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()


def canonical_json(obj: Any) -> tuple[str, str]:
    """The canonical JSON text of a workspace (a :class:`relaxed.Workspace` or its spec) or
    of a patch set (a :class:`relaxed.PatchSet` or its document), and its sha256: the digest
    of :func:`relaxed.histfactory.patchset.digest`. Computed once per object.

    Example:
        >>> from relaxed.histfactory.patchset import digest
        >>> text, sha = canonical_json({"channels": [], "version": "1.0.0"})
        >>> text, sha == digest({"version": "1.0.0", "channels": []})
        ('{"channels": [], "version": "1.0.0"}', True)
    """
    import relaxed

    keep = isinstance(obj, relaxed.Workspace | relaxed.PatchSet)
    if keep and obj in _CANONICAL:
        return _CANONICAL[obj]
    if isinstance(obj, relaxed.Workspace):
        document: Any = obj.spec
    elif isinstance(obj, relaxed.PatchSet) or "patches" in obj:
        document = _patchset_document(obj)
    else:
        document = obj
    text = json.dumps(document, sort_keys=True, ensure_ascii=False)
    found = (text, hashlib.sha256(text.encode("utf-8")).hexdigest())
    if keep:
        _CANONICAL[obj] = found
    return found


def grid_inputs(workspace: Any, patchset: Any) -> dict[str, Any]:
    """The digests of a grid's inputs: ``workspace_sha256`` and ``patchset_sha256`` (of their
    canonical JSON, :func:`relaxed.histfactory.patchset.digest`) and ``npatches``.

    Example:
        >>> patch = {"metadata": {"name": "a", "values": [1]}, "patch": []}
        >>> patchset = {"metadata": {"labels": ["x"], "digests": {}}, "patches": [patch]}
        >>> inputs = grid_inputs({"channels": []}, patchset)
        >>> inputs["npatches"], len(inputs["workspace_sha256"])
        (1, 64)
    """
    import relaxed

    if not isinstance(patchset, relaxed.PatchSet):
        patchset = relaxed.PatchSet(patchset, validate=False)
    return {
        "workspace_sha256": canonical_json(workspace)[1],
        "patchset_sha256": canonical_json(patchset)[1],
        "npatches": len(patchset.patches),
    }


def grid_settings(
    workspace: Any,
    poi_test: float = 1.0,
    measurement_name: str | None = None,
    test_stat: str = "qtilde",
    upper_limits: bool = False,
    level: float = 0.05,
    **solver_kwargs: Any,
) -> dict[str, Any]:
    """The settings of a grid as its records depend on them, in a normal form: the arguments
    of :func:`relaxed.infer.grid.hypotest_grid` with the measurement's name resolved (no
    name means the first measurement, so ``None`` and that name give the same settings) and
    the compiled code's optimisation mode (:func:`relaxed.cache.optimize_for`), which changes
    the last bits. ``solver`` holds the solver options given (``method``, ``maxiter``...).

    Example:
        >>> ws = {"measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
        >>> settings = grid_settings(ws, poi_test=2)
        >>> settings["measurement"], settings["poi_test"], settings["solver"]
        ('m', 2.0, {})
    """
    import relaxed
    from relaxed import cache

    spec = workspace.spec if isinstance(workspace, relaxed.Workspace) else workspace
    measurements = spec.get("measurements", [])
    if measurement_name is None and measurements:
        measurement_name = measurements[0]["name"]
    return {
        "poi_test": float(poi_test),
        "measurement": measurement_name,
        "test_stat": str(test_stat),
        "upper_limits": bool(upper_limits),
        "level": float(level),
        "solver": {str(k): solver_kwargs[k] for k in sorted(solver_kwargs)},
        "optimize_for": cache.optimize_for(),
    }


def hypotest_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`relaxed.infer.grid.hypotest_grid` for ``settings``
    (:func:`grid_settings`; the optimisation mode is the process's, not an argument).

    Example:
        >>> hypotest_kwargs(grid_settings({"measurements": []}, level=0.1))["level"]
        0.1
    """
    return {
        "poi_test": settings["poi_test"],
        "measurement_name": settings["measurement"],
        "test_stat": settings["test_stat"],
        "upper_limits": settings["upper_limits"],
        "level": settings["level"],
        **settings["solver"],
    }


def grid_fingerprint(inputs: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The sha256 of a grid's ``inputs`` (:func:`grid_inputs`) and ``settings``
    (:func:`grid_settings`): equal for the shards of one grid, different otherwise.

    Example:
        >>> a = grid_fingerprint({"workspace_sha256": "0"}, {"level": 0.05})
        >>> a == grid_fingerprint({"workspace_sha256": "0"}, {"level": 0.1}), len(a)
        (False, 64)
    """
    text = json.dumps({"inputs": inputs, "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _software() -> dict[str, str]:
    import jax

    from neos import __version__

    return {"neos": __version__, "jax": jax.__version__}


def grid_partial(
    workspace: Any,
    patchset: Any,
    shard: tuple[int, int],
    records: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    wall_s: float | None = None,
) -> dict[str, Any]:
    """The partial result document of shard ``shard = (i, N)``, given its ``records`` (one
    per patch of the shard, in order, as :func:`relaxed.infer.grid.hypotest_grid` returns
    them) and the grid's ``settings`` (:func:`grid_settings`).

    Raises:
        ValueError: ``records`` are not the shard's patches.

    Example (:func:`compute_grid_shard` computes the records and calls this):
        >>> patch = {"metadata": {"name": "a", "values": [1]}, "patch": []}
        >>> patchset = {"metadata": {"labels": ["x"], "digests": {}}, "patches": [patch]}
        >>> ws = {"channels": [], "measurements": [{"name": "m", "config": {"poi": "mu"}}]}
        >>> doc = grid_partial(ws, patchset, (1, 2), [{"name": "a"}], grid_settings(ws))
        >>> doc["kind"], doc["shard"]["rule"], doc["patches"]
        ('grid', 'k % N == i - 1', ['a'])
    """
    import relaxed

    index, count = shard
    _check_shard(index, count)
    if not isinstance(patchset, relaxed.PatchSet):
        patchset = relaxed.PatchSet(patchset, validate=False)
    names = [patch.name for patch in patchset.patches]
    indices = list(range(index - 1, len(names), count))
    expected = [names[k] for k in indices]
    got = [record.get("name") for record in records]
    if got != expected:
        raise ValueError(
            f"shard {index}/{count}: the records are of the patches {got[:5]}..., expected "
            f"{len(expected)} records of the patches {expected[:5]}..."
        )
    inputs = grid_inputs(workspace, patchset)
    settings = dict(settings)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "grid",
        "shard": {"index": index, "count": count, "rule": SHARD_RULE},
        "fingerprint": grid_fingerprint(inputs, settings),
        "inputs": inputs,
        "settings": settings,
        "indices": indices,
        "patches": expected,
        "records": [dict(record) for record in records],
        "timing": {"wall_s": wall_s},
        "software": _software(),
    }


def compute_grid_shard(
    workspace: Any,
    patchset: Any,
    index: int,
    count: int,
    progress: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Compute shard ``index`` of ``count`` of the grid of ``patchset`` on ``workspace``
    (:func:`relaxed.infer.grid.hypotest_grid` on the shard's patches; ``settings`` are its
    keyword arguments) and return its partial result document (:func:`grid_partial`).
    ``verify`` and ``devices`` are not settings of the records: shards computed on any
    number of devices merge.

    Example:
        >>> import relaxed
        >>> from relaxed.infer.grid import hypotest_grid
        >>> ws = relaxed.Workspace({"channels": [{"name": "SR", "samples": [
        ...     {"name": "bkg", "data": [50.0], "modifiers": [
        ...         {"name": "u", "type": "shapesys", "data": [5.0]}]}]}],
        ...     "observations": [{"name": "SR", "data": [52.0]}],
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        ...     "version": "1.0.0"})
        >>> def point(s):
        ...     sample = {"name": "sig", "data": [s], "modifiers": [
        ...         {"name": "mu", "type": "normfactor", "data": None}]}
        ...     return {"metadata": {"name": f"s{s:g}", "values": [s]}, "patch": [
        ...         {"op": "add", "path": "/channels/0/samples/0", "value": sample}]}
        >>> patchset = relaxed.PatchSet({"metadata": {"description": "", "labels": ["s"],
        ...     "digests": {"sha256": "0" * 64}, "references": {"hepdata": "ins0000000"}},
        ...     "version": "1.0.0", "patches": [point(s) for s in (5.0, 10.0, 20.0)]})
        >>> shards = [compute_grid_shard(ws, patchset, i, 2, verify=False, devices=1)
        ...           for i in (1, 2)]
        >>> [shard["patches"] for shard in shards]
        [['s5', 's20'], ['s10']]
        >>> import json, pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for i, shard in enumerate(shards):
        ...     write_grid_partial(folder / f"part{i}.json", shard)
        >>> merged = merge_grid_partials([folder / "part0.json", folder / "part1.json"])
        >>> merged["records"] == hypotest_grid(ws, patchset, verify=False)
        True
    """
    import time

    import relaxed
    from relaxed.infer.grid import hypotest_grid

    if not isinstance(workspace, relaxed.Workspace):
        workspace = relaxed.Workspace(workspace)
    if not isinstance(patchset, relaxed.PatchSet):
        patchset = relaxed.PatchSet(patchset)
    grid_kwargs = {k: v for k, v in settings.items() if k not in ("verify", "devices")}
    names = shard_patches([patch.name for patch in patchset.patches], index, count)
    start = time.perf_counter()
    records = hypotest_grid(workspace, patchset, progress=progress, patches=names, **settings)
    wall = time.perf_counter() - start
    normal = grid_settings(workspace, **grid_kwargs)
    return grid_partial(workspace, patchset, (index, count), records, normal, wall_s=wall)


def write_grid_partial(path: str | os.PathLike[str], document: Mapping[str, Any]) -> None:
    """Write a partial result document to ``path`` as JSON, atomically
    (:func:`relaxed.io.write_text_atomic`); missing folders are created. (Example: in
    :func:`compute_grid_shard`.)"""
    from relaxed.io import write_text_atomic

    text = json.dumps(document, indent=2, allow_nan=False)
    write_text_atomic(Path(path), text + "\n")


def read_grid_partial(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The partial result document in file ``path``, checked for the keys a merge needs.

    Raises:
        GridMergeError: the file cannot be read, or is not a partial grid of a schema this
            version reads (the message names the file).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "part.json"
        >>> _ = path.write_text('{"kind": "toys", "schema_version": 1}')
        >>> read_grid_partial(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        neos.grid_shards.GridMergeError: .../part.json: not a partial grid file (kind 'toys', expected 'grid'; ...)
    """  # noqa: E501
    name = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GridMergeError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GridMergeError(f"{name}: cannot read it as JSON: {err}") from err
    if not isinstance(document, dict) or document.get("kind") != "grid":
        kind = document.get("kind") if isinstance(document, dict) else None
        raise GridMergeError(
            f"{name}: not a partial grid file (kind {kind!r}, expected 'grid'; it is written "
            "by 'neos grid ... --shard I/N')"
        )
    if document.get("schema_version") != SCHEMA_VERSION:
        raise GridMergeError(
            f"{name}: partial grid schema version {document.get('schema_version')!r}; this "
            f"version of neos reads version {SCHEMA_VERSION}"
        )
    keys = ("shard", "fingerprint", "inputs", "settings", "indices", "patches", "records")
    missing = [key for key in keys if key not in document]
    if missing:
        raise GridMergeError(f"{name}: a partial grid file without {', '.join(missing)}")
    shard = document["shard"]
    try:
        _check_shard(shard["index"], shard["count"])
    except (TypeError, KeyError, ValueError) as err:
        raise GridMergeError(f"{name}: a bad shard {shard!r}") from err
    return document


def _differences(first: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """The keys of ``inputs`` and ``settings`` whose values differ between two shards."""
    found = []
    for part in ("inputs", "settings"):
        a, b = first.get(part, {}), other.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                found.append(f"{part}.{key}: {a.get(key)!r} against {b.get(key)!r}")
    return found


def merge_grid_partials(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """Merge the partial grid files ``paths`` (every shard of one grid, in any order) into
    the grid of a single run.

    Returns:
        ``{"schema_version", "kind": "grid", "fingerprint", "inputs", "settings", "shards"
        (N), "records"}``. ``records`` is exactly the JSON output of ``neos grid`` on the
        same inputs and settings (the records in the patch set's order); the partial files'
        timing and software fields are not kept.

    Raises:
        GridMergeError: a file is not a partial grid file; the files are shards of grids of
            different inputs or settings (different fingerprints), or of different shard
            counts; a shard is given twice or is missing; a shard's records are not its
            patches. The message names the files.

    Example (a whole run and its merge are compared in :func:`compute_grid_shard`):
        >>> merge_grid_partials(["no-such-partial.json"])
        Traceback (most recent call last):
        ...
        neos.grid_shards.GridMergeError: no-such-partial.json: no such file
    """
    if not paths:
        raise GridMergeError("no partial grid files to merge")
    documents = [(str(path), read_grid_partial(path)) for path in paths]
    first_name, first = documents[0]
    by_fingerprint: dict[str, list[str]] = {}
    for name, document in documents:
        by_fingerprint.setdefault(document["fingerprint"], []).append(name)
    if len(by_fingerprint) > 1:
        groups = "; ".join(
            f"{fingerprint[:12]}...: {', '.join(names)}"
            for fingerprint, names in by_fingerprint.items()
        )
        other = next(d for _, d in documents if d["fingerprint"] != first["fingerprint"])
        what = "; ".join(_differences(first, other)) or "the fingerprints"
        raise GridMergeError(
            f"the files are shards of different grids (inputs or settings differ: {what}); "
            f"by fingerprint: {groups}"
        )
    counts: dict[int, list[str]] = {}
    for name, document in documents:
        counts.setdefault(document["shard"]["count"], []).append(name)
    if len(counts) > 1:
        listed = "; ".join(f"N = {n}: {', '.join(names)}" for n, names in sorted(counts.items()))
        raise GridMergeError(f"the files are shards of different shard counts ({listed})")
    count = first["shard"]["count"]
    by_index: dict[int, list[str]] = {}
    for name, document in documents:
        by_index.setdefault(document["shard"]["index"], []).append(name)
    twice = {i: names for i, names in by_index.items() if len(names) > 1}
    if twice:
        listed = "; ".join(
            f"shard {i}/{count} in {', '.join(names)}" for i, names in sorted(twice.items())
        )
        raise GridMergeError(f"a shard is given more than once: {listed}")
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        given = ", ".join(f"{i}/{count} ({by_index[i][0]})" for i in sorted(by_index))
        absent = ", ".join(f"{i}/{count}" for i in missing)
        raise GridMergeError(f"shards missing: {absent} (given: {given})")
    npatches = first["inputs"]["npatches"]
    records: list[Any] = [None] * npatches
    for name, document in documents:
        index = document["shard"]["index"]
        expected = list(range(index - 1, npatches, count))
        names = [r.get("name") if isinstance(r, dict) else None for r in document["records"]]
        if document["indices"] != expected or names != document["patches"]:
            raise GridMergeError(
                f"{name}: shard {index}/{count} should hold the records of the patches at "
                f"positions {expected[:4]}... ({len(expected)} patches), it holds "
                f"{len(document['records'])} records for positions {document['indices'][:4]}..."
            )
        for k, record in zip(expected, document["records"], strict=True):
            records[k] = record
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "grid",
        "fingerprint": first["fingerprint"],
        "inputs": first["inputs"],
        "settings": first["settings"],
        "shards": count,
        "records": records,
    }
