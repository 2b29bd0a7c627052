"""Notebook objects: ``case.dvh_table``, ROI numbers and ``dvhs()`` keys wherever a name
goes (the displays are in test_notebook_display.py).

Truths: a voxel-aligned square prism in a dose field linear in x and y, so every voxel
of the prism is wholly inside and its sample is the voxel-centre dose; the DVH metrics
of those samples worked out in plain numpy float64 from the exact-mode definition of
:mod:`dosecalc.dvh` (samples sorted hottest first, each at the middle of its own volume,
piecewise-linear between), the extremes of a linear field over a box at its corners,
volumes as area x slab thickness.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

import dosecalc
from dosecalc.case import Case
from dosecalc.errors import StructureNotFoundError
from dosecalc.model import StructureSet

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from square_rois import SLOPE_X, SLOPE_Y, linear_grid, roi  # noqa: E402



BOXES = {1: ("Frame", (2, 12, 3, 13)), 2: ("Frame", (14, 24, 2, 22)), 37: ("PTV", (5, 10, 16, 21))}


@pytest.fixture()
def dup_case():
    """Two ROIs named 'Frame' (numbers 1 and 2) and a PTV numbered 37."""
    ss = StructureSet(tuple(roi(n, name, *b) for n, (name, b) in BOXES.items()))
    return Case(dose=linear_grid(), structures=ss)


def brute_force_samples(x0, x1, y0, y1):
    """Voxel-centre doses (Gy) and volumes (cc) of the voxels inside a voxel-aligned box."""
    xc = np.arange(x0, x1) + 0.5
    yc = np.arange(y0, y1) + 0.5
    d = (SLOPE_X * xc[None, :] + SLOPE_Y * yc[:, None]).ravel()
    return d, np.full(d.size, 0.001)


def exact_curve(d, v):
    """The exact-mode curve of dosecalc.dvh, rebuilt in numpy: (midpoints m_k, doses d_k)
    hottest first."""
    order = np.argsort(-d, kind="stable")
    d, v = d[order], v[order]
    return np.cumsum(v) - v / 2, d


def dose_at(volume_cc, d, v):
    m, ds = exact_curve(d, v)
    return float(np.interp(volume_cc, m, ds))     # flat at Max before m_0, at Min after


def volume_at(dose, d, v):
    """sup{v : D(v) >= dose}, for a dose between two distinct sample doses."""
    m, ds = exact_curve(d, v)
    k = int(np.sum(ds >= dose))
    assert 0 < k < len(ds) and ds[k - 1] > dose > ds[k]
    return float(m[k - 1] + (ds[k - 1] - dose) / (ds[k - 1] - ds[k]) * (m[k] - m[k - 1]))


def test_dvh_table_against_brute_force(dup_case):
    pd = pytest.importorskip("pandas")
    metrics = ["Volume[cc]", "Mean[Gy]", "Min[Gy]", "Max[Gy]", "D95%[Gy]", "D0.03cc[Gy]", "V10.013Gy[cc]"]
    table = dup_case.dvh_table(metrics, structures=[37, "Frame (ROI 1)", "2"], supersample=1)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["PTV", "Frame (ROI 1)", "Frame (ROI 2)"]
    assert list(table.columns) == ["quantity", "outside_cc"] + metrics
    for key, number in (("PTV", 37), ("Frame (ROI 1)", 1), ("Frame (ROI 2)", 2)):
        x0, x1, y0, y1 = BOXES[number][1]
        d, v = brute_force_samples(x0, x1, y0, y1)
        row = table.loc[key]
        assert row["Volume[cc]"] == pytest.approx((x1 - x0) * (y1 - y0) * 1.0 / 1000, rel=1e-9)
        assert row["outside_cc"] == pytest.approx(0.0, abs=1e-12)
        assert row["Mean[Gy]"] == pytest.approx(math.fsum(d * v) / math.fsum(v), rel=1e-9)
        # a linear field's extremes over the box lie at its corners
        assert row["Min[Gy]"] == pytest.approx(SLOPE_X * x0 + SLOPE_Y * y0, abs=1e-9)
        assert row["Max[Gy]"] == pytest.approx(SLOPE_X * x1 + SLOPE_Y * y1, abs=1e-9)
        assert row["D95%[Gy]"] == pytest.approx(dose_at(0.95 * v.sum(), d, v), abs=1e-9)
        if v.sum() >= 0.03:
            assert row["D0.03cc[Gy]"] == pytest.approx(dose_at(0.03, d, v), abs=1e-9)
        else:   # the 0.025 cc PTV has no hottest 0.03 cc: NaN, never a clipped number
            assert math.isnan(row["D0.03cc[Gy]"])
        if d.min() < 10.013 < d.max():
            assert row["V10.013Gy[cc]"] == pytest.approx(volume_at(10.013, d, v), abs=1e-12)
        else:   # a box wholly above or below the threshold: all of it or nothing
            assert row["V10.013Gy[cc]"] == pytest.approx(v.sum() if d.min() > 10.013 else 0.0, abs=1e-12)


def test_dvh_table_defaults_and_eqd2(dup_case):
    pytest.importorskip("pandas")
    table = dup_case.dvh_table(structures="PTV", supersample=1)
    assert list(table.index) == ["PTV"] and "D95%[Gy]" in table.columns
    every = dup_case.dvh_table(["Mean[Gy]"], supersample=1)
    assert list(every.index) == list(dup_case.dvhs(supersample=1))
    # EQD2 of the PTV's mean with a/b = 3 Gy, 5 fractions, voxel by voxel in numpy
    eqd2 = dup_case.dvh_table(["Mean[Gy]"], structures=[37], supersample=1,
                              dose=dup_case.eqd2(3.0, fractions=5))
    d, v = brute_force_samples(*BOXES[37][1])
    truth = math.fsum(d * (d / 5 + 3.0) / (2.0 + 3.0) * v) / math.fsum(v)
    assert eqd2.loc["PTV", "Mean[EQD2Gy(a/b=3)]"] == pytest.approx(truth, rel=1e-9)


def test_dvh_table_without_pandas_names_the_extra(dup_case, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(dosecalc.errors.ParameterError, match=r"dvh_table\(\) needs pandas.*dosecalc\[pandas\]"):
        dup_case.dvh_table(["Mean[Gy]"], structures=["PTV"], supersample=1)


def test_every_dvhs_key_is_accepted_by_dvh(dup_case):
    dvhs = dup_case.dvhs(supersample=1)
    assert list(dvhs) == ["Frame (ROI 1)", "Frame (ROI 2)", "PTV"]
    for key, d in dvhs.items():
        assert dup_case.dvh(key, supersample=1).volume_cc == pytest.approx(d.volume_cc, rel=1e-12)
    # area x 1 mm slab: 10 x 10, 10 x 20 and 5 x 5 mm
    truth = {"Frame (ROI 1)": 0.1, "Frame (ROI 2)": 0.2, "PTV": 0.025}
    assert {k: d.volume_cc for k, d in dvhs.items()} == pytest.approx(truth)
    assert dup_case.dvh("frame (roi 2)", supersample=1).volume_cc == pytest.approx(0.2)
    with pytest.raises(StructureNotFoundError, match=r"several ROIs.*'Frame \(ROI n\)'"):
        dup_case.dvh("Frame")
    with pytest.raises(StructureNotFoundError, match="no structure 'PTV \\(ROI 1\\)': ROI 1 is named 'Frame'"):
        dup_case.dvh("PTV (ROI 1)")     # number and name disagree
    with pytest.raises(StructureNotFoundError, match="no ROI number 7"):
        dup_case.dvh("PTV (ROI 7)")
    with pytest.raises(StructureNotFoundError, match="no structure named '99'"):
        dup_case.dvh("99")


def test_roi_number_works_wherever_a_name_does(dup_case):
    ptv = 0.025
    for key in (37, np.int64(37), "37", " 37 "):
        assert dup_case.dvh(key, supersample=1).volume_cc == pytest.approx(ptv)
    assert dup_case.structure("37").name == "PTV"
    assert dup_case.mask("37", supersample=1).volume_cc == pytest.approx(ptv)
    assert list(dup_case.dvhs(["37", 2], supersample=1)) == ["PTV", "Frame (ROI 2)"]
    # in expressions: numbers and dvhs() keys as operands (PTV lies apart from both frames)
    assert dup_case.dvh("2 | 37", supersample=1).volume_cc == pytest.approx(0.2 + ptv)
    assert dup_case.dvh("Frame (ROI 1) | PTV", supersample=1).volume_cc == pytest.approx(0.1 + ptv)
    assert dup_case.dvh("PTV | Frame (ROI 2)", supersample=1).volume_cc == pytest.approx(0.2 + ptv)
    # an ROI literally named "37" is that ROI, not ROI number 37
    named = StructureSet((roi(37, "PTV", *BOXES[37][1]), roi(5, "37", 0, 2, 0, 2)))
    case = Case(dose=linear_grid(), structures=named)
    assert case.dvh("37", supersample=1).volume_cc == pytest.approx(0.004)
    assert case.dvh(37, supersample=1).volume_cc == pytest.approx(ptv)


def test_cli_roi_accepts_a_number_and_a_key(synthetic_case_dir, capsys):
    import csv
    import io

    from dosecalc.cli import main

    case = dosecalc.load(synthetic_case_dir)
    number = case.structures["GTV1"].number
    assert main(["dvh", str(synthetic_case_dir), "--roi", str(number), "--metric", "Volume[cc]",
                 "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["structure"], r["metric"]) for r in rows] == [("GTV1", "Volume[cc]")]
    assert float(rows[0]["value"]) == pytest.approx(case.dvh("GTV1").volume_cc, rel=1e-6)
