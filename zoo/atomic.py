"""Atomic outputs: a file (or folder) zoo writes is either the complete new one or untouched.

Each output goes to a temporary file in the target's own folder (so the final rename stays on
one file system), is flushed and fsynced, then renamed over the target; any failure removes the
temporary file and leaves the old target as it was. A target that exists and is not a regular
file (a device such as ``/dev/full``, a folder, a FIFO) is refused, never replaced; a symbolic
link is followed and the file it points to is replaced. Failures are :class:`~zoo.errors.OutputError`
naming the path and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from zoo.errors import OutputError

__all__ = ["atomic_dir", "atomic_file", "atomic_write", "check_target", "output_error"]


def output_error(path: Path | str, exc: OSError, what: str = "output") -> OutputError:
    """An OutputError for an OSError met while writing `path`, with the likely fix."""
    code = exc.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        fix = "the disk (or your quota) is full: free some space or write elsewhere"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "it is not writable here: fix its permissions or give another path"
    elif code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        fix = "a file stands where a folder is needed (or a folder where a file is): give another path"
    else:
        fix = "give another path"
    return OutputError(f"cannot write {what} {path}: {exc.strerror or exc}; {fix}")


def _target(path: Path | str, what: str) -> Path:
    """The real file to replace (links followed), refused unless it is absent or a regular file."""
    real = Path(os.path.realpath(path))
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    except OSError as exc:
        raise output_error(path, exc, what) from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or socket)"
        raise OutputError(f"cannot write {what} {path}: it is {kind}; give the path of a regular file")
    return real


def check_target(path: Path | str, what: str = "output") -> None:
    """Refuse, before any long work, an output path that exists and is not a regular file.

    Raises:
        OutputError: `path` is a folder, a device, a FIFO or a socket.
    """
    _target(path, what)


def _new_mode(real: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(real).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened and synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path | str, what: str = "output") -> Iterator[BinaryIO]:
    """Open a temporary binary file that replaces `path` when the block ends without an error.

    Args:
        path: the file to (re)place.
        what: what it is, for messages (e.g. ``"golden vectors"``).

    Yields:
        The open temporary file.

    Raises:
        OutputError: the target is not a regular file, its folder cannot be made, or writing failed
            (full disk, permissions); the old file, if any, is untouched.

    Example:
        >>> with atomic_file("out.json", "results") as f:  # doctest: +SKIP
        ...     f.write(b"{}")
    """
    real = _target(path, what)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".part")
    except OSError as exc:
        raise output_error(path, exc, what) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), _new_mode(real))
            os.fsync(f.fileno())
        os.replace(tmp, real)
        _fsync_dir(real.parent)
    except OSError as exc:
        raise output_error(path, exc, what) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write(path: Path | str, data: bytes | str, what: str = "output") -> None:
    """Write `data` (str as UTF-8) to `path` atomically: see :func:`atomic_file`."""
    with atomic_file(path, what) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def atomic_dir(path: Path | str, what: str = "output folder") -> Iterator[Path]:
    """A temporary folder that becomes `path` when the block ends without an error.

    `path` must not exist, or be an empty folder (which is replaced).

    Raises:
        OutputError: `path` exists and is not an empty folder, or it cannot be created.
    """
    real = Path(os.path.realpath(path))
    if real.exists() and not (real.is_dir() and not any(real.iterdir())):
        raise OutputError(f"{path} exists and is not an empty folder; give a new or empty folder")
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=real.parent, prefix=f".{real.name}.", suffix=".part"))
    except OSError as exc:
        raise output_error(path, exc, what) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700
        os.replace(tmp, real)
        _fsync_dir(real.parent)
    except OSError as exc:
        raise output_error(path, exc, what) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
