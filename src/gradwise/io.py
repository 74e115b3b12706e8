"""Atomic file writes: a crash or an error leaves either the old file or the complete new one.

Every file gradwise writes (weights, checkpoints, run folders, figures, downloads) goes through
:func:`atomic_path`: the data is written to a temporary file in the target's folder, flushed to
disk (``fsync``), renamed over the target (``os.replace``, atomic on POSIX and Windows), and the
folder's entry is synced too. The file gets the mode ``open`` would give it (``0666`` less the
umask), not the ``0600`` of a temporary file. A target that exists and is not a regular file
(a directory, a FIFO, a device such as ``/dev/full``, a socket; also through a symbolic link)
is refused with :class:`SpecialFileError` before anything is written: renaming over it would
replace it with a regular file and report success.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["SpecialFileError", "atomic_path", "check_writable_target", "write_atomic"]


class SpecialFileError(OSError):
    """The target of a write exists and is not a regular file."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def check_writable_target(path: str | os.PathLike[str]) -> None:
    """Raise :class:`SpecialFileError` when ``path`` exists (following symbolic links) and is
    not a regular file; a missing path or a dangling link is fine."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        return  # a parent is a file: the write itself reports it
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise SpecialFileError(f"{os.fspath(path)} is {kind}, not a regular file; refusing to "
                           "replace it (write to a file path)")


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: fsync the folder's entry table (POSIX only)."""
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix) to write the file to; when the block
    ends without an error the file is synced and renamed over ``path``, otherwise removed."""
    target = Path(path)
    check_writable_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                                dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
            # mkstemp creates the file 0600; give it the mode `open` would (0666 less umask)
            os.chmod(tmp, 0o666 & ~_umask())
        check_writable_target(target)  # it may have appeared while the file was written
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
