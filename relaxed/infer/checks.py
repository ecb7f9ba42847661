r"""Checks of the inputs of fits, hypothesis tests and limits, shared by every entry point.

Each ``check_*`` function validates one kind of input against a model and raises a
:class:`~relaxed.exceptions.RelaxedError` subclass whose message names the argument, the
position (index, parameter, channel and bin) and the value, before anything is compiled or
fitted:

- data, main bins: finite and :math:`\ge 0` (non-integer counts are fine): ``InvalidData``;
- data, auxiliary: finite, and :math:`\ge 0` for Poisson constraints: ``InvalidData``;
- a parameter vector or ``init_pars``: the model's length, finite, inside ``par_bounds``:
  ``InvalidParameters``;
- ``par_bounds``: shape ``(npars, 2)``, no NaN, low :math:`\le` high: ``InvalidParameters``;
- ``fixed_params``: ``npars`` booleans: ``InvalidParameters``;
- ``poi_test``: a finite scalar inside the POI's bounds: ``InvalidParameters``;
- ``level``: :math:`0 < \alpha < 1`: ``InvalidArgument``;
- ``scan``: 1-d, at least 2 finite, strictly increasing POI values inside the POI's bounds:
  ``InvalidParameters`` (as every POI value).

These are pyhf's rules (its fits refuse an initial value outside the bounds, which rejects a
tested POI value outside them; its optimiser fails on negative or non-finite counts), stated
up front with the place named.

**Concrete and traced values.** Concrete values (numbers, lists, numpy arrays, JAX arrays
outside a transformation) are checked with numpy. Values that are JAX tracers (inside
``jax.jit``, ``vmap`` or ``grad``) cannot be inspected, so nothing can be raised and nothing
is added to the computation: the function returns NaN or meaningless numbers (each public
function's docstring says which). :func:`checked` jit-compiles a function with the checks
turned into host callbacks and raises the same ``relaxed.exceptions`` class after the call.
(:func:`jax.experimental.checkify.checkify` cannot be used: it does not support the vmapped
``while`` loops of the fits.)
"""

from __future__ import annotations

import contextvars
import functools
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed import exceptions
from relaxed.exceptions import InvalidArgument, InvalidData, InvalidParameters

__all__ = [
    "is_traced",
    "check_data",
    "check_pars",
    "check_bounds",
    "check_fixed",
    "check_poi",
    "check_level",
    "check_scan",
    "check_test_inputs",
    "checked",
]

Bounds = tuple[tuple[float, float], ...]


def is_traced(*values: Any) -> bool:
    """Whether any leaf of ``values`` is a JAX tracer (inside ``jit``, ``vmap`` or ``grad``).

    Example:
        >>> is_traced(1.0, [2.0], None), jax.jit(lambda x: is_traced(x) * x)(1.0).item()
        (False, 1.0)
    """
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(values))


def _num(value: float) -> str:
    """A value as a message shows it: ``12.0``, ``-3.0``, ``nan``, ``inf``."""
    return repr(float(value))


def _interval(low: float, high: float) -> str:
    return f"[{low:g}, {high:g}]"


def _array(value: ArrayLike, name: str, error: type[Exception]) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise error(f"{name} must be numbers, got {value!r}") from err


def _shape(value: Any, name: str, error: type[Exception]) -> tuple[int, ...]:
    if is_traced(value):
        return tuple(jnp.shape(jnp.asarray(value)))
    try:
        return tuple(np.shape(value))
    except ValueError as err:
        raise error(f"{name} must be a rectangular array of numbers: {err}") from err


def _traced_check(error: type[Exception], ok: Array, message: str, *values: Array) -> None:
    """A check on traced values. Under :func:`checked` it becomes a host callback that
    records ``message`` (formatted with ``values``) when ``ok`` is false anywhere; otherwise
    nothing is added to the computation."""
    failures = _ACTIVE.get()
    if failures is None:
        return
    text = f"{error.__name__}: {message}"

    def report(ok: np.ndarray, *values: np.ndarray) -> None:
        if not np.all(ok):
            failures.add(text.format(*(_shown(v) for v in values)))

    jax.debug.callback(report, jnp.all(ok), *values)


