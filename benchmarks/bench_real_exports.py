"""Real planning-system exports: our DVHs against the planning system's, and timings.

The exports ship inside public source distributions and are downloaded with pip into
``benchmarks/_work`` (git-ignored; never committed):

* ``eclipse_breast`` - dicompyler-core 0.5.6 ``tests/testdata/example_data``: a Varian
  Eclipse breast plan (2.5 x 2.5 x 3 mm dose grid, 10 ROIs) whose RTDOSE carries the
  planning system's own cumulative DVHs (DVHSequence).  Per ROI we compare volume, mean,
  min, max, D95%, D50%, D5% with ours (``case.dvh(roi)`` at default settings).
* ``brainlab_srs`` - dicomhandler 0.0.1 ``Examples``: a Brainlab Elements SRS plan
  (40 ROIs, 1 x 1 x 1 mm dose grid of 15 M voxels).  We time ``dosecalc.load`` and
  ``case.dvhs()`` cold (fresh numba cache, in a subprocess) and warm, count structures /
  contour points / voxels, check every volume against an independent plain-numpy
  computation of the same contour rule, and report the contour plane spacing.

The stored DVHs are read by the package (``case.stored_dvhs()``, :mod:`dosecalc.stored_dvh`):
the curve is linear between bin edges; Min / Max / Mean come from the file's
DVHMinimumDose / DVHMaximumDose / DVHMeanDose once their unit is established against
the curve (this Eclipse export stores them in % of the prescription although DoseUnits
says GY); the curve-derived values are kept in ``tps_from_curve``.

Ratios (larger = better): ``pydicom_parse_over_load_*`` = a plain pydicom read of the
same files (dcmread, every ContourData to a float array, dose pixel array x scaling)
divided by ``dosecalc.load``; ``numpy_reference_over_load_and_dvhs_*`` =
:func:`_common.numpy_reference_s` on the dose grid's size divided by load + all DVHs.

Further public real RT files (sources recorded in ``_common.REAL_EXPORTS``):

* ``monaco_plans`` - pymedphys 0.41.0 sdist, Elekta Monaco (CMS) RTPLAN templates: BeamDose
  with BeamDoseSpecificationPoint per beam (0, 0, 0), 1 or 2 fractions.
* ``aria_ion_plans`` - pymchelper 2.9.6 sdist, two Varian ARIA/Eclipse RT Ion Plans:
  BeamDose per beam but no specification point (nothing to cross-check).
* pydicom's own ``rtplan.dcm`` / ``rtdose.dcm`` (anonymised vendor; installed with
  pydicom): a DoseUnits RELATIVE, DoseSummationType BEAM dose and a 30-fraction plan
  whose BeamDose is specified at the target reference point.

For every RTPLAN we report what the dose cross-check can use (fraction groups, BeamDose,
specification points, dose reference points) and, where a dose comes with it, the
reading decided (``case.dose.reading``).  For the Brainlab plan (no stored DVHs) the
Min/Max of its small ROIs (< 2 cc) are compared with a plain-numpy brute force of our
own (0.1 mm lattice, even-odd inside test, numpy trilinear).

Quick mode (CI): both exports, Brainlab warm timing once and no cold-compile run; skips
(``{"skipped": reason, ...}``) when the sdists cannot be downloaded.
"""

from __future__ import annotations

# Not part of the quick (CI) run: it downloads public example exports from PyPI.
IN_QUICK = False

import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from _common import REAL_EXPORTS, DownloadError, best_of, numpy_reference_s, real_export, rt_files

PERCENTS = (95.0, 50.0, 5.0)


# --- the planning system's stored DVHs (read by dosecalc.stored_dvh) -------------------

def _theirs(stored, ours_volume_cc: float) -> dict:
    """Volume, mean, min, max, D<x>% of a stored DVH (dosecalc.stored_dvh.StoredDVH)."""
    dvh = stored.to_dvh(volume_cc=ours_volume_cc)
    out = {"volume": stored.volume if stored.volume_units == "CM3" else float("nan"),
           "mean_gy": stored.mean_gy, "min_gy": stored.min_gy, "max_gy": stored.max_gy}
    for p in PERCENTS:
        out[f"D{p:g}%_gy"] = dvh.metric(f"D{p:g}%[Gy]")
    return out


