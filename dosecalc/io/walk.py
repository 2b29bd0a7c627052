"""Walk input folders safely: iterative, bounded in depth, cycle-free, regular files only.

Exports from other centres hold what no planning system writes: named pipes and sockets
(opening one blocks forever), device nodes, folders nested thousands deep, symbolic links
that loop, names that are not valid UTF-8.  :func:`walk_files` lists the regular files
below some paths without opening any of them and says in notes what it left out, so a
reader never blocks on a pipe and a recursion limit is never reached.

Names that are not valid UTF-8 stay as Python decodes them (surrogate escapes), so the
files can still be opened; :func:`display_path` gives the printable form for messages
and tables.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SelectionError
from ..textsafe import printable

#: Folders deeper than this below a given path are not entered (with a note).  No export
#: nests more than a handful of levels; the bound keeps a hostile tree finite.
MAX_DEPTH = 32


def display_path(path) -> str:
    """``path`` as printable text: bytes that are not valid UTF-8 shown as ``\\xNN`` and
    control characters escaped, so a message or table cell stays one readable line."""
    return printable(os.fspath(path) if isinstance(path, os.PathLike) else path)


def kind_of(mode: int) -> str:
    """Name of a file type that is neither a regular file nor a folder."""
    for test, name in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


@dataclass
class WalkResult:
    """Regular files found (sorted within each folder) and notes on what was left out."""

    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def walk_files(paths, *, exclude=(), max_depth: int = MAX_DEPTH) -> WalkResult:
    """Regular files below ``paths`` (folders searched recursively, files taken as given).

    Parameters
    ----------
    paths : iterable of str or Path
        Folders and files.  A path that does not exist raises :class:`SelectionError`.
    exclude : iterable of str, Path or (device, inode)
        Folders never entered (e.g. an output folder inside an input tree).
    max_depth : int
        Folders more than this many levels below a given path are skipped with a note.

    Returns
    -------
    WalkResult
        ``files`` in a stable order, each file once (by device and inode), and notes on
        special files, loops and too-deep folders that were skipped.  Nothing is opened.
    """
    out = WalkResult()
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: set[tuple[int, int]] = set()
    excluded = set()
    for e in exclude:
        if isinstance(e, tuple):  # (device, inode), already known
            excluded.add(e)
            continue
        try:
            st = os.stat(e)
            excluded.add((st.st_dev, st.st_ino))
        except OSError:
            continue
    for p in paths:
        p = os.path.expanduser(os.fspath(p))
        try:
            st = os.stat(p)
        except FileNotFoundError as exc:
            raise SelectionError(f"path does not exist: {display_path(p)}", path=display_path(p)) from exc
        except OSError as exc:
            raise SelectionError(f"cannot be read ({exc.strerror})", path=display_path(p)) from exc
        if stat.S_ISDIR(st.st_mode):
            _walk_dir(p, st, out, seen_files, seen_dirs, excluded, max_depth)
        elif stat.S_ISREG(st.st_mode):
            if (st.st_dev, st.st_ino) not in seen_files:
                seen_files.add((st.st_dev, st.st_ino))
                out.files.append(p)
        else:
            raise SelectionError(f"is a {kind_of(st.st_mode)}, not a file or folder; pass DICOM "
                                 f"files or folders", path=display_path(p))
    return out


def _walk_dir(top: str, top_st, out: WalkResult, seen_files, seen_dirs, excluded, max_depth) -> None:
    # an explicit stack instead of recursion: a tree 1500 folders deep must not reach
    # Python's recursion limit
    stack = [(top, top_st, 0)]
    while stack:
        folder, st, depth = stack.pop()
        ident = (st.st_dev, st.st_ino)
        if ident in excluded:
            continue
        if ident in seen_dirs:
            out.notes.append(f"skipped {display_path(folder)}: folder already visited (a link loop "
                             f"or a second link to it)")
            continue
        seen_dirs.add(ident)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            out.notes.append(f"skipped {display_path(folder)}: cannot be listed ({exc.strerror})")
            continue
        subdirs = []
        for entry in entries:
            try:
                est = entry.stat(follow_symlinks=True)
            except OSError:
                out.notes.append(f"skipped {display_path(entry.path)}: broken link or unreadable")
                continue
            if stat.S_ISDIR(est.st_mode):
                subdirs.append((entry.path, est))
            elif stat.S_ISREG(est.st_mode):
                key = (est.st_dev, est.st_ino)
                if key not in seen_files:
                    seen_files.add(key)
                    out.files.append(entry.path)
            else:
                out.notes.append(f"skipped {display_path(entry.path)}: {kind_of(est.st_mode)}, "
                                 f"not a regular file (not opened)")
        if subdirs and depth >= max_depth:
            out.notes.append(f"skipped {len(subdirs)} folder(s) in {display_path(folder)}: more "
                             f"than {max_depth} levels deep")
            continue
        # reversed so that the stack pops folders in name order
        stack.extend((path, est, depth + 1) for path, est in reversed(subdirs))


def is_inside(path, folder) -> bool:
    """``path`` is ``folder`` or lies below it (both resolved)."""
    try:
        p, f = Path(path).resolve(), Path(folder).resolve()
    except (OSError, RuntimeError):
        return False
    return p == f or f in p.parents
