"""``dosecalc dvh`` on the synthetic export.

Truths: the mean dose and volume of each structure recomputed in plain numpy float64
from the mask samples (sum(d v) / sum(v), sum(v)); the report layouts documented in
dosecalc.commands.dvh; exit codes of the CLI contract (0 ok, 2 bad input, one line on
stderr).
"""

import csv
import io
import json
import math

import numpy as np
import pytest

pytest.importorskip("dosecalc.phantom")
pytest.importorskip("dosecalc.io.load")

from dosecalc.cli import main  # noqa: E402
from dosecalc.commands import dvh as dvh_cmd  # noqa: E402


def brute_mean_and_volume(case, name):
    """Plain float64 from the mask samples, independent of the DVH code."""
    from dosecalc.masks import mask_samples

    mask = case.mask(name)
    d, v = mask_samples(mask, case.dose)
    return math.fsum(d * v) / math.fsum(v), math.fsum(v) + mask.outside_cc


def test_json_report(synthetic_case_dir, synthetic_case, tmp_path, capsys):
    out = tmp_path / "dvh.json"
    rc = main(["dvh", str(synthetic_case_dir), "--roi", "PTV", "--roi", "Liver - CTV",
               "--metric", "Mean[Gy]", "--metric", "Volume[cc]", "--metric", "V100%[%]",
               "--metric", "D5000cc[Gy]", "--format", "json", "--out", str(out)])
    assert rc == 0
    assert capsys.readouterr().out == ""
    rep = json.loads(out.read_text())
    assert [s["name"] for s in rep["structures"]] == ["PTV", "Liver - CTV"]
    assert rep["settings"]["metrics"] == ["Mean[Gy]", "Volume[cc]", "V100%[%]", "D5000cc[Gy]"]
    assert rep["settings"]["dose_file"].endswith(".dcm")
    assert rep["settings"]["mask_options"] == {"supersample": "auto", "end_cap": "half"}
    for s in rep["structures"]:
        mean, vol = brute_mean_and_volume(synthetic_case, s["name"])
        assert s["metrics"]["Mean[Gy]"] == pytest.approx(mean, rel=1e-12)
        assert s["metrics"]["Volume[cc]"] == pytest.approx(vol, rel=1e-12)
        assert s["volume_cc"] == pytest.approx(vol, rel=1e-12)
        assert 0.0 <= s["metrics"]["V100%[%]"] <= 100.0
        assert s["metrics"]["D5000cc[Gy]"] is None and "do not exist" in s["notes"]["D5000cc[Gy]"]
        assert s["settings"]["mode"] == "exact"
    # The PTV is covered by the prescription: the phantom plans V100% near 100 %.
    assert rep["structures"][0]["metrics"]["V100%[%]"] > 90.0
    assert rep["structures"][0]["prescription_gy"] == 40.0


