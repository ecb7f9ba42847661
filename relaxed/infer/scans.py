r"""POI scans at scale: in chunks, over the local devices, and in shards merged afterwards.

An upper limit on a grid (:func:`relaxed.infer.intervals.linear_grid_scan`) tests every scan
point :math:`\mu_k`, :math:`k = 0 \dots K - 1`: the observed and the five expected
:math:`\mathrm{CL}_s(\mu_k)` (:math:`-2\sigma \dots +2\sigma`), then interpolates the roots of
:math:`\mathrm{CL}_s(\mu^*) = \alpha`. With toys (``calctype="toybased"``) every point fits
``ntoys`` pseudo-experiments per hypothesis, and the points are independent, so the work
splits by point, as :mod:`relaxed.infer.toys` splits toys:

- **Chunks.** :func:`scan_values` computes points ``first .. first + count - 1`` in compiled
  calls of ``chunk`` points starting at multiples of ``chunk`` in the scan's index; the last
  chunk is filled up with copies of the scan's last point, computed and dropped. A point is
  always computed in the same call, at the same place, next to the same points, whatever part
  of the scan a call computes, so any split gives bit-identical values by construction. Each
  call is :func:`relaxed.infer.intervals.cls_scan`'s computation on the chunk's points (the
  POI-independent fits run once per chunk); the values equal ``cls_scan``'s to rounding
  (measured on the hello world on CPU: bit-identical compiled for ``"run"``, within 2.2e-16
  for ``"compile"``, whose compiler options differ from ``cls_scan``'s program).
- **Devices.** The chunks go round the local devices (``devices``), each running the same
  compiled single-device program (:func:`relaxed.infer.devices.run_chunks`): any device
  count gives the numbers of one device, bit for bit.
- **Shards.** Each job of a batch cluster computes one shard
  (:func:`relaxed.infer.toys.shard_range` over the points: whole chunks) and writes a partial
  document (:func:`to_document`: its points' values, the scan, the settings and a
  :func:`relaxed.infer.toys.fingerprint` of the model and data); :func:`merge_documents`
  checks and joins them into exactly the document of a single run, whose ``result`` holds the
  limits interpolated by :func:`scan_limits` (the code of ``linear_grid_scan``).

For a toy-based scan, point :math:`k`'s toys are those of ``hypotest(mu_k, ...,
calctype="toybased", key=key)``: every point draws its toys from the same ``key``.
"""

from __future__ import annotations

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
from relaxed.infer import checks, intervals, toys
from relaxed.infer.devices import local_devices, run_chunks

__all__ = [
    "DEFAULT_CHUNK",
    "SCHEMA_VERSION",
    "document_values",
    "merge_documents",
    "scan_limits",
    "scan_values",
    "to_document",
]

#: Scan points per compiled call, by ``calctype``: asymptotic points are cheap (two fits
#: each, plus the POI-independent fits once per call); a toy-based point already fits
#: ``4 * ntoys`` toys.
DEFAULT_CHUNK: dict[str, int] = {"asymptotics": 16, "toybased": 1}
#: The version of the partial-result documents (:func:`to_document`).
SCHEMA_VERSION = 1
#: The ``kind`` of the documents.
DOCUMENT_KIND = "relaxed.scan"


@lru_cache(maxsize=32)
def _chunk_program(setup: intervals._Setup, mode: str) -> Any:
    """The CLs values of one chunk of points, jit-compiled for ``mode`` (the same program on
    every device: :mod:`relaxed.infer.devices`)."""
    del mode  # part of the cache key: the compiler options below depend on it

    def chunk(model: Model, data: Array, init: Array, key: Array, mus: Array) -> Array:
        return intervals._cls_values_many(mus, model, data, init, key, setup)

    return jax.jit(chunk, compiler_options=cache._compiler_options())


