"""DVH metrics of masked structures in linear dose gradients against analytic DVHs.

Truth: the analytic cumulative DVH of the contour stack under the slab rules
(:mod:`analytic_shapes`: constant cross-section per slab along z; clipped polygon areas
in-plane), inverted on a fine dose axis.  Tolerances follow from the sampling: every
sample sits at a cell centre, within half a cell (h/2) of the region it stands for, so
doses are within ``|gradient| * h / 2`` of the truth (plus 0.1 % for the curve).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dosecalc.masks import mask_samples, structure_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from analytic_shapes import (cone, cylinder, dose_at_volume, dvh_y_gradient, dvh_z_gradient,  # noqa: E402
                             linear_grid, prism_volume_cc, slabs, sphere)

DVH = pytest.importorskip("dosecalc.dvh").DVH


def our_dvh(s, grid, **opts):
    m = structure_mask(s, grid, **opts)
    d, v = mask_samples(m, grid)
    return DVH.from_samples(d, v, name=s.name, outside_cc=m.outside_cc), m


CASES = [
    ("sphere 0.5cc", lambda c: sphere(c, 4.93, 1.0)),       # 0.5 cc
    ("sphere 4cc", lambda c: sphere(c, 9.85, 2.0)),
    ("cylinder", lambda c: cylinder(c, 6.0, 15.0, 2.5)),
    ("cone", lambda c: cone((c[0], c[1], c[2] - 8.0), 8.0, 18.0, 3.0)),
]


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("centre", [(0.0, 0.0, 0.0), (0.83, -1.37, 1.21)])
def test_z_gradient_metrics(name, make, centre):
    """Dose 20 + 0.5 Gy/mm * z on a 2.5 mm grid, auto sub-voxel lattice."""
    s = make(centre)
    g = linear_grid((24, 24, 24), (-28.75, -28.75, -28.75), (2.5, 2.5, 2.5), 20.0, (0.0, 0.0, 0.5))
    dvh, m = our_dvh(s, g)
    h = max(m.spacing_mm)
    tol = 0.5 * h * 0.5 + 1e-3 * 20
    lo, hi = slabs(s.z_planes_mm)
    doses = np.linspace(20 + 0.5 * (lo[0] - 1), 20 + 0.5 * (hi[-1] + 1), 20001)
    curve = dvh_z_gradient(s, 20.0, 0.5, doses)
    total = prism_volume_cc(s)
    assert dvh.volume_cc == pytest.approx(total, rel=1e-9)
    for pct in (99, 95, 50, 5, 1):
        truth = dose_at_volume(doses, curve, total * pct / 100)
        assert dvh.metric(f"D{pct}%[Gy]") == pytest.approx(truth, abs=tol), pct
    if total > 0.2:
        assert dvh.metric("D0.03cc[Gy]") == pytest.approx(dose_at_volume(doses, curve, 0.03), abs=tol)
    assert dvh.max_gy == pytest.approx(20 + 0.5 * hi[-1], abs=0.5 * h * 0.5 + 1e-9)
    assert dvh.min_gy == pytest.approx(20 + 0.5 * lo[0], abs=0.5 * h * 0.5 + 1e-9)
    # mean of a linear dose over each slab: area-weighted slab-centre dose
    from analytic_shapes import plane_areas
    a = plane_areas(s) * (hi - lo)
    mean = np.sum(a * (20 + 0.5 * 0.5 * (lo + hi))) / np.sum(a)
    assert dvh.mean_gy == pytest.approx(mean, abs=1e-3)


@pytest.mark.parametrize("name,make", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_inplane_gradient_metrics(name, make):
    """Dose 20 - 0.8 Gy/mm * y on a 3 mm grid offset by (0.4, 1.1, 0.7) mm: the truth is
    the clipped polygon area above each dose level times the slab thickness."""
    s = make((0.6, -0.9, 0.3))
    g = linear_grid((16, 16, 16), (-22.1, -21.4, -21.8), (3.0, 3.0, 3.0), 20.0, (0.0, -0.8, 0.0))
    dvh, m = our_dvh(s, g)
    h = max(m.spacing_mm)
    tol = 0.5 * h * 0.8 + 1e-3 * 20
    ys = np.concatenate([p.polygons[0][:, 1] for p in s.planes])
    doses = np.linspace(20 - 0.8 * (ys.max() + 0.5), 20 - 0.8 * (ys.min() - 0.5), 321)
    curve = dvh_y_gradient(s, 20.0, -0.8, doses)
    total = prism_volume_cc(s)
    for pct in (98, 90, 50, 10, 2):
        truth = dose_at_volume(doses, curve, total * pct / 100)
        assert dvh.metric(f"D{pct}%[Gy]") == pytest.approx(truth, abs=tol + 0.01), pct
    assert dvh.max_gy == pytest.approx(20 - 0.8 * ys.min(), abs=tol)
    assert dvh.min_gy == pytest.approx(20 - 0.8 * ys.max(), abs=tol)


def test_small_structure_volume_not_binary():
    """A 0.5 cc sphere on a 3 mm grid: the DVH volume is the contours' volume (1e-9),
    where voxel-centre inclusion would be tens of percent off."""
    s = sphere((0.7, 0.2, -0.4), 4.93, 1.0)
    g = linear_grid((10, 10, 10), (-13.5, -13.5, -13.5), (3.0, 3.0, 3.0), 20.0, (0.1, 0.1, 0.1))
    dvh, m = our_dvh(s, g)
    assert dvh.volume_cc == pytest.approx(prism_volume_cc(s), rel=1e-9)
    assert m.settings["supersample"] == 16
