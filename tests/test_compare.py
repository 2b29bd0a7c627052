"""dosecalc.compare and ``dosecalc dvh A B --compare``.

Truths: DVHs of samples spread uniformly over a dose interval, whose metrics are closed
forms (mean = midpoint, D50% = midpoint, V(d) = covered x fraction above d), differences
taken by hand; for the CLI, plan B's dose is 1.1 x plan A's linear field, so every dose
metric of B is 1.1 x A's (DVH metrics scale with the dose) up to the RTDOSE storage
step (DoseGridScaling 1e-4 Gy), and volumes are equal.
"""

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import dosecalc
from dosecalc.cli import main
from dosecalc.dvh import DVH
from dosecalc.errors import ParameterError


def uniform(lo, hi, n=1000, cc=1.0, name="PTV"):
    h = (hi - lo) / n
    return DVH.from_samples(lo + h * (np.arange(n) + 0.5), np.full(n, cc / n), name=name)


def test_metric_differences_against_closed_forms():
    a, b = uniform(0.0, 10.0), uniform(0.0, 20.0)
    c = dosecalc.compare(a, b, ["Mean[Gy]", "D50%[Gy]", "V5Gy[cc]", "Volume[cc]"])
    # by hand: mean 5 -> 10, D50% 5 -> 10, V5Gy 0.5 cc -> 0.75 cc, volume 1 -> 1
    assert c.difference("PTV", "Mean[Gy]") == pytest.approx(5.0, abs=1e-12)
    assert c.difference("PTV", "D50%[Gy]") == pytest.approx(5.0, abs=1e-9)
    assert c.difference("PTV", "V5Gy[cc]") == pytest.approx(0.25, abs=1e-9)
    assert c.difference("PTV", "Volume[cc]") == pytest.approx(0.0, abs=1e-12)
    row = next(r for r in c.rows if r.spec == "Mean[Gy]")
    assert row.relative_pct == pytest.approx(100.0, abs=1e-9)   # (10 - 5) / 5
    df = c.to_dataframe()
    assert list(df["difference"]) == pytest.approx([5.0, 5.0, 0.25, 0.0], abs=1e-9)
    assert "2 /" not in repr(c) and len(repr(c)) < 200


def test_curves_on_one_axis():
    a, b = uniform(0.0, 10.0), uniform(0.0, 20.0)
    d, va, vb = dosecalc.compare(a, b).curves(dose_gy=[0.0, 5.0, 10.0, 15.0])
    # V(d) of a uniform spread over [0, D] in 1 cc: 1 - d / D, zero above D
    assert va == pytest.approx([1.0, 0.5, 0.0, 0.0], abs=1e-9)
    assert vb == pytest.approx([1.0, 0.75, 0.5, 0.25], abs=1e-9)


def test_mappings_and_refusals():
    a = {"PTV": uniform(0, 10), "Liver": uniform(0, 4, name="Liver")}
    b = {"Liver": uniform(1, 5, name="Liver"), "Cord": uniform(0, 1, name="Cord")}
    c = dosecalc.compare(a, b, ["Mean[Gy]"])
    assert list(c.pairs) == ["Liver"]
    assert c.difference("Liver", "Mean[Gy]") == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ParameterError, match="no structure in common"):
        dosecalc.compare({"PTV": a["PTV"]}, {"Cord": b["Cord"]})
    eqd2 = DVH.from_samples([1.0, 2.0], [1.0, 1.0], name="PTV", quantity="EQD2Gy(a/b=3)")
    with pytest.raises(ParameterError, match="same dose quantity"):
        dosecalc.compare(a["PTV"], eqd2)


def test_module_examples():
    import doctest

    import dosecalc.comparison as m

    r = doctest.testmod(m)
    assert r.attempted >= 4 and r.failed == 0


@pytest.fixture(scope="module")
def two_plans(synthetic_case_dir, tmp_path_factory):
    """Plan A: the synthetic export; plan B: the same files with DoseGridScaling x 1.1."""
    import shutil

    import pydicom

    root = tmp_path_factory.mktemp("two_plans")
    a, b = root / "A", root / "B"
    shutil.copytree(synthetic_case_dir, a)
    shutil.copytree(synthetic_case_dir, b)
    rd = b / "RD_synthetic.dcm"
    ds = pydicom.dcmread(rd)
    ds.DoseGridScaling = float(ds.DoseGridScaling) * 1.1
    ds.save_as(rd)
    return a, b


def test_cli_compare_json_and_curves(two_plans, tmp_path, capsys):
    a, b = two_plans
    curves = tmp_path / "curves.csv"
    rc = main(["dvh", str(a), str(b), "--compare", "--roi", "GTV1", "--format", "json",
               "--metric", "Mean[Gy]", "--metric", "Max[Gy]", "--metric", "D50%[Gy]",
               "--metric", "Volume[cc]", "--curves", str(curves)])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["difference"] == "b - a"
    rows = {r["metric"]: r for r in rep["rows"]}
    for spec in ("Mean[Gy]", "Max[Gy]", "D50%[Gy]"):
        r = rows[spec]
        assert r["b"] == pytest.approx(1.1 * r["a"], rel=1e-6)          # B = 1.1 A
        assert r["difference"] == pytest.approx(0.1 * r["a"], rel=1e-5)
        assert r["relative_pct"] == pytest.approx(10.0, abs=1e-4)
    assert rows["Volume[cc]"]["difference"] == pytest.approx(0.0, abs=1e-12)
    table = list(csv.DictReader(io.StringIO(curves.read_text())))
    assert {r["plan"] for r in table} == {"A", "B"}
    # B's curve is A's stretched by 1.1 along dose: V_B(1.1 d) = V_A(d)
    va = {float(r["dose_gy"]): float(r["volume_cc"]) for r in table if r["plan"] == "A"}
    vb = {float(r["dose_gy"]): float(r["volume_cc"]) for r in table if r["plan"] == "B"}
    for d in (30.0, 35.0, 40.0):
        assert vb[round(1.1 * d, 10)] == pytest.approx(va[d], rel=1e-5, abs=1e-6)


def test_cli_compare_table_and_errors(two_plans, capsys):
    a, b = two_plans
    assert main(["dvh", str(a), str(b), "--compare", "--metric", "Mean[Gy]"]) == 0
    out = capsys.readouterr().out
    assert "B - A" in out and "GTV1" in out and "SpinalCord" in out
    assert main(["dvh", str(a), "--compare"]) == 2
    assert "exactly two plans" in capsys.readouterr().err
