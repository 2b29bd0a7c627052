"""CLI: ``dosecalc check`` / ``protocols`` / ``eligibility`` exit codes and outputs.

Truth: exit codes are the contract (0 no failure, 1 a constraint fails, 2 bad input);
JSON/CSV outputs must parse and carry the fields of the issue; the synthetic plan
(40 Gy / 5 fx) fails the Child-Pugh B prescription bound of 35 Gy (references s.2).
"""

import csv
import io
import json
import re
import shutil
import subprocess

import pytest

from dosecalc.cli import main
from dosecalc.protocols.schema import load_protocol


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_protocols_list_and_show(capsys):
    code, out, _ = run(capsys, "protocols")
    assert code == 0 and "hcc-adjuvant-narrow-margin" in out and "hcc-oligoprogression" in out
    code, out, _ = run(capsys, "protocols", "show", "hcc-oligoprogression")
    assert code == 0 and "CV15Gy[cc]" in out and "FASTRACK II" in out and "[S] AAPM TG-101" in out
    code, _, err = run(capsys, "protocols", "show", "no-such-protocol")
    assert code == 2 and "no-such-protocol" in err and len(err.strip().splitlines()) == 1


def test_eligibility_cli(capsys, tmp_path):
    labs = tmp_path / "labs.toml"
    labs.write_text('neutrophils = "2.0 1e9/L"\nplatelets = "40 1e9/L"\nhaemoglobin = "125 g/L"\n'
                    'bilirubin = "20 umol/L"\nbilirubin_uln = "21 umol/L"\nast = "40 U/L"\nast_uln = "40 U/L"\n'
                    'alt = "40 U/L"\nalt_uln = "40 U/L"\nalbumin = "38 g/L"\ncreatinine = "80 umol/L"\n'
                    'creatinine_uln = "100 umol/L"\ninr = 1.0\nascites = "none"\nencephalopathy = "none"\n')
    code, out, _ = run(capsys, "eligibility", str(labs), "--protocol", "hcc-adjuvant-narrow-margin")
    assert code == 1 and "NOT ELIGIBLE" in out and "platelets" in out and "A5" in out
    code, out, _ = run(capsys, "eligibility", str(labs), "--protocol", "hcc-adjuvant-narrow-margin",
                       "--format", "json")
    data = json.loads(out)
    assert data["verdict"] == "not eligible"
    assert [c["verdict"] for c in data["criteria"] if c["id"] == "platelets"] == ["fail"]
    labs.write_text(labs.read_text().replace('"40 1e9/L"', '"50 1e9/L"'))
    # labs met, but clinical items and attestations missing: INCOMPLETE, exit 3
    code, out, _ = run(capsys, "eligibility", str(labs), "--protocol", "hcc-adjuvant-narrow-margin")
    assert code == 3 and "INCOMPLETE" in out and "NEEDS ATTESTATION" in out and "ecog not given" in out
    attest = [c.id for c in load_protocol("hcc-adjuvant-narrow-margin").eligibility if c.kind == "attestation"]
    labs.write_text(labs.read_text() + 'age = "60 years"\necog = 0\nmargin = "6 mm"\nhbv_carrier = false\n'
                    'prior_rt_area = false\nextrahepatic_metastasis = false\nattested = '
                    + json.dumps(attest) + "\n")
    assert run(capsys, "eligibility", str(labs), "--protocol", "hcc-adjuvant-narrow-margin")[0] == 0
    # age 10 (a plausible value) is not eligible: the registered range is 18 to 75
    labs.write_text(labs.read_text().replace('age = "60 years"', 'age = "10 years"'))
    code, out, _ = run(capsys, "eligibility", str(labs), "--protocol", "hcc-adjuvant-narrow-margin")
    assert code == 1 and "NOT ELIGIBLE" in out
    # a unit slip is an error naming the value and the plausible reading
    labs.write_text(labs.read_text().replace('albumin = "38 g/L"', 'albumin = "38 g/dL"'))
    code, _, err = run(capsys, "eligibility", str(labs), "--protocol", "hcc-adjuvant-narrow-margin")
    assert code == 2 and "albumin 38 g/dL = 380 g/L" in err and "did you mean 38 g/L" in err
    labs.write_text("platelets = 50\n")
    code, _, err = run(capsys, "eligibility", str(labs), "--protocol", "hcc-adjuvant-narrow-margin")
    assert code == 2 and "platelets needs a unit" in err


