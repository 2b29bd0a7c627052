"""case_mask / case_dvh / case_dvhs on cases built directly from model objects.

Truths: a rectangular box of square contours (volume = area x (planes x spacing), half
end caps) in a dose linear along x, whose V(d) and mean are closed form; the box's part
beyond the grid's boundary (closed form); plain bookkeeping for the cache and names.
"""

import math

import numpy as np
import pytest

import dosecalc.mask_cache as mask_cache
from dosecalc.analysis import case_dvh, case_dvhs, case_mask
from dosecalc.dvh import DVH, DVHWarning
from dosecalc.errors import ContourError, MetricSpecError, StructureNotFoundError
from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Plan, Structure, StructureSet

GRAD = 0.5  # Gy per mm along x
SPACING = (2.5, 2.5, 2.5)


def make_grid(quantity="dose"):
    """Dose 20 Gy + 0.5 Gy/mm * x on voxel centres x, y in [-50, 50], z in [-30, 30] mm."""
    x = np.arange(-50, 50.01, SPACING[0])
    y = np.arange(-50, 50.01, SPACING[1])
    z = np.arange(-30, 30.01, SPACING[2])
    values = np.broadcast_to(20.0 + GRAD * x, (z.size, y.size, x.size))
    return DoseGrid(values, (x[0], y[0], z[0]), SPACING, quantity=quantity,
                    source_path="/data/RD.dcm")


def box(number, name, x0, x1, y0, y1, zs):
    sq = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    return Structure(number, name, "ORGAN", planes=tuple(ContourPlane(z, (sq,)) for z in zs))


def make_case(prescription=40.0):
    zs = np.arange(-10.0, 10.01, 2.0)  # 11 planes, 2 mm apart: slab length 22 mm with half caps
    structures = (
        box(1, "Liver", -20.3, 20.3, -15.1, 14.9, zs),
        box(2, "GTV", -5.0, 5.0, -5.0, 5.0, zs[3:8]),
        box(3, "Wide", 30.0, 70.0, -10.0, 10.0, zs),  # reaches 18.75 mm beyond the grid's +x face
        Structure(4, "Marker", "MARKER", points_mm=[[0.0, 0.0, 0.0]]),
    )
    return Case(dose=make_grid(), structures=StructureSet(structures, source_path="/data/RS.dcm"),
                plan=Plan(fractions=5, prescription_gy=prescription))


def make_positive_case():
    """make_case's structures on its dose + 10 Gy (30 + 0.5 x Gy, >= 5 Gy everywhere: the
    LQ conversions need a dose >= 0)."""
    base = make_case()
    g = base.dose
    return Case(dose=DoseGrid(np.asarray(g.values_gy) + 10.0, g.origin_mm, g.spacing_mm,
                              source_path=g.source_path),
                structures=base.structures, plan=base.plan)


def box_v(d, x0, x1, area_yz_mm2):
    """V(d) in cc of a box [x0, x1] in the dose 20 + GRAD x: the part with x >= (d - 20)/GRAD."""
    xd = np.clip((d - 20.0) / GRAD, x0, x1)
    return (x1 - xd) * area_yz_mm2 / 1000.0


def test_box_dvh_matches_closed_form():
    """Truth: the Liver box, x in [-20.3, 20.3], y in [-15.1, 14.9], z in [-11, 11] mm
    (11 planes 2 mm apart, half end caps) has volume 40.6*30*22 mm^3; in the dose
    20 + 0.5 x its V(d) is linear and its mean is the dose at x = 0 (20 Gy).  The
    sampling error is bounded by the dose change over one lattice cell."""
    case = make_case()
    dvh = case_dvh(case, "liver")
    area = 30.0 * 22.0
    assert dvh.name == "Liver"
    assert dvh.volume_cc == pytest.approx(40.6 * area / 1000.0, rel=1e-9)
    assert dvh.outside_cc == 0.0 and dvh.coverage_warning is None
    cell = dvh.settings["mask_spacing_mm"][0]
    tol = GRAD * cell
    for d in (12.0, 16.5, 20.0, 25.0, 29.0):
        assert dvh.metric(f"V{d}Gy[cc]") == pytest.approx(box_v(d, -20.3, 20.3, area), abs=tol * area / 1000 / GRAD)
    for x in (2, 50, 95, 98):
        truth = 20.0 + GRAD * (20.3 - x / 100 * 40.6)
        assert dvh.metric(f"D{x}%[Gy]") == pytest.approx(truth, abs=tol), x
    assert dvh.mean_gy == pytest.approx(20.0, abs=tol / 2)
    assert dvh.max_gy <= 20.0 + GRAD * 20.3 + 1e-9 and dvh.max_gy >= 20.0 + GRAD * 20.3 - tol
    assert dvh.prescription_gy == 40.0
    assert dvh.metric("V50%[cc]") == pytest.approx(box_v(20.0, -20.3, 20.3, area), abs=tol * area / 1000 / GRAD)
    assert dvh.settings["dose_file"] == "/data/RD.dcm" and dvh.settings["end_cap"] == "half"


