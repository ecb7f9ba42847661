r"""Toys at scale: in chunks, over the local devices, and in shards merged afterwards.

A toy-based hypothesis test (:mod:`relaxed.infer.calculators`) draws :math:`N` pseudo-
experiments under each hypothesis, fits each twice (free and with the POI held at
:math:`\mu`) and compares the test statistics :math:`q_i` with the observed :math:`q`. The work
is in the toys, and toys are independent, so it splits freely:

- **Counter-based randomness.** Toy :math:`i` is drawn with ``jax.random.fold_in(k, i)``
  (:func:`relaxed.infer.protocol.toy_keys`), a function of the seed and the toy's global index
  only: toys 0-999 drawn at once equal toys 0-499 and 500-999 drawn apart.
- **Chunks.** :func:`toy_stats` fits toys ``first .. first + ntoys - 1`` in compiled calls of
  ``chunk`` toys. Chunks start at multiples of ``chunk`` in the global index, so a toy is
  always fitted in the same batch, at the same place, next to the same toys, whatever part of
  the toys a call computes: any split of the toys gives bit-identical test statistics by
  construction, not only where XLA's batched arithmetic happens to be independent of the
  batch size (on CPU it is: a toy fitted in one batch with all the others, as
  :func:`relaxed.infer.calculators.toy_result` does, gets the same bits; the tests check both).
  The toys past the range in the first and last chunks are real toys, fitted and dropped.
  On a GPU choose a large ``chunk`` (thousands of toys) to fill the device.
- **Devices.** The chunks go round the local devices (``devices``, default all), each running
  the same compiled single-device program (:func:`relaxed.infer.devices.run_chunks`), so the
  numbers are those of one device, bit for bit, on any model (a ``jax.shard_map`` program
  differed in the last bits on a 218-parameter model; :mod:`relaxed.infer.devices`).
- **Shards.** On a batch cluster each job computes one shard (:func:`shard_range`) and writes
  a partial result (:func:`to_document`: its toys' test statistics, the observed :math:`q`
  and :math:`q_A`, the settings and a :func:`fingerprint` of the model and data);
  :func:`merge_documents` checks and joins them into exactly the document of a single run, and
  :func:`toy_pvalues` computes the :math:`p`-values from the merged distributions, the code the
  single run uses.

Toys whose fits do not converge are dropped from the distributions and counted (pyhf issue
#1427): :math:`\mathrm{CL}_{s+b} = \#\{i \text{ converged}: q^{s+b}_i \ge q\} / N'_{s+b}`
with :math:`N'` the converged toys, and likewise for :math:`\mathrm{CL}_b` and the expected
band (:class:`relaxed.infer.calculators.HypoTestResult` ``nonconverged_sb``, ``nonconverged_b``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed import cache
from relaxed.exceptions import InvalidArgument
from relaxed.histfactory.model import Model
from relaxed.infer import calculators, checks
from relaxed.infer.calculators import HypoTestResult, ToyStats
from relaxed.infer.devices import local_devices, run_chunks
from relaxed.infer.mle import SolverOptions
from relaxed.infer.protocol import toy_keys

__all__ = [
    "DEFAULT_CHUNK",
    "SCHEMA_VERSION",
    "ToyStats",
    "document_stats",
    "fingerprint",
    "merge_documents",
    "merge_toy_stats",
    "shard_range",
    "to_document",
    "toy_pvalues",
    "toy_stats",
]

#: Toys per compiled call (each toy is fitted twice under each of two hypotheses:
#: a call solves 4 * chunk fits).
DEFAULT_CHUNK = 256
#: The version of the partial-result documents (:func:`to_document`).
SCHEMA_VERSION = 1
#: The ``kind`` of the documents.
DOCUMENT_KIND = "relaxed.toys"
_MAX_INDEX = 2**32  # toy indices are folded into the key as uint32


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def shard_range(
    index: int, nshards: int, ntoys: int, chunk: int = DEFAULT_CHUNK
) -> tuple[int, int]:
    """``(first, count)``: the toys of shard ``index`` (0-based) of ``nshards``.

    The shards split the ``ceil(ntoys / chunk)`` chunks as evenly as they can (so that every
    shard starts at a chunk boundary and fits no toy twice); a shard may be empty when there
    are more shards than chunks.

    Example:
        >>> [shard_range(i, 3, 1000, chunk=100) for i in range(3)]
        [(0, 300), (300, 300), (600, 400)]
        >>> [shard_range(i, 3, 40, chunk=1) for i in range(3)]
        [(0, 13), (13, 13), (26, 14)]
    """
    nshards = _count(nshards, "nshards", 1)
    index = _count(index, "index", 0)
    ntoys = _count(ntoys, "ntoys", 0)
    chunk = _count(chunk, "chunk", 1)
    if index >= nshards:
        raise InvalidArgument(f"shard index {index} is not below the number of shards {nshards}")
    nchunks = math.ceil(ntoys / chunk)
    start = min(index * nchunks // nshards * chunk, ntoys)
    stop = min((index + 1) * nchunks // nshards * chunk, ntoys)
    return start, stop - start


@lru_cache(maxsize=32)
def _observed_program(mode: str) -> Any:
    """The fits of a toy calculation that involve no toys (jit-compiled for ``mode``)."""
    del mode  # part of the cache key: the compiler options below depend on it
    return jax.jit(
        calculators._observed_stats,
        static_argnums=(4, 5),
        compiler_options=cache._compiler_options(),
    )


@lru_cache(maxsize=32)
def _chunk_program(config: calculators._Config, test_stat: str, mode: str) -> Any:
    """One chunk of toys: :func:`relaxed.infer.calculators._toy_chunk`, jit-compiled for
    ``mode`` (the same program on every device: :mod:`relaxed.infer.devices`)."""
    del mode

    def chunk(
        pdf: Model, pars: Array, mu: Array, init: Array, keys_sb: Array, keys_b: Array
    ) -> tuple[Array, Array, Array, Array]:
        return calculators._toy_chunk(pdf, pars, mu, init, keys_sb, keys_b, config, test_stat)

    return jax.jit(chunk, compiler_options=cache._compiler_options())


def toy_stats(
    poi_test: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    test_stat: str = "qtilde",
    ntoys: int = 2000,
    first: int = 0,
    key: Array | None = None,
    solver: SolverOptions | None = None,
    chunk: int = DEFAULT_CHUNK,
    devices: int | Sequence[Any] | None = None,
) -> ToyStats:
    r"""The test statistics of toys ``first .. first + ntoys - 1`` of both hypotheses, and of
    the observed and the Asimov data (:class:`~relaxed.infer.calculators.ToyStats`).

    The toys are those of :func:`relaxed.infer.calculators.toy_result` with the same ``key``
    (default ``PRNGKey(0)``): toy :math:`i` of the signal-plus-background hypothesis is drawn
    with ``fold_in(k_{s+b}, i)``, ``(k_{s+b}, k_b) = split(key)``. They are fitted in chunks of
    ``chunk`` toys starting at multiples of ``chunk``, dealt round ``devices`` (None: all
    local devices; a number: the first ones; or a list of ``jax.Device``), so that any split
    into shards or devices gives bit-identical arrays for the same ``chunk`` (module
    docstring). ``ntoys`` may be 0 (an empty shard).
    Inputs are checked as in :func:`relaxed.infer.hypotest`.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> whole = toy_stats(1.0, data, model, ntoys=12, chunk=4)
        >>> parts = [toy_stats(1.0, data, model, ntoys=6, first=f, chunk=4) for f in (0, 6)]
        >>> bool((merge_toy_stats(parts).sb == whole.sb).all()), round(float(whole.q), 6)
        (True, 3.938245)
    """
    calculators._check_test_stat(test_stat)
    ntoys = _count(ntoys, "ntoys", 0)
    first = _count(first, "first", 0)
    chunk = _count(chunk, "chunk", 1)
    if first + ntoys > _MAX_INDEX:
        raise InvalidArgument(
            f"toy indices must stay below 2**32, got first + ntoys = {first + ntoys}"
        )
    devs = local_devices(devices)
    init, config = calculators._resolve(pdf, init_pars, par_bounds, fixed_params, solver)
    checks.check_poi(poi_test, pdf, config.bounds)
    checks.check_data(data, pdf)
    data = pdf.data_array(data)
    poi = jnp.asarray(poi_test, dtype=jnp.float64)
    mode = cache.optimize_for()
    q, q_A, converged, pars, mu = _observed_program(mode)(pdf, data, poi, init, config, test_stat)
    ksb, kb = jax.random.split(calculators._key(key))
    begin = first // chunk * chunk
    nchunks = math.ceil((first + ntoys - begin) / chunk) if ntoys else 0
    starts = [begin + c * chunk for c in range(nchunks)]
    outputs = run_chunks(
        _chunk_program(config, test_stat, mode),
        (pdf, pars, mu, init),
        [(toy_keys(ksb, chunk, start), toy_keys(kb, chunk, start)) for start in starts],
        devs,
    )
    offset = first - begin
    columns = []
    for i, dtype in enumerate((np.float64, np.float64, bool, bool)):
        parts = [np.asarray(out[i]) for out in outputs]
        joined = np.concatenate(parts) if parts else np.zeros(0, dtype)
        columns.append(jnp.asarray(joined[offset : offset + ntoys]))
    return ToyStats(q, q_A, converged, *columns, first=first)


def _observed_equal(a: ToyStats, b: ToyStats) -> bool:
    return all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype != bool)
        for x, y in ((a.q, b.q), (a.q_A, b.q_A), (a.converged, b.converged))
    )


def merge_toy_stats(parts: Sequence[ToyStats]) -> ToyStats:
    """Join parts of one toy calculation (any order) into one :class:`ToyStats`.

    Raises:
        relaxed.exceptions.InvalidArgument: no parts; parts whose observed ``q``, ``q_A`` or
            ``converged`` differ (they come from different inputs or settings); toy ranges
            that overlap or leave a gap (the message names the toys).

    Example:
        >>> import jax.numpy as jnp
        >>> def part(first, n):
        ...     q = jnp.arange(first, first + n, dtype=float)
        ...     ok = jnp.ones(n, bool)
        ...     return ToyStats(jnp.asarray(1.0), jnp.asarray(2.0), jnp.asarray(True),
        ...                     q, -q, ok, ok, first)
        >>> merged = merge_toy_stats([part(3, 2), part(0, 3)])
        >>> merged.first, merged.sb.tolist()
        (0, [0.0, 1.0, 2.0, 3.0, 4.0])
        >>> merge_toy_stats([part(0, 3), part(4, 2)])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: toys 3 .. 3 are missing between the parts
    """
    parts = sorted(parts, key=lambda p: (int(p.first), int(np.shape(p.sb)[0])))
    if not parts:
        raise InvalidArgument("nothing to merge: no parts given")
    head = parts[0]
    for part in parts[1:]:
        if not _observed_equal(head, part):
            raise InvalidArgument(
                "the parts come from different inputs or settings: their observed test "
                f"statistics differ (q = {float(head.q)!r} and {float(part.q)!r})"
            )
    _check_contiguous([(int(p.first), int(np.shape(p.sb)[0])) for p in parts], "toys")

    def joined(field: str) -> Array:
        return jnp.concatenate([jnp.asarray(getattr(p, field)) for p in parts])

    return head._replace(
        sb=joined("sb"),
        b=joined("b"),
        sb_converged=joined("sb_converged"),
        b_converged=joined("b_converged"),
        first=int(head.first),
    )


_toy_pvalues_jit = jax.jit(calculators._toy_pvalues)


def toy_pvalues(stats: ToyStats) -> HypoTestResult:
    r"""Observed and expected :math:`p`-values from the toys' test statistics (the code
    :func:`relaxed.infer.calculators.toy_result` runs): tail fractions among the converged
    toys, :math:`\mathrm{CL}_{s+b} = \#\{i: q^{s+b}_i \ge q\}/N'_{s+b}` and
    :math:`\mathrm{CL}_b` likewise, :math:`\mathrm{CL}_s = \mathrm{CL}_{s+b}/\mathrm{CL}_b`,
    and the expected band from the converged background-only toys. The result counts the
    toys left out (``nonconverged_sb``, ``nonconverged_b``); its ``converged`` is false if a
    fit to the observed or Asimov data failed or no toy of a hypothesis converged.

    Example:
        >>> ok = jnp.asarray([True, True, False, True])
        >>> stats = ToyStats(jnp.asarray(2.0), jnp.asarray(3.0), jnp.asarray(True),
        ...                  jnp.asarray([1.0, 2.5, 9.0, 4.0]), jnp.asarray([0.0, 3.0, 1.0, 0.5]),
        ...                  ok, jnp.ones(4, bool))
        >>> r = toy_pvalues(stats)
        >>> round(float(r.CLsb), 4), float(r.CLb), int(r.nonconverged_sb), bool(r.converged)
        (0.6667, 0.25, 1, True)
    """
    return _toy_pvalues_jit(stats._replace(first=0))


def fingerprint(pdf: Model, data: ArrayLike) -> str:
    """A digest of a model and its data (parameter names and settings, structure, every
    array): shards whose fingerprints differ were computed from different inputs.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [5.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> fingerprint(model, [6.0]) == fingerprint(relaxed.Model(spec), [6.0])
        True
        >>> fingerprint(model, [6.0]) == fingerprint(model, [7.0])
        False
    """
    cfg = pdf.config
    digest = hashlib.sha256()
    head = (
        type(pdf).__name__,
        list(cfg.par_order),
        getattr(cfg, "poi_name", None),
        [float(v) for v in np.ravel(cfg.suggested_init())],
        [[float(lo), float(hi)] for lo, hi in cfg.suggested_bounds()],
        [bool(f) for f in cfg.suggested_fixed()],
        repr(pdf.structure_key),
    )
    digest.update(repr(head).encode())
    for leaf in [*jax.tree_util.tree_leaves(pdf), pdf.data_array(data)]:
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()


# -- documents: partial and complete results as JSON ------------------------------------------
def _floats(values: Any) -> list[float | None]:
    """JSON numbers (``None`` for a value JSON cannot hold: only non-converged toys have
    them, and those are not used)."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def to_document(
    stats: ToyStats,
    settings: Mapping[str, Any],
    fingerprint: str,
    shard: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A JSON-ready document of a toy calculation: partial (``shard = (index, nshards)``,
    1-based) or complete (``shard=None``: all ``settings["ntoys"]`` toys, with the
    :math:`p`-values under ``"result"``).

    Keys: ``schema_version``, ``kind``, ``complete``, ``fingerprint``, ``settings`` (as
    given: JSON values, with ``ntoys`` the number of toys of the whole calculation),
    ``shard`` (partial only), ``toys`` (``first`` and ``count``: the global indices),
    ``observed`` (``q``, ``q_A``, ``converged``), ``teststat_sb`` and ``teststat_b`` (one value
    per toy, ``null`` where it is not finite), ``nonconverged_sb`` and ``nonconverged_b`` (the
    global indices of the toys whose fits did not converge), and ``result`` (complete only:
    ``CLs_obs``, ``CLsb_obs``, ``CLb_obs``, the expected ``CLs_exp``, ``CLsb_exp``,
    ``CLb_exp`` from -2 to +2 sigma, ``converged``, and the counts ``nonconverged_sb``,
    ``nonconverged_b``). For ``q0`` the discovery :math:`p_0` is ``CLsb_obs``.

    Example:
        >>> ok = jnp.asarray([True, False])
        >>> stats = ToyStats(jnp.asarray(2.0), jnp.asarray(3.0), jnp.asarray(True),
        ...                  jnp.asarray([1.0, jnp.nan]), jnp.asarray([0.0, 3.0]), ok, ok, 4)
        >>> doc = to_document(stats, {"ntoys": 6}, "sha256:0", shard=(2, 2))
        >>> doc["toys"], doc["teststat_sb"], doc["nonconverged_b"], "result" in doc
        ({'first': 4, 'count': 2}, [1.0, None], [5], False)
    """
    first = int(stats.first)
    count = int(np.shape(stats.sb)[0])
    if "ntoys" not in settings:
        raise InvalidArgument("settings must hold 'ntoys', the number of toys of the whole run")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": DOCUMENT_KIND,
        "complete": shard is None,
        "fingerprint": fingerprint,
        "settings": dict(settings),
    }
    if shard is not None:
        doc["shard"] = {"index": int(shard[0]), "count": int(shard[1])}
    doc["toys"] = {"first": first, "count": count}
    doc["observed"] = {
        "q": _number(stats.q),
        "q_A": _number(stats.q_A),
        "converged": bool(stats.converged),
    }
    doc["teststat_sb"] = _floats(stats.sb)
    doc["teststat_b"] = _floats(stats.b)
    for name, ok in (("sb", stats.sb_converged), ("b", stats.b_converged)):
        doc[f"nonconverged_{name}"] = [first + int(i) for i in np.flatnonzero(~np.asarray(ok))]
    if shard is None:
        if first != 0 or count != int(settings["ntoys"]):
            raise InvalidArgument(
                f"a complete document needs toys 0 .. {int(settings['ntoys']) - 1}, got "
                f"{count} toys from {first}"
            )
        doc["result"] = _result(document_stats(doc))
    return doc


def _values(values: Any, name: str) -> np.ndarray:
    if not isinstance(values, list):
        raise InvalidArgument(f"{name} must be a list of numbers")
    try:
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidArgument(f"{name} must be a list of numbers: {err}") from err


def document_stats(doc: Mapping[str, Any]) -> ToyStats:
    """The :class:`ToyStats` of a document written by :func:`to_document`.

    Raises:
        relaxed.exceptions.InvalidArgument: not such a document, another schema version, or
            inconsistent lengths.

    Example:
        >>> ok = jnp.asarray([True, False])
        >>> stats = ToyStats(jnp.asarray(2.0), jnp.asarray(3.0), jnp.asarray(True),
        ...                  jnp.asarray([1.0, 2.0]), jnp.asarray([0.0, 3.0]), ok, ok, 4)
        >>> back = document_stats(to_document(stats, {"ntoys": 6}, "sha256:0", shard=(2, 2)))
        >>> back.first, back.b.tolist(), back.b_converged.tolist()
        (4, [0.0, 3.0], [True, False])
    """
    _check_document(doc)
    first, count = int(doc["toys"]["first"]), int(doc["toys"]["count"])
    sb = _values(doc["teststat_sb"], "teststat_sb")
    b = _values(doc["teststat_b"], "teststat_b")
    if len(sb) != count or len(b) != count:
        raise InvalidArgument(
            f"toys.count is {count} but there are {len(sb)} s+b and {len(b)} b-only values"
        )
    masks = []
    for name in ("sb", "b"):
        ok = np.ones(count, dtype=bool)
        index = np.asarray(doc[f"nonconverged_{name}"], dtype=np.int64) - first
        if index.size and (index.min() < 0 or index.max() >= count):
            raise InvalidArgument(f"nonconverged_{name} names toys outside this document")
        ok[index] = False
        masks.append(jnp.asarray(ok))
    observed = doc["observed"]
    q = np.nan if observed["q"] is None else observed["q"]
    q_A = np.nan if observed["q_A"] is None else observed["q_A"]
    return ToyStats(
        jnp.asarray(q, dtype=jnp.float64),
        jnp.asarray(q_A, dtype=jnp.float64),
        jnp.asarray(bool(observed["converged"])),
        jnp.asarray(sb),
        jnp.asarray(b),
        *masks,
        first=first,
    )


_REQUIRED = (
    "schema_version",
    "kind",
    "fingerprint",
    "settings",
    "toys",
    "observed",
    "teststat_sb",
    "teststat_b",
    "nonconverged_sb",
    "nonconverged_b",
)


def _check_kind(doc: Any, kind: str, version: int, required: Sequence[str], what: str) -> None:
    """A partial-result document of ``kind`` (toys, scans): a mapping with that ``kind``, the
    supported ``schema_version`` and the ``required`` keys, else an error naming ``what``."""
    if not isinstance(doc, Mapping) or doc.get("kind") != kind:
        raise InvalidArgument(f'not a {what} result (no "kind": "{kind}")')
    if doc.get("schema_version") != version:
        raise InvalidArgument(
            f"schema_version {doc.get('schema_version')!r} is not the supported {version}"
        )
    missing = [k for k in required if k not in doc]
    if missing:
        raise InvalidArgument(f"a {what} result needs the keys {missing}")


def _checked_documents(docs: Sequence[Any], names: Sequence[str] | None, check: Any) -> list[str]:
    """The names of the partial-result documents to merge (``document 1``, ... when none are
    given), after ``check`` of each; an error names the document."""
    if not docs:
        raise InvalidArgument("nothing to merge: no documents given")
    names = [f"document {i + 1}" for i in range(len(docs))] if names is None else list(names)
    for doc, name in zip(docs, names, strict=True):
        try:
            check(doc)
        except InvalidArgument as err:
            raise InvalidArgument(f"{name}: {err}") from err
    return names


def _check_document(doc: Any) -> None:
    _check_kind(doc, DOCUMENT_KIND, SCHEMA_VERSION, _REQUIRED, "toys")
    if "ntoys" not in doc["settings"]:
        raise InvalidArgument("settings.ntoys is missing")


def _result(stats: ToyStats) -> dict[str, Any]:
    r = toy_pvalues(stats)

    def band(values: Any) -> list[float | None]:
        return _floats(values)

    return {
        "CLs_obs": _number(r.CLs),
        "CLsb_obs": _number(r.CLsb),
        "CLb_obs": _number(r.CLb),
        "CLs_exp": band(r.CLs_exp),
        "CLsb_exp": band(r.CLsb_exp),
        "CLb_exp": band(r.CLb_exp),
        "converged": bool(r.converged),
        "nonconverged_sb": int(r.nonconverged_sb),
        "nonconverged_b": int(r.nonconverged_b),
    }


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The first path where two JSON values differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else key)
            if found is not None:
                return found
        return None
    return None if a == b else where or "(the value)"


def _check_contiguous(ranges: Sequence[tuple[int, int]], what: str) -> None:
    """Check that ``(first, count)`` ranges sorted by ``first`` neither overlap nor leave a
    gap (shared by the toys and :mod:`relaxed.infer.scans`; ``what`` names the items)."""
    end = ranges[0][0] if ranges else 0
    for start, count in ranges:
        if start > end:
            raise InvalidArgument(f"{what} {end} .. {start - 1} are missing between the parts")
        if start < end:
            raise InvalidArgument(f"{what} {start} .. {end - 1} are in more than one part")
        end = start + count


def _check_same(
    docs: Sequence[Mapping[str, Any]], names: Sequence[str], fields: Sequence[str]
) -> None:
    """Raise unless every document has the first one's ``fields`` (JSON values): partial
    documents of different inputs or settings do not merge; the message names the files and
    the first path that differs."""
    head, head_name = docs[0], names[0]
    for doc, name in zip(docs[1:], names[1:], strict=False):
        for field in fields:
            where = _first_difference(head[field], doc[field], field)
            if where is not None:
                what = "model or data" if field == "fingerprint" else where
                raise InvalidArgument(
                    f"{head_name} and {name} come from different inputs ({what} differs): "
                    "they cannot be merged"
                )


def _check_shards(docs: Sequence[Mapping[str, Any]], names: Sequence[str], what: str) -> None:
    """Raise unless the documents are the shards 1/N .. N/N of one calculation, each once (a
    document without ``shard`` counts as 1/1); the messages name the shards and the files
    (``what``: the items split, for the message)."""
    shards = [
        (doc["shard"]["index"], doc["shard"]["count"]) if "shard" in doc else (1, 1) for doc in docs
    ]
    counts = sorted({count for _, count in shards})
    if len(counts) > 1:
        listed = ", ".join(f"{i}/{n} in {name}" for (i, n), name in zip(shards, names, strict=True))
        raise InvalidArgument(
            f"the files split the {what} into different numbers of shards: {listed}"
        )
    nshards = counts[0]
    seen: dict[int, str] = {}
    for (index, _), name in zip(shards, names, strict=True):
        if index in seen:
            raise InvalidArgument(
                f"shard {index}/{nshards} is given twice: in {seen[index]} and in {name}"
            )
        seen[index] = name
    missing = [i for i in range(1, nshards + 1) if i not in seen]
    if missing:
        given = ", ".join(f"{i}/{nshards} in {seen[i]}" for i in sorted(seen))
        listed = ", ".join(f"{i}/{nshards}" for i in missing)
        plural = "s" if len(missing) > 1 else ""
        verb = "are" if len(missing) > 1 else "is"
        raise InvalidArgument(f"shard{plural} {listed} {verb} missing (given: {given})")


def merge_documents(
    docs: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None
) -> dict[str, Any]:
    """The complete document of a toy calculation from its partial documents (any order): the
    document a single run of all the toys writes (:func:`to_document` with ``shard=None``;
    keys other than those listed there, such as timings, are not carried over).

    Raises:
        relaxed.exceptions.InvalidArgument: not documents of this kind and version; different
            fingerprints, settings or observed test statistics (different inputs); different
            numbers of shards; a shard given twice, or missing (the message names them and
            the files, ``names``); toy ranges that do not cover the toys exactly.

    Example:
        >>> def part(i, first, n):
        ...     q, ok = jnp.arange(first, first + n, dtype=float), jnp.ones(n, bool)
        ...     stats = ToyStats(jnp.asarray(1.5), jnp.asarray(2.0), jnp.asarray(True),
        ...                      q, q / 10, ok, ok, first)
        ...     return to_document(stats, {"ntoys": 6}, "sha256:0", shard=(i, 2))
        >>> doc = merge_documents([part(2, 3, 3), part(1, 0, 3)])
        >>> doc["complete"], doc["teststat_sb"], round(doc["result"]["CLsb_obs"], 4)
        (True, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 0.6667)
        >>> merge_documents([part(1, 0, 3)], names=["a.json"])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: shard 2/2 is missing (given: 1/2 in a.json)
    """
    names = _checked_documents(docs, names, _check_document)
    head = docs[0]
    _check_same(docs, names, ("fingerprint", "settings", "observed"))
    _check_shards(docs, names, "toys")
    try:
        merged = merge_toy_stats([document_stats(doc) for doc in docs])
    except InvalidArgument as err:
        raise InvalidArgument(f"the shards do not fit together: {err}") from err
    ntoys = int(head["settings"]["ntoys"])
    count = int(np.shape(merged.sb)[0])
    if merged.first != 0 or count != ntoys:
        raise InvalidArgument(
            f"the shards hold toys {merged.first} .. {merged.first + count - 1}, not the "
            f"{ntoys} toys 0 .. {ntoys - 1} of settings.ntoys"
        )
    return to_document(merged, head["settings"], head["fingerprint"])