def test_csv_long_format_and_table(synthetic_case_dir, capsys):
    rc = main(["dvh", str(synthetic_case_dir), "--roi", "GTV1", "--roi", "SpinalCord", "--format", "csv"])
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2 * len(dvh_cmd.DEFAULT_METRICS)
    assert [r["metric"] for r in rows[:len(dvh_cmd.DEFAULT_METRICS)]] == list(dvh_cmd.DEFAULT_METRICS)
    by = {(r["structure"], r["metric"]): float(r["value"]) for r in rows}
    for name in ("GTV1", "SpinalCord"):
        assert by[(name, "Min[Gy]")] <= by[(name, "D99%[Gy]")] <= by[(name, "D50%[Gy]")] \
            <= by[(name, "D1%[Gy]")] <= by[(name, "Max[Gy]")]
    rc = main(["dvh", str(synthetic_case_dir), "--roi", "GTV1", "--metric", "D95%[Gy]"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Structure", "D95%[Gy]"] and lines[2].split()[0] == "GTV1"


@pytest.mark.parametrize("argv, fragment", [
    (["--roi", "PTV", "--metric", "D95%"], "D95%[Gy]"),
    (["--roi", "PTV", "--metric", "v20gy[cc]"], "did you mean V20Gy[cc]"),
    (["--roi", "NoSuchOrgan"], "NoSuchOrgan"),
    (["--roi", "Liver - NoSuchOrgan"], "NoSuchOrgan"),
    (["--roi", "PTV", "--supersample", "0"], "--supersample"),
    (["--roi", "PTV", "--format", "xml"], "xml"),
])
def test_bad_input_exits_2_with_one_line(synthetic_case_dir, capsys, argv, fragment):
    rc_or_exit = None
    try:
        rc_or_exit = main(["dvh", str(synthetic_case_dir)] + argv)
    except SystemExit as exc:  # argparse errors exit directly
        rc_or_exit = exc.code
    assert rc_or_exit == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err


def test_out_refuses_to_overwrite_an_input(synthetic_case_dir, capsys):
    rd = next(p for p in synthetic_case_dir.iterdir() if p.name.startswith("RD"))
    before = rd.read_bytes()
    rc = main(["dvh", str(synthetic_case_dir), "--roi", "PTV", "--out", str(rd)])
    assert rc == 2 and "overwrite" in capsys.readouterr().err
    assert rd.read_bytes() == before


def test_demo_prints_main_structures(synthetic_case, tmp_path):
    buf = io.StringIO()
    dvh_cmd.demo(synthetic_case, tmp_path, buf)
    text = buf.getvalue()
    for name in ("Liver - CTV", "PTV1", "SpinalCord"):
        assert name in text
    assert "Paddick CI" in text
    rep = json.loads((tmp_path / "dvh.json").read_text())
    assert any(s["name"] == "Liver - CTV" for s in rep["structures"])


def test_structure_dvhs_on_converted_dose_labels_quantity(synthetic_case):
    """The hook the eqd2 option uses: a grid labelled EQD2 gives labels with the quantity.
    Truth: a grid whose values are twice the dose has every dose metric doubled
    (D(v) is linear in the sample doses)."""
    grid = synthetic_case.dose
    eqd2 = grid.with_values(np.asarray(grid.values_gy) * 2.0, dose_type="EFFECTIVE",
                            quantity="EQD2Gy(a/b=2.5)")
    (name, d2), = dvh_cmd.structure_dvhs(synthetic_case, ["PTV"], dose=eqd2)
    (_, d1), = dvh_cmd.structure_dvhs(synthetic_case, ["PTV"])
    rep = dvh_cmd.report([(name, d2)], ["D95%[Gy]", "Mean[Gy]"], {})
    assert rep["structures"][0]["labels"]["D95%[Gy]"] == "D95%[EQD2Gy(a/b=2.5)]"
    assert d2.metric("D95%[Gy]") == pytest.approx(2 * d1.metric("D95%[Gy]"), rel=1e-12)
    assert "EQD2Gy(a/b=2.5)" in dvh_cmd.format_table(rep)


def test_table_says_when_dose_is_per_fraction():
    """A FRACTION-summed RTDOSE holds dose per fraction; the table must say so, or a
    physicist could read 8 Gy per fraction as an 8 Gy course."""
    import numpy as np

    from dosecalc.commands.dvh import format_table, report
    from dosecalc.dvh import DVH

    dvh = DVH.from_samples(np.array([8.0, 8.0]), np.array([1.0, 1.0]), name="PTV")
    for summation, expected in (("FRACTION", True), ("PLAN", False)):
        text = format_table(report([("PTV", dvh)], ["Mean[Gy]"], {"dose_summation_type": summation}))
        assert ("PER FRACTION" in text) is expected
        assert "8" in text


def test_table_says_when_dose_is_an_error_estimate():
    """DoseType ERROR grids hold an estimate of the dose error (PS3.3 C.8.8.3): the
    table must not let them read as dose."""
    import numpy as np

    from dosecalc.commands.dvh import format_table, report
    from dosecalc.dvh import DVH

    dvh = DVH.from_samples(np.array([0.5, 0.5]), np.array([1.0, 1.0]), name="PTV")
    for dose_type, expected in (("ERROR", True), ("PHYSICAL", False)):
        text = format_table(report([("PTV", dvh)], ["Mean[Gy]"], {"dose_type": dose_type}))
        assert ("estimate of the dose ERROR" in text) is expected
