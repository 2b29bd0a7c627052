"""``dosecalc eqd2``: RTDOSE output, structure a/b options, one-line errors (exit 2).

Truth: the in-process conversion (itself checked against the LQ formula in
test_radiobiology_*) read back from the written file with pydicom, within one
DoseGridScaling quantum; the LQ formula in numpy for the per-structure map.
"""

import io
import json

import numpy as np
import pydicom
import pytest

from dosecalc.cli import main
from dosecalc.commands import eqd2 as cmd
from dosecalc.errors import ParameterError


def read_gy(path):
    ds = pydicom.dcmread(path)
    return ds, ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)


def test_cli_writes_effective_rtdose(synthetic_case_dir, synthetic_case, tmp_path, capsys):
    out = tmp_path / "eqd2.dcm"
    rc = main(["eqd2", str(synthetic_case_dir), "--alpha-beta", "3", "--out", str(out)])
    assert rc == 0
    ds, gy = read_gy(out)
    assert ds.DoseType == "EFFECTIVE" and ds.DoseComment == "EQD2Gy(a/b=3)"
    v = synthetic_case.dose.values_gy
    n = synthetic_case.fractions
    truth = v * (v / n + 3.0) / (2.0 + 3.0)
    np.testing.assert_allclose(gy, truth, atol=0.51 * float(ds.DoseGridScaling) + 1e-12, rtol=0)
    assert "EQD2Gy(a/b=3)" in capsys.readouterr().out


def test_cli_structure_map_bed_lql(synthetic_case_dir, synthetic_case, tmp_path, capsys):
    """--bed --model lq-l with GTV1=10 listed before the default: map recorded in the file."""
    out = tmp_path / "bed.dcm"
    rc = main(["eqd2", str(synthetic_case_dir), "--alpha-beta", "2.5", "--structure-alpha-beta", "GTV1=10",
               "--structure-alpha-beta", "Liver - GTV1=2", "--model", "lq-l", "--transition-dose", "8",
               "--fractions", "5", "--bed", "--out", str(out)])
    assert rc == 0
    ds, gy = read_gy(out)
    model = json.loads(str(ds.DerivationDescription).partition(": ")[2])
    assert model["alpha_beta"] == {"GTV1": 10.0, "Liver - GTV1": 2.0, "*": 2.5}
    assert (model["model"], model["fractions"], model["transition_dose_gy"]) == ("LQ-L", 5, 8.0)
    assert ds.DoseComment == "BED(a/b=map)"
    # a voxel well inside GTV1 has a/b 10 (LQ-L, d_T = 8 Gy): hand formula
    m = synthetic_case.mask("GTV1", supersample=1)
    iz, iy, ix = m.index_offset
    k = np.unravel_index(np.argmax(m.fraction), m.fraction.shape)
    D = synthetic_case.dose.values_gy[iz + k[0], iy + k[1], ix + k[2]]
    d = D / 5
    bed = D * (1 + d / 10) if d <= 8 else 5 * (8 * (1 + 0.8) + (d - 8) * (1 + 1.6))
    assert gy[iz + k[0], iy + k[1], ix + k[2]] == pytest.approx(bed, abs=float(ds.DoseGridScaling))


@pytest.mark.parametrize("extra,needle", [
    (["--alpha-beta", "0"], "alpha_beta"),
    (["--alpha-beta", "nan"], "alpha_beta"),
    (["--alpha-beta", "3", "--fractions", "2.5"], "--fractions"),
    (["--alpha-beta", "3", "--fractions", "0"], "--fractions"),
    (["--alpha-beta", "3", "--model", "lq-l"], "transition_dose"),
    (["--alpha-beta", "3", "--structure-alpha-beta", "GTV1"], "--structure-alpha-beta"),
    (["--alpha-beta", "3", "--structure-alpha-beta", "Nowhere=3"], "Nowhere"),
])
def test_cli_bad_input_one_line_exit_2(synthetic_case_dir, tmp_path, capsys, extra, needle):
    rc = main(["eqd2", str(synthetic_case_dir), *extra, "--out", str(tmp_path / "x.dcm")])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("\n") == 1
    assert not (tmp_path / "x.dcm").exists()


def test_cli_refuses_to_overwrite_input(synthetic_case_dir, capsys):
    dose_file = next(p for p in synthetic_case_dir.rglob("*") if "RD" in p.name or "dose" in p.name.lower())
    before = dose_file.read_bytes()
    rc = main(["eqd2", str(synthetic_case_dir), "--alpha-beta", "3", "--out", str(dose_file)])
    assert rc == 2 and "overwrite" in capsys.readouterr().err
    assert dose_file.read_bytes() == before


def test_parse_structure_alpha_beta():
    assert cmd.parse_structure_alpha_beta([], 3.0) == 3.0
    m = cmd.parse_structure_alpha_beta(["GTV=10", "Liver - GTV = 2.5"], 3.0)
    assert list(m.items()) == [("GTV", 10.0), ("Liver - GTV", 2.5), ("*", 3.0)]
    with pytest.raises(ParameterError, match="twice"):
        cmd.parse_structure_alpha_beta(["GTV=10", "GTV=8"], 3.0)


def test_demo_section(synthetic_case, tmp_path):
    """The demo prints the normal-liver mean EQD2 and RILD NTCP, PTV D95% BED10, and
    writes the EQD2 RTDOSE; the printed mean equals the DVH mean of the EQD2 grid."""
    buf = io.StringIO()
    cmd.demo(synthetic_case, tmp_path, buf)
    text = buf.getvalue()
    assert "Liver - CTV" in text and "Liver - (GTV1 | GTV2)" in text and "NTCP(RILD)" in text
    assert "D95%[BED(a/b=10)]" in text and "unavailable" not in text
    mean = synthetic_case.dvh("Liver - CTV", dose=synthetic_case.eqd2(2.5)).mean_gy
    assert f"{mean:6.2f}" in text
    assert (tmp_path / "eqd2_ab2.5.dcm").exists()
