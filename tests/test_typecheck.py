"""The package's type hints are checked (it ships ``py.typed``): mypy on ``dosecalc``
with the settings of ``[tool.mypy]`` in pyproject.toml must report no error."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_reports_no_error():
    pytest.importorskip("mypy", reason="mypy is in the test extra; install '.[test]'")
    env = dict(os.environ, MYPY_CACHE_DIR=str(ROOT / ".mypy_cache"))
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "Success" in r.stdout
