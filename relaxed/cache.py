r"""JAX's persistent compilation cache, on by default.

Compiling a fit or a hypothesis test of a real likelihood takes seconds; the compiled code
depends only on the model's structure (channels, binning, modifier layout) and the fit
configuration. relaxed therefore turns on JAX's persistent compilation cache when it is
imported, so that a second process (a second ``neos cls`` call, a second Python session)
loads the compiled code from disk instead of compiling it again.

Where the cache lives:

- ``$RELAXED_CACHE_DIR`` if set; the values ``""``, ``"0"``, ``"off"``, ``"none"`` and
  ``"false"`` turn the cache off;
- otherwise ``$XDG_CACHE_HOME/relaxed/jax`` (``~/.cache/relaxed/jax``).

:func:`set_cache_dir` moves or disables it from Python (the ``neos`` command's
``--cache-dir``). A cache directory that cannot be created is skipped with a warning, never an
error: the cache only saves time.

JAX's cache stores compiled executables, but a new process must still trace and lower the
Python function before it can look one up, and for a hypothesis test that takes longer than
the compilation it saves. :func:`compiled_call` therefore keeps one more layer, keyed by what
the computation depends on (the model's structure without its names, static options, argument
shapes, the JAX version, a hash of relaxed's own source, and this machine: its processor's
features, jaxlib's version, the devices): ``executables/``, the compiled program itself, which
a new process loads and runs without tracing, lowering or compiling. Another machine sharing
the folder (a cluster's home directory) compiles and stores its own copy once.

A compiled program runs on the device it was compiled for (XLA fixes an executable's device
assignment when it compiles it; an executable called with arguments on another device is
refused). :func:`compiled_call` therefore compiles for the device its arguments are committed
to (:func:`jax.device_put`), as ``jax.jit`` does, and keys the program by that device: chunks
of work dealt round the local devices (:mod:`relaxed.infer.devices`) compile one program per
device the first time, each stored and loaded back for its own device.

Programs are optimised for running (the default) or, with :func:`optimize_for` ``("compile")``
or ``RELAXED_OPTIMIZE_FOR=compile``, for a short compilation: ``neos fit``, ``cls`` and
``upper-limit``, which run their program once, compile that way.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle
import platform
import threading
import warnings
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import jax

from relaxed.io import write_text_atomic

__all__ = [
    "COMPILER_OPTIONS",
    "OPTIMIZATION_MODES",
    "optimize_for",
    "cache_dir",
    "default_cache_dir",
    "set_cache_dir",
    "compiled_call",
    "release_if_needed",
    "ENV_VAR",
]

#: Environment variable that moves (a path) or disables (``off``) the cache.
ENV_VAR = "RELAXED_CACHE_DIR"
_OFF = {"", "0", "off", "none", "false", "no"}
_current: Path | None = None


def default_cache_dir() -> Path | None:
    """The cache directory from the environment: ``$RELAXED_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/relaxed/jax``; ``None`` when the variable disables it.

    Example:
        >>> import os
        >>> os.environ["RELAXED_CACHE_DIR"] = "off"
        >>> default_cache_dir() is None
        True
        >>> del os.environ["RELAXED_CACHE_DIR"]
        >>> default_cache_dir().parts[-2:]
        ('relaxed', 'jax')
    """
    value = os.environ.get(ENV_VAR)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relaxed" / "jax"


def set_cache_dir(path: str | os.PathLike[str] | None) -> Path | None:
    """Store compiled code in ``path`` (created if missing); ``None`` turns the cache off.

    Returns the directory in use. Every compilation is cached, however short (a real
    likelihood's fits compile in seconds; a small model's in fractions of one).

    Example:
        >>> import tempfile
        >>> folder = set_cache_dir(tempfile.mkdtemp())
        >>> cache_dir() == folder
        True
        >>> set_cache_dir(None) is None, cache_dir() is None
        (True, True)
    """
    global _current
    _reset()
    _EXPORTED.clear()
    if path is None:
        jax.config.update("jax_enable_compilation_cache", False)
        _current = None
        return None
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
    except OSError as err:
        warnings.warn(
            f"relaxed: compilation cache disabled, cannot use {folder}: {err}", stacklevel=2
        )
        jax.config.update("jax_enable_compilation_cache", False)
        _current = None
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    _current = folder
    return folder


def _reset() -> None:
    """Forget the cache object JAX made at its first compilation, so a new directory counts."""
    try:
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except (ImportError, AttributeError):  # pragma: no cover (other JAX versions)
        pass


def cache_dir() -> Path | None:
    """The directory in use, ``None`` when the cache is off.

    Example:
        >>> cache_dir() is None or cache_dir().is_dir()
        True
    """
    return _current


#: XLA options for the programs :func:`compiled_call` compiles. XLA:CPU's older (non-MLIR)
#: fusion emitters compile the solvers' loops faster and run them as fast: the 1Lbb hypothesis
#: test compiles in 1.7 s instead of 2.3 s and runs in 0.45 ms instead of 0.53 ms. Other
#: backends ignore the option. (JAX accepts options only on an outermost ``jit``, and the
#: rest of relaxed's compiled functions may be called inside a user's.)
COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_use_fusion_emitters": False}

#: What :func:`compiled_call` optimises its programs for: ``"run"`` (the default: XLA's full
#: code optimisation, for programs called many times) or ``"compile"`` (LLVM's optimisation
#: off: programs compile about twice as fast and run 4-6 times slower; on this project's
#: 2-core reference machine the eRJR hypothesis test compiles in 0.7 s instead of 1.3 s and
#: runs in 10 ms instead of 2 ms). ``"compile"`` pays when a program runs once or a few times,
#: as in one ``neos cls`` or ``neos fit`` call. The mode is part of the key of stored programs.
OPTIMIZATION_MODES: dict[str, dict[str, Any]] = {
    "run": {},
    "compile": {"xla_backend_optimization_level": 0},
}
#: Environment variable choosing the mode (``run`` or ``compile``) when relaxed is imported.
OPTIMIZATION_ENV_VAR = "RELAXED_OPTIMIZE_FOR"
_mode: list[str] = []


def optimize_for(mode: str | None = None) -> str:
    """Set (``mode`` given) and return what compiled programs are optimised for:
    ``"run"`` or ``"compile"`` (see :data:`OPTIMIZATION_MODES`). Programs already compiled
    in this process keep their mode.

    Raises:
        ValueError: an unknown mode.

    Example:
        >>> previous = optimize_for()
        >>> optimize_for("compile")
        'compile'
        >>> optimize_for(previous) == previous
        True
    """
    if mode is not None:
        if mode not in OPTIMIZATION_MODES:
            raise ValueError(
                f"unknown optimisation mode {mode!r}; choose one of {sorted(OPTIMIZATION_MODES)}"
            )
        _mode[:] = [mode]
    if not _mode:
        env = os.environ.get(OPTIMIZATION_ENV_VAR, "run").strip().lower() or "run"
        if env not in OPTIMIZATION_MODES:
            warnings.warn(
                f"relaxed: ${OPTIMIZATION_ENV_VAR}={env!r} is not one of "
                f"{sorted(OPTIMIZATION_MODES)}; optimising for 'run'",
                stacklevel=2,
            )
            env = "run"
        _mode[:] = [env]
    return _mode[0]


def _compiler_options() -> dict[str, Any]:
    return {**COMPILER_OPTIONS, **OPTIMIZATION_MODES[optimize_for()]}


_EXPORTED: dict[Any, Callable[..., Any]] = {}
#: Held while a program is loaded or compiled: threads of one process (Dask workers that are
#: threads) compile each program once, and :func:`_fresh_compilation`'s switch of JAX's
#: cache is not undone under another thread's compilation.
_COMPILING = threading.RLock()
_SOURCE: list[str] = []


def _source_digest() -> str:
    """A hash of relaxed's source files and the JAX version: stored programs from other code
    are never used."""
    if not _SOURCE:
        digest = hashlib.sha256(f"{jax.__version__}/{jax.config.jax_enable_x64}".encode())
        root = Path(__file__).resolve().parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
        _SOURCE.append(digest.hexdigest())
    return _SOURCE[0]


def _signature(args: Any) -> tuple[Any, ...]:
    """Hashable shapes and dtypes of the arguments (Python scalars by their type)."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    return treedef, tuple((getattr(x, "shape", ()), getattr(x, "dtype", type(x))) for x in leaves)


