"""Derived structures: expression parsing, name precedence, and combined fractional
volumes against analytic volumes in both partial-volume regimes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dosecalc.derived import DerivedStructure, case_structure, derived_mask
from dosecalc.errors import ParameterError, StructureNotFoundError
from dosecalc.masks import combine, structure_mask
from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Structure, StructureSet

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from analytic_shapes import prism_volume_cc, sphere  # noqa: E402


def box(name, number, x0, x1, y0, y1, zs):
    sq = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return Structure(number, name, planes=tuple(ContourPlane(z, (sq,)) for z in zs))


GRID = DoseGrid(np.zeros((30, 30, 30)), (-14.5, -14.5, -14.5), (1.0, 1.0, 1.0))
ZS = np.arange(-5.0, 5.01, 1.0)  # 11 planes, half caps: z in [-5.5, 5.5], 11 mm tall


def make_case(*extra):
    liver = box("Liver", 1, -10.3, 10.3, -10.3, 10.3, ZS)
    gtv = box("GTV", 2, -3.3, 3.3, -2.7, 2.7, ZS)           # inside Liver
    gtv2 = box("GTV2", 3, 3.3, 8.3, -2.7, 2.7, ZS)           # touches GTV along x = 3.3
    ptv = box("PTV", 4, 5.2, 14.2, -4.0, 4.0, ZS)            # partly outside Liver; y faces on voxel faces
    odd = box("Liver-GTV", 5, -1.0, 1.0, -1.0, 1.0, ZS)      # a name that looks like an expression
    spaced = box("Bowel Small", 6, -12.0, -11.0, -12.0, -11.0, ZS)
    ss = StructureSet(structures=(liver, gtv, gtv2, ptv, odd, spaced) + tuple(extra))
    return Case(dose=GRID, structures=ss)


def vol(x0, x1, y0, y1, h=11.0):
    return (x1 - x0) * (y1 - y0) * h / 1000.0


def test_plain_names_and_existing_roi_wins():
    """A name is returned as is (case-insensitive); 'Liver-GTV' is the ROI, not Liver minus GTV."""
    case = make_case()
    assert case_structure(case, "liver").name == "Liver"
    assert case_structure(case, "Liver-GTV").number == 5
    assert case_structure(case, "Bowel Small").number == 6
    d = case_structure(case, "Liver - GTV")
    assert isinstance(d, DerivedStructure) and d.expression == "(Liver - GTV)"
    assert [s.name for s in d.operands] == ["Liver", "GTV"]


def test_precedence_and_parentheses():
    """& binds tighter than | and -; - and | associate left to right; + is |."""
    case = make_case()
    assert case_structure(case, "Liver - GTV | GTV2").expression == "((Liver - GTV) | GTV2)"
    assert case_structure(case, "Liver - GTV & PTV").expression == "(Liver - (GTV & PTV))"
    assert case_structure(case, "(Liver - GTV) & PTV").expression == "((Liver - GTV) & PTV)"
    assert case_structure(case, "GTV + GTV2").expression == "(GTV | GTV2)"
    assert case_structure(case, "Bowel Small | GTV").expression == "(Bowel Small | GTV)"


@pytest.mark.parametrize("expr", ["Liver - Kidney", "Liver -", "(Liver - GTV", "Liver-GTV2", ""])
def test_unknown_or_malformed(expr):
    """Unknown names and malformed expressions raise StructureNotFoundError listing the ROIs."""
    with pytest.raises(StructureNotFoundError, match="Liver"):
        case_structure(make_case(), expr)


@pytest.mark.parametrize("k", [1, 3])
def test_difference_nested_exact(k):
    """Liver - GTV with GTV inside Liver: |Liver| - |GTV| exactly (boxes: w x d x 11 mm)."""
    case = make_case()
    m = derived_mask(case, "Liver - GTV", supersample=k)
    truth = vol(-10.3, 10.3, -10.3, 10.3) - vol(-3.3, 3.3, -2.7, 2.7)
    assert m.volume_cc == pytest.approx(truth, rel=1e-9)
    assert m.fraction.sum() * m.cell_volume_cc == pytest.approx(truth, rel=1e-9)


@pytest.mark.parametrize("k", [1, 3])
def test_union_disjoint_sharing_boundary_exact(k):
    """GTV | GTV2 share the face x = 3.3 (inside one voxel column): |GTV| + |GTV2|."""
    m = derived_mask(make_case(), "GTV | GTV2", supersample=k)
    assert m.volume_cc == pytest.approx(vol(-3.3, 3.3, -2.7, 2.7) + vol(3.3, 8.3, -2.7, 2.7), rel=1e-9)


@pytest.mark.parametrize("k", [1, 2])
def test_intersection_nested_regime_exact(k):
    """Liver & PTV: the PTV's y faces lie on voxel faces, so no cell is crossed by both
    surfaces sideways (and their z caps coincide), hence min(a, b) is exact: the overlap
    box x in [5.2, 10.3], y in [-4, 4]."""
    m = derived_mask(make_case(), "Liver & PTV", supersample=k)
    assert m.volume_cc == pytest.approx(vol(5.2, 10.3, -4.0, 4.0), rel=1e-9)


def test_intersection_shared_corner_cells_bounded():
    """When both surfaces cross the same cells (PTV faces at y = +-4.2 mid-voxel), min(a, b)
    overestimates, by at most the volume of those cells; a finer lattice shrinks it."""
    ptv = box("PTV", 4, 5.2, 14.2, -4.2, 4.2, ZS)
    liver = box("Liver", 1, -10.3, 10.3, -10.3, 10.3, ZS)
    case = Case(dose=GRID, structures=StructureSet(structures=(liver, ptv)))
    truth = vol(5.2, 10.3, -4.2, 4.2)
    errs = []
    for k in (1, 4):
        m = derived_mask(case, "Liver & PTV", supersample=k)
        shared_cells = 2 * 12 * (1.0 / k) ** 2 / 1000  # two corner columns, 12 layers
        assert truth <= m.volume_cc <= truth + shared_cells
        errs.append(m.volume_cc - truth)
    assert errs[1] < errs[0] / 3


def test_union_of_nested_overestimates_only_shared_cells():
    """Documented limitation: union assumes disjoint parts.  For GTV inside Liver the excess
    is confined to cells crossed by both surfaces - here the shared end caps (z = +-5.5 mm,
    mid-voxel), one 1 mm layer of the GTV footprint at each end - so
    |Liver| <= union <= |Liver| + 2 x footprint x 0.5 mm; sideways the GTV surface lies in
    whole Liver voxels and adds nothing."""
    m = derived_mask(make_case(), "Liver | GTV", supersample=1)
    liver = vol(-10.3, 10.3, -10.3, 10.3)
    assert liver <= m.volume_cc <= liver + 2 * 6.6 * 5.4 * 0.5 / 1000 + 1e-12


def test_combine_spheres_common_lattice_and_outside():
    """Union of two disjoint spheres, one partly outside the grid: the volume is the sum of
    the two contour-stack volumes and outside_cc adds up."""
    a = sphere((0.0, 0.0, 0.0), 4.0, 1.0)
    b = sphere((13.0, 0.0, 0.0), 4.0, 1.0)  # crosses the grid face x = 15.5
    ma, mb = structure_mask(a, GRID, supersample=2), structure_mask(b, GRID, supersample=2)
    assert mb.outside_cc > 0
    u = combine("union", ma, mb)
    assert u.volume_cc == pytest.approx(prism_volume_cc(a) + prism_volume_cc(b), rel=1e-9)
    assert u.outside_cc == pytest.approx(mb.outside_cc, rel=1e-12)
    assert u.settings["outside_estimated"] is True


def test_combine_refuses_different_lattices():
    a = sphere((0.0, 0.0, 0.0), 4.0, 1.0)
    with pytest.raises(ParameterError, match="supersample"):
        combine("union", structure_mask(a, GRID, supersample=1), structure_mask(a, GRID, supersample=2))
    with pytest.raises(ParameterError, match="op"):
        combine("xor", structure_mask(a, GRID, supersample=1), structure_mask(a, GRID, supersample=1))


def test_derived_mask_of_plain_name_is_structure_mask():
    """A plain name gives exactly structure_mask's result."""
    case = make_case()
    m1 = derived_mask(case, "GTV", supersample=2)
    m2 = structure_mask(case.structures["GTV"], GRID, supersample=2)
    np.testing.assert_array_equal(m1.fraction, m2.fraction)


