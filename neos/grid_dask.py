r"""Signal grids on Dask: the patches of a grid computed in chunks on a Dask cluster, for
interactive use on one machine or many.

- **Where.** An embedded :class:`distributed.LocalCluster` by default (``workers`` processes
  of one thread each on this machine), or any running Dask scheduler by its address
  (``tcp://host:8786``): one started by hand (``dask scheduler``, ``dask worker ADDR``) or by
  ``dask-jobqueue`` on a batch system (HTCondor, SLURM: see the README). Dask is imported
  only here and only when used (``python -m pip install "dask[distributed]"``).
- **What a chunk is.** At most ``chunk_size`` patch names of one model structure
  (:func:`relaxed.infer.grid.structure_groups`; consecutive in the patch set's order among
  those of the structure still to compute), computed by one call of
  :func:`relaxed.infer.grid.hypotest_grid` (``patches=``) on a worker. The workspace and the
  patch set are sent to each worker once; a worker builds their models once and keeps them
  for its later chunks, and its compiled programs come from :mod:`relaxed.cache` (a worker
  that is a thread shares its process's programs; a process loads them from the cache folder
  or compiles and stores them).
- **Exactness.** Every chunk builds and aligns the models of the whole patch set and pads its
  compiled calls to the whole grid's size, so the records are bit-identical to a serial
  :func:`~relaxed.infer.grid.hypotest_grid` of the same patches (on workers of the same
  machine kind), whatever the chunk size or the number of workers.
- **Streaming and resuming.** Results come back as chunks finish (a tqdm progress bar with
  ``progress``). With ``resume_dir`` every finished chunk is written there at once,
  atomically (``chunk-<position>-<digest>.json``, with the grid's fingerprint; the folder's
  ``resume.json`` names the grid); a later run with the same folder reads them and computes
  only the patches without a record. A folder holding another grid (another fingerprint:
  other inputs or settings) is an error, never mixed in.
- **Failures.** A failing chunk is retried ``retries`` times (Dask's ``retries=``, perhaps on
  another worker); one that still fails is reported by name, with its patches and its error
  (:class:`GridChunkError`), after every other chunk has finished (and been stored). No
  chunk is ever dropped silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from neos.grid_shards import (
    SCHEMA_VERSION,
    canonical_json,
    grid_fingerprint,
    grid_inputs,
    grid_settings,
    hypotest_kwargs,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ChunkFailure",
    "DaskGridResult",
    "GridChunkError",
    "GridResumeError",
    "dask_grid",
    "grid_chunks",
    "open_client",
    "require_dask",
]

#: Patches per Dask chunk by default: one compiled call of the grid
#: (:data:`relaxed.infer.grid.CHUNK`).
DEFAULT_CHUNK_SIZE = 16

_INSTALL = 'python -m pip install "dask[distributed]>=2024.1"'
_SOLVER_OPTIONS = ("method", "maxiter", "tolerance", "nstarts")


class ChunkFailure(NamedTuple):
    """A chunk that failed after its retries: its ``label`` (``"chunk 3 of 8"``), its
    ``patches`` and the ``error`` (``"ExceptionType: message"``)."""

    label: str
    patches: list[str]
    error: str


class DaskGridResult(NamedTuple):
    """The records of a Dask grid (one per patch, in the patch set's order, as
    :func:`relaxed.infer.grid.hypotest_grid` returns them), the chunks computed by this run
    (their patch names) and the number of patches read back from the resume folder."""

    records: list[dict[str, Any]]
    computed: list[list[str]]
    reused: int


class GridChunkError(RuntimeError):
    """Chunks of a Dask grid that failed after their retries: ``failures`` (a list of
    :class:`ChunkFailure`), ``missing`` (the patch names without a record) and
    ``resume_dir`` (where the finished chunks are, or None).

    Example:
        >>> err = GridChunkError([ChunkFailure("chunk 2 of 3", ["b"], "ValueError: no")],
        ...                      ["b"], retries=1, nchunks=3, resume_dir=None)
        >>> print(err)
        1 of 3 chunks failed after 1 retry: chunk 2 of 3 (patches b): ValueError: no; missing patches: b (run with --resume-dir to keep the finished chunks)
    """  # noqa: E501

    def __init__(
        self,
        failures: Sequence[ChunkFailure],
        missing: Sequence[str],
        retries: int,
        nchunks: int,
        resume_dir: str | os.PathLike[str] | None,
    ) -> None:
        self.failures = list(failures)
        self.missing = list(missing)
        self.resume_dir = resume_dir
        tries = "retry" if retries == 1 else "retries"
        listed = "; ".join(
            f"{f.label} (patches {', '.join(f.patches)}): {f.error}" for f in self.failures
        )
        where = (
            f"the finished chunks are stored in {resume_dir}: run again with the same "
            "resume folder to compute only the missing patches"
            if resume_dir is not None
            else "run with --resume-dir to keep the finished chunks"
        )
        super().__init__(
            f"{len(self.failures)} of {nchunks} chunks failed after {retries} {tries}: "
            f"{listed}; missing patches: {', '.join(self.missing)} ({where})"
        )


class GridResumeError(ValueError):
    """A resume folder that holds another grid (other inputs or settings) or a file that is
    not a chunk of a grid."""


def require_dask() -> Any:
    """The ``distributed`` module, or an ImportError that says how to install it.

    Example:
        >>> require_dask().__name__
        'distributed'
    """
    try:
        import distributed
    except ImportError as err:
        raise ImportError(f"Dask grids need dask and distributed: {_INSTALL} ({err})") from err
    return distributed


def grid_chunks(names: Sequence[str], chunk_size: int) -> list[list[str]]:
    """``names`` cut into consecutive chunks of at most ``chunk_size``.

    Example:
        >>> grid_chunks(["a", "b", "c", "d", "e"], 2)
        [['a', 'b'], ['c', 'd'], ['e']]
    """
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return [list(names[a : a + chunk_size]) for a in range(0, len(names), chunk_size)]


@contextlib.contextmanager
def open_client(
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = True,
) -> Iterator[Any]:
    """A Dask client, closed (with its cluster) on exit: connected to ``scheduler`` (an
    address such as ``tcp://host:8786``), or else to an embedded
    :class:`distributed.LocalCluster` of ``workers`` workers (default: one per CPU core) of
    one thread each, in processes (``processes=True``) or in threads of this process. The
    workers there import JAX and relaxed before the client is returned.

    Example:
        >>> with open_client(workers=1, processes=False) as client:
        ...     client.submit(sum, [1, 2, 3]).result()
        6
    """
    distributed = require_dask()
    if scheduler is not None:
        client = distributed.Client(scheduler)
        try:
            client.run(_warm_up)
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",  # any free port: never a clash with another cluster
        silence_logs=logging.ERROR,
    )
    try:
        client = distributed.Client(cluster)
        try:
            client.run(_warm_up)
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


# -- what runs on a worker ----------------------------------------------------------------------
def _warm_up() -> None:
    """Import JAX, relaxed and this module on a worker (seconds in a new process), so that
    the first chunk does not pay for it (and a worker without neos is found at once)."""
    import relaxed.infer.grid  # noqa: F401
    from neos import grid_dask  # noqa: F401


#: fingerprint -> (Workspace, PatchSet), the last few grids of this worker process
_INPUTS: dict[str, tuple[Any, Any]] = {}
_INPUTS_LOCK = threading.Lock()
_KEEP = "keep"


def _worker_inputs(payload: Mapping[str, Any]) -> tuple[Any, Any]:
    """The workspace and patch set of ``payload``, built once per worker process (and kept
    with their prepared models for the next chunks)."""
    import relaxed

    fingerprint = payload["fingerprint"]
    with _INPUTS_LOCK:
        found = _INPUTS.get(fingerprint)
        if found is None:
            while len(_INPUTS) >= 2:
                _INPUTS.pop(next(iter(_INPUTS)))
            found = (
                relaxed.Workspace(json.loads(payload["workspace"]), validate=False),
                relaxed.PatchSet(json.loads(payload["patchset"]), validate=False),
            )
            _INPUTS[fingerprint] = found
    return found


def _worker_environment(environment: Mapping[str, Any]) -> None:
    """The client's compilation settings on this worker: the optimisation mode (it changes
    the last bits) and, for workers on the client's machine, its cache folder."""
    from relaxed import cache

    if cache.optimize_for() != environment["optimize_for"]:
        cache.optimize_for(environment["optimize_for"])
    folder = environment["cache_dir"]
    if folder != _KEEP:
        current = cache.cache_dir()
        if (None if current is None else str(current)) != folder:
            cache.set_cache_dir(folder)


