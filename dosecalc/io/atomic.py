"""Atomic output: write to a temporary file in the target folder, then rename.

A reader (or a crashed run) never sees a half-written file, and an output path that is
one of the inputs is refused rather than overwritten.  Files get the permissions the
user's umask gives (a temporary file is created 0600; the rename would keep that).

Special files are never replaced: a FIFO, socket or block device as output is refused.
A character device (``/dev/null``, a terminal) and the standard streams named as
``/dev/stdout``, ``/dev/stderr`` or ``/dev/fd/N`` are written directly, since writing
to them is what the user asked for.  Disk full and file-size limits become
:class:`OutputError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import DoseCalcError, OutputError
from .walk import walk_files


def input_files(paths) -> list[str]:
    """Every regular file below ``paths`` (the inputs an output must never replace, not
    only the files of the plan that was selected).  Never raises: a path that cannot be
    walked contributes nothing (loading it has already reported why)."""
    try:
        return walk_files([p for p in paths if p]).files
    except (DoseCalcError, OSError, TypeError, ValueError):
        return []


def check_not_input(path: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Resolve ``path`` and raise :class:`OutputError` when it is one of ``inputs``."""
    target = Path(path).expanduser().resolve()
    for p in inputs:
        if p is None:
            continue
        try:
            same = Path(p).expanduser().resolve() == target
        except OSError:
            same = False
        if same:
            raise OutputError("refusing to overwrite an input file; choose another output path", path=path)
    return target


@contextlib.contextmanager
def atomic_path(path: str | Path, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Parameters
    ----------
    path : str or Path
        Final output file.  Its folder must exist.
    inputs : iterable of paths
        Files that must not be overwritten (the case's inputs).
    """
    if _is_stream(path):
        yield Path(os.fspath(path))
        return
    target = check_not_input(path, inputs)
    if target.is_dir():
        raise OutputError("output path is a folder; give a file name", path=path)
    if not target.parent.is_dir():
        raise OutputError(f"output folder {target.parent} does not exist", path=path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _output_error(exc, path) from exc
    tmp_path = Path(tmp)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, OSError):
            raise _output_error(exc, path) from exc
        raise


def _is_stream(path) -> bool:
    """``path`` is a character device, or names a standard stream (then a pipe is fine
    too): written in place.  Any other special file is refused."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return False
    if stat.S_ISCHR(st.st_mode):
        return True
    name = os.fspath(path)
    if stat.S_ISFIFO(st.st_mode) and (name in ("/dev/stdout", "/dev/stderr")
                                      or name.startswith(("/dev/fd/", "/proc/self/fd/"))):
        return True
    kind = "named pipe" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "block device"
    raise OutputError(f"output path is a {kind}; refusing to replace it with a file", path=path)


def _umask() -> int:
    """The process umask, read without changing it where /proc says it (thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _output_error(exc: OSError, path) -> OutputError:
    known = {errno.ENOSPC: "no space left on the device",
             errno.EFBIG: "file too large (the file-size limit was reached)",
             errno.EDQUOT: "disk quota exceeded",
             errno.EROFS: "read-only file system",
             errno.EACCES: "permission denied",
             errno.EPERM: "operation not permitted"}
    why = (known.get(exc.errno) if exc.errno is not None else None) or exc.strerror or str(exc)
    return OutputError(f"cannot be written: {why}", path=path)


def write_text(path: str | Path, text: str, inputs: Iterable[str | Path] = ()) -> Path:
    """Write ``text`` (UTF-8) atomically to ``path`` and return the resolved path."""
    with atomic_path(path, inputs) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path).resolve()


def write_bytes(path: str | Path, data: bytes, inputs: Iterable[str | Path] = ()) -> Path:
    """Write ``data`` atomically to ``path`` and return the resolved path."""
    with atomic_path(path, inputs) as tmp:
        tmp.write_bytes(data)
    return Path(path).resolve()
