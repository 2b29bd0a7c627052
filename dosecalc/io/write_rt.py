"""DICOM dataset builders for the files dosecalc writes: CT slices, RTSTRUCT, RTPLAN.

The builders take plain geometry (arrays in mm, HU, Gy) and return ``pydicom`` datasets;
:func:`save_dataset` writes one atomically.  They are used by the synthetic case
(:mod:`dosecalc.phantom`) and share their patient/study helpers with the RTDOSE writer.

Large contour coordinate lists are stored as pre-encoded decimal strings (see
:func:`_raw_ds`): building one Python ``DSfloat`` per coordinate costs seconds for a
40-structure set, while the encoded bytes are identical either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence as SequenceABC
from pathlib import Path
from typing import Iterable

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian
from pydicom.valuerep import format_number_as_ds

from .. import __version__
from ..errors import ParameterError
from .atomic import atomic_path
from .uids import CT_IMAGE_STORAGE, RT_PLAN_STORAGE, RT_STRUCTURE_SET_STORAGE, new_uid

MANUFACTURER = "dosecalc"

# Patient / study attributes a caller may pass (DICOM keywords); everything else is the
# writer's business.
PATIENT_STUDY_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription",
)


# --- value encoding ---------------------------------------------------------------------
def format_ds(value: float) -> str:
    """A DICOM Decimal String (<= 16 characters) for a finite float.

    Python's shortest round-trip representation is used when it fits, so that a value
    read back is bit-identical; otherwise the closest 16-character form.
    """
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(f"cannot write a non-finite number ({v}) as a DICOM decimal string")
    if v == 0.0:
        return "0.0"
    return format_number_as_ds(v)


def _raw_ds(tag: int, values: np.ndarray, decimals: int = 4) -> RawDataElement:
    """A DS element holding ``values`` with ``decimals`` digits, already encoded."""
    text = "\\".join(f"{v:.{decimals}f}" for v in np.asarray(values, dtype=np.float64).ravel())
    data = text.encode("ascii")
    if len(data) % 2:
        data += b" "
    if len(data) > 0xFFFE:
        # Explicit VR DS has a 16-bit length field: keep fewer digits rather than fail.
        if decimals > 1:
            return _raw_ds(tag, values, decimals - 1)
        raise ParameterError(f"too many contour points in one contour ({len(values) // 3})")
    return RawDataElement(Tag(tag), "DS", len(data), data, 0, False, True)


def _freeze_encoding(ds: Dataset) -> None:
    """Declare ``ds`` (recursively) as already encoded in Explicit VR Little Endian so that
    pydicom writes pre-encoded (raw) elements as they are instead of re-parsing them."""
    for tag in list(ds.keys()):
        elem = ds.get_item(tag)  # get_item: iterating would parse the raw elements
        if elem.VR == "SQ" and not elem.is_raw:
            for item in elem.value:
                _freeze_encoding(item)
    ds.set_original_encoding(False, True, ds._character_set)


def clean_lo(text: str, limit: int = 64) -> str:
    """Text fit for a LO/SH element: no backslash or control characters, at most ``limit``."""
    t = "".join(ch if ch.isprintable() and ch != "\\" else " " for ch in str(text)).strip()
    return t[:limit].rstrip()


def clean_lt(text: str, limit: int = 10240) -> str:
    """Text fit for an LT/ST element (line breaks allowed, no other control characters)."""
    t = "".join(ch if (ch.isprintable() or ch in "\r\n") else " " for ch in str(text))
    return t[:limit]


# --- common modules ---------------------------------------------------------------------
def patient_study(info: Mapping | Dataset | None, *, seed: str | None = None) -> dict:
    """Patient and study attributes (DICOM keyword -> value) for a new file.

    Parameters
    ----------
    info : mapping or pydicom Dataset or None
        Attributes to keep (keywords in ``PATIENT_STUDY_KEYWORDS``); a source file's
        dataset may be passed as is.  Missing ones get synthetic values and, for
        ``StudyInstanceUID``, a new UID.
    seed : str or None
        Makes the new StudyInstanceUID deterministic.
    """
    out = {
        "PatientName": "Anonymous", "PatientID": "ANON", "PatientBirthDate": "",
        "PatientSex": "", "StudyDate": "", "StudyTime": "", "StudyID": "",
        "AccessionNumber": "", "ReferringPhysicianName": "", "StudyDescription": "",
    }
    if info is not None:
        if isinstance(info, Dataset):
            items = {k: info.get(k) for k in PATIENT_STUDY_KEYWORDS if k in info}
        elif isinstance(info, Mapping):
            unknown = sorted(set(info) - set(PATIENT_STUDY_KEYWORDS))
            if unknown:
                raise ParameterError(f"patient: unknown attribute(s) {unknown}; "
                                     f"expected DICOM keywords among {list(PATIENT_STUDY_KEYWORDS)}")
            items = dict(info)
        else:
            raise ParameterError(f"patient must be a mapping of DICOM keywords or a pydicom "
                                 f"Dataset, got {type(info).__name__}")
        for k, v in items.items():
            if v is not None:
                out[k] = str(v)
    if not out.get("StudyInstanceUID"):
        out["StudyInstanceUID"] = new_uid(seed, "study")
    return out


def new_dataset(sop_class_uid: str, sop_instance_uid: str, modality: str, *, study: dict,
                series_instance_uid: str, series_number: int = 1,
                frame_of_reference_uid: str | None = None,
                series_description: str | None = None) -> Dataset:
    """A dataset with file meta, SOP common, patient, study, series, frame of reference
    and equipment modules filled."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = clean_lo(f"DOSECALC_{__version__}", 16)

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    for k in PATIENT_STUDY_KEYWORDS:
        setattr(ds, k, study.get(k, ""))
    ds.Modality = modality
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = int(series_number)
    ds.OperatorsName = ""
    if series_description:
        ds.SeriesDescription = clean_lo(series_description)
    if frame_of_reference_uid:
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "dosecalc"
    ds.SoftwareVersions = __version__
    return ds


