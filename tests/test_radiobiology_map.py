"""Per-structure alpha/beta maps and case-level conversions.

Masks are built by hand here (box-shaped fractional masks on the dose-grid lattice with an
``index_offset``, the documented StructureMask interface), so the truth is a brute-force
numpy label array constructed independently from the same boxes.
"""

import warnings
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from dosecalc import radiobiology as rb
from dosecalc.errors import ParameterError, StructureNotFoundError
from dosecalc.case import Case
from dosecalc.model import DoseGrid, Plan, StructureSet

SHAPE = (6, 8, 10)


def box_mask(lo, hi, value=1.0, pad=1):
    """A fractional mask of the box [lo, hi) (z, y, x voxel indices) on a sub-box lattice
    padded by ``pad`` zero voxels, as geometry's StructureMask lays it out."""
    off = tuple(max(l - pad, 0) for l in lo)
    end = tuple(min(h + pad, n) for h, n in zip(hi, SHAPE))
    frac = np.zeros(tuple(e - o for o, e in zip(off, end)))
    frac[tuple(slice(l - o, h - o) for l, h, o in zip(lo, hi, off))] = value
    return SimpleNamespace(fraction=frac, index_offset=off)


@dataclass(frozen=True, eq=False)
class BoxCase(Case):
    """A Case whose masks are given boxes (stand-in for dosecalc.analysis.case_mask)."""

    boxes: dict = None

    def mask(self, name, **options):
        assert options.get("supersample") == 1
        try:
            return self.boxes[name]
        except KeyError:
            raise StructureNotFoundError(f"no structure named {name!r}") from None


def make_case(values=None, fractions=5, summation="PLAN"):
    v = np.random.default_rng(5).uniform(0, 55, SHAPE) if values is None else values
    boxes = {
        "Liver": box_mask((1, 1, 1), (5, 7, 8)),
        "GTV": box_mask((2, 3, 3), (4, 5, 6)),
        "Edge": box_mask((0, 0, 8), (1, 2, 10), value=0.5),     # exactly half: inside
        "Thin": box_mask((5, 7, 0), (6, 8, 2), value=0.49),     # below half: outside
    }
    grid = DoseGrid(v, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0), summation_type=summation)
    plan = Plan(fractions=fractions) if fractions else None
    return BoxCase(dose=grid, structures=StructureSet(), plan=plan, boxes=boxes), v


def expected_ab(order, table):
    """Brute-force label array: assign in listed order, first listed wins."""
    ab = np.full(SHAPE, table["*"])
    taken = np.zeros(SHAPE, bool)
    boxes = {"Liver": ((1, 1, 1), (5, 7, 8)), "GTV": ((2, 3, 3), (4, 5, 6)),
             "Edge": ((0, 0, 8), (1, 2, 10))}
    for name in order:
        if name == "Thin":
            continue
        (z0, y0, x0), (z1, y1, x1) = boxes[name]
        m = np.zeros(SHAPE, bool)
        m[z0:z1, y0:y1, x0:x1] = True
        ab[m & ~taken] = table[name]
        taken |= m
    return ab


def lq_eqd2(total, n, ab):
    return total * (total / n + ab) / (2 + ab)


def test_map_first_listed_wins_and_overlap_reported():
    """GTV listed first keeps a/b 10 inside the Liver; the overlap (GTV volume: 2x2x3 = 12
    voxels of 8 cc = 0.096 cc) is warned about and recorded."""
    case, v = make_case()
    table = {"GTV": 10.0, "Liver": 2.5, "Edge": 2.0, "Thin": 4.0, "*": 3.0}
    with pytest.warns(rb.RadiobiologyWarning, match="overlaps"):
        out = rb.case_eqd2(case, table)
    ab = expected_ab(["GTV", "Liver", "Edge"], table)
    np.testing.assert_allclose(out.values_gy, lq_eqd2(v, 5, ab), rtol=1e-14)
    assert out.quantity == "EQD2Gy(a/b=map)"
    assert list(out.model["alpha_beta"]) == ["GTV", "Liver", "Edge", "Thin", "*"]
    (ov,) = out.model["overlaps"]
    assert (ov["winner"], ov["loser"], ov["voxels"]) == ("GTV", "Liver", 12)
    assert ov["volume_cc"] == pytest.approx(12 * 0.008)
    assert out.model["map_voxels"]["Thin"] == 0 and out.model["map_voxels"]["Edge"] == 4
    assert "first listed wins" in out.description and "GTV over Liver" in out.description
    # Reverse the priority: the GTV voxels now take the Liver's 2.5.
    with pytest.warns(rb.RadiobiologyWarning):
        out2 = rb.case_eqd2(case, {"Liver": 2.5, "GTV": 10.0, "*": 3.0})
    np.testing.assert_allclose(out2.values_gy, lq_eqd2(v, 5, expected_ab(["Liver"], {"Liver": 2.5, "*": 3.0})),
                               rtol=1e-14)


