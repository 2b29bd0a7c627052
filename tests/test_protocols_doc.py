"""docs/PROTOCOLS.md: its complete example and its `extends` example load, every key the
schema accepts is documented, and the example checks the synthetic demo case.

Truths: the schema's own key sets (dosecalc.protocols.validator); the example's constraints
evaluated by hand on the case's DVHs (metric value vs limit with the stated comparator).
"""

import operator
import re
from pathlib import Path

import pytest

from dosecalc.protocols import validator
from dosecalc.protocols.schema import load_protocol

DOC = Path(__file__).resolve().parents[1] / "docs" / "PROTOCOLS.md"


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    path = tmp_path_factory.mktemp("protocol") / "example.toml"
    path.write_text(toml_blocks()[0])
    return load_protocol(path)


def test_example_loads(example):
    assert example.id == "example-liver-5fx"
    assert [c.id for c in example.constraints] == ["liver-gtv-cv15-5fx", "liver-gtv-mean-5fx",
                                                   "stomach-d0.03cc-5fx", "ptv-v100-5fx"]
    assert example.sites[0].id == "liver" and example.structure("cHBT").required is False
    mean = next(c for c in example.constraints if c.id == "liver-gtv-mean-5fx")
    assert (mean.when.metric, mean.when.comparator, mean.when.limit) == ("Volume[cc]", ">", 700)
    assert example.structure("PTV").combine == "each"
    assert example.structure("Liver-GTV").derive == "Liver - GTV"
    assert example.eligibility[0].quantity == "platelets"


def test_example_numbers_are_the_builtin_ones(example):
    """No invented number: each example constraint is the built-in one with its citation."""
    builtin = {c.id: c for c in load_protocol("hcc-oligoprogression").constraints}
    for c in example.constraints:
        b = builtin[c.id]
        assert (c.metric, c.comparator, c.limit, c.source, c.confidence, c.level2, c.level2_source) == \
            (b.metric, b.comparator, b.limit, b.source, b.confidence, b.level2, b.level2_source)


def test_extends_example_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(toml_blocks()[1])
    p = load_protocol(path)
    assert p.extends == ("hcc-oligoprogression",)
    assert next(c for c in p.constraints if c.id == "stomach-d0.03cc-5fx").limit == 22


def test_every_schema_key_is_documented():
    text = DOC.read_text()
    keys = (validator._TOP_KEYS | validator._PRESCRIPTION_KEYS | validator._STRUCTURE_KEYS
            | validator._CONSTRAINT_KEYS | validator._ELIGIBILITY_KEYS)
    missing = sorted(k for k in keys if f"`{k}`" not in text and f"`[[{k}]]`" not in text)
    assert not missing, f"keys not documented in docs/PROTOCOLS.md: {missing}"


def test_example_checks_the_demo_case(example, synthetic_case):
    import dosecalc

    rep = dosecalc.check(synthetic_case, example, child_pugh="A5")
    ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
    rows = [r for r in rep.results if r.kind == "dose"]
    assert {r.id for r in rows} >= {"liver-gtv-cv15-5fx", "stomach-d0.03cc-5fx", "ptv-v100-5fx"}
    for r in rows:
        if r.value is None:  # a row that does not apply (when = ...) or has no ROI says why
            assert r.reason
            continue
        # by hand: the metric of the evaluated ROI/expression, compared with the limit
        value = synthetic_case.dvh(r.roi).metric(r.metric)
        assert r.value == pytest.approx(value, rel=1e-9)
        if r.level2 is None:
            assert (r.verdict == "pass") == ops[r.comparator](value, r.limit)
        else:  # an acceptable level: pass only within the limit, never fail within level 2
            assert (r.verdict == "pass") == ops[r.comparator](value, r.limit)
            assert (r.verdict == "fail") == (not ops[r.comparator](value, r.level2))
