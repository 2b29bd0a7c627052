"""Reports that can be filed: identity in every format, HTML sign-off and print styling,
numbered markers with their table, header lines that apply, short displays.

Truths: the identity fields read back from the written DICOM files with pydicom
(PatientID, PatientName, RTPlanLabel, RTPlanDate/Time, SOP Instance UIDs); the dose grid
spacing of the RTDOSE (PixelSpacing, GridFrameOffsetVector step); the package version;
the protocol file's id and version.
"""

import csv
import io
import json
from pathlib import Path

import pydicom
import pytest

import dosecalc
from dosecalc.cli import main
from dosecalc.protocols.report import header_lines, to_csv, to_html, to_table


@pytest.fixture(scope="module")
def report(synthetic_case):
    return dosecalc.check(synthetic_case, "hcc-oligoprogression", child_pugh="A6")


@pytest.fixture(scope="module")
def files(synthetic_case_dir):
    d = Path(synthetic_case_dir)
    return {"plan": pydicom.dcmread(d / "RP_synthetic.dcm", stop_before_pixels=True),
            "dose": pydicom.dcmread(d / "RD_synthetic.dcm", stop_before_pixels=True),
            "struct": pydicom.dcmread(d / "RS_synthetic.dcm", stop_before_pixels=True)}


def test_identity_against_the_files(report, files):
    ident = report.as_dict()["identity"]
    rp, rd, rs = files["plan"], files["dose"], files["struct"]
    assert ident["patient_id"] == rp.PatientID
    assert ident["patient_name"] == str(rp.PatientName).replace("^", " ").strip()
    assert ident["plan_label"] == rp.RTPlanLabel
    d, t = rp.RTPlanDate, rp.RTPlanTime
    assert ident["plan_date"] == f"{d[:4]}-{d[4:6]}-{d[6:]} {t[:2]}:{t[2:4]}"
    assert ident["rtplan_sop_instance_uid"] == rp.SOPInstanceUID
    assert ident["rtdose_sop_instance_uid"] == rd.SOPInstanceUID
    assert ident["rtstruct_sop_instance_uid"] == rs.SOPInstanceUID
    dz = float(rd.GridFrameOffsetVector[1]) - float(rd.GridFrameOffsetVector[0])
    assert ident["dose_grid_spacing_mm"] == pytest.approx([float(rd.PixelSpacing[1]), float(rd.PixelSpacing[0]), dz])
    assert ident["dosecalc_version"] == dosecalc.__version__
    assert (ident["protocol_id"], ident["protocol_version"]) == ("hcc-oligoprogression", report.protocol.version)
    assert ident["run_at"].endswith("Z") and len(ident["run_at"]) == 20
    assert ident["dvh_settings"]["end_cap"] == "half" and ident["dvh_settings"]["supersample"] == "auto"


def test_every_format_carries_identity(report, files):
    rp = files["plan"]
    text = to_table(report, colour=False)
    for needle in (rp.PatientID, rp.RTPlanLabel, rp.SOPInstanceUID, files["dose"].SOPInstanceUID,
                   f"dosecalc {dosecalc.__version__}", "Settings   dose grid"):
        assert needle in text
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert rows and all(r["patient_id"] == rp.PatientID and r["rtplan_sop_instance_uid"] == rp.SOPInstanceUID
                        for r in rows)
    assert {"comparator", "unit", "roi", "id"} <= set(rows[0])
    page = to_html(report, plot="builtin")
    for needle in (rp.PatientID, rp.SOPInstanceUID, "Sign-off", "Checked by (physicist)", "@media print",
                   "@page", "class='markers'", dosecalc.__version__):
        assert needle in page
    df = report.to_dataframe()
    assert len(df) == len(report.results) and set(df["patient_id"]) == {rp.PatientID}


def test_markers_are_numbered_and_tabulated(report):
    page = to_html(report, plot="builtin")
    dose_rows = [r for r in report.results if r.kind == "dose" and r.roi]
    # every dose constraint of a plotted structure has a numbered row in a marker table
    assert page.count("<tr><td class='num'>") >= len(dose_rows) - 2
    assert ">1</text>" in page
    # neutral structure colours: no verdict colour is a curve colour
    from dosecalc.protocols import report as rep

    assert not set(rep._PALETTE) & {"#d62728", "#2ca02c", "#ff7f0e", "#c62828", "#1a7f37", "#b58100"}


def test_liver_line_only_where_it_applies(synthetic_case, tmp_path):
    proto = tmp_path / "cord.toml"
    proto.write_text('''id = "cord-only"
title = "Spinal cord"
version = "1"
trial = "test"
[[structures]]
name = "SpinalCord"
[[constraints]]
id = "cord"
structure = "SpinalCord"
metric = "D0.03cc[Gy]"
comparator = "<"
limit = 30
fractions = [5]
source = "AAPM TG-101 SBRT table, read in a secondary copy"
confidence = "secondary"
''')
    rep = dosecalc.check(synthetic_case, proto)
    assert not any(line.startswith("Liver ") for line in header_lines(rep))
    liver = dosecalc.check(synthetic_case, "hcc-oligoprogression")
    assert any(line.startswith("Liver ") for line in header_lines(liver))


def test_cli_json_keeps_old_keys_and_adds_identity(synthetic_case_dir, capsys):
    rc = main(["check", str(synthetic_case_dir), "--protocol", "hcc-oligoprogression", "--format", "json"])
    assert rc in (0, 1, 3)  # pass/acceptable, fail, incomplete
    d = json.loads(capsys.readouterr().out)
    assert {"protocol", "fractions", "verdict", "structures", "constraints", "identity"} <= set(d)


def test_report_repr_is_short(report):
    r = repr(report)
    assert r.startswith("<Report hcc-oligoprogression") and len(r) < 300
    assert "<table>" in report._repr_html_()
