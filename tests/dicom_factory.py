"""Build small DICOM RT datasets with pydicom for the loader tests.

Geometry is written straight from the DICOM definitions (PS3.3 C.7.6.2.1.1 and
C.8.8.3.2): the patient position of file voxel (frame f, row r, column c) is
``IPP + c * PixelSpacing[1] * row_dir + r * PixelSpacing[0] * col_dir + offset[f] * normal``
with ``normal = row_dir x col_dir`` (relative GridFrameOffsetVector).  The dose written
at that position is a caller's analytic function of the patient point, so the loader's
result can be checked against the function rather than against this module.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DSequence
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN = "1.2.840.10008.5.1.4.1.1.481.8"

ORIENTATIONS = {
    "HFS": (1, 0, 0, 0, 1, 0),
    "HFP": (-1, 0, 0, 0, -1, 0),
    "FFS": (-1, 0, 0, 0, 1, 0),
    "FFP": (1, 0, 0, 0, -1, 0),
    "HFDL": (0, -1, 0, 1, 0, 0),
    "HFDR": (0, 1, 0, -1, 0, 0),
    "FFDL": (0, 1, 0, 1, 0, 0),
    "FFDR": (0, -1, 0, -1, 0, 0),
}


def _base(sop_class: str, modality: str, *, study_uid: str, for_uid: str | None,
          sop_uid: str | None = None, series_uid: str | None = None) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = "TEST"
    ds.PatientName = "Test^Phantom"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid or generate_uid()
    if for_uid is not None:
        ds.FrameOfReferenceUID = for_uid
    return ds


def save(ds: Dataset, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def voxel_positions(shape_frc, ipp, iop, pixel_spacing, offsets) -> np.ndarray:
    """Patient (x, y, z) in mm of every file voxel, shape (frames, rows, cols, 3)."""
    nf, nr, nc = shape_frc
    row_dir = np.asarray(iop[:3], float)
    col_dir = np.asarray(iop[3:], float)
    normal = np.cross(row_dir, col_dir)
    f = np.asarray(offsets, float)[:, None, None, None]
    r = np.arange(nr, dtype=float)[None, :, None, None]
    c = np.arange(nc, dtype=float)[None, None, :, None]
    return (np.asarray(ipp, float) + c * pixel_spacing[1] * row_dir + r * pixel_spacing[0] * col_dir
            + f * normal)


def rtdose_dataset(
    dose_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    pixels: np.ndarray | None = None,
    shape_frc: tuple[int, int, int] = (4, 5, 6),
    ipp: Sequence[float] = (-10.0, -20.0, -30.0),
    iop: Sequence[float] = (1, 0, 0, 0, 1, 0),
    pixel_spacing: Sequence[float] = (2.0, 3.0),
    frame_step: float = 2.5,
    offsets: Sequence[float] | None = None,
    absolute_offsets: bool = False,
    scaling: float = 1e-4,
    bits: int = 32,
    signed: bool = False,
    units: str = "GY",
    dose_type: str = "PHYSICAL",
    summation: str = "PLAN",
    for_uid: str = "1.2.3.4",
    study_uid: str = "1.2.3.9",
    plan_uid: str | None = None,
    struct_uid: str | None = None,
    comment: str | None = None,
    fraction_group: int | None = None,
) -> Dataset:
    """An RT Dose dataset; pixel values = round(dose_fn(patient xyz) / scaling).

    ``offsets`` overrides the relative GridFrameOffsetVector (default ``k * frame_step``);
    ``absolute_offsets`` writes option (b) (patient z of each plane; HFS only in the
    standard).  ``pixels`` gives stored values (frames, rows, cols) directly.
    """
    nf, nr, nc = shape_frc
    rel = np.arange(nf) * frame_step if offsets is None else np.asarray(offsets, float)
    ds = _base(RT_DOSE, "RTDOSE", study_uid=study_uid, for_uid=for_uid)
    if pixels is None:
        pos = voxel_positions(shape_frc, ipp, iop, pixel_spacing, rel)
        dose = dose_fn(pos)
        pixels = np.rint(dose / scaling)
    dtype = {(16, False): "<u2", (16, True): "<i2", (32, False): "<u4", (32, True): "<i4"}[(bits, signed)]
    pixels = np.asarray(pixels).astype(dtype)
    ds.ImagePositionPatient = [float(v) for v in ipp]
    ds.ImageOrientationPatient = [float(v) for v in iop]
    ds.PixelSpacing = [float(v) for v in pixel_spacing]
    ds.SliceThickness = abs(float(frame_step))
    if absolute_offsets:
        ds.GridFrameOffsetVector = [float(ipp[2] + o) for o in rel]
    else:
        ds.GridFrameOffsetVector = [float(o) for o in rel]
    ds.NumberOfFrames = nf
    ds.FrameIncrementPointer = 0x3004000C
    ds.Rows = nr
    ds.Columns = nc
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = int(signed)
    ds.DoseUnits = units
    ds.DoseType = dose_type
    ds.DoseSummationType = summation
    if scaling is not None:
        ds.DoseGridScaling = f"{scaling:.8g}"
    if comment:
        ds.DoseComment = comment
    if plan_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_PLAN
        ref.ReferencedSOPInstanceUID = plan_uid
        if fraction_group is not None:
            fg = Dataset()
            fg.ReferencedFractionGroupNumber = fraction_group
            ref.ReferencedFractionGroupSequence = DSequence([fg])
        ds.ReferencedRTPlanSequence = DSequence([ref])
    if struct_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_STRUCT
        ref.ReferencedSOPInstanceUID = struct_uid
        ds.ReferencedStructureSetSequence = DSequence([ref])
    ds.PixelData = pixels.tobytes()
    return ds


def rtstruct_dataset(
    rois: Sequence[dict],
    *,
    for_uid: str = "1.2.3.4",
    study_uid: str = "1.2.3.9",
    ct_series_uid: str | None = None,
    label: str = "RS",
    sop_uid: str | None = None,
) -> Dataset:
    """An RT Structure Set.

    Each ROI is a dict: ``number``, ``name``, optional ``type`` (RTROIInterpretedType),
    ``color`` and ``contours``: a list of ``(geometric_type, points (N, 3))``.  A contour
    may also be ``(geometric_type, points, declared_n)`` to write a wrong
    NumberOfContourPoints, or ``(geometric_type, raw_bytes, declared_n)`` to write raw text.
    """
    ds = _base(RT_STRUCT, "RTSTRUCT", study_uid=study_uid, for_uid=None, sop_uid=sop_uid)
    ds.StructureSetLabel = label
    ref_for = Dataset()
    ref_for.FrameOfReferenceUID = for_uid
    if ct_series_uid:
        series = Dataset()
        series.SeriesInstanceUID = ct_series_uid
        series.ContourImageSequence = DSequence([])
        study = Dataset()
        study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        study.ReferencedSOPInstanceUID = study_uid
        study.RTReferencedSeriesSequence = DSequence([series])
        ref_for.RTReferencedStudySequence = DSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DSequence([ref_for])
    ssroi, roic, obs = [], [], []
    for k, roi in enumerate(rois):
        s = Dataset()
        s.ROINumber = roi["number"]
        s.ReferencedFrameOfReferenceUID = for_uid
        s.ROIName = roi["name"]
        s.ROIGenerationAlgorithm = "MANUAL"
        ssroi.append(s)
        c = Dataset()
        c.ReferencedROINumber = roi["number"]
        if roi.get("color") is not None:
            c.ROIDisplayColor = list(roi["color"])
        items = []
        for contour in roi.get("contours", []):
            gtype, pts = contour[0], contour[1]
            it = Dataset()
            it.ContourGeometricType = gtype
            if isinstance(pts, bytes):
                it.NumberOfContourPoints = contour[2]
                it.add_new(0x30060050, "DS", pts.decode("ascii"))
            else:
                pts = np.asarray(pts, float).reshape(-1, 3)
                it.NumberOfContourPoints = contour[2] if len(contour) > 2 else len(pts)
                it.ContourData = [f"{v:.6g}" for v in pts.ravel()]
            items.append(it)
        if items or roi.get("empty_sequence", False):
            c.ContourSequence = DSequence(items)
        roic.append(c)
        if roi.get("type") is not None:
            o = Dataset()
            o.ObservationNumber = k + 1
            o.ReferencedROINumber = roi["number"]
            o.RTROIInterpretedType = roi["type"]
            o.ROIInterpreter = ""
            obs.append(o)
    ds.StructureSetROISequence = DSequence(ssroi)
    ds.ROIContourSequence = DSequence(roic)
    ds.RTROIObservationsSequence = DSequence(obs)
    return ds


def rtplan_dataset(
    *,
    label: str = "Plan1",
    name: str = "",
    fractions: int | None = 5,
    prescriptions: Sequence[tuple[str, float]] = (("TARGET", 40.0),),
    struct_uid: str | None = None,
    for_uid: str = "1.2.3.4",
    study_uid: str = "1.2.3.9",
    sop_uid: str | None = None,
    ion: bool = False,
    groups: Sequence[dict] | None = None,
    reference_points: Sequence[tuple[float, Sequence[float]]] = (),
) -> Dataset:
    """An RT Plan (or RT Ion Plan) with fraction group and dose references.

    ``groups`` replaces the single group of ``fractions``: each a dict with ``fractions``
    and ``beams``, a list of ``(BeamDose Gy or None, BeamDoseSpecificationPoint (x, y, z)
    mm or None)``.  ``reference_points``: ``(TargetPrescriptionDose Gy, (x, y, z) mm)``
    written as POINT TARGET dose references with DoseReferencePointCoordinates.
    """
    ds = _base(RT_ION_PLAN if ion else RT_PLAN, "RTPLAN", study_uid=study_uid, for_uid=for_uid,
               sop_uid=sop_uid)
    ds.RTPlanLabel = label
    if name:
        ds.RTPlanName = name
    if groups is not None:
        items, beam_no = [], 0
        for k, g in enumerate(groups, start=1):
            fg = Dataset()
            fg.FractionGroupNumber = k
            fg.NumberOfFractionsPlanned = g["fractions"]
            refs_b = []
            for dose, point in g.get("beams", []):
                beam_no += 1
                b = Dataset()
                b.ReferencedBeamNumber = beam_no
                b.BeamMeterset = 100.0
                if dose is not None:
                    b.BeamDose = f"{dose:.6g}"
                if point is not None:
                    b.BeamDoseSpecificationPoint = [f"{c:.6g}" for c in point]
                refs_b.append(b)
            fg.NumberOfBeams = len(refs_b)
            fg.ReferencedBeamSequence = DSequence(refs_b)
            items.append(fg)
        ds.FractionGroupSequence = DSequence(items)
    elif fractions is not None:
        fg = Dataset()
        fg.FractionGroupNumber = 1
        fg.NumberOfFractionsPlanned = fractions
        ds.FractionGroupSequence = DSequence([fg])
    refs = []
    for k, (kind, dose) in enumerate(prescriptions):
        d = Dataset()
        d.DoseReferenceNumber = k + 1
        d.DoseReferenceStructureType = "SITE"
        d.DoseReferenceType = kind
        if kind == "TARGET":
            d.TargetPrescriptionDose = dose
        else:
            d.OrganAtRiskMaximumDose = dose
        refs.append(d)
    for dose, point in reference_points:
        d = Dataset()
        d.DoseReferenceNumber = len(refs) + 1
        d.DoseReferenceStructureType = "POINT"
        d.DoseReferenceType = "TARGET"
        d.TargetPrescriptionDose = f"{dose:.6g}"
        d.DoseReferencePointCoordinates = [f"{c:.6g}" for c in point]
        refs.append(d)
    if refs:
        ds.DoseReferenceSequence = DSequence(refs)
    if struct_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = RT_STRUCT
        ref.ReferencedSOPInstanceUID = struct_uid
        ds.ReferencedStructureSetSequence = DSequence([ref])
    return ds


def ct_dataset(z_mm: float, *, series_uid: str, for_uid: str = "1.2.3.4", study_uid: str = "1.2.3.9",
               rows: int = 8, columns: int = 8, spacing: float = 5.0, origin=(-20.0, -20.0)) -> Dataset:
    """One small CT slice at patient z (HFS)."""
    ds = _base(CT_IMAGE, "CT", study_uid=study_uid, for_uid=for_uid, series_uid=series_uid)
    ds.ImagePositionPatient = [origin[0], origin[1], float(z_mm)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [spacing, spacing]
    ds.SliceThickness = 2.0
    ds.Rows = rows
    ds.Columns = columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = np.zeros((rows, columns), "<i2").tobytes()
    return ds


def square(cx: float, cy: float, half: float, z: float) -> np.ndarray:
    """A square contour (4 vertices) centred on (cx, cy) at plane z, (N, 3) mm."""
    return np.array([[cx - half, cy - half, z], [cx + half, cy - half, z],
                     [cx + half, cy + half, z], [cx - half, cy + half, z]], float)


def write_export(out, *, label: str = "Plan1", for_uid: str = "1.2.3.4", ct: bool = True,
                 fractions: int = 5, prescription_gy: float = 40.0, dose_fn=None,
                 prefix: str = "") -> dict:
    """A consistent small export (CT, RTSTRUCT, RTPLAN, RTDOSE) in ``out``.

    Returns a dict of the written paths and UIDs.  The default dose is the linear field
    D = 20 + 0.1 x + 0.2 y + 0.3 z (Gy), positive everywhere on the grid.
    """
    out = Path(out)
    study = "1.2.3.9"
    ct_series = generate_uid()
    ct_paths = []
    if ct:
        for k in range(5):
            ct_paths.append(save(ct_dataset(-30.0 + 2.5 * k, series_uid=ct_series, for_uid=for_uid),
                                 out / f"{prefix}ct_{k}.dcm"))
    rs = rtstruct_dataset(
        [
            {"number": 1, "name": "Body", "type": "EXTERNAL", "color": (0, 255, 0),
             "contours": [("CLOSED_PLANAR", square(0, 0, 15, z)) for z in (-30.0, -27.5, -25.0)]},
            {"number": 2, "name": "PTV", "type": "PTV", "color": (255, 0, 0),
             "contours": [("CLOSED_PLANAR", square(0, -5, 4, z)) for z in (-27.5, -25.0)]},
            {"number": 3, "name": "Empty", "type": "ORGAN"},
            {"number": 4, "name": "Iso", "type": "ISOCENTER",
             "contours": [("POINT", [[1.0, 2.0, -27.5]])]},
        ],
        for_uid=for_uid, study_uid=study, ct_series_uid=ct_series if ct else None,
    )
    rs_path = save(rs, out / f"{prefix}rs.dcm")
    rp = rtplan_dataset(label=label, fractions=fractions, prescriptions=(("TARGET", prescription_gy),),
                        struct_uid=rs.SOPInstanceUID, for_uid=for_uid, study_uid=study)
    rp_path = save(rp, out / f"{prefix}rp.dcm")
    fn = dose_fn or (lambda p: 20 + 0.1 * p[..., 0] + 0.2 * p[..., 1] + 0.3 * p[..., 2])
    rd = rtdose_dataset(fn, for_uid=for_uid, study_uid=study, plan_uid=rp.SOPInstanceUID)
    rd_path = save(rd, out / f"{prefix}rd.dcm")
    return {"rtstruct": rs_path, "rtplan": rp_path, "rtdose": rd_path, "ct": ct_paths,
            "plan_uid": rp.SOPInstanceUID, "struct_uid": rs.SOPInstanceUID,
            "dose_uid": rd.SOPInstanceUID, "ct_series_uid": ct_series, "dose_fn": fn}


def write_two_plans(folder: Path, scratch: Path) -> Path:
    """``folder`` (made) holding two synthetic plans without CT: the RTPLAN, RTSTRUCT and
    RTDOSE of seeds 1 and 2 (different seeds give different UIDs; prescriptions 40 and
    35 Gy), written through ``scratch`` (an empty folder)."""
    from dosecalc.phantom import write_case

    folder.mkdir()
    for seed in (1, 2):
        tmp = scratch / f"seed{seed}"
        write_case(tmp, spacing_mm=6.0, seed=seed, prescription_gy=40.0 - 5 * (seed - 1))
        for f in tmp.iterdir():
            if not f.name.startswith("CT"):
                shutil.copy(f, folder / f"s{seed}_{f.name}")
    return folder
