"""``dosecalc demo``: end to end, and a failing section does not hide the others."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest

import dosecalc.cli
from dosecalc.commands import demo
from dosecalc.errors import ParameterError


def _fake(name, order, action):
    mod = types.ModuleType(f"fake_{name}")
    mod.NAME, mod.ORDER, mod.HELP = name, order, name
    mod.run = lambda args: 0
    mod.demo = action
    return mod


def test_failing_section_does_not_hide_others(tmp_path, monkeypatch, capsys):
    """Truth: the sections the fake modules print; the failing one is reported on one line
    and the exit code is 1, the one after it still runs, the case is kept under --out."""
    seen = {}

    def bad(case, out, stream):
        raise ParameterError("alpha_beta must be > 0, got -1")

    def good(case, out, stream):
        seen["case"], seen["out"] = case, out
        stream.write("good section ran\n")

    mods = [demo, _fake("bad", 1, bad), _fake("good", 2, good)]
    monkeypatch.setattr(dosecalc.commands, "command_modules", lambda: mods)
    rc = demo.run(argparse.Namespace(out=tmp_path / "o", spacing=8.0, debug=False))
    text = capsys.readouterr().out
    assert rc == 1
    assert "error in the bad demo: alpha_beta must be > 0, got -1" in text
    assert "good section ran" in text and "total time" in text
    assert "1 demo section(s) failed: bad" in text
    assert seen["out"] == tmp_path / "o"
    assert seen["case"].prescription_gy == 40.0 and "Liver" in seen["case"].structures
    assert (tmp_path / "o" / "case" / "RD_synthetic.dcm").is_file()


def test_temporary_folder_removed(monkeypatch, capsys):
    """Truth: without --out the demo's folder does not survive the run."""
    seen = {}

    def good(case, out, stream):
        seen["out"] = Path(out)
        assert (Path(out) / "case" / "RS_synthetic.dcm").is_file()

    monkeypatch.setattr(dosecalc.commands, "command_modules", lambda: [demo, _fake("good", 2, good)])
    assert demo.run(argparse.Namespace(out=None, spacing=8.0, debug=False)) == 0
    assert not seen["out"].exists()


def test_default_spacing_and_registration():
    """The CLI discovers the command; the default grid is 2.5 mm."""
    args = dosecalc.cli.build_parser().parse_args(["demo"])
    assert args.spacing == 2.5 and args.out is None
    assert demo.ORDER == 0 and demo.NAME == "demo"


@pytest.mark.slow
def test_demo_end_to_end_subprocess(tmp_path):
    """The real CLI, every command's demo section, coarse 6 mm grid: exit 0."""
    proc = subprocess.run([sys.executable, "-m", "dosecalc", "demo", "--spacing", "6",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== synthetic case" in proc.stdout and "total time" in proc.stdout
    assert (tmp_path / "case" / "RD_synthetic.dcm").is_file()
