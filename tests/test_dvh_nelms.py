"""DVH metrics against the Nelms 2015 analytical benchmark (published analytical values).

Truth: ../shared/validation/nelms2015/analytical_points.csv (Nelms et al., Med Phys
42(8) 2015), doses in cGy.  Pass rule of the paper: within 3 % of the analytical value.
Cases where contour planes are fine (1 mm) so that the prism geometry is not the
limiting error; both gradient directions.
"""

import csv

import pytest

from dosecalc.dvh import DVH

pytestmark = pytest.mark.nelms

METRICS = {"Total Volume (cc)": "Volume[cc]", "Dmin": "Min[Gy]", "Dmax": "Max[Gy]", "Dmean": "Mean[Gy]",
           "D99": "D99%[Gy]", "D95": "D95%[Gy]", "D5": "D5%[Gy]", "D1": "D1%[Gy]", "D0.03cc": "D0.03cc[Gy]"}
GRIDS = {"Y(SI)": "Linear_SupInf_1mm_Aligned.dcm", "Z(AP)": "Linear_AntPost_1mm_Aligned.dcm"}


@pytest.mark.parametrize("shape", ["Sphere_10_0", "Cone_10_0"])
@pytest.mark.parametrize("gradient", ["Y(SI)", "Z(AP)"])
def test_nelms_1mm_within_3_percent(nelms_dir, shape, gradient):
    from dosecalc.io.rtdose import read_rtdose
    from dosecalc.io.rtstruct import read_rtstruct
    from dosecalc.masks import mask_samples, structure_mask

    with open(nelms_dir / "analytical_points.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh)
                   if r["Structure name"] == shape and r["Dose Voxel (mm)"] == "1"
                   and r["Gradient direction"] == gradient)
    ss, _ = read_rtstruct(nelms_dir / "structures" / f"{shape}.dcm")
    structure = next(s for s in ss if s.has_volume)
    grid = read_rtdose(nelms_dir / "dose_grids" / GRIDS[gradient])
    mask = structure_mask(structure, grid)
    dose, vol = mask_samples(mask, grid)
    dvh = DVH.from_samples(dose, vol, name=shape, outside_cc=mask.outside_cc)
    assert dvh.coverage_warning is None
    for column, spec in METRICS.items():
        ref = float(row[column])
        ours = dvh.metric(spec) * (1.0 if spec == "Volume[cc]" else 100.0)
        assert abs(ours - ref) <= 0.03 * abs(ref), (spec, ours, ref)