def _shown(value: np.ndarray) -> str:
    value = np.asarray(value)
    if value.size != 1:
        return str(value.tolist())
    item = value.reshape(()).item()
    return repr(float(item)) if isinstance(item, float) else str(item)


# -- data -----------------------------------------------------------------------------------
def _data_shape(data: ArrayLike, model: Any, name: str, batch: bool) -> tuple[int, ...]:
    n = model.data_limits()[0].shape[0]
    shape = _shape(data, name, InvalidData)
    if not (len(shape) == 1 or (batch and len(shape) == 2)) or shape[-1] != n:
        batched = f" (or a batch of shape (k, {n}))" if batch else ""
        hint = "" if batch else "; map over data sets with jax.vmap"
        raise InvalidData(
            f"expected {name} of length {n}{batched} ({model.describe_data()}), got shape "
            f"{shape}{hint}"
        )
    return shape


#: (id(array), id(model), extra) -> weak references to the JAX array and the model that
#: passed a check. JAX arrays are immutable, so a repeated call with the same objects (a
#: warm loop of tests) skips the check and its copy to the host.
_PASSED: dict[tuple[int, int, Any], tuple[Any, Any]] = {}


def _passed(array: Any, model: Any, extra: Any) -> bool:
    hit = _PASSED.get((id(array), id(model), extra))
    return hit is not None and hit[0]() is array and hit[1]() is model


def _remember(array: Any, model: Any, extra: Any) -> None:
    if not isinstance(array, jax.Array):
        return  # NumPy arrays and lists can change in place: check them every time
    if len(_PASSED) >= 256:
        _PASSED.clear()
    try:
        refs = (weakref.ref(array), weakref.ref(model))
    except TypeError:
        return
    _PASSED[(id(array), id(model), extra)] = refs


def check_data(data: ArrayLike, model: Any, name: str = "data", batch: bool = False) -> None:
    r"""Check observed data: the model's length, every entry finite and inside the model's
    ``data_limits()`` (:mod:`relaxed.infer.protocol`). For a binned model: main counts
    :math:`\ge 0`, auxiliary data of a Poisson constraint :math:`\ge 0`; non-integer counts are
    valid (Asimov data are not integers). With ``batch``, a 2-d array of data sets is accepted
    too.

    Raises:
        relaxed.exceptions.InvalidData: the message names the entry, its channel and bin (or
            its parameter) and the value.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "s", "data": [1.0, 2.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> check_data([0.0, 2.5], model)
        >>> check_data([4.0, -3.0], model)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidData: data[1] is -3.0: observation bin 1 of channel 'SR' ...
    """
    if _passed(data, model, ("data", name, batch)):
        return
    _data_shape(data, model, name, batch)
    lower, upper = model.data_limits()
    if is_traced(data):
        if _ACTIVE.get() is not None:  # only under checked(): else nothing is added
            values = jnp.asarray(data).reshape(-1, lower.size)
            ok = jnp.isfinite(values) & (values >= lower) & (values <= upper)
            row, bad = jnp.divmod(jnp.argmin(ok.ravel()), lower.size)
            _traced_check(
                InvalidData,
                ok,
                f"{name}[{{}}] is {{}}: {model.data_rules(name)}",
                bad,
                values[row, bad],
            )
        return
    values = _array(data, name, InvalidData)
    rows = values.reshape(-1, lower.size)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(rows) & (rows >= lower) & (rows <= upper)
    if ok.all():
        _remember(data, model, ("data", name, batch))
        return
    row, index = (int(k) for k in np.argwhere(~ok)[0])
    value = rows[row, index]
    label = f"{name}[{row}, {index}]" if values.ndim == 2 else f"{name}[{index}]"
    raise InvalidData(f"{label} is {_num(value)}: {model.describe_datum(index)}")