def _compute_chunk(
    payload: Mapping[str, Any],
    names: list[str],
    settings: Mapping[str, Any],
    environment: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One chunk on a worker: the records of the patches ``names``."""
    from relaxed.infer import grid

    _worker_environment(environment)
    workspace, patchset = _worker_inputs(payload)
    kwargs = hypotest_kwargs(settings)
    return grid.hypotest_grid(
        workspace, patchset, patches=names, verify=False, progress=False, **kwargs
    )


# -- the resume folder --------------------------------------------------------------------------
def _chunk_path(folder: Path, position: int, names: Sequence[str]) -> Path:
    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:12]
    return folder / f"chunk-{position:06d}-{digest}.json"


def _open_resume_dir(
    folder: Path, fingerprint: str, inputs: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The records stored in ``folder`` by name (creating the folder and its ``resume.json``
    for a new grid)."""
    from relaxed.io import temporary_pattern, write_text_atomic

    manifest = folder / "resume.json"
    if manifest.is_file():
        try:
            stored = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise GridResumeError(f"{manifest}: cannot read it: {err}") from err
        if not isinstance(stored, dict) or stored.get("fingerprint") != fingerprint:
            raise GridResumeError(
                f"the resume folder {folder} holds chunks of another grid (other inputs or "
                "settings: its resume.json has another fingerprint); use another folder, or "
                "empty this one to start afresh"
            )
    else:
        document = {
            "schema_version": SCHEMA_VERSION,
            "kind": "grid-resume",
            "fingerprint": fingerprint,
            "inputs": dict(inputs),
            "settings": dict(settings),
        }
        write_text_atomic(manifest, json.dumps(document, indent=2) + "\n")
    for leftover in folder.glob(temporary_pattern("chunk-*.json")):
        leftover.unlink(missing_ok=True)  # a chunk being written when the run was killed
    done: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("chunk-*.json")):
        try:
            chunk = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise GridResumeError(f"{path}: not a readable chunk file: {err}") from err
        if not isinstance(chunk, dict) or chunk.get("kind") != "grid-chunk":
            raise GridResumeError(f"{path}: not a chunk file of a grid")
        if chunk.get("fingerprint") != fingerprint:
            raise GridResumeError(
                f"{path}: a chunk of another grid (another fingerprint) in the resume folder "
                f"{folder}; use another folder, or empty this one to start afresh"
            )
        for record in chunk["records"]:
            done[record["name"]] = record
    return done


