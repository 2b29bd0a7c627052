"""The ``Examples`` sections of the main entry points run as doctests.

Truth: the synthetic export's own definition (dosecalc.phantom: 5 fractions of 40 Gy,
21 ROIs), the labels of the README and, for ``check``, the verdicts the demo prints
(acceptable: 34 pass, 1 acceptable, the large bowel's D0.03cc; incomplete without a
Child-Pugh class); each example states its expected output.
"""

from __future__ import annotations

import doctest
import shutil

import pytest

import dosecalc
from dosecalc import batch as batch_fn
import dosecalc.case

ENTRY_POINTS = [dosecalc.case.load, dosecalc.case.Case.dvh, dosecalc.case.Case.eqd2, dosecalc.case.Case.mask,
                dosecalc.case.Case.dvh_table, dosecalc.check, batch_fn]


@pytest.fixture(scope="module")
def cohort_dir(synthetic_case_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    for name in ("p1", "p2"):
        shutil.copytree(synthetic_case_dir, root / name)
    return root


@pytest.mark.parametrize("func", ENTRY_POINTS, ids=lambda f: f.__qualname__)
def test_examples(func, synthetic_case_dir, cohort_dir):
    tests = doctest.DocTestFinder(recurse=False).find(
        func, globs={"export_dir": synthetic_case_dir, "cohort_dir": cohort_dir})
    examples = [t for t in tests if t.examples]
    assert examples, f"{func.__qualname__} has no Examples section"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in examples:
        runner.run(t)
    assert runner.failures == 0 and runner.tries >= 2