def test_structure_partly_outside_grid_is_flagged():
    """Truth: 'Wide' spans x in [30, 70] mm; the grid's volume ends at x = 51.25 mm (half a
    voxel beyond the last centre at 50), so 18.75 mm of its 40 mm lie outside:
    outside = 18.75 * 20 * 22 mm^3, and the covered part is x in [30, 51.25]."""
    case = make_case()
    dvh = case_dvh(case, "Wide")
    assert dvh.volume_cc == pytest.approx(40.0 * 20 * 22 / 1000, rel=1e-9)
    assert dvh.outside_cc == pytest.approx(18.75 * 20 * 22 / 1000, rel=1e-6)
    assert dvh.covered_cc == pytest.approx(21.25 * 20 * 22 / 1000, rel=1e-6)
    assert "outside the dose grid" in dvh.coverage_warning
    assert dvh.evaluate("V40Gy[cc]").note == dvh.coverage_warning
    # dose beyond x = 50 mm is the edge voxel's (45 Gy): the covered part tops at 45 Gy
    assert dvh.max_gy == pytest.approx(45.0, abs=1e-9)


def test_derived_expression_and_names():
    """Truth: GTV (10 x 10 mm, 5 planes: z in [-5, 5] with half caps = 10 mm) lies inside
    the Liver box, so Liver - GTV has volume 40.6*30*22 - 10*10*10 mm^3."""
    case = make_case()
    dvh = case_dvh(case, "Liver - GTV")
    assert dvh.volume_cc == pytest.approx((40.6 * 30 * 22 - 1000) / 1000, rel=1e-6)
    assert dvh.name == "Liver - GTV"
    # The GTV is centred on x = 0 in a field symmetric about x = 0: the mean stays 20 Gy.
    assert dvh.mean_gy == pytest.approx(20.0, abs=GRAD * dvh.settings["mask_spacing_mm"][0])
    with pytest.raises(StructureNotFoundError, match="Livr"):
        case_dvh(case, "Livr")
    with pytest.raises(StructureNotFoundError, match="Stomach"):
        case_dvh(case, "Liver - Stomach")


def test_volumeless_structure_gives_a_nan_dvh_and_is_skipped_by_dvhs():
    """A point-only ROI has no volume: asked for, its DVH's metrics are NaN with a warning
    that names it and why (truth: the ROI holds no closed contour); the mask API still
    refuses it; the default set of case_dvhs leaves it out."""
    case = make_case()
    with pytest.warns(DVHWarning, match="'Marker' has no volume.*only points"):
        empty = case_dvh(case, "Marker")
    assert empty.volume_cc == 0.0 and math.isnan(empty.metric("Volume[cc]"))
    assert math.isnan(empty.metric("D95%[Gy]"))
    dvhs = case_dvhs(case)
    assert list(dvhs) == ["Liver", "GTV", "Wide"]
    assert all(isinstance(d, DVH) for d in dvhs.values())
    assert list(case_dvhs(case, ["GTV", "Liver - GTV"])) == ["GTV", "Liver - GTV"]
    with pytest.warns(DVHWarning):
        assert math.isnan(case_dvhs(case, ["Marker", "GTV"])["Marker"].mean_gy)
    with pytest.raises(ContourError):
        case.mask("Marker")


def test_mask_cache_shared_by_same_geometry_and_bounded(monkeypatch):
    """The physical and a converted grid of the same geometry share one mask; other
    options make another; the cache drops old masks beyond its byte budget."""
    case = make_case()
    m1 = case_mask(case, "Liver")
    assert case_mask(case, "LIVER") is m1
    assert case_mask(case, "Liver", grid=make_grid("EQD2Gy(a/b=2.5)")) is m1
    m2 = case_mask(case, "Liver", supersample=1)
    assert m2 is not m1 and m2.index_offset is not None
    monkeypatch.setattr(mask_cache, "MASK_CACHE_BYTES", m2.fraction.nbytes + 1)
    m3 = case_mask(case, "GTV", supersample=1)
    cache = case.mask_cache
    # m1 and m2 no longer fit beside m3: the least recently used go first, m3 stays.
    assert list(cache.values()) == [m3]
    assert case_mask(case, "GTV", supersample=1) is m3


def test_converted_dose_keeps_quantity_and_no_physical_prescription():
    """A converted grid's DVH carries its label, gets no physical prescription by default,
    and refuses a spec of another quantity."""
    case = make_case()
    eqd2 = make_grid("EQD2Gy(a/b=2.5)")
    dvh = case_dvh(case, "GTV", dose=eqd2)
    assert dvh.quantity == "EQD2Gy(a/b=2.5)" and dvh.prescription_gy is None
    assert dvh.label("Mean[Gy]") == "Mean[EQD2Gy(a/b=2.5)]"
    with pytest.raises(MetricSpecError):
        dvh.metric("Mean[BED]")
    assert case_dvh(case, "GTV", dose=eqd2, prescription_gy=50.0).prescription_gy == 50.0
    # No plan: no prescription.
    no_plan = Case(dose=case.dose, structures=case.structures)
    assert case_dvh(no_plan, "GTV").prescription_gy is None


def test_supersample_one_reads_dose_directly():
    """With the dose grid's own voxels as the lattice, every sample is a voxel value:
    the GTV box (x in [-5, 5]) covers voxel centres at x = -5 .. 5 step 2.5, partially
    at the ends, so Max/Min are voxel doses 20 +- 0.5*5 = 22.5 / 17.5 Gy."""
    case = make_case()
    dvh = case_dvh(case, "GTV", supersample=1)
    assert dvh.max_gy == pytest.approx(22.5) and dvh.min_gy == pytest.approx(17.5)
    assert dvh.volume_cc == pytest.approx(1.0, rel=1e-9)
    assert math.isclose(dvh.mean_gy, 20.0, abs_tol=1e-9)