def save_dataset(ds: Dataset, path: str | Path, inputs: Iterable = ()) -> Path:
    """Write ``ds`` as a DICOM Part 10 file (Explicit VR Little Endian), atomically."""
    if "PixelData" in ds:
        # pydicom resolves the ambiguous 'OB or OW' only for datasets it re-encodes.
        ds["PixelData"].VR = "OW" if ds.get("BitsAllocated", 8) > 8 else "OB"
    _freeze_encoding(ds)
    with atomic_path(path, inputs) as tmp:
        ds.save_as(tmp, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return Path(path).resolve()


# --- CT ---------------------------------------------------------------------------------
def ct_slice(hu: np.ndarray, *, origin_mm: tuple[float, float, float],
             pixel_spacing_mm: tuple[float, float], slice_thickness_mm: float,
             instance_number: int, sop_instance_uid: str, series_instance_uid: str,
             frame_of_reference_uid: str, study: dict) -> Dataset:
    """One axial HFS CT slice.

    Parameters
    ----------
    hu : int16 array (rows, columns)
        Hounsfield units, rows along +y, columns along +x.
    origin_mm : (x, y, z)
        Centre of the first pixel, mm.
    pixel_spacing_mm : (dx, dy)
        Column and row spacing in mm (written as PixelSpacing = [dy, dx]).
    """
    hu = np.ascontiguousarray(hu, dtype="<i2")
    ds = new_dataset(CT_IMAGE_STORAGE, sop_instance_uid, "CT", study=study,
                     series_instance_uid=series_instance_uid, series_number=1,
                     frame_of_reference_uid=frame_of_reference_uid,
                     series_description="Synthetic abdomen CT")
    ds.PatientPosition = "HFS"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.InstanceNumber = int(instance_number)
    ds.AcquisitionNumber = 1
    ds.KVP = "120"
    ds.ImagePositionPatient = [format_ds(c) for c in origin_mm]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = format_ds(origin_mm[2])
    ds.SliceThickness = format_ds(slice_thickness_mm)
    ds.PixelSpacing = [format_ds(pixel_spacing_mm[1]), format_ds(pixel_spacing_mm[0])]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(hu.shape[0]), int(hu.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.PixelData = hu.tobytes()
    return ds


# --- RTSTRUCT ---------------------------------------------------------------------------
def rt_structure_set(rois: SequenceABC[dict], *, sop_instance_uid: str, series_instance_uid: str,
                     frame_of_reference_uid: str, study: dict, ct_series_uid: str,
                     ct_slices: SequenceABC[tuple[float, str]], label: str = "Synthetic") -> Dataset:
    """An RTSTRUCT with CLOSED_PLANAR axial contours.

    Parameters
    ----------
    rois : sequence of dict
        Each: ``number`` (int), ``name`` (str), ``type`` (RTROIInterpretedType),
        ``color`` (r, g, b), ``planes``: list of ``(z_mm, [polygon (N, 2) x, y in mm, ...])``.
    ct_slices : sequence of (z_mm, sop_instance_uid)
        The CT images; each contour references the image at its z.
    """
    ds = new_dataset(RT_STRUCTURE_SET_STORAGE, sop_instance_uid, "RTSTRUCT", study=study,
                     series_instance_uid=series_instance_uid, series_number=2,
                     series_description="Synthetic structures")
    ds.StructureSetLabel = clean_lo(label, 16)
    ds.StructureSetName = clean_lo(label)
    ds.StructureSetDate = study.get("StudyDate", "")
    ds.StructureSetTime = study.get("StudyTime", "")
    ds.InstanceNumber = 1

    def image_ref(uid: str) -> Dataset:
        r = Dataset()
        r.ReferencedSOPClassUID = CT_IMAGE_STORAGE
        r.ReferencedSOPInstanceUID = uid
        return r

    series_ref = Dataset()
    series_ref.SeriesInstanceUID = ct_series_uid
    series_ref.ContourImageSequence = Sequence([image_ref(u) for _, u in ct_slices])
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired, customary)
    study_ref.ReferencedSOPInstanceUID = study["StudyInstanceUID"]
    study_ref.RTReferencedSeriesSequence = Sequence([series_ref])
    frame_ref = Dataset()
    frame_ref.FrameOfReferenceUID = frame_of_reference_uid
    frame_ref.RTReferencedStudySequence = Sequence([study_ref])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame_ref])

    z_of_slices = np.array([z for z, _ in ct_slices], dtype=np.float64)
    uids = [u for _, u in ct_slices]
    roi_seq, contour_seq, obs_seq = [], [], []
    for obs_no, roi in enumerate(rois, start=1):
        s = Dataset()
        s.ROINumber = int(roi["number"])
        s.ReferencedFrameOfReferenceUID = frame_of_reference_uid
        s.ROIName = clean_lo(roi["name"])
        s.ROIGenerationAlgorithm = "AUTOMATIC"
        roi_seq.append(s)

        c = Dataset()
        c.ROIDisplayColor = [int(v) for v in roi["color"]]
        contours = []
        for z, polygons in roi["planes"]:
            k = int(np.argmin(np.abs(z_of_slices - z))) if len(z_of_slices) else -1
            for poly in polygons:
                poly = np.asarray(poly, dtype=np.float64)
                item = Dataset()
                if k >= 0 and abs(z_of_slices[k] - z) < 1e-3:
                    item.ContourImageSequence = Sequence([image_ref(uids[k])])
                item.ContourGeometricType = "CLOSED_PLANAR"
                item.NumberOfContourPoints = int(len(poly))
                xyz = np.column_stack([poly, np.full(len(poly), z)])
                item[0x30060050] = _raw_ds(0x30060050, xyz)
                contours.append(item)
        c.ContourSequence = Sequence(contours)
        c.ReferencedROINumber = int(roi["number"])
        contour_seq.append(c)

        o = Dataset()
        o.ObservationNumber = obs_no
        o.ReferencedROINumber = int(roi["number"])
        o.RTROIInterpretedType = roi["type"]
        o.ROIInterpreter = ""
        obs_seq.append(o)
    ds.StructureSetROISequence = Sequence(roi_seq)
    ds.ROIContourSequence = Sequence(contour_seq)
    ds.RTROIObservationsSequence = Sequence(obs_seq)
    return ds


