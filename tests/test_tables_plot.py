"""DataFrames and plots for notebooks (dosecalc.tables, dosecalc.plot, dvh --curves).

Truths: a DVH of samples spread uniformly over [0, 10] Gy in 10 cc, whose cumulative
curve is V(d) = 10 (1 - d / 10) cc and whose differential curve is 1 cc per Gy; the
step DVH of the mask samples in plain numpy (|V(d) - sum(v_i : d_i >= d)| <= max v_i / 2,
the bound stated in dosecalc.dvh); limit positions worked out by hand from the metric
definitions.
"""

import csv
import io
import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from dosecalc.cli import main  # noqa: E402
from dosecalc.dvh import DVH  # noqa: E402
from dosecalc.tables import batch_wide_rows, case_dvh_table  # noqa: E402


def uniform(n=1000, lo=0.0, hi=10.0, cc=10.0, name="PTV"):
    h = (hi - lo) / n
    return DVH.from_samples(lo + h * (np.arange(n) + 0.5), np.full(n, cc / n), name=name)


def test_dvh_to_dataframe_cumulative_and_differential():
    d = uniform()
    df = d.to_dataframe(step_gy=0.5)
    assert list(df.columns) == ["dose_gy", "volume_cc", "volume_pct"]
    assert df["volume_cc"].to_numpy() == pytest.approx(np.maximum(10.0 - df["dose_gy"].to_numpy(), 0.0), abs=1e-9)
    assert df["volume_pct"].to_numpy() == pytest.approx(10.0 * df["volume_cc"].to_numpy(), abs=1e-8)
    assert df.attrs["structure"] == "PTV" and df.attrs["quantity"] == "dose"
    diff = d.to_dataframe(kind="differential", step_gy=1.0)
    assert diff["volume_cc"].to_numpy() == pytest.approx(np.ones(10), abs=1e-9)   # 1 cc per Gy
    assert diff["dose_gy"].to_numpy() == pytest.approx(np.arange(10) + 0.5)


def test_case_dvh_table_matches_per_structure_metrics(synthetic_case):
    metrics = ["Mean[Gy]", "D0.03cc[Gy]", "V20Gy[cc]"]
    df = case_dvh_table(synthetic_case, metrics, structures=["PTV", "Liver - GTV1", 14])
    assert list(df.index) == ["PTV", "Liver - GTV1", synthetic_case.structures[14].name]  # ROI number 14
    from dosecalc.masks import mask_samples

    for name in ("PTV", "Liver - GTV1"):
        d, v = mask_samples(synthetic_case.mask(name), synthetic_case.dose)
        # independent: the volume-weighted mean of the samples in plain float64
        assert df.loc[name, "Mean[Gy]"] == pytest.approx(math.fsum(d * v) / math.fsum(v), rel=1e-12)
        # V20Gy against the step DVH of the samples, within half the largest sample
        step = math.fsum(v[d >= 20.0])
        assert abs(df.loc[name, "V20Gy[cc]"] - step) <= v.max() / 2 + 1e-9


def test_case_dvh_table_default_metrics(synthetic_case):
    df = case_dvh_table(synthetic_case, structures=["GTV1"])
    assert "D95%[Gy]" in df.columns and "Volume[cc]" in df.columns and len(df) == 1


