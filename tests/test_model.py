"""Domain objects: DoseGrid geometry and point-dose sampling, structure lookup.

Truth: trilinear interpolation of a linear field is exact, so sample() must return the
analytic value of the field at any point between voxel centres.
"""

import numpy as np
import pytest

from dosecalc.errors import ParameterError, StructureNotFoundError
from dosecalc.model import ContourPlane, DoseGrid, Structure, StructureSet


def linear_grid(origin=(-10.0, -20.0, 5.0), spacing=(2.0, 2.5, 3.0), shape=(6, 7, 8)):
    nz, ny, nx = shape
    x = origin[0] + spacing[0] * np.arange(nx)
    y = origin[1] + spacing[1] * np.arange(ny)
    z = origin[2] + spacing[2] * np.arange(nz)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    values = 10.0 + 0.5 * xx - 0.25 * yy + 1.5 * zz
    return DoseGrid(values, origin, spacing), lambda p: 10.0 + 0.5 * p[:, 0] - 0.25 * p[:, 1] + 1.5 * p[:, 2]


def test_sample_linear_field_is_exact():
    grid, f = linear_grid()
    rng = np.random.default_rng(1)
    (x0, x1), (y0, y1), (z0, z1) = [(a + 0.5 * s, b - 0.5 * s) for (a, b), s in zip(grid.bounds_mm, grid.spacing_mm)]
    pts = np.column_stack([rng.uniform(x0, x1, 500), rng.uniform(y0, y1, 500), rng.uniform(z0, z1, 500)])
    np.testing.assert_allclose(grid.sample(pts), f(pts), rtol=0, atol=1e-9)


def test_sample_outside_is_nan_and_edge_half_voxel_is_edge_value():
    grid, f = linear_grid()
    (xmin, xmax), _, _ = grid.bounds_mm
    y, z = grid.y_mm[2], grid.z_mm[3]
    assert np.isnan(grid.sample([xmax + 0.1, y, z]))
    # in the outer half voxel the dose is the edge voxel's (no extrapolation)
    edge = f(np.array([[grid.x_mm[-1], y, z]]))[0]
    assert grid.sample([xmax - 0.1, y, z]) == pytest.approx(edge, abs=1e-12)


def test_grid_is_read_only_and_owns_its_values():
    grid, _ = linear_grid()
    with pytest.raises(ValueError):
        grid.values_gy[0, 0, 0] = 1.0
    a = np.zeros((2, 2, 2))
    g = DoseGrid(a, (0, 0, 0), (1, 1, 1))
    a[0, 0, 0] = 5.0
    assert g.values_gy[0, 0, 0] == 0.0


@pytest.mark.parametrize("spacing", [(0, 1, 1), (1, -1, 1), (1, 1, np.nan)])
def test_bad_spacing_is_a_parameter_error(spacing):
    with pytest.raises(ParameterError, match="spacing_mm"):
        DoseGrid(np.zeros((2, 2, 2)), (0, 0, 0), spacing)


def test_structure_lookup_by_name_and_number():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    ss = StructureSet((Structure(3, "Liver", planes=(ContourPlane(0.0, (sq,)),)), Structure(7, "GTV")))
    assert ss["liver"].number == 3
    assert ss[7].name == "GTV"
    assert ss["GTV"].is_empty and not ss["Liver"].is_empty
    with pytest.raises(StructureNotFoundError, match="Stomach"):
        ss["Stomach"]


def test_duplicate_roi_names_are_ambiguous_by_name_but_reachable_by_number():
    """Real exports hold ROIs that share a name (a Brainlab SRS plan has three); a name
    lookup must not silently pick one, and case.dvhs must keep all of them."""
    sq = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    big = np.array([[0, 0], [20, 0], [20, 20], [0, 20]], dtype=float)
    ss = StructureSet((Structure(1, "Frame", planes=(ContourPlane(0.0, (sq,)),)),
                       Structure(2, "Frame", planes=(ContourPlane(0.0, (big,)),))))
    with pytest.raises(StructureNotFoundError, match="several ROIs"):
        ss["Frame"]
    assert ss[2].number == 2

    from dosecalc.case import Case

    grid = DoseGrid(np.ones((3, 30, 30)), (0.5, 0.5, -1.0), (1.0, 1.0, 1.0))
    dvhs = Case(dose=grid, structures=ss).dvhs(supersample=1)
    # truth: shoelace area x slab thickness (single plane -> the grid's dz = 1 mm)
    assert dvhs["Frame (ROI 1)"].volume_cc == pytest.approx(0.1)
    assert dvhs["Frame (ROI 2)"].volume_cc == pytest.approx(0.4)
