"""A thin tube crossing the contour planes obliquely (an optic nerve, a vessel).

Truth (closed form): a cylinder of radius r whose axis makes an angle theta with z cuts
every axial plane in an ellipse of area pi r^2 / cos(theta), so between its first and
last contour plane it holds pi r^2 / cos(theta) x (z_last - z_first).  The right prism
(the default geometry) must reproduce it to the polygon discretisation; this is the case
where shape-based interpolation fails (see dosecalc.masks), and why it is not the default.
"""

import numpy as np
import pytest

from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Structure, StructureSet


def oblique_tube(r_mm, theta, length_mm, dz_mm, n=256):
    planes = []
    half = 0.5 * length_mm * np.cos(theta)
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    for z in np.arange(-half + dz_mm / 2, half, dz_mm):
        cx = z * np.tan(theta)
        ring = np.c_[cx + r_mm / np.cos(theta) * np.cos(t), r_mm * np.sin(t)]
        planes.append(ContourPlane(float(z), (ring,)))
    return Structure(1, "tube", planes=tuple(planes))


@pytest.mark.parametrize("r_mm,deg,dz_mm", [(2.0, 45, 2.5), (1.5, 60, 2.5), (2.0, 30, 1.0)])
def test_prism_is_exact_for_an_oblique_tube(r_mm, deg, dz_mm):
    theta = np.radians(deg)
    tube = oblique_tube(r_mm, theta, 40.0, dz_mm)
    grid = DoseGrid(np.full((61, 41, 81), 2.0), (-40.0, -20.0, -30.0), (1.0, 1.0, 1.0))
    case = Case(dose=grid, structures=StructureSet((tube,)))
    z = tube.z_planes_mm
    polygon = 0.5 * 256 * np.sin(2 * np.pi / 256)  # area of the inscribed 256-gon / (pi r^2) x pi
    truth = polygon * r_mm ** 2 / np.cos(theta) * (z[-1] - z[0]) / 1000.0
    dvh = case.dvh("tube", end_cap="none")
    assert dvh.volume_cc == pytest.approx(truth, rel=1e-9)
    assert dvh.metric("Mean[Gy]") == pytest.approx(2.0)