def scan_values(
    data: ArrayLike,
    model: Model,
    scan: ArrayLike,
    first: int = 0,
    count: int | None = None,
    chunk: int | None = None,
    devices: int | Sequence[Any] | None = None,
    **hypotest_kwargs: Any,
) -> Array:
    r"""The observed and the five expected :math:`\mathrm{CL}_s` (:math:`-2\sigma \dots
    +2\sigma`; :math:`\mathrm{CL}_{s+b}`, that is :math:`p_0`, for ``q0``) at scan points
    ``first .. first + count - 1`` (default: to the end), shape ``(count, 6)``.

    ``hypotest_kwargs`` configure the tests as for :func:`relaxed.infer.intervals.cls_scan`
    (``test_stat``, ``calctype``, ``ntoys``, ``key``, ``par_bounds``, ...), and the scan is
    checked as there. The points are computed in chunks of ``chunk`` points (default
    :data:`DEFAULT_CHUNK` of the ``calctype``) starting at multiples of ``chunk``, dealt round
    ``devices`` (None: all local devices; a number: the first ones; or a list of
    ``jax.Device``): any split into shards or devices gives bit-identical values for the same
    ``chunk`` (module docstring). ``count`` may be 0 (an empty shard).

    Raises:
        relaxed.exceptions.InvalidArgument: ``first``, ``count`` or ``chunk`` not integers in
            range (points beyond the scan), or ``devices`` not local devices.
        relaxed.exceptions.InvalidParameters: a scan that is not 1-d, finite, strictly
            increasing and inside the POI's bounds; invalid options (as ``cls_scan``).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> scan = [0.0, 0.5, 1.0, 1.5, 2.0]
        >>> whole = scan_values(data, model, scan, chunk=2)
        >>> parts = [scan_values(data, model, scan, first=f, count=n, chunk=2)
        ...          for f, n in ((0, 2), (2, 3))]
        >>> bool((jnp.concatenate(parts) == whole).all()), round(float(whole[2, 0]), 4)
        (True, 0.0525)
    """
    first = toys._count(first, "first", 0)
    if count is not None:
        count = toys._count(count, "count", 0)
    if chunk is not None:
        chunk = toys._count(chunk, "chunk", 1)
    data, init, key, setup = intervals._setup(data, model, hypotest_kwargs)
    checks.check_scan(scan, model, setup.config.bounds)
    points = np.asarray(scan, dtype=np.float64)
    npoints = points.shape[0]
    if first > npoints:
        raise InvalidArgument(f"first = {first} is beyond the scan of {npoints} points")
    count = npoints - first if count is None else count
    if first + count > npoints:
        raise InvalidArgument(
            f"points {first} .. {first + count - 1} are not all in the scan of {npoints} points"
        )
    chunk = DEFAULT_CHUNK[setup.calctype] if chunk is None else chunk
    devs = local_devices(devices)
    begin = first // chunk * chunk
    nchunks = math.ceil((first + count - begin) / chunk) if count else 0
    padded = np.concatenate([points, np.repeat(points[-1:], chunk)])  # the last chunk's filling
    chunks = [(padded[s : s + chunk],) for s in range(begin, begin + nchunks * chunk, chunk)]
    outputs = run_chunks(
        _chunk_program(setup, cache.optimize_for()), (model, data, init, key), chunks, devs
    )
    joined = np.concatenate([np.asarray(out) for out in outputs]) if outputs else np.zeros((0, 6))
    return jnp.asarray(joined[first - begin : first - begin + count])


def scan_limits(
    scan: ArrayLike, values: ArrayLike, level: float = 0.05, poi: Model | str = "mu"
) -> tuple[Array, list[Array]]:
    r"""``(observed, [expected -2 .. +2 sigma])``: the upper limits :math:`\mu^*` with
    :math:`\mathrm{CL}_s(\mu^*) = \alpha` = ``level``, interpolated linearly on the scan from
    the values of :func:`scan_values` (all points, shape ``(len(scan), 6)``): the code of
    :func:`relaxed.infer.intervals.linear_grid_scan`, which also refuses a scan that does
    not bracket a limit. ``poi`` (the model or the POI's name) names the POI in that error.

    Raises:
        relaxed.exceptions.LimitNotBracketed: a limit outside the scan (the message says which
            and where: :func:`relaxed.infer.intervals.check_bracketed`).
        relaxed.exceptions.InvalidArgument: ``level`` not in (0, 1); values that are not one
            row of 6 per point of a 1-d scan of at least 2 points.

    Example:
        >>> scan = [0.0, 1.0, 2.0]
        >>> values = [[0.5] * 6, [0.1] * 6, [0.01] * 6]
        >>> obs, exp = scan_limits(scan, values, level=0.05)
        >>> round(float(obs), 4), len(exp)
        (1.5556, 5)
    """
    checks.check_level(level)
    points = np.asarray(scan, dtype=np.float64)
    table = np.asarray(values, dtype=np.float64)
    if points.ndim != 1 or points.shape[0] < 2 or table.shape != (points.shape[0], 6):
        raise InvalidArgument(
            "scan_limits needs a 1-d scan of at least 2 points and the 6 CLs values of each "
            f"point, got shapes {points.shape} and {table.shape}"
        )
    intervals.check_bracketed(
        float(points[0]), float(points[-1]), table[0], table[-1], float(level), poi
    )
    limits = intervals._interp_limits(jnp.asarray(points), jnp.asarray(table), level)
    return limits[0], [limits[i] for i in range(1, 6)]