# --- RTPLAN -----------------------------------------------------------------------------
def rt_plan(*, sop_instance_uid: str, series_instance_uid: str, frame_of_reference_uid: str,
            study: dict, structure_set_uid: str, fractions: int, prescription_gy: float,
            targets: SequenceABC[tuple[int, str]], isocenter_mm: tuple[float, float, float],
            label: str = "LiverSBRT") -> Dataset:
    """A minimal photon RTPLAN: two VMAT arcs, one fraction group, one dose reference per
    target (TargetPrescriptionDose = ``prescription_gy``, total over ``fractions``).

    Parameters
    ----------
    targets : sequence of (roi_number, name)
        Target ROIs the dose references point at.
    isocenter_mm : (x, y, z)
        Beam isocentre in patient coordinates, mm.
    """
    if int(fractions) < 1:
        raise ParameterError(f"fractions must be >= 1, got {fractions}")
    if not (prescription_gy > 0 and math.isfinite(prescription_gy)):
        raise ParameterError(f"prescription_gy must be a positive number of Gy, got {prescription_gy}")
    ds = new_dataset(RT_PLAN_STORAGE, sop_instance_uid, "RTPLAN", study=study,
                     series_instance_uid=series_instance_uid, series_number=3,
                     frame_of_reference_uid=frame_of_reference_uid,
                     series_description="Synthetic SBRT plan")
    ds.RTPlanLabel = clean_lo(label, 16)
    ds.RTPlanName = clean_lo(label)
    ds.RTPlanDate = study.get("StudyDate", "")
    ds.RTPlanTime = study.get("StudyTime", "")
    ds.RTPlanGeometry = "PATIENT"
    ds.InstanceNumber = 1
    ds.ApprovalStatus = "UNAPPROVED"
    ref_ss = Dataset()
    ref_ss.ReferencedSOPClassUID = RT_STRUCTURE_SET_STORAGE
    ref_ss.ReferencedSOPInstanceUID = structure_set_uid
    ds.ReferencedStructureSetSequence = Sequence([ref_ss])

    refs = []
    for i, (roi_number, name) in enumerate(targets, start=1):
        r = Dataset()
        r.DoseReferenceNumber = i
        r.DoseReferenceStructureType = "VOLUME"
        r.ReferencedROINumber = int(roi_number)
        r.DoseReferenceDescription = clean_lo(name)
        r.DoseReferenceType = "TARGET"
        r.DeliveryMaximumDose = format_ds(1.4 * prescription_gy)
        r.TargetPrescriptionDose = format_ds(prescription_gy)
        refs.append(r)
    ds.DoseReferenceSequence = Sequence(refs)

    setup = Dataset()
    setup.PatientSetupNumber = 1
    setup.PatientPosition = "HFS"
    ds.PatientSetupSequence = Sequence([setup])

    mu_per_fraction = 1400.0 * prescription_gy / fractions / 8.0
    beams, beam_refs = [], []
    for b, (start, stop, direction) in enumerate([(181.0, 179.0, "CW"), (179.0, 181.0, "CC")], start=1):
        beam = Dataset()
        beam.BeamNumber = b
        beam.BeamName = f"Arc{b}"
        beam.BeamType = "DYNAMIC"
        beam.RadiationType = "PHOTON"
        beam.TreatmentMachineName = "SyntheticLinac"
        beam.PrimaryDosimeterUnit = "MU"
        beam.SourceAxisDistance = "1000"
        beam.TreatmentDeliveryType = "TREATMENT"
        beam.NumberOfWedges = 0
        beam.NumberOfCompensators = 0
        beam.NumberOfBoli = 0
        beam.NumberOfBlocks = 0
        beam.FinalCumulativeMetersetWeight = "1"
        beam.ReferencedPatientSetupNumber = 1
        devices = []
        for dev_type, pairs in (("ASYMX", 1), ("ASYMY", 1)):
            d = Dataset()
            d.RTBeamLimitingDeviceType = dev_type
            d.NumberOfLeafJawPairs = pairs
            devices.append(d)
        beam.BeamLimitingDeviceSequence = Sequence(devices)
        cps = []
        for idx, (angle, weight) in enumerate(((start, 0.0), (stop, 1.0))):
            cp = Dataset()
            cp.ControlPointIndex = idx
            cp.CumulativeMetersetWeight = format_ds(weight)
            cp.GantryAngle = format_ds(angle)
            if idx == 0:
                cp.NominalBeamEnergy = "6"
                cp.DoseRateSet = "1400"
                cp.GantryRotationDirection = direction
                cp.BeamLimitingDeviceAngle = "30"
                cp.BeamLimitingDeviceRotationDirection = "NONE"
                cp.PatientSupportAngle = "0"
                cp.PatientSupportRotationDirection = "NONE"
                cp.IsocenterPosition = [format_ds(c) for c in isocenter_mm]
                jaws = []
                for dev_type, pos in (("ASYMX", [-60.0, 60.0]), ("ASYMY", [-60.0, 60.0])):
                    j = Dataset()
                    j.RTBeamLimitingDeviceType = dev_type
                    j.LeafJawPositions = [format_ds(p) for p in pos]
                    jaws.append(j)
                cp.BeamLimitingDevicePositionSequence = Sequence(jaws)
            else:
                cp.GantryRotationDirection = "NONE"
            cps.append(cp)
        beam.NumberOfControlPoints = len(cps)
        beam.ControlPointSequence = Sequence(cps)
        beams.append(beam)
        br = Dataset()
        br.ReferencedBeamNumber = b
        br.BeamMeterset = format_ds(round(mu_per_fraction, 2))
        beam_refs.append(br)
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = int(fractions)
    group.NumberOfBeams = len(beams)
    group.NumberOfBrachyApplicationSetups = 0
    group.ReferencedBeamSequence = Sequence(beam_refs)
    ds.FractionGroupSequence = Sequence([group])
    ds.BeamSequence = Sequence(beams)
    return ds


def read_header(path: str | Path) -> Dataset | None:
    """The header of a DICOM file (no pixel data), or None when it cannot be read."""
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception:  # a missing or foreign source only means: no study info to keep
        return None