def _placement(args: Any) -> int | None:
    """The id of the device the arguments are committed to (``jax.device_put`` to a device),
    ``None`` when none is committed (the program then runs on the default device)."""
    ids = {
        device.id
        for x in jax.tree_util.tree_leaves(args)
        if getattr(x, "committed", False)
        for device in x.sharding.device_set
    }
    return min(ids) if ids else None  # (arguments on several devices: jit refuses them)


def _stable(key: Any) -> bytes:
    """The key as bytes that are the same in every process."""
    name, static, (treedef, avals), device, mode = key
    avals = tuple((shape, str(dtype)) for shape, dtype in avals)
    parts = (name, static, str(treedef), avals, device, mode, _source_digest())
    return pickle.dumps(parts, protocol=4)


_MACHINE: list[str] = []


def _machine() -> str:
    """What a compiled executable depends on beyond the program: the processor (its
    architecture and instruction-set features), jaxlib, the backend and its devices."""
    if not _MACHINE:
        flags = ""
        try:
            with open("/proc/cpuinfo") as f:
                flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
        except OSError:
            pass
        backend = jax.devices()[0].client
        parts = (
            platform.machine(),
            platform.processor(),
            flags,
            jax.__version__,
            getattr(jax.lib, "__version__", ""),
            backend.platform,
            backend.platform_version,
            str(jax.device_count()),
            os.environ.get("XLA_FLAGS", ""),
        )
        _MACHINE.append(hashlib.sha256("\n".join(parts).encode()).hexdigest())
    return _MACHINE[0]