def _ours(dvh) -> dict:
    out = {"volume": dvh.volume_cc, "outside_cc": dvh.outside_cc, "mean_gy": dvh.mean_gy,
           "min_gy": dvh.min_gy, "max_gy": dvh.max_gy}
    for p in PERCENTS:
        out[f"D{p:g}%_gy"] = dvh.metric(f"D{p:g}%[Gy]")
    return out


def _differences(ours: dict, theirs: dict) -> dict:
    """ours - planning system, per metric (Gy or cc), plus volume and mean in percent."""
    diff = {k: ours[k] - ref for k, ref in theirs.items() if k in ours and math.isfinite(ref)}
    if theirs.get("volume") and math.isfinite(theirs["volume"]):
        diff["volume_percent"] = 100.0 * (ours["volume"] - theirs["volume"]) / theirs["volume"]
    if theirs.get("mean_gy"):
        diff["mean_percent"] = 100.0 * (ours["mean_gy"] - theirs["mean_gy"]) / theirs["mean_gy"]
    return diff


def compare_breast(folder: Path) -> dict:
    import dosecalc
    from dosecalc.stored_dvh import curve_values

    t_load, case = best_of(lambda: dosecalc.load(folder), 1)
    stored = case.stored_dvhs()
    rx = case.prescription_gy
    rows = {}
    attr_units = set()
    t0 = time.perf_counter()
    for name, curve in stored.items():
        s = case.structures[curve.roi_number]
        ours = _ours(case.dvh(s.number))
        theirs = _theirs(curve, ours["volume"])
        # Eclipse appears not to extend the end planes (see docs/VALIDATION.md): our
        # end_cap="none" variant isolates that one convention from everything else
        no_cap = _ours(case.dvh(s.number, end_cap="none"))
        attr_units.add(curve.attribute_unit)
        from_curve = dict(theirs, **curve_values(curve.edges_gy, curve.cumulative))
        diff, diff_no_cap = _differences(ours, theirs), _differences(no_cap, theirs)
        rows[s.name] = {
            "roi_number": s.number, "planes": len(s.planes),
            "tps": theirs, "tps_from_curve": from_curve, "tps_attribute_unit": curve.attribute_unit,
            "ours": ours, "difference": diff,
            "ours_end_cap_none": no_cap, "difference_end_cap_none": diff_no_cap,
            "tps_bin_gy": curve.bin_gy,
            "mask_supersample": case.mask(s.number).settings.get("supersample"),
        }
    t_dvhs = time.perf_counter() - t0
    return {
        "source": "dicompyler-core 0.5.6 sdist, tests/testdata/example_data (Varian Eclipse)",
        "dose_grid": {"shape_zyx": list(case.dose.shape), "spacing_mm": list(case.dose.spacing_mm),
                      "max_gy": case.dose.max_gy},
        "prescription_gy": rx, "fractions": case.fractions,
        "rois_in_structure_set": len(case.structures), "rois_with_stored_dvh": len(stored),
        "stored_dvh_attribute_units": sorted(attr_units),
        "loader_notes": list(case.notes),
        "dose_reading": case.dose.reading.text if case.dose.reading else None,
        "load_s": t_load, "dvhs_s": t_dvhs,
        "rois": rows,
    }


# --- Brainlab SRS: scale, timings, volumes -------------------------------------------------

