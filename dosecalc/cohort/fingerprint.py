"""When a stored result may be reused: fingerprints of the options and of the inputs.

A plan is skipped on a re-run only when both match what its stored result records:
the protocol, options and dosecalc version (:func:`options_fingerprint`), and every file
of the plan's folder, each by its path relative to the folder, size, modification time
(ns) and SOP Instance UID (:func:`inputs_fingerprint`).  Re-exporting a plan, editing one
file, adding or removing one, all make it new work; an untouched plan is never redone.
Hashing the bytes would also catch an edit that keeps size and time, but reads the whole
cohort on every run; the four keys together catch what re-exports and copies do.
"""

from __future__ import annotations

import hashlib
import json

from .. import __version__
from .jobs import RESULT_VERSION, PlanJob, PlanResult

#: Errors that say nothing about the plan itself: a re-run tries such a plan again.
TRANSIENT_ERRORS = ("worker died", "timed out", "interrupted", "MemoryError")


def options_fingerprint(protocol, fractions, child_pugh, dose_is=None, check_options=None) -> str:
    """Protocol (as data), options, dosecalc and result versions."""
    proto = protocol.to_dict() if hasattr(protocol, "to_dict") else repr(protocol)
    options = {"protocol": proto, "fractions": fractions, "child_pugh": child_pugh}
    if dose_is is not None:  # absent when unset: earlier results keep their fingerprint
        options["dose_is"] = dose_is
    if check_options:  # matching, site, conversion: absent when unset, as dose_is
        options["check_options"] = check_options
    blob = json.dumps({**options, "dosecalc": __version__, "result_version": RESULT_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def input_table(job: PlanJob) -> dict:
    """``{relative path: [size, mtime ns, SOP Instance UID]}`` of the plan's files, plus
    the selected plan UID under ``"#plan"``."""
    table = {rel: [size, mtime, uid] for rel, size, mtime, uid in job.inputs}
    if job.plan:
        table["#plan"] = job.plan
    return table


def inputs_fingerprint(table: dict) -> str:
    blob = json.dumps(table, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def redo_reason(previous: PlanResult | None, fingerprint: str, table: dict, fp_inputs: str) -> str | None:
    """Why the plan must be evaluated (again), or None when ``previous`` still holds."""
    if previous is None:
        return "new"
    if previous.fingerprint != fingerprint:
        return "protocol or options changed"
    if previous.inputs_fingerprint != fp_inputs:
        return "inputs changed: " + _changed_files(previous.inputs or {}, table)
    if previous.status == "error" and any(t in (previous.error or "") for t in TRANSIENT_ERRORS):
        return "the previous run did not finish it"
    return None


def _changed_files(old: dict, new: dict) -> str:
    changed = sorted(k for k in new.keys() & old.keys() if new[k] != old[k])
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    parts = []
    for what, names in (("changed", changed), ("added", added), ("removed", removed)):
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"{len(names)} {what} ({shown})")
    return "; ".join(parts) or "file list differs"


def reason_kind(reason: str | None) -> str:
    """The reason's category for a run's summary (``new``, ``inputs changed``...)."""
    return "" if reason is None else reason.split(":", 1)[0]
