"""RT Plan / RT Ion Plan -> :class:`~dosecalc.model.Plan` (fractions, prescription, beams).

* ``fraction_groups``: every FractionGroupSequence item: FractionGroupNumber,
  NumberOfFractionsPlanned and, per ReferencedBeamSequence item, BeamDose (Gy per
  fraction) and BeamDoseSpecificationPoint (mm), where stated.  These are what the
  loader checks the dose grid against (:mod:`dosecalc.dose_reading`).
* ``fractions``: NumberOfFractionsPlanned of the one fraction group.  With several groups
  (a sequential boost, say) the course's fractions are the **sum over the groups** when
  their doses per fraction (sum of BeamDose of each group) agree within
  :data:`GROUP_DOSE_TOLERANCE` (1 %) or :data:`GROUP_DOSE_TOLERANCE_GY` (0.01 Gy),
  whichever is larger: then a PLAN total is n equal fractions and LQ applies to it.
  Otherwise ``fractions`` is None and ``fractions_reason`` names the groups: a total
  over groups of different doses per fraction has no single fractionation (BED/EQD2 and
  protocol checks refuse it unless the fractions are given explicitly).
* ``prescription_gy``: TargetPrescriptionDose (Gy) of the DoseReferenceSequence items.
  When several TARGET references carry one (a simultaneous boost, say), the largest is
  taken as the plan's prescription and a note lists all of them; references of other
  types (ORGAN_AT_RISK) never count.  None when the plan states no prescription.
* ``dose_references``: every DoseReferenceSequence item (type, prescription,
  DoseReferencePointCoordinates).
"""

from __future__ import annotations


import math

from ..errors import DicomError
from ..model import BeamDose, DoseReference, FractionGroup, Plan
from .scan import guarded, read_dataset
from .values import finite_number

#: Doses per fraction of several fraction groups count as equal within this fraction...
GROUP_DOSE_TOLERANCE = 0.01
#: ... or this many Gy, whichever is larger (BeamDose is written to 0.01 cGy or so).
GROUP_DOSE_TOLERANCE_GY = 0.01


def read_rtplan(path, ds=None) -> tuple[Plan, list[str]]:
    """Read an RT (Ion) Plan file.

    Parameters
    ----------
    path : str or Path
        The RTPLAN file.
    ds : pydicom Dataset, optional
        The dataset if already read.

    Returns
    -------
    (Plan, notes)
        Fractions, prescription in Gy, fraction groups with beam doses, dose references,
        label and references; notes on choices made.
    """
    path = str(path)
    if ds is None:
        ds = read_dataset(path, stop_before_pixels=True)
    return guarded("RT Plan", path, _read, ds, path)


def _blank(value) -> bool:
    return value is None or str(value).strip() == ""


def _float(value, keyword: str, path: str) -> float | None:
    if _blank(value):
        return None
    return finite_number(value, keyword, path)


def _point(value, keyword: str, path: str) -> tuple[float, float, float] | None:
    if value is None:
        return None
    try:
        seq = list(value)
    except TypeError:
        return None
    if len(seq) == 0:
        return None
    if len(seq) != 3:
        raise DicomError(f"{keyword} must hold 3 coordinates (x, y, z in mm), got {len(seq)}", path=path)
    out = tuple(_float(v, keyword, path) for v in seq)
    if any(v is None for v in out):
        raise DicomError(f"{keyword} must hold 3 numbers, got {seq!r}", path=path)
    return out  # type: ignore[return-value]


def _groups(ds, path: str) -> list[FractionGroup]:
    groups = []
    for k, item in enumerate(ds.get("FractionGroupSequence") or [], start=1):
        n = item.get("NumberOfFractionsPlanned")
        fractions = None
        if not _blank(n):
            try:
                fractions = int(n)
            except (TypeError, ValueError) as exc:
                raise DicomError(f"NumberOfFractionsPlanned must be an integer, got {n!r}", path=path) from exc
            if fractions < 1:
                raise DicomError(f"NumberOfFractionsPlanned must be >= 1, got {fractions}", path=path)
        number = item.get("FractionGroupNumber")
        number = k if _blank(number) else int(number)
        beams = []
        for b in item.get("ReferencedBeamSequence") or []:
            bn = b.get("ReferencedBeamNumber")
            dose = _float(b.get("BeamDose"), "BeamDose", path)
            beams.append(BeamDose(beam_number=-1 if _blank(bn) else int(bn), dose_gy=dose,
                                  specification_point_mm=_point(b.get("BeamDoseSpecificationPoint"),
                                                                "BeamDoseSpecificationPoint", path)))
        groups.append(FractionGroup(number=number, fractions=fractions, beams=tuple(beams)))
    return groups


