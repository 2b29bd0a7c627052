"""Loader benchmark: a large RTSTRUCT (40 ROIs, ~2 M coordinates) and a 15 M-voxel RTDOSE.

Usage::

    python benchmarks/bench_load.py [--quick]

Builds the files with pydicom in a temporary folder, then times
(a) pydicom's default ContourData conversion (the baseline every pydicom-based tool pays),
(b) ``dosecalc.io.rtstruct.read_rtstruct`` on the same file,
(c) ``dosecalc.io.rtdose.read_rtdose`` on the dose file and
(d) ``dosecalc.load`` on the folder (scan + select + read everything),
prints the ratios and writes ``benchmarks/results/load.json`` atomically.
``--quick`` uses a tenth of the sizes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from _common import best_time

FOR_UID = "1.2.826.0.1.3680043.8.498.1"


def _meta(ds: Dataset, sop_class: str) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "BENCH"


def build_rtstruct(path: Path, n_rois: int, planes: int, points: int) -> int:
    """Write the structure set; ContourData goes in as raw text so that building it does
    not pay the very conversion being measured.  Returns the number of coordinates."""
    ds = Dataset()
    _meta(ds, "1.2.840.10008.5.1.4.1.1.481.3")
    ds.Modality = "RTSTRUCT"
    ref = Dataset()
    ref.FrameOfReferenceUID = FOR_UID
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref])
    rng = np.random.default_rng(0)
    ss, rc, obs = [], [], []
    total = 0
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    for r in range(n_rois):
        s = Dataset()
        s.ROINumber = r + 1
        s.ROIName = f"ROI_{r:02d}"
        s.ReferencedFrameOfReferenceUID = FOR_UID
        ss.append(s)
        o = Dataset()
        o.ObservationNumber = r + 1
        o.ReferencedROINumber = r + 1
        o.RTROIInterpretedType = "ORGAN"
        obs.append(o)
        c = Dataset()
        c.ReferencedROINumber = r + 1
        c.ROIDisplayColor = [255, 0, 0]
        items = []
        for k in range(planes):
            radius = 20 + 40 * rng.random()
            xyz = np.stack([radius * np.cos(t) + r, radius * np.sin(t) - 10.0,
                            np.full_like(t, -150.0 + 2.5 * k)], axis=1)
            text = "\\".join(f"{v:.4f}" for v in xyz.ravel()).encode("ascii")
            if len(text) % 2:
                text += b" "
            it = Dataset()
            it.ContourGeometricType = "CLOSED_PLANAR"
            it.NumberOfContourPoints = points
            tag = Tag(0x30060050)
            it[tag] = RawDataElement(tag, "DS", len(text), text, 0, False, True)
            items.append(it)
            total += xyz.size
        c.ContourSequence = Sequence(items)
        rc.append(c)
    ds.StructureSetROISequence = Sequence(ss)
    ds.ROIContourSequence = Sequence(rc)
    ds.RTROIObservationsSequence = Sequence(obs)
    ds.save_as(path, enforce_file_format=True)
    return total


def build_rtdose(path: Path, shape_frc: tuple[int, int, int]) -> int:
    nf, nr, nc = shape_frc
    ds = Dataset()
    _meta(ds, "1.2.840.10008.5.1.4.1.1.481.2")
    ds.Modality = "RTDOSE"
    ds.FrameOfReferenceUID = FOR_UID
    ds.ImagePositionPatient = [-250.0, -250.0, -150.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [2.0, 2.0]
    ds.GridFrameOffsetVector = [2.5 * k for k in range(nf)]
    ds.NumberOfFrames = nf
    ds.Rows, ds.Columns = nr, nc
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = "GY", "PHYSICAL", "PLAN"
    ds.DoseGridScaling = "1e-5"
    rng = np.random.default_rng(1)
    ds.PixelData = rng.integers(0, 5_000_000, size=(nf, nr, nc), dtype=np.uint32).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return nf * nr * nc


def run(quick: bool, repeat: int = 3) -> dict:
    """Benchmark entry point of benchmarks/run.py: timings and ratios (larger = better)."""
    from dosecalc.io.load import load
    from dosecalc.io.rtdose import read_rtdose
    from dosecalc.io.rtstruct import read_rtstruct

    planes, points = (10, 167) if quick else (100, 167)
    dose_shape = (24, 250, 250) if quick else (240, 250, 250)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rs, rd = tmp / "rs.dcm", tmp / "rd.dcm"
        n_coords = build_rtstruct(rs, 40, planes, points)
        n_vox = build_rtdose(rd, dose_shape)

        def pydicom_baseline():
            ds = pydicom.dcmread(rs)
            for roi in ds.ROIContourSequence:
                for c in roi.ContourSequence:
                    np.asarray(c.ContourData, dtype=np.float64)

        t_base = best_time(pydicom_baseline, repeat)
        t_rs = best_time(lambda: read_rtstruct(rs), repeat)
        t_rd = best_time(lambda: read_rtdose(rd), repeat)
        t_load = best_time(lambda: load(tmp), repeat)
        sizes = {"rtstruct_mb": rs.stat().st_size / 1e6, "rtdose_mb": rd.stat().st_size / 1e6}
    return {
        "size": {"coordinates": n_coords, "dose_voxels": n_vox, **sizes},
        "timings_s": {"pydicom_contourdata": t_base, "read_rtstruct": t_rs, "read_rtdose": t_rd,
                      "load_folder": t_load},
        "ratios": {"pydicom_contourdata_over_read_rtstruct": t_base / t_rs,
                   "pydicom_contourdata_over_load": t_base / t_load},
        "versions": {"python": platform.python_version(), "pydicom": pydicom.__version__,
                     "numpy": np.__version__, "machine": platform.machine()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    args = ap.parse_args(argv)
    from dosecalc.io.atomic import write_text

    result = run(args.quick, args.repeat)
    t, size = result["timings_s"], result["size"]
    print(f"RTSTRUCT {size['rtstruct_mb']:.1f} MB, {size['coordinates'] / 1e6:.2f} M coordinates; "
          f"RTDOSE {size['rtdose_mb']:.1f} MB, {size['dose_voxels'] / 1e6:.1f} M voxels")
    print(f"pydicom ContourData conversion : {t['pydicom_contourdata']:7.3f} s")
    print(f"dosecalc read_rtstruct         : {t['read_rtstruct']:7.3f} s  "
          f"({result['ratios']['pydicom_contourdata_over_read_rtstruct']:.1f}x faster)")
    print(f"dosecalc read_rtdose           : {t['read_rtdose']:7.3f} s")
    print(f"dosecalc.load (folder)         : {t['load_folder']:7.3f} s")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    name = "load-quick.json" if args.quick else "load.json"
    write_text(out / name, json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
