"""Min and Max of a DVH reach the structure's surface, not just the cell centres.

Truth: for a dose linear in x, y, z the extremes over a box are at its corners (closed
form below); the box is contoured on planes z = 0..10 mm with half-spacing end caps, so
it spans z in [-0.5, 10.5] mm.  Cell-centre samples alone stop half a cell short.
"""

import numpy as np
import pytest

from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Structure, StructureSet


def dose_fn(x, y, z):
    return 2.0 + 0.5 * x + 0.3 * y + 0.1 * z


@pytest.mark.parametrize("supersample", [1, 4])
def test_min_max_at_prism_corners(supersample):
    sq = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    box = Structure(1, "Box", planes=tuple(ContourPlane(float(z), (sq,)) for z in range(11)))
    x = np.arange(-5.0, 16.0, 2.0)
    zz, yy, xx = np.meshgrid(np.arange(-5.0, 16.0, 2.0), x, x, indexing="ij")
    grid = DoseGrid(dose_fn(xx, yy, zz), (-5.0, -5.0, -5.0), (2.0, 2.0, 2.0))
    dvh = Case(dose=grid, structures=StructureSet((box,))).dvh("Box", supersample=supersample)
    assert dvh.metric("Min[Gy]") == pytest.approx(dose_fn(0.0, 0.0, -0.5), abs=1e-9)
    assert dvh.metric("Max[Gy]") == pytest.approx(dose_fn(10.0, 10.0, 10.5), abs=1e-9)
    # the curve itself is still built from the volume samples: D0cc..D100% inside [Min, Max]
    assert dvh.metric("Min[Gy]") <= dvh.metric("D99%[Gy]") <= dvh.metric("D1%[Gy]") <= dvh.metric("Max[Gy]")
    assert dvh.volume_cc == pytest.approx(10 * 10 * 11 / 1000.0)