def _uses_lapack(text: str) -> bool:
    """Whether compiled HLO calls a jaxlib kernel (``custom_call_target="lapack_..."`` or any
    other custom call) that must be initialised before the program runs."""
    return 'custom_call_target="' in text


def _device_ids(compiled: Any) -> list[int]:
    """The ids of the devices a compiled program runs on (those of its arguments and
    outputs)."""
    shardings = jax.tree_util.tree_leaves((compiled.input_shardings, compiled.output_shardings))
    return sorted({device.id for sharding in shardings for device in sharding.device_set})


def _load_executable(path: Path) -> Any:
    """The compiled program stored at ``path`` (:func:`_store_executable`), ready to call on
    the devices it was compiled for."""
    from jax.experimental.serialize_executable import deserialize_and_load

    needs_lapack, payload, in_tree, out_tree, device_ids = pickle.loads(path.read_bytes())
    if needs_lapack:  # jaxlib fills in its LAPACK kernels on first use, never when loading
        from jax._src.lax import linalg

        linalg.initialize_lapack()
    # the program's own devices: loaded for all local devices, a one-device program expects
    # one argument per device when the process has several (and cannot run)
    by_id = {device.id: device for device in jax.devices()}
    devices = [by_id[i] for i in device_ids] or None
    try:
        return deserialize_and_load(payload, in_tree, out_tree, execution_devices=devices)
    except TypeError:  # pragma: no cover (JAX without execution_devices: one device only)
        if len(jax.devices()) > 1:
            raise
        return deserialize_and_load(payload, in_tree, out_tree)


def _store_executable(path: Path, compiled: Any) -> None:
    from jax.experimental.serialize_executable import serialize

    payload, in_tree, out_tree = serialize(compiled)
    needs_lapack = _uses_lapack(compiled.as_text() or 'custom_call_target="')
    blob = (needs_lapack, payload, in_tree, out_tree, _device_ids(compiled))
    write_text_atomic(path, pickle.dumps(blob, protocol=4))


@contextlib.contextmanager
def _fresh_compilation() -> Iterator[None]:
    """Compile without JAX's own persistent cache: an executable that JAX loaded from its
    cache serialises without its kernels (running the stored copy fails with "Function ...
    not found"), so what :func:`_store_executable` keeps must come from a real compilation."""
    if not jax.config.jax_enable_compilation_cache:
        yield
        return
    jax.config.update("jax_enable_compilation_cache", False)
    _reset()
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", True)
        _reset()


