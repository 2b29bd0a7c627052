"""What a cohort run passes around: one plan to evaluate, and what its evaluation gave."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Version of the stored per-plan result; a result of another version is evaluated again.
#: 2: results carry the fingerprint of the plan's input files.
RESULT_VERSION = 2


@dataclass(frozen=True)
class PlanJob:
    """One plan to evaluate.

    Attributes
    ----------
    key : str
        The plan's folder relative to the cohort root (POSIX separators, printable: bytes
        that are not UTF-8 shown as ``\\xNN``), with ``#<plan UID>`` appended when the
        folder holds several plans.
    folder : str
        Absolute folder of the plan.
    plan : str or None
        RTPLAN SOP instance UID passed to :func:`dosecalc.load` when the folder holds
        several plans.
    files : tuple of str
        The regular files that make up the plan's folder (found once, at discovery): the
        loader reads exactly these, and the resume fingerprint covers exactly these.
        Empty: the loader scans ``folder``.
    inputs : tuple of (str, int, int, str)
        ``(path relative to folder, size in bytes, modification time in ns, SOP Instance
        UID or '')`` of each file, taken at discovery.
    error : str or None
        Set when the plan's folder could not even be searched: the job is recorded as an
        error without being evaluated.
    """

    key: str
    folder: str
    plan: str | None = None
    files: tuple[str, ...] = ()
    inputs: tuple[tuple[str, int, int, str], ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class PlanResult:
    """What one plan's evaluation gave: the report as a dict, or the error.

    ``fingerprint`` identifies the protocol and options, ``inputs_fingerprint`` the plan's
    files (paths, sizes, modification times, SOP Instance UIDs); a stored result is reused
    only when both match.  ``reason`` says why the plan was evaluated in this run (``new``,
    ``inputs changed: ...``, ``options changed``...), None when it was not.
    """

    plan: str
    status: str  # "ok" | "error" | "skipped" (done in an earlier run)
    patient_id: str | None = None
    verdict: str | None = None
    error: str | None = None
    seconds: float = 0.0
    report: dict | None = None
    fingerprint: str = ""
    inputs_fingerprint: str = ""
    inputs: dict | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["result_version"] = RESULT_VERSION
        return d