def test_bad_input_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "check", str(tmp_path), "--protocol", "nope")
    assert code == 2 and "nope" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\ntitle = "x"\nversion = "1"\ntrial = "x"\n[[structures]]\nname = "L"\n'
                   '[[constraints]]\nid = "a"\nstructure = "L"\nmetric = "Mean"\ncomparator = "<"\nlimit = 1\n'
                   'fractions = [5]\nsource = "s"\nconfidence = "primary"\n')
    code, _, err = run(capsys, "check", str(tmp_path), "--protocol", str(bad))
    assert code == 2 and "constraints[0].metric (line 10)" in err and "Mean[Gy]" in err


@pytest.fixture(scope="module")
def case_dir(request):
    pytest.importorskip("dosecalc.phantom")
    return request.getfixturevalue("synthetic_case_dir")


@pytest.mark.slow
def test_check_exit_codes_and_formats(capsys, case_dir, tmp_path):
    # no Child-Pugh class: incomplete, exit 3 (issue 9); with the class: acceptable, exit 0
    code, out, _ = run(capsys, "check", str(case_dir), "--protocol", "hcc-oligoprogression")
    assert code == 3 and "INCOMPLETE" in out and "Child-Pugh class unknown" in out
    code, out, _ = run(capsys, "check", str(case_dir), "--protocol", "hcc-oligoprogression", "--child-pugh", "A5")
    assert code == 0 and "Verdict" in out and "\x1b[" not in out
    code, out, _ = run(capsys, "check", str(case_dir), "--protocol", "hcc-oligoprogression",
                       "--child-pugh", "B7", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "fail" and data["fractions"] == 5
    assert data["protocol"] == "hcc-oligoprogression" and data["structures"]["Liver-GTV"] == "Liver - (GTV1 | GTV2)"
    keys = {"structure", "metric", "value", "limit", "level2", "verdict", "reason", "source", "confidence"}
    assert all(keys <= set(c) for c in data["constraints"])
    code, out, _ = run(capsys, "check", str(case_dir), "--protocol", "hcc-adjuvant-narrow-margin",
                       "--format", "csv", "--map", "SpinalCanal=SpinalCord", "--child-pugh", "A5", "--convert")
    rows = list(csv.DictReader(io.StringIO(out)))
    canal = [r for r in rows if r["structure"] == "SpinalCanal"]
    assert code in (0, 1) and canal and canal[0]["roi"] == "SpinalCord"
    assert canal[0]["conversion"].startswith("converted from 3 fx, a/b 2")
    # --fractions contradicting the RTPLAN of a course-total grid: bad input naming both numbers
    code, _, err = run(capsys, "check", str(case_dir), "--protocol", "hcc-oligoprogression", "--fractions", "3")
    assert code == 2 and "--fractions 3" in err and "NumberOfFractionsPlanned 5" in err
    code, _, err = run(capsys, "check", str(case_dir), "--protocol", "hcc-oligoprogression", "--map", "Foo=Bar")
    assert code == 2 and "'Foo' is not a structure" in err
    code, _, err = run(capsys, "check", str(case_dir), "--protocol", "hcc-oligoprogression", "--child-pugh", "Z")
    assert code == 2 and "--child-pugh" in err


@pytest.mark.slow
def test_html_report_renders_in_chromium(capsys, case_dir, tmp_path):
    out_file = tmp_path / "report.html"
    code, out, _ = run(capsys, "check", str(case_dir), "--protocol", "hcc-oligoprogression",
                       "--format", "html", "--out", str(out_file), "--child-pugh", "A5")
    assert code == 0 and str(out_file) in out
    text = out_file.read_text()
    assert text.count("<svg") >= 3
    # self-contained: nothing is fetched (XML namespace and RDF metadata URIs in an SVG
    # are names, not loads)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", text)
    assert "AAPM TG-101" in text and "Liver - (GTV1 | GTV2)" in text
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if shutil.os.path.exists("/usr/bin/chromium") else None)
    if chromium is None:
        pytest.skip("chromium is not installed")
    png = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1200,1600",
                    out_file.as_uri()], capture_output=True, timeout=120, check=False)
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000
