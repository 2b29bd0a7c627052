"""Find the plans below a cohort root without letting one folder stop the others.

Each immediate sub-folder of the root is one patient (files directly in the root form one
more unit, keyed "."); a unit with several RTPLANs gives one job per plan.  A unit's files
are listed once (:func:`dosecalc.io.walk.walk_files`: iterative, depth-bounded, cycle-free,
special files never opened) and that list is what the plan loads and what its resume
fingerprint covers.  Whatever goes wrong inside one unit becomes that unit's error.
"""

from __future__ import annotations

import os
import stat

from ..errors import DoseCalcError, ParameterError, SelectionError
from ..io.identity import read_identity
from ..io.scan import read_header
from ..io.uids import RTPLAN_CLASSES
from ..io.walk import display_path, walk_files
from ..textsafe import one_line
from .jobs import PlanJob


def find_plans(root, *, exclude=()) -> list[PlanJob]:
    """Every plan below a cohort root.

    Parameters
    ----------
    root : str or Path
        Cohort folder.
    exclude : iterable of paths
        Folders left out of the search (the run's output folder when it lies inside the
        root, so a run never reads its own outputs as plans).

    Returns
    -------
    list of PlanJob, sorted by key.  A unit whose files cannot be searched or read gives
    a job with ``error`` set.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise ParameterError(f"cohort root must be a folder path (str or Path), got {type(root).__name__}")
    if not os.fspath(root):
        raise SelectionError("an empty cohort root was given; pass a folder")
    root_s = os.path.abspath(os.path.expanduser(os.fspath(root)))
    try:
        is_dir = stat.S_ISDIR(os.stat(root_s).st_mode)
    except OSError:
        is_dir = False
    if not is_dir:
        raise ParameterError(f"cohort root {display_path(root)} is not a folder")
    excluded = {_ident(e) for e in exclude} - {None}
    units, loose = _units(root_s, excluded)
    jobs: list[PlanJob] = []
    if loose:
        jobs.extend(_unit_jobs(".", root_s, lambda: (loose, [])))
    for path in units:
        rel = display_path(os.path.relpath(path, root_s).replace(os.sep, "/"))
        jobs.extend(_unit_jobs(rel, path, lambda p=path: _list(p, excluded)))
    if not jobs:
        raise SelectionError(f"no plan folders found below {display_path(root)}", path=display_path(root))
    return sorted(jobs, key=lambda j: j.key)


def _ident(path):
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _units(root: str, excluded) -> tuple[list[str], list[str]]:
    """Sub-folders (one patient each) and the regular files directly in the root."""
    units, loose = [], []
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        try:
            st = e.stat(follow_symlinks=True)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if not e.name.startswith(".") and (st.st_dev, st.st_ino) not in excluded:
                units.append(e.path)
        elif stat.S_ISREG(st.st_mode):
            loose.append(e.path)
    return units, loose


def _list(folder: str, excluded) -> tuple[list[str], list[str]]:
    found = walk_files([folder], exclude=excluded)
    return found.files, found.notes


def _unit_jobs(rel: str, folder: str, list_files) -> list[PlanJob]:
    try:
        files, _notes = list_files()
        inputs, plan_uids = _inputs(folder, files)
    except (DoseCalcError, OSError, RecursionError, UnicodeError, ValueError) as exc:
        return [PlanJob(rel, folder, error=f"cannot search the folder: {one_line(exc, 300)}")]
    except Exception as exc:  # a bug must not stop the cohort
        return [PlanJob(rel, folder, error=f"internal error {type(exc).__name__} while searching "
                                            f"the folder: {one_line(exc, 300)}")]
    if not files:
        return [PlanJob(rel, folder, files=(), inputs=(), error="no files in the folder")]
    base = dict(folder=folder, files=tuple(files), inputs=tuple(inputs))
    if len(plan_uids) <= 1:
        return [PlanJob(rel, **base)]
    return [PlanJob(f"{rel}#{uid}", plan=uid, **base) for uid in plan_uids]


def _inputs(folder: str, files: list[str]):
    """Fingerprint rows ``(relative path, size, mtime ns, SOP Instance UID)`` and the
    RTPLAN UIDs.  A file's UIDs come from its File Meta Information
    (:func:`dosecalc.io.identity.read_identity`: the first bytes only); a plan's, and those
    of a file whose meta group is missing or malformed, from its header as the loader reads
    it, so a plan is selected by the UID the loader matches.  A file that is not readable
    DICOM has uid '' (the loader reports it when the plan is evaluated).  A meta group that
    names another class than the data set is taken at its word here: at worst a plan is
    not split from another one of its folder, and the loader then refuses the folder's
    several plans (an error, never a silent choice)."""
    rows, plans = [], set()
    for f in files:
        st = os.stat(f)
        uid = ""
        ident = read_identity(f)
        if ident is not None and ident[0] not in RTPLAN_CLASSES:
            uid = ident[1]
        else:
            try:
                h = read_header(f)
            except DoseCalcError:
                h = None
            if h is not None:
                uid = h.sop_instance_uid
                if h.sop_class_uid in RTPLAN_CLASSES and uid:
                    plans.add(uid)
        rel = display_path(os.path.relpath(f, folder).replace(os.sep, "/"))
        rows.append((rel, st.st_size, st.st_mtime_ns, uid))
    return rows, sorted(plans)