def test_map_without_overlap_no_warning_and_bed():
    """Disjoint structures: no warning; BED = D (1 + d/(a/b)) per voxel, fractions explicit."""
    case, v = make_case(fractions=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = rb.case_bed(case, {"GTV": 10, "Edge": 2, "*": 3}, fractions=3)
    ab = expected_ab(["GTV", "Edge"], {"GTV": 10, "Edge": 2, "*": 3})
    np.testing.assert_allclose(out.values_gy, v * (1 + v / 3 / ab), rtol=1e-14)
    assert out.quantity == "BED(a/b=map)" and out.model["overlaps"] == []


def test_map_requires_star_and_valid_values():
    case, _ = make_case()
    with pytest.raises(ParameterError, match=r"'\*'"):
        rb.case_eqd2(case, {"GTV": 10})
    with pytest.raises(ParameterError, match=r"alpha_beta\['GTV'\]"):
        rb.case_eqd2(case, {"GTV": 0, "*": 3})
    with pytest.raises(ParameterError, match=r"alpha_beta\['\*'\]"):
        rb.case_eqd2(case, {"GTV": 10, "*": float("nan")})
    with pytest.raises(StructureNotFoundError, match="Kidney"):
        rb.case_eqd2(case, {"Kidney": 3, "*": 3})


def test_case_fractions_from_plan_or_error():
    """Fractions default to the plan's; with no plan and none given: ParameterError.
    FRACTION grids are multiplied by n before conversion (total = n x per-fraction)."""
    case, v = make_case(values=np.full(SHAPE, 8.0), fractions=5, summation="FRACTION")
    out = rb.case_eqd2(case, 2.5)
    np.testing.assert_allclose(out.values_gy, lq_eqd2(np.full(SHAPE, 40.0), 5, 2.5), rtol=1e-14)
    assert out.model["fractions"] == 5
    case2, _ = make_case(fractions=None)
    with pytest.raises(ParameterError, match="fractions"):
        rb.case_eqd2(case2, 3)
    # An explicit value overrides the plan's.
    out3 = rb.case_eqd2(case, 2.5, fractions=8)
    np.testing.assert_allclose(out3.values_gy, lq_eqd2(np.full(SHAPE, 64.0), 8, 2.5), rtol=1e-14)


def test_case_methods_delegate():
    """Case.eqd2 / Case.bed are thin entry points to this module."""
    case, v = make_case()
    np.testing.assert_array_equal(case.eqd2(3.0).values_gy, rb.case_eqd2(case, 3.0).values_gy)
    np.testing.assert_allclose(case.bed(3.0, fractions=3).values_gy, v * (1 + v / 3 / 3.0), rtol=1e-14)


def test_uint16_per_voxel_array():
    """More than 256 distinct a/b values use uint16 labels; result = brute force."""
    rng = np.random.default_rng(2)
    v = rng.uniform(0, 40, (5, 8, 10))
    ab = rng.uniform(1.0, 12.0, v.shape)  # 400 distinct values
    g = DoseGrid(v, (0, 0, 0), (1, 1, 1))
    out = rb.eqd2_grid(g, ab, 4)
    np.testing.assert_allclose(out.values_gy, lq_eqd2(v, 4, ab), rtol=1e-14)
