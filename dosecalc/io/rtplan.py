"""RT Plan / RT Ion Plan -> :class:`~dosecalc.model.Plan` (fractions and prescription).

* ``fractions``: NumberOfFractionsPlanned of the first item of FractionGroupSequence.
* ``prescription_gy``: TargetPrescriptionDose (Gy) of the DoseReferenceSequence items.
  When several TARGET references carry one (a simultaneous boost, say), the largest is
  taken as the plan's prescription and a note lists all of them; references of other
  types (ORGAN_AT_RISK) never count.  None when the plan states no prescription.
"""

from __future__ import annotations


import math

from ..errors import DicomError
from ..model import Plan
from .scan import guarded, read_dataset


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
        Fractions, prescription in Gy, label and references; notes on choices made.
    """
    path = str(path)
    if ds is None:
        ds = read_dataset(path, stop_before_pixels=True)
    return guarded("RT Plan", path, _read, ds, path)


def _read(ds, path: str) -> tuple[Plan, list[str]]:
    notes: list[str] = []
    fractions = None
    groups = ds.get("FractionGroupSequence") or []
    if groups:
        n = groups[0].get("NumberOfFractionsPlanned")
        if n is not None and str(n).strip() != "":
            try:
                fractions = int(n)
            except (TypeError, ValueError) as exc:
                raise DicomError(f"NumberOfFractionsPlanned must be an integer, got {n!r}", path=path) from exc
            if fractions < 1:
                raise DicomError(f"NumberOfFractionsPlanned must be >= 1, got {fractions}", path=path)
        if len(groups) > 1:
            notes.append(f"{path}: {len(groups)} fraction groups; fractions taken from the first")
    doses = []
    for item in ds.get("DoseReferenceSequence") or []:
        kind = str(item.get("DoseReferenceType", "") or "").strip().upper()
        value = item.get("TargetPrescriptionDose")
        if kind != "TARGET" or value is None or str(value).strip() == "":
            continue
        try:
            d = float(value)
        except (TypeError, ValueError) as exc:
            raise DicomError(f"TargetPrescriptionDose must be a number, got {value!r}", path=path) from exc
        if not (math.isfinite(d) and d > 0):
            raise DicomError(f"TargetPrescriptionDose must be a positive number of Gy, got {value!r}", path=path)
        doses.append(d)
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
    )
    return plan, notes
