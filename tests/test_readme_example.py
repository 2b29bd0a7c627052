"""The README's Python example runs as written on the demo's synthetic export.

The example is a doctest: every printed value in it is exact by construction (the
RTPLAN's 5 fractions and 40 Gy written by the phantom, the EQD2 labels, the plan sum of
a plan with itself doubling its mean dose), so the test checks those against the text.
"""

import doctest
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

pytest.importorskip("pandas")
mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import dosecalc.plot  # noqa: F401  (the example uses dosecalc.plot and dosecalc.tables)
    import dosecalc.tables  # noqa: F401

    r = doctest.testfile(str(README), module_relative=False, verbose=False,
                         optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, raise_on_error=False)
    assert r.attempted >= 20
    assert r.failed == 0
    assert (tmp_path / "eqd2.dcm").is_file()