def _group_text(g: FractionGroup) -> str:
    d = g.dose_per_fraction_gy
    dose = "? Gy (BeamDose not stated)" if d is None else f"{d:.4g} Gy"
    return f"group {g.number}: {g.fractions if g.fractions is not None else '?'} fx x {dose}"


def course_fractions(groups) -> tuple[int | None, str, list[str]]:
    """(fractions of the course, reason when None, notes) from the fraction groups.

    One group: its NumberOfFractionsPlanned.  Several: their sum when every group states
    its fractions and the groups' doses per fraction agree (module docstring); otherwise
    None and the reason naming the groups.
    """
    groups = list(groups)
    if not groups:
        return None, "", []
    if len(groups) == 1:
        return groups[0].fractions, "", []
    listing = "; ".join(_group_text(g) for g in groups)
    if any(g.fractions is None for g in groups):
        return None, (f"{len(groups)} fraction groups ({listing}) and not every group states "
                      "NumberOfFractionsPlanned"), []
    total = sum(g.fractions for g in groups)  # type: ignore[misc]
    doses = [g.dose_per_fraction_gy for g in groups]
    if all(d is not None for d in doses):
        lo, hi = min(doses), max(doses)  # type: ignore[type-var]
        if hi - lo <= max(GROUP_DOSE_TOLERANCE * hi, GROUP_DOSE_TOLERANCE_GY):
            return total, "", [
                f"{len(groups)} fraction groups ({listing}) with equal doses per fraction (within "
                f"{100 * GROUP_DOSE_TOLERANCE:g} % or {GROUP_DOSE_TOLERANCE_GY:g} Gy): the course has "
                f"{' + '.join(str(g.fractions) for g in groups)} = {total} fractions"]
        why = "different doses per fraction"
    else:
        why = "doses per fraction that the plan does not state for every group (BeamDose)"
    return None, (f"{len(groups)} fraction groups ({listing}) with {why}: a dose summed over them "
                  f"({total} fractions in all) has no single fractionation; BED/EQD2 needs one dose "
                  "grid per fraction group (RTDOSE files that reference their group) or the "
                  "fractions given explicitly"), []


def _references(ds, path: str) -> list[DoseReference]:
    out = []
    for item in ds.get("DoseReferenceSequence") or []:
        kind = str(item.get("DoseReferenceType", "") or "").strip().upper()
        value = item.get("TargetPrescriptionDose")
        rx = None
        if kind == "TARGET" and not _blank(value):
            try:
                rx = float(value)
            except (TypeError, ValueError) as exc:
                raise DicomError(f"TargetPrescriptionDose must be a number, got {value!r}", path=path) from exc
            if not (math.isfinite(rx) and rx > 0):
                raise DicomError(f"TargetPrescriptionDose must be a positive number of Gy, got {value!r}",
                                 path=path)
        number = item.get("DoseReferenceNumber")
        out.append(DoseReference(
            number=None if _blank(number) else int(number), reference_type=kind,
            structure_type=str(item.get("DoseReferenceStructureType", "") or "").strip().upper(),
            prescription_gy=rx,
            point_mm=_point(item.get("DoseReferencePointCoordinates"), "DoseReferencePointCoordinates", path)))
    return out


def _read(ds, path: str) -> tuple[Plan, list[str]]:
    notes: list[str] = []
    groups = _groups(ds, path)
    fractions, reason, group_notes = course_fractions(groups)
    notes += [f"{path}: {n}" for n in group_notes]
    if reason:
        notes.append(f"{path}: {reason}")
    references = _references(ds, path)
    doses = [r.prescription_gy for r in references if r.prescription_gy is not None]
    prescription = max(doses) if doses else None
    if len(set(doses)) > 1:
        notes.append(f"{path}: several target prescriptions {sorted(set(doses))} Gy; the plan's "
                     f"prescription is the largest, {prescription:g} Gy")
    ss = None
    for item in ds.get("ReferencedStructureSetSequence") or []:
        if item.get("ReferencedSOPInstanceUID"):
            ss = str(item.ReferencedSOPInstanceUID)
            break
    sop = ds.get("SOPInstanceUID")
    plan = Plan(
        fractions=fractions,
        prescription_gy=prescription,
        label=str(ds.get("RTPlanLabel", "") or "").strip(),
        name=str(ds.get("RTPlanName", "") or "").strip(),
        sop_instance_uid=str(sop) if sop else None,
        referenced_structure_set_uid=ss,
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "") or "") or None,
        source_path=path,
        fraction_groups=tuple(groups),
        dose_references=tuple(references),
        fractions_reason=reason,
    )
    return plan, notes