def _write_chunk(
    folder: Path, position: int, fingerprint: str, records: Sequence[Mapping[str, Any]]
) -> None:
    from relaxed.io import write_text_atomic

    names = [record["name"] for record in records]
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "grid-chunk",
        "fingerprint": fingerprint,
        "patches": names,
        "records": [dict(record) for record in records],
    }
    text = json.dumps(document, indent=2, allow_nan=True) + "\n"
    write_text_atomic(_chunk_path(folder, position, names), text)


# -- the client side ----------------------------------------------------------------------------
def _error_text(future: Any) -> str:
    try:
        err = future.exception()
    except BaseException as cancelled:  # a cancelled future (a lost scheduler...)
        err = cancelled
    return f"{type(err).__name__}: {err}" if err is not None else f"status {future.status}"


def dask_grid(
    workspace: Any,
    patchset: Any,
    client: Any,
    patches: Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    resume_dir: str | os.PathLike[str] | None = None,
    retries: int = 1,
    progress: bool = False,
    verify: bool = True,
    pilot: bool = False,
    **settings: Any,
) -> DaskGridResult:
    """The grid of ``patchset`` on ``workspace`` (:func:`relaxed.infer.grid.hypotest_grid`
    with the keyword arguments ``settings``), computed in chunks of ``chunk_size`` patches
    on the Dask ``client``'s workers: records bit-identical to a serial run's.

    Args:
        workspace: a :class:`relaxed.Workspace` or its JSON.
        patchset: a :class:`relaxed.PatchSet` or its JSON.
        client: a :class:`distributed.Client` (:func:`open_client`).
        patches: the names of the patches to compute (default: all), e.g. one shard's
            (:func:`neos.grid_shards.shard_patches`).
        chunk_size: patches per Dask task (of one structure; the default is one compiled
            call of the grid, :data:`relaxed.infer.grid.CHUNK`: a multiple of it wastes no
            padded points).
        resume_dir: a folder where each finished chunk is written as it arrives, and from
            which a rerun reads them back instead of computing them again.
        retries: how many times Dask runs a failed chunk again before it is reported.
        progress: show a tqdm progress bar of the patches.
        verify: check the patch set's digest against the workspace (a mismatch warns).
        pilot: submit the first chunk alone and the others once it is back: with a cold
            cache, the programs it compiles are stored in the cache folder, from which the
            other workers (sharing the folder) load them instead of each compiling them.
            It saves processor time where workers outnumber free cores (a busy machine);
            with free cores, or a warm cache, it costs one chunk's time of waiting.
        settings: ``poi_test``, ``measurement_name``, ``test_stat``, ``upper_limits``,
            ``level`` and solver options, as for :func:`~relaxed.infer.grid.hypotest_grid`.

    Raises:
        GridChunkError: chunks still failing after their retries (every other chunk is
            finished, and stored with ``resume_dir``, before this is raised).
        GridResumeError: ``resume_dir`` holds another grid.
        relaxed.exceptions.RelaxedError: bad input (a patch that does not apply, a POI
            value outside its bounds...), found before anything is submitted.

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
        >>> with open_client(workers=2, processes=False) as client:
        ...     result = dask_grid(ws, patchset, client, chunk_size=2, verify=False)
        >>> result.records == hypotest_grid(ws, patchset, verify=False), result.computed
        (True, [['s5', 's10'], ['s20']])
    """
    import relaxed
    from relaxed import cache
    from relaxed.exceptions import InvalidArgument
    from relaxed.infer import grid

    require_dask()
    if not isinstance(workspace, relaxed.Workspace):
        workspace = relaxed.Workspace(workspace)
    if not isinstance(patchset, relaxed.PatchSet):
        patchset = relaxed.PatchSet(patchset)
    if not (isinstance(retries, int) and retries >= 0):
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    all_names = [patch.name for patch in patchset.patches]
    wanted = set(all_names if patches is None else patches)
    unknown = sorted(wanted - set(all_names))
    if unknown:
        raise InvalidArgument(f"patches: no patch named {unknown[:5]} in the patch set")
    # bad input is found here, on the client, before anything is submitted (every model is
    # built and checked; nothing is computed for an empty selection)
    grid.hypotest_grid(workspace, patchset, patches=[], verify=verify, **settings)
    selected = [name for name in all_names if name in wanted]
    position = {name: k for k, name in enumerate(all_names)}
    normal = grid_settings(workspace, **settings)
    inputs = grid_inputs(workspace, patchset)
    fingerprint = grid_fingerprint(inputs, normal)

    folder = None if resume_dir is None else Path(resume_dir)
    done: dict[str, dict[str, Any]] = {}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        stored = _open_resume_dir(folder, fingerprint, inputs, normal)
        done = {name: stored[name] for name in selected if name in stored}
    reused = len(done)
    # chunks never mix structures: a chunk of one structure is one or a few compiled calls
    # of the whole group's size, with no padded points wasted but at the group's end
    measurement = settings.get("measurement_name")
    solver = {k: v for k, v in settings.items() if k in _SOLVER_OPTIONS}
    todo = wanted - set(done)
    chunks = []
    for group in grid.structure_groups(workspace, patchset, measurement, **solver):
        chunks += grid_chunks([name for name in group if name in todo], chunk_size)
    chunks.sort(key=lambda names: position[names[0]])
    labels = {j: f"chunk {j + 1} of {len(chunks)}" for j in range(len(chunks))}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(selected), initial=reused, desc="signal points", unit="point")
    computed: list[list[str]] = []
    failures: list[ChunkFailure] = []
    futures: list[Any] = []
    chunk_of: dict[Any, int] = {}
    try:
        if chunks:
            distributed = require_dask()
            local = isinstance(getattr(client, "cluster", None), distributed.LocalCluster)
            folder_now = cache.cache_dir()
            environment = {
                "optimize_for": cache.optimize_for(),
                "cache_dir": (None if folder_now is None else str(folder_now)) if local else _KEEP,
            }
            payload = {  # JSON text: quicker to send than nested containers
                "fingerprint": fingerprint,
                "workspace": canonical_json(workspace)[0],
                "patchset": canonical_json(patchset)[0],
            }
            [shared] = client.scatter([payload], broadcast=True, hash=False)
            token = uuid.uuid4().hex[:8]

            def submit(j: int) -> Any:
                future = client.submit(
                    _compute_chunk,
                    shared,
                    chunks[j],
                    normal,
                    environment,
                    retries=retries,
                    key=f"neos-grid-{token}-chunk-{j + 1}-of-{len(chunks)}",
                )
                chunk_of[future.key] = j
                futures.append(future)
                return future

            # a pilot chunk first when asked: the programs it compiles are stored in the
            # cache folder, from which the other workers load them instead of compiling too
            first = 1 if pilot else len(chunks)
            arrivals = distributed.as_completed([submit(j) for j in range(first)])
            for future in arrivals:
                if len(futures) < len(chunks):
                    arrivals.update([submit(j) for j in range(first, len(chunks))])
                j = chunk_of[future.key]
                names = chunks[j]
                if future.status != "finished":
                    failures.append(ChunkFailure(labels[j], names, _error_text(future)))
                    continue
                records = future.result()
                if [r.get("name") for r in records] != names:
                    failures.append(
                        ChunkFailure(labels[j], names, "the worker returned other patches")
                    )
                    continue
                if folder is not None:
                    _write_chunk(folder, position[names[0]], fingerprint, records)
                done.update((record["name"], record) for record in records)
                computed.append(names)
                if bar is not None:
                    bar.update(len(names))
                future.release()
    finally:
        if futures:
            client.cancel([f for f in futures if not f.done()])
        if bar is not None:
            bar.close()
    if failures:
        failures.sort(key=lambda f: position[f.patches[0]])
        missing = [name for name in selected if name not in done]
        raise GridChunkError(failures, missing, retries, len(chunks), folder)
    computed.sort(key=lambda names: position[names[0]])
    return DaskGridResult([done[name] for name in selected], computed, reused)
