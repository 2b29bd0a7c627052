"""DICOM RT export (folders or files) -> :class:`~dosecalc.model.CaseData` (plain data;
``dosecalc.load`` wraps it in the :class:`dosecalc.case.Case` with the analyses).

Steps: scan the paths (:mod:`.scan`), choose one plan's files (:mod:`.select`), read the
RTDOSE (:mod:`.rtdose`, BEAM doses summed), RTSTRUCT (:mod:`.rtstruct`), RTPLAN
(:mod:`.rtplan`) and CT geometry (:mod:`.ct`), then check that they share one frame of
reference.  Inputs are only read.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

from ..errors import FrameOfReferenceError, LoadWarning, ParameterError
from ..dose_reading import cross_check, parse_dose_is, plausibility
from ..model import CaseData, FileRecord, Plan, StructureSet
from ..summation import SUMMATION_TYPES
from .ct import ct_series
from .rtdose import read_rtdose, sum_beam_doses
from .rtplan import read_rtplan
from .rtstruct import read_rtstruct
from .scan import Header, check_paths, scan
from .walk import display_path
from .select import select


def load(*paths, plan: str | None = None, prescription_gy: float | None = None,
         dose_is: str | None = None, keep_relative: bool = False) -> CaseData:
    """Load one plan's dose, structures, plan and CT geometry.

    Parameters
    ----------
    *paths : str or Path
        Folders (searched recursively) and/or files.  Files are recognised by SOP Class
        UID; other files are skipped with a note in ``Case.notes``.  Every DICOM file's
        element lengths are checked against its size first (:mod:`.integrity`): a
        truncated RTDOSE, RTSTRUCT or RTPLAN, or a DICOM file cut before its SOP class
        can be read, raises :class:`~dosecalc.errors.TruncatedFileError`; a truncated CT
        slice or file of another class is skipped with a note.
        A DICOMweb study URL (``http://HOST:PORT/dicom-web/studies/<StudyInstanceUID>``,
        credentials as ``http://USER:PASSWORD@HOST...``) is fetched into a local cache
        first (needs ``dosecalc[net]``; see :mod:`dosecalc.net.dicomweb`).
    plan : str, optional
        Which plan to load when the paths hold several: a plan SOP instance UID, a plan
        label, or the path of an RTDOSE or RTSTRUCT file.
    prescription_gy : float, optional
        Prescription dose in Gy.  Overrides the RTPLAN's (with a note when they differ)
        and converts DoseUnits RELATIVE (1.0 = this dose).
    dose_is : {"total", "per-fraction"}, optional
        How to read the dose grid, whatever its DoseSummationType and the RTPLAN say.
        By default the label is cross-checked against the RTPLAN's beam doses
        (:mod:`dosecalc.dose_reading`); the reading used is recorded on the grid
        (``case.dose.reading``) and said in the notes when it is not the label's.
    keep_relative : bool
        A DoseUnits RELATIVE grid without ``prescription_gy`` is kept as fractions of its
        implicit reference (``quantity`` ``"RELATIVE"``) instead of refused; for header
        summaries (``dosecalc info``).  Nothing downstream takes it for Gy.

    Returns
    -------
    CaseData

    Raises
    ------
    SelectionError
        No RTDOSE and no RTSTRUCT, or several plans and ``plan`` does not choose one.
    DicomError (MissingAttributeError, GeometryError, ContourError)
        A selected file cannot be used.
    FrameOfReferenceError
        Dose, structures, plan and CT do not share one frame of reference.
    """
    if plan is not None and not isinstance(plan, (str, Path)):
        raise ParameterError(f"plan must be a plan UID, label or file path (str), got {type(plan).__name__}")
    if plan is not None:
        plan = str(plan)
    if prescription_gy is not None:
        try:
            p = float(prescription_gy)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"prescription_gy must be a number of Gy, got {prescription_gy!r}") from exc
        if not (math.isfinite(p) and p > 0):
            raise ParameterError(f"prescription_gy must be a positive number of Gy, got {prescription_gy!r}")
        prescription_gy = p
    reading_as = parse_dose_is(dose_is)  # a bad choice fails before any file is read
    given = check_paths(paths)
    if any(isinstance(p, str) and p[:8].lower().startswith(("http://", "https://")) for p in given):
        # local: the DICOMweb client side (~20 ms of imports) only for a URL
        from ..net.dicomweb import local_paths

        given = list(local_paths(given))  # a DICOMweb study URL becomes a local folder
    where = ", ".join(display_path(p) for p in given[:3]) + (f" and {len(given) - 3} more" if len(given) > 3 else "")
    result = scan(given)
    sel = select(result, plan, where)
    notes = list(result.notes) + list(sel.notes)

    plan_obj = None
    if sel.plan is not None:
        plan_obj, plan_notes = read_rtplan(sel.plan.path)
        notes += plan_notes
    if prescription_gy is not None:
        if plan_obj is None:
            plan_obj = Plan(prescription_gy=prescription_gy)
        else:
            if plan_obj.prescription_gy is not None and abs(plan_obj.prescription_gy - prescription_gy) > 1e-9:
                notes.append(f"prescription_gy={prescription_gy:g} Gy given; the RTPLAN states "
                             f"{plan_obj.prescription_gy:g} Gy")
            plan_obj = replace(plan_obj, prescription_gy=prescription_gy)

    dose = None
    if sel.doses:
        grids = [read_rtdose(h.path, prescription_gy=prescription_gy, keep_relative=keep_relative)
                 for h in sel.doses]
        dose = sum_beam_doses(grids) if len(grids) > 1 else grids[0]
        notes += _dose_notes(dose)
        dose, reading_notes = _read_dose_as(dose, plan_obj, reading_as)
        notes += reading_notes

    structures = StructureSet()
    if sel.struct is not None:
        structures, ss_notes = read_rtstruct(sel.struct.path)
        notes += ss_notes

    ct = None
    if sel.ct:
        ct, ct_notes = ct_series(sel.ct)
        notes += ct_notes

    for_uid = _check_frames(dose, structures, plan_obj, ct, sel)
    files = [_record(h) for h in sel.doses]
    files += [_record(h) for h in (sel.struct, sel.plan) if h is not None]
    files += [_record(h) for h in sel.ct]
    patient_ids = sorted({h.patient_id for h in (*sel.doses, sel.struct, sel.plan) if h is not None and h.patient_id})
    if len(patient_ids) > 1:
        notes.append(f"the selected files name several PatientIDs: {patient_ids}")
    if notes:
        # the CLI prints case.notes; a script or notebook gets each as a warning too
        for n in notes:
            warnings.warn(n, LoadWarning, stacklevel=2)
    return CaseData(dose=dose, structures=structures, plan=plan_obj, ct=ct, files=tuple(files),
                notes=tuple(notes), frame_of_reference_uid=for_uid,
                patient_id=patient_ids[0] if patient_ids else None)


def _dose_notes(dose) -> list[str]:
    """What a reader of this grid's DVHs must know that the numbers do not say."""
    notes = []
    where = dose.source_path or "the RTDOSE"
    if dose.dose_type == "ERROR":
        notes.append(f"{where}: DoseType ERROR: the grid holds an estimate of the dose error, "
                     f"not dose; its DVHs are error DVHs (protocol checks and BED/EQD2 refuse it)")
    st = (dose.summation_type or "").upper()
    if st and st not in SUMMATION_TYPES:
        notes.append(f"{where}: DoseSummationType {dose.summation_type!r} is not a defined term "
                     f"(PS3.3 C.8.8.3): whether the grid is a course total or dose per fraction is "
                     f"unknown (protocol checks and BED/EQD2 refuse it)")
    return notes


def _read_dose_as(dose, plan, dose_is):
    """The grid with its reading (course total / per fraction) recorded, and the notes a
    reader must see: a reading that is not the label's, a refusal, an inconclusive check,
    implausible values."""
    reading = cross_check(dose, plan, dose_is=dose_is)
    warns = plausibility(dose, reading, None if plan is None else plan.prescription_gy)
    reading = replace(reading, warnings=tuple(warns))
    notes = []
    where = dose.source_path or "the RTDOSE"
    if reading.overrides_label or reading.refusal or reading.status in ("inconclusive", "contradicts"):
        notes.append(f"{where}: {reading.text}")
    notes += warns
    return replace(dose, reading=reading), notes


def _record(h: Header) -> FileRecord:
    return FileRecord(path=str(Path(h.path)), modality=h.modality, sop_class_uid=h.sop_class_uid,
                      sop_instance_uid=h.sop_instance_uid)


def _check_frames(dose, structures, plan, ct, sel) -> str | None:
    seen: list[tuple[str, str, str]] = []  # (what, uid, path)
    if dose is not None and dose.frame_of_reference_uid:
        seen.append(("RTDOSE", dose.frame_of_reference_uid, str(dose.source_path)))
    if structures.frame_of_reference_uid:
        seen.append(("RTSTRUCT", structures.frame_of_reference_uid, str(structures.source_path)))
    if ct is not None and ct.frame_of_reference_uid:
        seen.append(("CT", ct.frame_of_reference_uid, ct.source_paths[0] if ct.source_paths else ""))
    if plan is not None and plan.frame_of_reference_uid:
        seen.append(("RTPLAN", plan.frame_of_reference_uid, str(plan.source_path)))
    uids = {u for _, u, _ in seen}
    if len(uids) > 1:
        first = seen[0]
        other = next(s for s in seen if s[1] != first[1])
        raise FrameOfReferenceError(
            f"frames of reference differ: {first[0]} {first[2]} has FrameOfReferenceUID {first[1]} but "
            f"{other[0]} {other[2]} has {other[1]}; dose and structures must share one frame of reference")
    return seen[0][1] if seen else None