def test_auto_factor_follows_the_result_not_the_smallest_operand():
    """"Liver - GTV" of a 216 cc liver gets the factor a plain 216 cc structure of the same
    box gets (truth: auto_supersample of the analytic volume and extent), not the GTV's
    large factor; its volume stays |Liver| - |GTV| (analytic boxes).  A union of two small
    lesions keeps a sub-voxel lattice."""
    from dosecalc.masks import auto_supersample

    grid = DoseGrid(np.zeros((30, 40, 40)), (-48.75, -48.75, -36.25), (2.5, 2.5, 2.5))
    zs = np.arange(-27.0, 27.01, 3.0)  # 19 planes 3 mm apart, half caps: 57 mm tall
    liver = box("Liver", 1, -30.0, 30.0, -30.0, 30.0, zs)
    gtv = box("GTV", 2, -3.3, 3.3, -2.7, 2.7, zs[8:11])
    gtv2 = box("GTV2", 3, 10.0, 14.0, -2.0, 2.0, zs[8:11])
    case = Case(dose=grid, structures=StructureSet(structures=(liver, gtv, gtv2)))
    m = derived_mask(case, "Liver - GTV")
    truth = 60 * 60 * 57 / 1000.0 - 6.6 * 5.4 * 9.0 / 1000.0
    assert m.volume_cc == pytest.approx(truth, rel=1e-9)
    # the result's non-empty cells span 25 voxels in x and y, 23 layers in z
    assert m.settings["supersample"] == auto_supersample(truth, (62.5, 62.5, 57.5), grid.spacing_mm) == 2
    assert structure_mask(gtv, grid).settings["supersample"] > 4
    u = derived_mask(case, "GTV | GTV2")
    assert u.settings["supersample"] > 1
    assert u.volume_cc == pytest.approx((6.6 * 5.4 + 4.0 * 4.0) * 9.0 / 1000.0, rel=1e-9)