def _compile(program: Any, args: Any) -> Any:
    """``program`` compiled for ``args`` with :data:`COMPILER_OPTIONS` and the options of
    the optimisation mode (:func:`optimize_for`) (``program`` itself
    where ahead-of-time compilation does not apply)."""
    try:
        with _fresh_compilation():
            return program.lower(*args).compile(compiler_options=_compiler_options())
    except Exception:  # arguments that only jit accepts: let it handle them
        return program


def _load_or_compile(name: str, fn: Callable[..., Any], key: Hashable, args: Any) -> Any:
    """The program for ``key``: the executable stored for this machine, else ``fn`` traced,
    lowered and compiled once (and its executable stored)."""
    folder = cache_dir()
    program = jax.jit(fn)
    if folder is None:
        return _compile(program, args)
    digest = hashlib.sha256(_stable(key)).hexdigest()
    binary = folder / "executables" / f"{name}-{digest[:24]}-{_machine()[:16]}.bin"
    if binary.is_file():
        try:
            return _load_executable(binary)
        except Exception:  # a damaged file or another jaxlib: compile again below
            pass
    compiled = _compile(program, args)
    if compiled is not program:
        try:
            _store_executable(binary, compiled)
        except Exception as err:  # not serialisable here (host callbacks, another backend)
            warnings.warn(f"relaxed: could not store {name} in {folder}: {err}", stacklevel=3)
    return compiled


def compiled_call(name: str, fn: Callable[..., Any], key: Hashable, *args: Any) -> Any:
    """``jax.jit(fn)(*args)``, through a program stored on disk when the cache is on.

    ``fn`` takes only arrays (any pytree of them) and returns a pytree of arrays; ``key``
    names everything else the computation depends on (static options, the model's
    structure). The first call in a process loads the stored program for (``name``, ``key``,
    the arguments' shapes and dtypes, their device, JAX's version, relaxed's source) or
    traces, stores and uses it; later calls reuse it. Arguments committed to a device
    (``jax.device_put(x, device)``) run there, with a program compiled for that device (the
    same code as the default device's, so the same numbers); otherwise the program runs on the
    default device. Threads may call it at once: a program is loaded or compiled by one thread
    at a time, once. Not for traced arguments (inside ``jit``/``grad``: call the function
    directly there).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> compiled_call("doctest_square", lambda x: x * x, ("square",), jnp.arange(3.0))
        Array([0., 1., 4.], dtype=float64)
        >>> last = jax.local_devices()[-1]
        >>> out = compiled_call("doctest_square", lambda x: x * x, ("square",),
        ...                     jax.device_put(jnp.arange(3.0), last))
        >>> out.devices() == {last}, out.tolist()
        (True, [0.0, 1.0, 4.0])
    """
    full_key = (name, key, _signature(args), _placement(args), optimize_for())
    call = _EXPORTED.get(full_key)
    if call is None:
        with _COMPILING:  # another thread may have compiled it while this one waited
            call = _EXPORTED.get(full_key)
            if call is None:
                release_if_needed()
                call = _load_or_compile(name, fn, full_key, args)
                _EXPORTED[full_key] = call
    return call(*args)


def _map_usage() -> float:
    """The fraction of the process's memory-mapping limit in use (0 where unknown)."""
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
        with open("/proc/self/maps", "rb") as f:
            used = sum(1 for _ in f)
    except (OSError, ValueError):
        return 0.0
    return used / limit if limit > 0 else 0.0


def release_if_needed(fraction: float = 0.5) -> bool:
    """Drop JAX's in-memory compiled code when the process uses more than ``fraction`` of
    its memory mappings; returns whether it did.

    Each compiled XLA:CPU program holds several hundred memory mappings (one set per kernel),
    and Linux allows a process ``vm.max_map_count`` of them (65530 by default): past that, the
    next compilation crashes the process. A few hundred distinct compiled fits (many model
    structures in one process: signal grids, test suites) reach it. Dropped code comes back
    from the persistent cache when it is needed again.

    Example:
        >>> release_if_needed(fraction=1.0)
        False
    """
    if _map_usage() <= fraction:
        return False
    jax.clear_caches()
    _EXPORTED.clear()
    gc.collect()
    return True
