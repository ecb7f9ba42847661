r"""The one atomic file writer of the project (results, checkpoints, figures, stored programs).

A file is written to a temporary file in the same folder, flushed, then renamed over the
target: a reader sees either the old file or the complete new one, never a half-written one,
and an interrupted or failed write leaves the old file as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["temporary_pattern", "write_text_atomic"]


def temporary_pattern(name: str) -> str:
    """The glob pattern of the temporary files that writing ``name`` uses (what a killed
    process can leave behind; remove them only when nothing is writing).

    Example:
        >>> temporary_pattern("summary.png")
        '.summary.png.*.tmp.png'
    """
    return f".{name}.*.tmp{Path(name).suffix}"


def write_text_atomic(
    path: str | os.PathLike[str],
    content: str | bytes | Callable[[Path], object],
    check: Callable[[Path], None] | None = None,
) -> None:
    r"""Write ``content`` to ``path`` atomically: through a temporary file and a rename.

    ``content`` is a string (written as UTF-8), bytes (written as they are), or a function
    that writes the file given its path (``lambda tmp: fig.savefig(tmp)``). The temporary
    file is ``.NAME.XXXXXXXX.tmp.SUFFIX`` in the same folder (it keeps the suffix, so
    writers that infer a format from it work; :func:`temporary_pattern`); it is removed on any
    error, including ``KeyboardInterrupt`` (only a killed process leaves one behind). The data
    is flushed to disk before the rename, and the rename itself is flushed where the system
    allows it. The file gets the permissions of an ordinary new file (``0o666`` less the
    umask), not the temporary file's private ``0o600``.

    ``check``, if given, is called with the temporary file's path once the data is on disk and
    before the rename (to read the file back, say); if it raises, ``path`` is left as it was.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "out" / "note.txt"
        >>> write_text_atomic(path, "hello\n")
        >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
        ('hello\n', ['note.txt'])
        >>> def refuse(tmp):
        ...     raise ValueError(f"not accepted: {tmp.read_bytes()!r}")
        >>> write_text_atomic(path, b"bye\n", check=refuse)
        Traceback (most recent call last):
        ...
        ValueError: not accepted: b'bye\n'
        >>> write_text_atomic(path, lambda tmp: tmp.write_text("by a writer\n"))
        >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
        ('by a writer\n', ['note.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
    )
    try:
        if callable(content):
            os.close(fd)
            content(Path(tmp))
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be
    opened or flushed."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