def _ring_area_mm2(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _inside(pt: np.ndarray, poly: np.ndarray) -> bool:
    """Even-odd ray casting of one point against one ring (plain numpy)."""
    x, y = pt
    xi, yi = poly[:, 0], poly[:, 1]
    xj, yj = np.roll(xi, 1), np.roll(yi, 1)
    cross = (yi > y) != (yj > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = xi + (y - yi) * (xj - xi) / (yj - yi)
    return bool(np.count_nonzero(cross & (x < xc)) % 2)


def plane_area_mm2(polygons) -> float:
    """Even-odd area of the rings of one plane, assuming rings do not cross: a ring nested
    in an odd number of others is a hole."""
    rings = [p for p in polygons if len(p) >= 3]
    if len(rings) == 1:
        return _ring_area_mm2(rings[0])
    boxes = [(p.min(axis=0), p.max(axis=0)) for p in rings]
    total = 0.0
    for i, p in enumerate(rings):
        pt = p[0]
        depth = sum(_inside(pt, q) for j, q in enumerate(rings)
                    if j != i and np.all(pt >= boxes[j][0]) and np.all(pt <= boxes[j][1]))
        total += _ring_area_mm2(p) * (-1 if depth % 2 else 1)
    return total


def prism_volume_cc(z_mm: np.ndarray, areas_mm2: np.ndarray, gap_factor: float = 1.5) -> float:
    """Independent statement of the prism / half-end-cap rule: each plane is a slab halfway
    to its neighbours; first, last and gap-side planes reach half the median spacing."""
    n = len(z_mm)
    if n == 0:
        return 0.0
    if n == 1:
        return 0.0  # single-plane slabs depend on the dose grid; not used for checks
    dz = np.diff(z_mm)
    med = float(np.median(dz))
    lo = np.empty(n)
    hi = np.empty(n)
    lo[0] = hi[-1] = 0.5 * med
    for i in range(n - 1):
        half = 0.5 * dz[i] if dz[i] <= gap_factor * med else 0.5 * med
        hi[i] = lo[i + 1] = half
    return float(np.sum(areas_mm2 * (lo + hi)) / 1000.0)


def pydicom_baseline_s(files: dict[str, list[Path]], repeats: int = 2) -> float:
    """Plain pydicom: read RTSTRUCT and RTDOSE, every ContourData to a float array, dose x
    scaling (the work any DICOM DVH tool has to do first)."""
    import pydicom

    def work():
        n = 0
        for f in files.get("RTSTRUCT", []):
            ds = pydicom.dcmread(f)
            for r in ds.ROIContourSequence:
                for c in r.get("ContourSequence", []):
                    n += np.asarray(c.ContourData, dtype=np.float64).size
        for f in files.get("RTDOSE", []):
            ds = pydicom.dcmread(f)
            n += (ds.pixel_array * float(ds.DoseGridScaling)).size
        return n

    return best_of(work, repeats)[0]


COLD_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import dosecalc
    c = dosecalc.load(sys.argv[1])
    t1 = time.perf_counter()
    d = c.dvhs()
    t2 = time.perf_counter()
    print(json.dumps({"load_s": t1 - t0, "dvhs_s": t2 - t1, "n": len(d)}))
    """
)


def cold_run(folder: Path) -> dict:
    """load + dvhs in a fresh interpreter with an empty numba cache (compile included)."""
    with tempfile.TemporaryDirectory(prefix="dosecalc-numba-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", COLD_SCRIPT, str(folder)], env=env,
                              capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


def brainlab(folder: Path, quick: bool) -> dict:
    import dosecalc

    files = rt_files(folder)
    res: dict = {"source": "dicomhandler 0.0.1 sdist, Examples (Brainlab Elements)"}
    if not quick:
        res["cold"] = cold_run(folder)
        dosecalc.load(folder).dvhs()  # compile / warm the numba cache of this process
    # quick mode: one run only, warm as far as the on-disk numba cache is

    def load_and_dvhs():
        c = dosecalc.load(folder)  # new case each time: masks are cached per case
        return c, c.dvhs()

    t_all, (case, dvhs) = best_of(load_and_dvhs, 1 if quick else 3)
    t_load, _ = best_of(lambda: dosecalc.load(folder), 1 if quick else 3)
    n_vox = int(case.dose.values_gy.size)
    with_volume = [s for s in case.structures if s.has_volume]
    names = [s.name for s in with_volume]
    points = sum(len(p) for s in case.structures for pl in s.planes for p in pl.polygons)

    vols = {}
    worst = 0.0
    for s in with_volume:
        areas = np.array([plane_area_mm2(pl.polygons) for pl in s.planes])
        truth = prism_volume_cc(s.z_planes_mm, areas)
        mask = case.mask(s.number)
        cell_cc = float(np.prod(mask.spacing_mm)) / 1000.0
        mask_cc = float(mask.fraction.sum()) * cell_cc + mask.outside_cc
        rel = 100.0 * (mask.volume_cc - truth) / truth if truth > 0 else float("nan")
        worst = max(worst, abs(rel)) if math.isfinite(rel) else worst
        dz = np.round(np.diff(s.z_planes_mm), 3)
        vols[f"{s.number}:{s.name}"] = {
            "volume_cc": mask.volume_cc, "numpy_prism_cc": truth, "diff_percent": rel,
            "mask_sum_cc": mask_cc, "outside_cc": mask.outside_cc, "planes": len(s.planes),
            "plane_spacings_mm": sorted({float(x) for x in dz}),
            "supersample": mask.settings.get("supersample"),
        }
    # spacing of all contour z values of the file (POINT ROIs included), as a tool that
    # pools every ROI's planes would see it
    import pydicom

    ds = pydicom.dcmread(files["RTSTRUCT"][0])
    pooled = sorted({round(float(c.ContourData[2]), 3) for r in ds.ROIContourSequence
                     for c in r.get("ContourSequence", [])})
    pooled_steps = sorted({round(float(x), 3) for x in np.diff(pooled)})
    point_z = [round(float(z), 3) for s in case.structures for z in s.points_mm[:, 2]]

    ref = numpy_reference_s(n_vox)
    base = pydicom_baseline_s(files, 1 if quick else 2)
    res.update({
        "dose_grid": {"shape_zyx": list(case.dose.shape), "spacing_mm": list(case.dose.spacing_mm),
                      "voxels": n_vox},
        "rois": len(case.structures), "rois_with_volume": len(with_volume),
        "dvhs_returned": len(dvhs),
        "duplicate_roi_names": sorted({n for n in names if names.count(n) > 1}),
        "contour_points": points,
        "contour_planes": sum(len(s.planes) for s in with_volume),
        "loader_notes": list(case.notes),
        "warm": {"load_s": t_load, "load_and_dvhs_s": t_all, "dvhs_s": t_all - t_load},
        "pydicom_baseline_s": base, "numpy_reference_s": ref,
        "volumes": vols, "max_abs_volume_diff_percent": worst,
        "pooled_contour_z_steps_mm": pooled_steps, "point_roi_z_mm": point_z,
    })
    return res


def plan_evidence(path) -> dict:
    """What an RTPLAN offers the dose cross-check (dosecalc.io.rtplan)."""
    import pydicom
    from dosecalc.io.rtplan import read_rtplan

    plan, notes = read_rtplan(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return {
        "file": Path(path).name, "manufacturer": str(ds.get("Manufacturer", "")),
        "model": str(ds.get("ManufacturerModelName", "")), "software": str(ds.get("SoftwareVersions", "")),
        "fractions": plan.fractions, "fractions_reason": plan.fractions_reason,
        "groups": [{"number": g.number, "fractions": g.fractions, "dose_per_fraction_gy": g.dose_per_fraction_gy,
                    "beams": [{"beam": b.beam_number, "dose_gy": b.dose_gy,
                               "specification_point_mm": b.specification_point_mm} for b in g.beams]}
                   for g in plan.fraction_groups],
        "dose_references": [{"number": r.number, "type": r.reference_type, "structure_type": r.structure_type,
                             "prescription_gy": r.prescription_gy, "point_mm": r.point_mm}
                            for r in plan.dose_references],
        "notes": notes,
    }


def dose_reading(folder: Path) -> dict:
    import dosecalc

    case = dosecalc.load(folder)
    r = case.dose.reading
    return {"status": r.status, "reading": None if r.reading is None else r.reading.value,
            "source": r.source, "fractions": r.fractions, "evidence": list(r.evidence), "text": r.text}


def _inside_prism(s, pts) -> np.ndarray:
    """Even-odd inside test of points (N, 3) against the prism geometry (plain numpy)."""
    z = s.z_planes_mm
    d = np.diff(z)
    med = float(np.median(d)) if d.size else 0.0
    gap = d > 1.5 * med
    mid = 0.5 * (z[1:] + z[:-1])
    lo = np.empty_like(z)
    hi = np.empty_like(z)
    lo[0], hi[-1] = z[0] - med / 2, z[-1] + med / 2
    hi[:-1] = np.where(gap, z[:-1] + med / 2, mid)
    lo[1:] = np.where(gap, z[1:] - med / 2, mid)
    keep = np.zeros(len(pts), dtype=bool)
    for k, plane in enumerate(s.planes):
        sel = np.nonzero((pts[:, 2] >= lo[k]) & (pts[:, 2] <= hi[k]))[0]
        if not sel.size:
            continue
        ins = np.zeros(sel.size, dtype=bool)
        px, py = pts[sel, 0], pts[sel, 1]
        for poly in plane.polygons:
            xa, ya = poly[:, 0], poly[:, 1]
            xb, yb = np.roll(xa, -1), np.roll(ya, -1)
            for i in range(len(xa)):
                cross = (ya[i] > py) != (yb[i] > py)
                with np.errstate(divide="ignore", invalid="ignore"):
                    xc = xa[i] + (py - ya[i]) * (xb[i] - xa[i]) / (yb[i] - ya[i])
                ins ^= cross & (px < xc)
        keep[sel] |= ins
    return keep


def _trilinear_numpy(grid, pts) -> np.ndarray:
    f = (pts - np.array(grid.origin_mm)) / np.array(grid.spacing_mm)
    n = np.array(grid.shape[::-1], dtype=float)
    f = np.clip(f, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(f).astype(int), (n - 2).astype(int))
    w = f - i0
    v = grid.values_gy
    out = np.zeros(len(pts))
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                wt = ((w[:, 0] if dx else 1 - w[:, 0]) * (w[:, 1] if dy else 1 - w[:, 1])
                      * (w[:, 2] if dz else 1 - w[:, 2]))
                out += wt * v[i0[:, 2] + dz, i0[:, 1] + dy, i0[:, 0] + dx]
    return out


def brute_min_max(case, s, step=0.1) -> tuple[float, float]:
    """Plain-numpy Min/Max of the trilinear dose over a small ROI's prism (lattice)."""
    xy = np.concatenate([p for pl in s.planes for p in pl.polygons])
    z = s.z_planes_mm
    med = float(np.median(np.diff(z))) if len(z) > 1 else case.dose.spacing_mm[2]
    xs = np.arange(xy[:, 0].min(), xy[:, 0].max() + step, step)
    ys = np.arange(xy[:, 1].min(), xy[:, 1].max() + step, step)
    zs = np.arange(z[0] - med / 2, z[-1] + med / 2 + 1e-9, step)
    lo, hi = np.inf, -np.inf
    for zz in zs:
        X, Y = np.meshgrid(xs, ys)
        pts = np.column_stack([X.ravel(), Y.ravel(), np.full(X.size, zz)])
        pts = pts[_inside_prism(s, pts)]
        if len(pts):
            d = _trilinear_numpy(case.dose, pts)
            lo, hi = min(lo, float(d.min())), max(hi, float(d.max()))
    return lo, hi


def brainlab_min_max(folder: Path, max_cc: float = 2.0) -> dict:
    import dosecalc

    case = dosecalc.load(folder)
    out = {}
    for s in case.structures:
        if not s.has_volume or len(s.planes) < 2:
            continue
        dvh = case.dvh(s.number)
        if dvh.volume_cc > max_cc or dvh.outside_cc > 0:
            continue
        lo, hi = brute_min_max(case, s)
        out[f"{s.number}:{s.name}"] = {"volume_cc": dvh.volume_cc, "min_gy": dvh.min_gy, "max_gy": dvh.max_gy,
                                       "brute_min_gy": lo, "brute_max_gy": hi,
                                       "d_min_gy": dvh.min_gy - lo, "d_max_gy": dvh.max_gy - hi}
    return out


def other_sources() -> dict:
    """The plan-only exports and pydicom's own RT files: what the cross-check can use."""
    from pydicom.data import get_testdata_file

    out: dict = {}
    for key in ("monaco_plans", "aria_ion_plans"):
        try:
            folder = real_export(key)
        except DownloadError as exc:
            out[key] = {"skipped": str(exc)}
            continue
        dist, version, inner = REAL_EXPORTS[key]
        out[key] = {"source": f"{dist} {version} sdist, {inner}",
                    "plans": [plan_evidence(p) for p in sorted(folder.glob("*.dcm"))]}
    out["pydicom_test_files"] = {"source": "pydicom (installed) data/test_files",
                                 "plans": [plan_evidence(get_testdata_file("rtplan.dcm"))]}
    return out


def run(quick: bool) -> dict:
    try:
        breast_dir = real_export("eclipse_breast")
        brain_dir = real_export("brainlab_srs")
    except DownloadError as exc:
        return {"skipped": str(exc), "timings_s": {}, "ratios": {}}
    breast = compare_breast(breast_dir)
    brain = brainlab(brain_dir, quick)
    brain["min_max_vs_brute_force"] = brainlab_min_max(brain_dir)
    brain["dose_reading"] = dose_reading(brain_dir)
    brain["plan_evidence"] = plan_evidence(rt_files(brain_dir)["RTPLAN"][0])
    breast["plan_evidence"] = plan_evidence(rt_files(breast_dir)["RTPLAN"][0])
    breast_files = rt_files(breast_dir)
    breast_base = pydicom_baseline_s(breast_files)
    timings = {
        "breast_load": breast["load_s"], "breast_dvhs": breast["dvhs_s"],
        "breast_pydicom_baseline": breast_base,
        "brainlab_load_warm": brain["warm"]["load_s"],
        "brainlab_load_and_dvhs_warm": brain["warm"]["load_and_dvhs_s"],
        "brainlab_pydicom_baseline": brain["pydicom_baseline_s"],
        "brainlab_numpy_reference": brain["numpy_reference_s"],
    }
    cold = brain.get("cold", {})
    if "load_s" in cold:
        timings["brainlab_load_cold"] = cold["load_s"]
        timings["brainlab_dvhs_cold"] = cold["dvhs_s"]
        timings["brainlab_cold_process_wall"] = cold["process_wall_s"]
    return {
        "timings_s": timings,
        "ratios": {
            "pydicom_parse_over_load_brainlab": brain["pydicom_baseline_s"] / brain["warm"]["load_s"],
            "numpy_reference_over_load_and_dvhs_brainlab":
                brain["numpy_reference_s"] / brain["warm"]["load_and_dvhs_s"],
            "pydicom_parse_over_load_breast": breast_base / breast["load_s"],
        },
        "eclipse_breast": breast,
        "brainlab_srs": brain,
        "other_sources": other_sources(),
    }


def markdown_table(result: dict) -> str:
    """The per-ROI comparison as the Markdown table of docs/VALIDATION.md (ours - TPS)."""
    rows = ["| ROI | planes | TPS vol cc | ours cc (none) | mean Gy TPS / ours (none) | "
            "min Gy TPS / ours | max Gy TPS / ours | dD95 | dD50 | dD5 (Gy, default / none) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["eclipse_breast"]["rois"].items():
        t, o, n = r["tps"], r["ours"], r["ours_end_cap_none"]
        d, dn = r["difference"], r["difference_end_cap_none"]
        rows.append(
            f"| {name} | {r['planes']} | {t['volume']:.2f} | {o['volume']:.2f} ({n['volume']:.2f}) | "
            f"{t['mean_gy']:.3f} / {o['mean_gy']:.3f} ({n['mean_gy']:.3f}) | "
            f"{t['min_gy']:.2f} / {o['min_gy']:.2f} | {t['max_gy']:.2f} / {o['max_gy']:.2f} | "
            + " | ".join(f"{d[k]:+.3f} / {dn[k]:+.3f}" for k in ("D95%_gy", "D50%_gy", "D5%_gy")) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    # python benchmarks/bench_real_exports.py [--full]        run and print JSON
    # python benchmarks/bench_real_exports.py --table FILE    Markdown table of a results file
    if "--table" in sys.argv:
        print(markdown_table(json.loads(Path(sys.argv[sys.argv.index("--table") + 1]).read_text())))
    else:
        print(json.dumps(run(quick="--full" not in sys.argv), indent=1, default=str))