# -- documents: partial and complete results as JSON ------------------------------------------
def to_document(
    values: ArrayLike,
    scan: ArrayLike,
    settings: Mapping[str, Any],
    fingerprint: str,
    first: int = 0,
    shard: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A JSON-ready document of a scan: partial (``shard = (index, nshards)``, 1-based: the
    ``values`` of points ``first ..``) or complete (``shard=None``: every point, with the
    limits under ``"result"``).

    Keys: ``schema_version``, ``kind``, ``complete``, ``fingerprint``, ``settings`` (as
    given: JSON values, holding ``level`` and ``poi``, the POI's name), ``scan`` (every POI
    value of the scan), ``shard`` (partial only), ``points`` (``first`` and ``count``: the
    scan indices of the values), ``CLs_obs`` (one value per point, ``null`` where it is not
    finite), ``CLs_exp`` (per point, the 5 expected values from -2 to +2 sigma) and
    ``result`` (complete only: the limits ``obs`` and ``exp`` of :func:`scan_limits` at
    ``level``, and ``level``).

    Raises:
        relaxed.exceptions.InvalidArgument: settings without ``level`` or ``poi``; values
            that are not 6 per point, or points outside the scan; a complete document
            without every point.
        relaxed.exceptions.LimitNotBracketed: a complete document whose scan does not
            bracket the limits.

    Example:
        >>> settings = {"poi": "mu", "level": 0.05}
        >>> doc = to_document([[0.1] * 6], [0.0, 1.0, 2.0], settings, "sha256:0", first=1,
        ...                   shard=(2, 3))
        >>> doc["points"], doc["CLs_obs"], doc["CLs_exp"][0][4], "result" in doc
        ({'first': 1, 'count': 1}, [0.1], 0.1, False)
    """
    for key in ("level", "poi"):
        if key not in settings:
            raise InvalidArgument(f"settings must hold {key!r} (the limits' CLs level and POI)")
    points = np.asarray(scan, dtype=np.float64).reshape(-1)
    table = np.asarray(values, dtype=np.float64).reshape(-1, 6)
    first = toys._count(first, "first", 0)
    count = table.shape[0]
    if first + count > points.shape[0]:
        raise InvalidArgument(
            f"points {first} .. {first + count - 1} are not all in the scan of "
            f"{points.shape[0]} points"
        )
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": DOCUMENT_KIND,
        "complete": shard is None,
        "fingerprint": fingerprint,
        "settings": dict(settings),
        "scan": points.tolist(),
    }
    if shard is not None:
        doc["shard"] = {"index": int(shard[0]), "count": int(shard[1])}
    doc["points"] = {"first": first, "count": count}
    doc["CLs_obs"] = toys._floats(table[:, 0])
    doc["CLs_exp"] = [toys._floats(row) for row in table[:, 1:]]
    if shard is None:
        if first != 0 or count != points.shape[0]:
            raise InvalidArgument(
                f"a complete document needs points 0 .. {points.shape[0] - 1}, got {count} "
                f"points from {first}"
            )
        obs, exp = scan_limits(points, table, settings["level"], str(settings["poi"]))
        doc["result"] = {
            "obs": toys._number(obs),
            "exp": toys._floats(exp),
            "level": settings["level"],
        }
    return doc


_REQUIRED = (
    "schema_version",
    "kind",
    "fingerprint",
    "settings",
    "scan",
    "points",
    "CLs_obs",
    "CLs_exp",
)


def _check_document(doc: Any) -> None:
    toys._check_kind(doc, DOCUMENT_KIND, SCHEMA_VERSION, _REQUIRED, "scan")


def document_values(doc: Mapping[str, Any]) -> tuple[int, Array]:
    """``(first, values)``: the scan index of a document's first point and its CLs values,
    shape ``(count, 6)`` as :func:`scan_values` returns them (``null`` read as NaN).

    Raises:
        relaxed.exceptions.InvalidArgument: not such a document, another schema version, or
            inconsistent lengths.

    Example:
        >>> doc = to_document([[0.1] * 6, [0.2] * 6], [0.0, 1.0], {"poi": "mu", "level": 0.05},
        ...                   "sha256:0", shard=(1, 1))
        >>> first, values = document_values(doc)
        >>> first, values.shape, float(values[1, 3])
        (0, (2, 6), 0.2)
    """
    _check_document(doc)
    first, count = int(doc["points"]["first"]), int(doc["points"]["count"])
    obs = toys._values(doc["CLs_obs"], "CLs_obs")
    if not isinstance(doc["CLs_exp"], list):
        raise InvalidArgument("CLs_exp must be a list of lists of 5 numbers")
    exp = [toys._values(row, f"CLs_exp[{i}]") for i, row in enumerate(doc["CLs_exp"])]
    if len(obs) != count or len(exp) != count or any(len(row) != 5 for row in exp):
        raise InvalidArgument(
            f"points.count is {count} but there are {len(obs)} observed values and "
            f"{len(exp)} rows of expected values (5 each)"
        )
    if first < 0 or first + count > len(doc["scan"]):
        raise InvalidArgument(
            f"points {first} .. {first + count - 1} are not all in the scan of "
            f"{len(doc['scan'])} points"
        )
    table = np.column_stack([obs, np.reshape(exp, (count, 5))]) if count else np.zeros((0, 6))
    return first, jnp.asarray(table, dtype=jnp.float64)


def merge_documents(
    docs: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None
) -> dict[str, Any]:
    """The complete document of a scan from its partial documents (any order): the document
    a single run of all the points writes (:func:`to_document` with ``shard=None``; keys other
    than those listed there, such as timings, are not carried over).

    Raises:
        relaxed.exceptions.InvalidArgument: not documents of this kind and version; different
            fingerprints, settings or scans (different inputs); different numbers of shards;
            a shard given twice, or missing (the message names them and the files,
            ``names``); point ranges that do not cover the scan exactly.
        relaxed.exceptions.LimitNotBracketed: the scan does not bracket the limits.

    Example:
        >>> settings, scan = {"poi": "mu", "level": 0.05}, [0.0, 1.0, 2.0]
        >>> parts = [to_document([[0.5] * 6, [0.1] * 6], scan, settings, "sha256:0", 0, (1, 2)),
        ...          to_document([[0.01] * 6], scan, settings, "sha256:0", 2, (2, 2))]
        >>> doc = merge_documents(parts[::-1])
        >>> doc["complete"], doc["CLs_obs"], round(doc["result"]["obs"], 4)
        (True, [0.5, 0.1, 0.01], 1.5556)
        >>> merge_documents(parts[:1], names=["a.json"])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: shard 2/2 is missing (given: 1/2 in a.json)
    """
    names = toys._checked_documents(docs, names, _check_document)
    toys._check_same(docs, names, ("fingerprint", "settings", "scan"))
    toys._check_shards(docs, names, "scan points")
    parts = []
    for doc, name in zip(docs, names, strict=True):
        try:
            parts.append(document_values(doc))
        except InvalidArgument as err:
            raise InvalidArgument(f"{name}: {err}") from err
    parts.sort(key=lambda p: (p[0], p[1].shape[0]))
    try:
        toys._check_contiguous([(first, v.shape[0]) for first, v in parts], "scan points")
    except InvalidArgument as err:
        raise InvalidArgument(f"the shards do not fit together: {err}") from err
    head = docs[0]
    npoints, first = len(head["scan"]), parts[0][0]
    count = sum(v.shape[0] for _, v in parts)
    if first != 0 or count != npoints:
        raise InvalidArgument(
            f"the shards hold scan points {first} .. {first + count - 1}, not the {npoints} "
            f"points 0 .. {npoints - 1} of the scan"
        )
    values = np.concatenate([np.asarray(v) for _, v in parts])
    return to_document(values, head["scan"], head["settings"], head["fingerprint"])
