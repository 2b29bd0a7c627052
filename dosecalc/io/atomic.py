"""Atomic output: write to a temporary file in the target folder, then rename.

A reader (or a crashed run) never sees a half-written file, and an output path that is
one of the case's inputs is refused rather than overwritten.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import OutputError


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
    target = check_not_input(path, inputs)
    if target.is_dir():
        raise OutputError("output path is a folder; give a file name", path=path)
    if not target.parent.is_dir():
        raise OutputError(f"output folder {target.parent} does not exist", path=path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


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
