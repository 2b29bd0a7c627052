"""Who, what and how of a protocol check, for reports that can be filed.

:func:`report_identity` collects, for one check: patient ID and name, plan label and
date, the SOP Instance UIDs of the RTPLAN, RTDOSE and RTSTRUCT, the dosecalc version,
the protocol id and version, the run time stamp (UTC, ISO 8601), the dose-grid spacing
and the DVH settings.  Every report format carries them (table header, JSON
``"identity"``, CSV columns, HTML header).

Patient name and plan date are read from the RTPLAN header (else the RTDOSE's): the
loaded case keeps only what the engine needs.  The file's PatientID is cross-checked with
the case's; a disagreement is stated in ``identity_notes`` rather than silently chosen.
"""

from __future__ import annotations

import datetime as _dt
import inspect
from typing import Any

#: Keys of the identity record, in display order.
IDENTITY_KEYS: tuple[str, ...] = (
    "patient_id", "patient_name", "plan_label", "plan_date", "rtplan_sop_instance_uid",
    "rtdose_sop_instance_uid", "rtstruct_sop_instance_uid", "dosecalc_version", "protocol_id",
    "protocol_version", "run_at", "dose_grid_spacing_mm", "dvh_settings")


def _header(path: str | None) -> Any:
    if not path:
        return None
    try:
        import pydicom

        return pydicom.dcmread(path, stop_before_pixels=True,
                               specific_tags=["PatientName", "PatientID", "RTPlanDate", "RTPlanTime",
                                              "ContentDate", "ContentTime", "InstanceCreationDate"])
    except Exception:  # noqa: BLE001 - the file was read once already; a header is a nicety
        return None


def _date(ds: Any, date_kw: str, time_kw: str) -> str:
    d = str(getattr(ds, date_kw, "") or "").strip()
    t = str(getattr(ds, time_kw, "") or "").strip()
    if len(d) != 8 or not d.isdigit():
        return ""
    out = f"{d[:4]}-{d[4:6]}-{d[6:]}"
    if len(t) >= 4 and t[:4].isdigit():
        out += f" {t[:2]}:{t[2:4]}"
    return out


def dvh_settings() -> dict[str, Any]:
    """The mask and DVH options a protocol check uses (the engine's defaults)."""
    from ..dvh import DEFAULT_BIN_GY, EXACT_LIMIT, MIN_BINS
    from ..masks import structure_mask

    params = inspect.signature(structure_mask).parameters
    out: dict[str, Any] = {k: params[k].default for k in ("supersample", "end_cap", "interpolation")
                           if k in params}
    out.update({"mode": "auto", "exact_limit_samples": EXACT_LIMIT, "binned_min_bins": MIN_BINS,
                "bin_gy": DEFAULT_BIN_GY})
    return out


def report_identity(case: Any, protocol: Any, run_at: _dt.datetime | None = None) -> dict[str, Any]:
    """The identity record of a check of ``case`` against ``protocol`` (keys in
    :data:`IDENTITY_KEYS`, plus ``identity_notes``; unknown values are None)."""
    from .. import __version__

    plan = getattr(case, "plan", None)
    dose = getattr(case, "dose", None)
    structures = getattr(case, "structures", None)
    ds = _header(getattr(plan, "source_path", None)) or _header(getattr(dose, "source_path", None))
    notes: list[str] = []
    name = None
    plan_date = ""
    if ds is not None:
        pn = str(getattr(ds, "PatientName", "") or "").strip()
        name = pn.replace("^", " ").strip() or None
        plan_date = _date(ds, "RTPlanDate", "RTPlanTime") or _date(ds, "ContentDate", "ContentTime")
        file_id = str(getattr(ds, "PatientID", "") or "").strip()
        if file_id and case.patient_id and file_id != case.patient_id:
            where = getattr(plan, "source_path", None) or getattr(dose, "source_path", None)
            notes.append(f"PatientID {file_id!r} of {where} "
                         f"differs from the case's {case.patient_id!r}; the case's is reported")
    stamp = (run_at or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    return {
        "patient_id": getattr(case, "patient_id", None),
        "patient_name": name,
        "plan_label": (getattr(plan, "label", "") or None) if plan is not None else None,
        "plan_date": plan_date or None,
        "rtplan_sop_instance_uid": getattr(plan, "sop_instance_uid", None),
        "rtdose_sop_instance_uid": getattr(dose, "sop_instance_uid", None),
        "rtstruct_sop_instance_uid": getattr(structures, "sop_instance_uid", None),
        "dosecalc_version": __version__,
        "protocol_id": protocol.id,
        "protocol_version": protocol.version,
        "run_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dose_grid_spacing_mm": None if dose is None else [float(v) for v in dose.spacing_mm],
        "dvh_settings": dvh_settings(),
        "identity_notes": notes,
    }


def identity_lines(identity: dict[str, Any]) -> list[str]:
    """Aligned header lines (``Patient``, ``Plan``, ``UIDs``, ``Run``, ``Settings``)."""
    if not identity:
        return []
    sp = identity.get("dose_grid_spacing_mm")
    s = identity.get("dvh_settings") or {}
    lines = [
        f"Patient    {identity.get('patient_id') or 'unknown ID'}"
        + (f" ({identity['patient_name']})" if identity.get("patient_name") else ""),
        f"Plan       {identity.get('plan_label') or 'no RTPLAN label'}"
        + (f", planned {identity['plan_date']}" if identity.get("plan_date") else ""),
        f"RTPLAN     {identity.get('rtplan_sop_instance_uid') or 'none'}",
        f"RTDOSE     {identity.get('rtdose_sop_instance_uid') or 'none'}",
        f"Run        {identity.get('run_at')} by dosecalc {identity.get('dosecalc_version')}, protocol "
        f"{identity.get('protocol_id')} version {identity.get('protocol_version')}",
        "Settings   dose grid " + ("unknown" if not sp else " x ".join(f"{v:g}" for v in sp) + " mm")
        + f"; masks supersample={s.get('supersample')}, end cap {s.get('end_cap')}, "
          f"{s.get('interpolation')}; DVH exact up to {s.get('exact_limit_samples')} samples, "
          f"else binned (<= {s.get('bin_gy')} Gy)",
    ]
    lines += [f"Note       {n}" for n in identity.get("identity_notes", [])]
    return lines


#: Flat identity columns of CSV rows and DataFrames.
CSV_IDENTITY_FIELDS: tuple[str, ...] = (
    "patient_id", "patient_name", "plan_label", "plan_date", "rtplan_sop_instance_uid",
    "rtdose_sop_instance_uid", "dosecalc_version", "protocol_id", "protocol_version", "run_at",
    "dose_grid_spacing_mm", "dvh_settings")


def csv_identity(identity: dict[str, Any]) -> dict[str, str]:
    """Identity as flat CSV cells (spacing ``"2.5x2.5x2.5"``, settings ``key=value;...``)."""
    out: dict[str, str] = {}
    for k in CSV_IDENTITY_FIELDS:
        v = identity.get(k)
        if k == "dose_grid_spacing_mm" and v:
            v = "x".join(f"{x:g}" for x in v)
        elif k == "dvh_settings" and v:
            v = ";".join(f"{a}={b}" for a, b in v.items())
        out[k] = "" if v is None else str(v)
    return out
