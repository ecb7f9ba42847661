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
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import jax

__all__ = ["cache_dir", "default_cache_dir", "set_cache_dir", "ENV_VAR"]

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