# -- parameters -----------------------------------------------------------------------------
def check_bounds(par_bounds: ArrayLike | None, model: Any) -> Bounds:
    """``par_bounds`` (default: the model's suggested bounds) as checked ``(low, high)`` float
    pairs: shape ``(npars, 2)``, no NaN, ``low <= high`` (infinite ends are allowed).

    Raises:
        relaxed.exceptions.InvalidParameters: the message names the parameter and its bounds.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "s", "data": [1.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> check_bounds(None, model), check_bounds([(-5, 5)], model)
        (((0.0, 10.0),), ((-5.0, 5.0),))
        >>> check_bounds([(5, 1)], model)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidParameters: par_bounds[0] (parameter 'mu') is [5, 1]: ...
    """
    cfg = model.config
    if par_bounds is None:
        return tuple((float(lo), float(hi)) for lo, hi in cfg.suggested_bounds())
    if is_traced(par_bounds):
        raise InvalidParameters(
            "par_bounds must be concrete numbers (they configure the compiled fit), got a "
            "traced value"
        )
    try:
        bounds = np.asarray(par_bounds, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidParameters(f"par_bounds must be (low, high) pairs of numbers: {err}") from err
    if bounds.shape != (cfg.npars, 2):
        raise InvalidParameters(
            f"par_bounds must have shape ({cfg.npars}, 2), one (low, high) pair for each of "
            f"the parameters {cfg.par_names}, got shape {bounds.shape}"
        )
    bad = np.flatnonzero(~(bounds[:, 0] <= bounds[:, 1]))
    if bad.size:
        k = int(bad[0])
        raise InvalidParameters(
            f"par_bounds[{k}] (parameter '{cfg.par_names[k]}') is "
            f"{_interval(*bounds[k])}: bounds must not be NaN and the lower bound must not "
            "exceed the upper bound"
        )
    return tuple((float(lo), float(hi)) for lo, hi in bounds)


def check_fixed(fixed_params: Sequence[bool] | None, model: Any) -> tuple[bool, ...]:
    """``fixed_params`` (default: the model's suggested ones) as a tuple of ``npars`` booleans.

    Raises:
        relaxed.exceptions.InvalidParameters: the wrong length, or entries that are not
            booleans.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "s", "data": [1.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> check_fixed(None, model), check_fixed([True], model)
        ((False,), (True,))
    """
    cfg = model.config
    if fixed_params is None:
        return tuple(bool(f) for f in cfg.suggested_fixed())
    if is_traced(fixed_params):
        raise InvalidParameters("fixed_params must be concrete booleans, got a traced value")
    flags = np.asarray(fixed_params, dtype=object).ravel()
    if np.ndim(fixed_params) != 1 or flags.size != cfg.npars:
        raise InvalidParameters(
            f"fixed_params must have {cfg.npars} entries, one for each of the parameters "
            f"{cfg.par_names}, got {np.shape(fixed_params)}"
        )
    for k, flag in enumerate(flags):
        if not isinstance(flag, bool | np.bool_) and flag not in (0, 1):
            raise InvalidParameters(
                f"fixed_params[{k}] (parameter '{cfg.par_names[k]}') is {flag!r}: "
                "expected True or False"
            )
    return tuple(bool(f) for f in flags)


def check_pars(
    pars: ArrayLike,
    model: Any,
    name: str = "pars",
    bounds: Bounds | None = None,
    batch: bool = False,
) -> None:
    """Check a parameter vector: length ``npars`` (or a batch ``(k, npars)``), finite values,
    and, with ``bounds``, each inside its bounds (as pyhf's fits require of ``init_pars``).

    Raises:
        relaxed.exceptions.InvalidParameters: the message names the entry, its parameter and
            the value.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "s", "data": [1.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> check_pars([20.0], model, "init_pars", bounds=((0.0, 10.0),))
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidParameters: init_pars[0] (parameter 'mu') is 20.0, outside ...
    """
    if _passed(pars, model, ("pars", name, bounds, batch)):
        return
    cfg = model.config
    shape = _shape(pars, name, InvalidParameters)
    if not (len(shape) == 1 or (batch and len(shape) == 2)) or shape[-1] != cfg.npars:
        batched = f" (or a batch of shape (k, {cfg.npars}))" if batch else ""
        raise InvalidParameters(
            f"{name} must have shape ({cfg.npars},){batched}, one value for each of the "
            f"parameters {cfg.par_names}, got shape {shape}"
        )
    low = np.full(cfg.npars, -np.inf) if bounds is None else np.asarray([b[0] for b in bounds])
    high = np.full(cfg.npars, np.inf) if bounds is None else np.asarray([b[1] for b in bounds])
    if is_traced(pars):
        if _ACTIVE.get() is not None:  # only under checked(): else nothing is added
            values = jnp.asarray(pars).reshape(-1, cfg.npars)
            ok = jnp.isfinite(values) & (values >= low) & (values <= high)
            row, bad = jnp.divmod(jnp.argmin(ok.ravel()), cfg.npars)
            _traced_check(
                InvalidParameters,
                ok,
                f"{name}[{{}}] is {{}}: parameters must be finite and inside their bounds "
                f"(parameters {cfg.par_names})",
                bad,
                values[row, bad],
            )
        return
    values = _array(pars, name, InvalidParameters)
    rows = values.reshape(-1, cfg.npars)
    finite = np.isfinite(rows)
    inside = (rows >= low) & (rows <= high)
    if finite.all() and inside.all():
        _remember(pars, model, ("pars", name, bounds, batch))
        return
    row, k = (int(i) for i in np.argwhere(~(finite & inside))[0])
    label = f"{name}[{row}, {k}]" if values.ndim == 2 else f"{name}[{k}]"
    what = f"{label} (parameter '{cfg.par_names[k]}') is {_num(rows[row, k])}"
    if not finite[row, k]:
        raise InvalidParameters(f"{what}: parameter values must be finite")
    raise InvalidParameters(
        f"{what}, outside its bounds {_interval(low[k], high[k])}; change the value "
        "(init_pars, or the measurement's inits) or widen the bounds (par_bounds, or the "
        "measurement's bounds)"
    )


def check_poi(
    poi_test: ArrayLike, model: Any, bounds: Bounds | None = None, name: str = "poi_test"
) -> None:
    """Check a tested value of the parameter of interest: a finite scalar inside the POI's
    bounds (``bounds``: the fit's ``par_bounds``, default the suggested ones). pyhf raises for
    the same values (its fits start at the tested value, outside the bounds).

    Raises:
        relaxed.exceptions.InvalidParameters: no POI, a non-scalar, a non-finite value or one
            outside the bounds (the message names the value, the bounds and the POI).

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "s", "data": [1.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> check_poi(10.0, model)
        >>> check_poi(12.0, model)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidParameters: poi_test=12.0 is outside the bounds [0, 10] of ...
    """
    cfg = model.config
    index = cfg.poi_index
    if index is None:
        raise InvalidParameters(
            f"{name}: the model has no parameter of interest (build it with poi_name=...)"
        )
    bounds = check_bounds(None, model) if bounds is None else bounds
    low, high = bounds[index]
    if isinstance(poi_test, float | int) and not isinstance(poi_test, bool):
        if math.isfinite(poi_test) and low <= poi_test <= high:
            return  # the usual case, without converting to an array
    if np.ndim(poi_test) != 0:
        raise InvalidParameters(
            f"{name} must be a scalar, got shape {np.shape(poi_test)}; map over POI values with "
            "jax.vmap"
        )
    where = f"the bounds {_interval(low, high)} of POI '{cfg.poi_name}'"
    if is_traced(poi_test):
        value = jnp.asarray(poi_test)
        ok = jnp.isfinite(value) & (value >= low) & (value <= high)
        _traced_check(InvalidParameters, ok, f"{name}={{}} is not finite or outside {where}", value)
        return
    value = float(_array(poi_test, name, InvalidParameters))
    if not np.isfinite(value):
        raise InvalidParameters(
            f"{name}={_num(value)} is not a finite value of POI '{cfg.poi_name}'"
        )
    if not low <= value <= high:
        raise InvalidParameters(
            f"{name}={_num(value)} is outside {where}; test a value inside them or widen the "
            "POI's bounds (par_bounds)"
        )


# -- limits ---------------------------------------------------------------------------------
def check_level(level: ArrayLike, name: str = "level") -> None:
    r"""Check a CLs level :math:`\alpha`: a scalar with :math:`0 < \alpha < 1` (0.05 gives
    limits at 95% CL).

    Raises:
        relaxed.exceptions.InvalidArgument: the message gives the value.

    Example:
        >>> check_level(0.05)
        >>> check_level(1.5)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: level=1.5 must be between 0 and 1 (exclusive): ...
    """
    if np.ndim(level) != 0:
        raise InvalidArgument(f"{name} must be a scalar, got shape {np.shape(level)}")
    rule = (
        "must be between 0 and 1 (exclusive): it is the CLs value the limit is set at "
        "(0.05 for 95% CL)"
    )
    if is_traced(level):
        value = jnp.asarray(level)
        _traced_check(InvalidArgument, (value > 0) & (value < 1), f"{name}={{}} {rule}", value)
        return
    value = float(_array(level, name, InvalidArgument))
    if not 0.0 < value < 1.0:
        raise InvalidArgument(f"{name}={_num(value)} {rule}")


def check_scan(scan: ArrayLike, model: Any, bounds: Bounds | None = None) -> None:
    """Check a grid of POI values: 1-d, at least 2 points, finite, strictly increasing and
    inside the POI's bounds (``bounds``: the fit's ``par_bounds``, default the suggested
    ones).

    Raises:
        relaxed.exceptions.InvalidParameters: the message names the offending entry.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "s", "data": [1.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> check_scan([0.0, 1.0, 2.0], model)
        >>> check_scan([0.0, 2.0, 1.0], model)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidParameters: scan must be strictly increasing: scan[2] = 1.0 ...
    """
    shape = np.shape(scan)
    if len(shape) != 1 or shape[0] < 2:
        raise InvalidParameters(
            f"scan must be a 1-d array of at least 2 POI values, got shape {tuple(shape)}"
        )
    if is_traced(scan):
        return
    values = _array(scan, "scan", InvalidParameters)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InvalidParameters(
            f"scan[{bad[0]}] is {_num(values[bad[0]])}: scan values must be finite"
        )
    bad = np.flatnonzero(np.diff(values) <= 0)
    if bad.size:
        k = int(bad[0]) + 1
        raise InvalidParameters(
            f"scan must be strictly increasing: scan[{k}] = {_num(values[k])} follows "
            f"scan[{k - 1}] = {_num(values[k - 1])}"
        )
    cfg = model.config
    if cfg.poi_index is None:
        raise InvalidParameters("scan: the model has no parameter of interest")
    low, high = (check_bounds(None, model) if bounds is None else bounds)[cfg.poi_index]
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        k = int(bad[0])
        raise InvalidParameters(
            f"scan[{k}] = {_num(values[k])} is outside the bounds {_interval(low, high)} of "
            f"POI '{cfg.poi_name}'; scan inside them or widen the POI's bounds (par_bounds)"
        )


def check_test_inputs(
    poi_test: ArrayLike | None,
    data: ArrayLike,
    model: Any,
    init_pars: ArrayLike | None = None,
    par_bounds: ArrayLike | None = None,
    fixed_params: Sequence[bool] | None = None,
) -> tuple[Bounds, tuple[bool, ...]]:
    """Everything a hypothesis test or a limit checks about its inputs, in one call:
    ``par_bounds``, ``fixed_params`` (the POI must be free), ``init_pars`` (inside the
    bounds), ``poi_test`` (unless ``None``) and ``data``. Returns the checked bounds and fixed
    flags.

    Raises:
        relaxed.exceptions.InvalidParameters, relaxed.exceptions.InvalidData: as the
            ``check_*`` functions.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "s", "data": [1.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> check_test_inputs(1.0, [3.0], model)
        (((0.0, 10.0),), (False,))
    """
    cfg = model.config
    if cfg.poi_index is None:
        raise InvalidParameters(
            "the model has no parameter of interest: a hypothesis test needs one"
        )
    bounds = check_bounds(par_bounds, model)
    fixed = check_fixed(fixed_params, model)
    if fixed[cfg.poi_index]:
        raise InvalidParameters(
            f"the parameter of interest '{cfg.poi_name}' (index {cfg.poi_index}) is fixed, "
            "which makes inference impossible; set fixed_params[poi_index] = False"
        )
    if init_pars is not None:
        check_pars(init_pars, model, "init_pars", bounds)
    if poi_test is not None:
        check_poi(poi_test, model, bounds)
    check_data(data, model)
    return bounds, fixed


# -- the checked wrapper --------------------------------------------------------------------
class _Failures:
    """What the callbacks of one :func:`checked` function report (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        with self._lock:
            if message not in self.messages:
                self.messages.append(message)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


#: The failure list of the :func:`checked` function being traced, if any.
_ACTIVE: contextvars.ContextVar[_Failures | None] = contextvars.ContextVar(
    "relaxed_checked", default=None
)


def _raise(message: str) -> None:
    name, _, text = message.partition(": ")
    error = getattr(exceptions, name, None)
    if isinstance(error, type) and issubclass(error, exceptions.RelaxedError):
        raise error(text)
    raise exceptions.RelaxedError(message)  # pragma: no cover - every check names its class


def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` jit-compiled with its input checks turned on: invalid values inside the compiled
    call (a NaN or out-of-bounds POI value, negative or non-finite counts, initial values
    outside the bounds, a level outside (0, 1), a limit that cannot be bracketed) raise the
    same ``relaxed.exceptions`` class, after the call, as a call on concrete values would.

    Without this wrapper a transformed call cannot raise: it returns NaN or meaningless
    numbers for invalid inputs (each function's docstring says which). Here each check of a
    traced value becomes a :func:`jax.debug.callback` that reports a failure to the host;
    this works inside ``vmap`` and ``grad`` within ``fn`` too. Checks are compiled in only
    for the checked function (a plain ``jit`` of the same code has none). Pass ``fn`` itself,
    not an already jit-compiled function (whose compiled code would be reused without the
    checks); close over strings and other static settings.

    Example:
        >>> import relaxed
        >>> from relaxed.infer import hypotest
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [5.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}]})
        >>> cls = checked(lambda mu, data: hypotest(mu, data, model))
        >>> round(float(cls(1.0, jnp.array([52.0]))), 4)
        0.5609
        >>> cls(jnp.nan, jnp.array([52.0]))
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidParameters: poi_test=nan is not finite or outside the ...
    """
    run = jax.jit(fn)
    failures = _Failures()
    lock = threading.Lock()

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with lock:  # one call at a time: the failures belong to this call
            failures.clear()
            token = _ACTIVE.set(failures)
            try:
                out = jax.block_until_ready(run(*args, **kwargs))
                jax.effects_barrier()
            finally:
                _ACTIVE.reset(token)
            found = list(failures.messages)
        if found:
            _raise(found[0])
        return out

    return wrapper
