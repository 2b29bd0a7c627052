"""Choose one plan's files among the scanned ones, following DICOM references.

Chain: RTDOSE -> ReferencedRTPlanSequence -> RTPLAN -> ReferencedStructureSetSequence ->
RTSTRUCT -> referenced CT series (RTReferencedSeriesSequence) or, failing that, the one CT
series that shares the frame of reference.

* Each RTPLAN, and each plan UID referenced by doses whose plan file is absent, makes one
  candidate; doses without any plan reference make one candidate per frame of reference.
  Candidates without a dose are dropped when another has one.
* Several candidates and no ``plan=``: :class:`SelectionError` whose ``candidates`` are
  the plan SOP instance UIDs (or the RTDOSE paths of plan-less candidates).
* ``plan=`` may be a plan SOP instance UID, a plan label (RTPlanLabel, case-insensitive)
  or the path of an RTDOSE or RTSTRUCT file.
* Within a plan: one dose whose DoseSummationType is not BEAM is used as is (other doses
  are noted and ignored); several such doses are ambiguous (choose one by path); when
  all doses are BEAM doses they are summed by the loader.
* The structure set is the one the plan (or dose) references; else the only one that
  shares the dose's frame of reference; else the only one in the folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import SelectionError
from .scan import Header, ScanResult


@dataclass
class Selection:
    """Files chosen for one case."""

    doses: list[Header]
    struct: Header | None
    plan: Header | None
    ct: list[Header]
    notes: list[str] = field(default_factory=list)


@dataclass
class _Candidate:
    key: str                      # what plan= takes to choose it
    plan_uid: str | None
    plan: Header | None
    doses: list[Header]
    structs: list[Header]

    def describe(self) -> str:
        parts = []
        if self.plan is not None:
            parts.append(f"plan '{self.plan.label}' {self.plan.sop_instance_uid} ({self.plan.path})")
        elif self.plan_uid:
            parts.append(f"plan {self.plan_uid} (RTPLAN file absent)")
        if self.doses:
            parts.append("RTDOSE " + ", ".join(d.path for d in self.doses))
        if self.structs:
            parts.append("RTSTRUCT " + ", ".join(s.path for s in self.structs))
        return "; ".join(parts)


def _same_path(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


def _candidates(scan: ScanResult) -> list[_Candidate]:
    doses, structs, plans = scan.of("RTDOSE"), scan.of("RTSTRUCT"), scan.of("RTPLAN")
    struct_by_uid = {s.sop_instance_uid: s for s in structs}
    plan_uids = {p.sop_instance_uid for p in plans}
    cands: list[_Candidate] = []
    for p in plans:
        ds = [d for d in doses if p.sop_instance_uid in d.referenced_plan_uids]
        cands.append(_Candidate(p.sop_instance_uid, p.sop_instance_uid, p, ds, []))
    absent: dict[str, list[Header]] = {}
    orphans: dict[str | None, list[Header]] = {}
    for d in doses:
        if any(u in plan_uids for u in d.referenced_plan_uids):
            continue
        if d.referenced_plan_uids:
            absent.setdefault(d.referenced_plan_uids[0], []).append(d)
        else:
            orphans.setdefault(d.frame_of_reference_uid, []).append(d)
    for uid, ds in absent.items():
        cands.append(_Candidate(uid, uid, None, ds, []))
    for ds in orphans.values():
        cands.append(_Candidate(ds[0].path, None, None, ds, []))
    if not cands:
        cands = [_Candidate(s.path, None, None, [], [s]) for s in structs]
        return cands
    if any(c.doses for c in cands):
        cands = [c for c in cands if c.doses]
    for c in cands:
        ref = c.plan.referenced_structure_set_uid if c.plan is not None else None
        if ref is None:
            ref = next((d.referenced_structure_set_uid for d in c.doses if d.referenced_structure_set_uid), None)
        if ref is not None and ref in struct_by_uid:
            c.structs = [struct_by_uid[ref]]
            continue
        fors = {d.frame_of_reference_uid for d in c.doses} | ({c.plan.frame_of_reference_uid} if c.plan else set())
        fors.discard(None)
        same = [s for s in structs if s.frame_of_reference_uid in fors]
        c.structs = same if same else list(structs)
    return cands


def select(scan: ScanResult, plan: str | None = None, where: str = "") -> Selection:
    """Choose the RTDOSE file(s), RTSTRUCT, RTPLAN and CT series of one plan.

    Parameters
    ----------
    scan : ScanResult
        Result of :func:`dosecalc.io.scan.scan`.
    plan : str, optional
        Plan SOP instance UID, plan label, or path of an RTDOSE / RTSTRUCT file.
    where : str
        The paths scanned, for messages.

    Raises
    ------
    SelectionError
        Nothing to load, or an ambiguity ``plan`` does not resolve (``.candidates`` lists
        the values ``plan`` accepts).
    """
    if not scan.of("RTDOSE") and not scan.of("RTSTRUCT"):
        raise SelectionError(f"no RTDOSE and no RTSTRUCT file found in {where or 'the paths given'}"
                             + (f" ({len(scan.headers)} other DICOM file(s))" if scan.headers else ""))
    notes: list[str] = []
    cands = _candidates(scan)
    if plan is not None:
        chosen = []
        for c in cands:
            if plan in (c.plan_uid, c.key) or (c.plan is not None and c.plan.label.casefold() == str(plan).casefold()
                                               and c.plan.label):
                chosen.append(c)
                continue
            dose_hits = [d for d in c.doses if _same_path(d.path, plan)]
            struct_hits = [s for s in c.structs if _same_path(s.path, plan)]
            if dose_hits:
                c.doses = dose_hits
                chosen.append(c)
            elif struct_hits:
                c.structs = struct_hits
                chosen.append(c)
        if not chosen:
            raise SelectionError(
                f"plan={plan!r} matches no plan UID, plan label, RTDOSE or RTSTRUCT path; candidates: "
                + " | ".join(c.describe() for c in cands), candidates=[c.key for c in cands])
        cands = chosen
    if len(cands) > 1:
        raise SelectionError(
            f"{len(cands)} plans found in {where or 'the paths given'}; choose one with plan= (plan UID, "
            f"plan label or RTDOSE path): " + " | ".join(f"[{c.key}] {c.describe()}" for c in cands),
            candidates=[c.key for c in cands])
    c = cands[0]

    doses = c.doses
    main = [d for d in doses if d.summation_type != "BEAM"]
    if len(main) > 1:
        raise SelectionError(
            f"{len(main)} RTDOSE files ({', '.join(d.summation_type or '?' for d in main)}) belong to one "
            f"plan; choose one with plan=<RTDOSE path>: " + ", ".join(d.path for d in main),
            candidates=[d.path for d in main])
    if main:
        if len(doses) > 1:
            notes.append(f"using the {main[0].summation_type} dose {main[0].path}; ignored "
                         + ", ".join(f"{d.path} ({d.summation_type})" for d in doses if d is not main[0]))
        doses = main

    if len(c.structs) > 1:
        raise SelectionError(
            f"{len(c.structs)} RTSTRUCT files could belong to this plan; choose one with "
            f"plan=<RTSTRUCT path>: " + ", ".join(s.path for s in c.structs),
            candidates=[s.path for s in c.structs])
    struct = c.structs[0] if c.structs else None

    ct = _choose_ct(scan, struct, doses, notes)
    return Selection(doses=doses, struct=struct, plan=c.plan, ct=ct, notes=notes)


def _choose_ct(scan: ScanResult, struct: Header | None, doses: list[Header], notes: list[str]) -> list[Header]:
    cts = scan.of("CT")
    if not cts:
        return []
    series: dict[str | None, list[Header]] = {}
    for h in cts:
        series.setdefault(h.series_instance_uid, []).append(h)
    if struct is not None:
        for uid in struct.referenced_series_uids:
            if uid in series:
                return series[uid]
    for_uid = struct.frame_of_reference_uid if struct is not None else None
    if for_uid is None and doses:
        for_uid = doses[0].frame_of_reference_uid
    same = [s for s in series.values() if s[0].frame_of_reference_uid == for_uid]
    if len(same) == 1:
        return same[0]
    if len(series) == 1 and for_uid is None:
        return next(iter(series.values()))
    if len(same) > 1:
        notes.append(f"{len(same)} CT series share the frame of reference and none is referenced by the "
                     f"structure set; CT geometry left out")
        return []
    # CT of another frame of reference: hand it on so that the mismatch is reported.
    if len(series) == 1:
        return next(iter(series.values()))
    notes.append(f"{len(series)} CT series, none in the frame of reference {for_uid}; CT geometry left out")
    return []
