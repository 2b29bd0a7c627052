"""Report renderings of one small check whose values are known.

Truth: a 32 cc box at a uniform 20 Gy (Max = Mean = 20 Gy exactly); the table, JSON,
CSV and HTML must carry those values, the limits, the verdicts and the sources; the
built-in SVG must place a curve point of 100 % at 0 Gy and a marker at the limit.
"""

import csv
import io
import json

import numpy as np
import pytest

from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Plan, Structure, StructureSet
from dosecalc.protocols.evaluate import check
from dosecalc.protocols.report import render, svg_dvh, to_csv, to_html, to_json, to_table
from dosecalc.protocols.schema import load_protocol

PROTOCOL = """\
id = "rep"
title = "Report test"
version = "2"
trial = "none"

[[structures]]
name = "Liver"

[[structures]]
name = "Cord"

[[constraints]]
id = "max"
structure = "Liver"
metric = "D0.03cc[Gy]"
comparator = "<"
limit = 18
level2 = 25
level2_kind = "acceptable"
level2_source = "looser source"
level2_confidence = "secondary"
fractions = [5]
source = "strict source"
confidence = "primary"

[[constraints]]
id = "mean"
structure = "Liver"
metric = "Mean[Gy]"
comparator = "<"
limit = 15
fractions = [5]
source = "mean source"
confidence = "unconfirmed"

[[constraints]]
id = "cord"
structure = "Cord"
metric = "Max[Gy]"
comparator = "<"
limit = 30
fractions = [5]
source = "cord source"
confidence = "secondary"
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    (d / "p.toml").write_text(PROTOCOL)
    poly = np.array([[-20, -20], [20, -20], [20, 20], [-20, 20]], dtype=float)
    liver = Structure(1, "Liver", planes=tuple(ContourPlane(z, (poly,)) for z in np.arange(-9.0, 10.0, 2.0)))
    grid = DoseGrid(np.full((30, 30, 30), 20.0), (-29.0,) * 3, (2.0,) * 3)
    case = Case(dose=grid, structures=StructureSet((liver,)), plan=Plan(fractions=5, prescription_gy=20.0))
    return check(case, load_protocol(d / "p.toml"))


def test_table_aligned_and_coloured_only_when_asked(report):
    plain = to_table(report, colour=False)
    assert "\x1b[" not in plain
    lines = plain.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Verdict "))
    rows = [r for r in lines[head + 2:] if r.split() and r.split()[0] in ("PASS", "ACCEPTABLE", "FAIL", "NOT")][:3]
    assert [r.split()[0] for r in rows] == ["ACCEPTABLE", "FAIL", "NOT"]
    # the second level's own source is said under the row (issue 9: it is not the limit's source)
    assert "level 2 (acceptable) from another source" in plain
    # the value column is right-aligned: every value ends at the same column
    col_end = lines[head].index("Value") + len("Value")
    assert rows[0][:col_end].endswith("20.00") and rows[1][:col_end].endswith("20.00")
    assert "[1]P [2]S" in rows[0] and "[1] strict source" in plain and "[4] cord source" in plain
    assert "Verdict    FAIL" in plain
    coloured = to_table(report, colour=True)
    assert "\x1b[31;1mFAIL" in coloured and "\x1b[33mACCEPTABLE" in coloured


def test_json_and_csv(report):
    data = json.loads(to_json(report))
    assert data["protocol"] == "rep" and data["verdict"] == "fail" and data["fractions"] == 5
    assert data["structures"] == {"Liver": "Liver", "Cord": None}
    by = {c["id"]: c for c in data["constraints"]}
    assert by["max"]["value"] == 20.0 and by["max"]["limit"] == 18 and by["max"]["level2"] == 25
    assert by["max"]["verdict"] == "acceptable" and by["max"]["level2_source"] == "looser source"
    assert by["mean"]["verdict"] == "fail" and by["mean"]["confidence"] == "unconfirmed"
    assert by["cord"]["value"] is None and by["cord"]["verdict"] == "not evaluable" and by["cord"]["reason"]
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [r["id"] for r in rows] == ["max", "mean", "cord"]
    assert float(rows[1]["value"]) == 20.0 and rows[2]["value"] == "" and rows[0]["source"] == "strict source"
    assert render(report, "json") == to_json(report)


def test_html_self_contained_with_plot(report):
    text = to_html(report, plot="builtin")
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text and "<link" not in text
    assert "src=" not in text and text.count("<svg") == 1
    assert "strict source" in text and "looser source" in text and "unconfirmed" in text
    assert ">FAIL<" in text


def test_svg_curve_and_marker_positions(report):
    """A uniform 20 Gy curve is 100 % from 0 to 20 Gy, sampled to 2 % above Max (20.4 Gy);
    ticks of 5 Gy give a 0..25 Gy axis over x 52..462 px (y 28..290 px): 0 Gy/100 % sits at
    (52.0, 28.0) and a marker at 18 Gy at x = 52 + 410 x 18/25 = 347.2."""
    curve = report.curves[0]
    assert curve.volume_pct[0] == pytest.approx(100.0) and curve.volume_pct[-1] == pytest.approx(0.0)
    svg = svg_dvh("t", [(curve, "#000")], [(18.0, 0.1, "fail", "m", "#000")], width=612, height=330)
    assert 'points="52.0,28.0 ' in svg
    assert 'x="343.2"' in svg  # marker square's left edge: 347.2 - 4