def test_dvh_curves_csv_against_step_dvh(synthetic_case_dir, synthetic_case, tmp_path, capsys):
    out = tmp_path / "curves.csv"
    assert main(["dvh", str(synthetic_case_dir), "--roi", "GTV1", "--roi", "Stomach", "--curves", str(out),
                 "--curve-step", "0.5"]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == ["structure", "quantity", "dose_gy", "volume_cc", "volume_pct"]
    from dosecalc.masks import mask_samples

    for name in ("GTV1", "Stomach"):
        d, v = mask_samples(synthetic_case.mask(name), synthetic_case.dose)
        mine = [r for r in rows if r["structure"] == name]
        assert float(mine[0]["dose_gy"]) == 0.0 and len(mine) >= 3
        for r in mine[::7]:
            dose = float(r["dose_gy"])
            step = math.fsum(v[d >= dose])
            assert abs(float(r["volume_cc"]) - step) <= v.max() / 2 + 1e-9
            assert float(r["volume_pct"]) == pytest.approx(100 * float(r["volume_cc"]) / math.fsum(v), rel=1e-9)
    assert main(["dvh", str(synthetic_case_dir), "--roi", "GTV1", "--curves", str(out),
                 "--curve-step", "0"]) == 2
    assert "--curve-step" in capsys.readouterr().err


class _R:
    def __init__(self, plan, report):
        self.plan, self.patient_id, self.status, self.verdict, self.error = plan, "P1", "done", "pass", None
        self.report = report


def test_batch_wide_rows_one_row_per_plan():
    reps = [_R("p1", {"constraints": [{"id": "liver-cv15", "unit": "cc", "value": 812.5, "verdict": "pass"},
                                      {"id": "cord-max", "unit": "Gy", "value": 12.0, "verdict": "pass"}]}),
            _R("p2", {"constraints": [{"id": "liver-cv15", "unit": "cc", "value": 650.0, "verdict": "fail"}]})]
    rows = batch_wide_rows(reps)
    assert [r["plan"] for r in rows] == ["p1", "p2"]
    assert rows[0]["liver-cv15 value [cc]"] == 812.5 and rows[1]["liver-cv15 verdict"] == "fail"
    assert "cord-max value [Gy]" not in rows[1]


# --- plots ---------------------------------------------------------------------------
mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")


def test_limit_points_by_hand():
    from dosecalc.plot import limit_point

    assert limit_point("D0.03cc[Gy]", 30.0, 10.0, None, relative=False) == (30.0, 0.03)
    assert limit_point("D0.03cc[Gy]", 30.0, 10.0, None, relative=True) == pytest.approx((30.0, 0.3))
    assert limit_point("V20Gy[%]", 35.0, 200.0, None, relative=False) == pytest.approx((20.0, 70.0))
    assert limit_point("CV15Gy[cc]", 700.0, 1500.0, None, relative=True) == pytest.approx((15.0, 100 * 800 / 1500))
    assert limit_point("D95%[%]", 100.0, 80.0, 40.0, relative=True) == pytest.approx((40.0, 95.0))
    assert limit_point("Max[Gy]", 27.0, 5.0, None, relative=True) == (27.0, 0.0)
    assert limit_point("Mean[Gy]", 13.0, 5.0, None, relative=True) is None
    assert limit_point("V100%[%]", 95.0, 5.0, None, relative=True) is None  # no prescription


def test_plot_dvh_curves_markers_and_labels():
    from dosecalc.plot import NEUTRAL_PALETTE, plot_dvh

    d = uniform()
    ax = plot_dvh({"PTV": d}, volume="absolute",
                  limits=[("PTV", "D2cc[Gy]", "<", 9.0), ("PTV", "Mean[Gy]", "<", 6.0)])
    line = ax.get_lines()[0]
    x, y = line.get_data()
    assert y == pytest.approx(np.maximum(10.0 - x, 0.0), abs=1e-9)      # V(d) = 10 - d cc
    assert line.get_color() == NEUTRAL_PALETTE[0]
    marker = [ln for ln in ax.get_lines() if ln.get_marker() == "D"][0]
    assert tuple(np.ravel(marker.get_data())) == (9.0, 2.0)
    texts = [t.get_text() for t in ax.texts]
    assert "PTV D2cc[Gy] < 9" in texts and "PTV Mean[Gy] < 6" in texts
    assert ax.get_xlabel() == "Dose (Gy)" and ax.get_ylabel() == "Volume (cc)"
    eq = DVH.from_samples([1.0, 2.0], [1.0, 1.0], name="PTV", quantity="EQD2Gy(a/b=3)")
    ax2 = plot_dvh(eq, kind="differential", bin_gy=0.5, log_volume=False)
    assert ax2.get_xlabel() == "Dose (EQD2Gy(a/b=3))" and ax2.get_ylabel() == "Volume per 0.5 Gy (%)"
    ax3 = plot_dvh(d, limits=[("PTV", "Max[Gy]", "<", 11.0)], log_volume=True)
    assert ax3.get_yscale() == "log"
    mk = [ln for ln in ax3.get_lines() if ln.get_marker() == "D"][0]
    assert tuple(np.ravel(mk.get_data())) == (11.0, 0.01)   # a point limit at the log floor


def test_plot_module_examples():
    import doctest

    import dosecalc.plot as m

    r = doctest.testmod(m)
    assert r.attempted >= 4 and r.failed == 0


def test_dvh_module_examples():
    """The examples in dosecalc.dvh (uniform 0-10 Gy: mean, V5Gy, D50% all 5, CV2Gy 20 %
    by hand) run as written."""
    import doctest

    import dosecalc.dvh as m

    r = doctest.testmod(m)
    assert r.attempted >= 8 and r.failed == 0
