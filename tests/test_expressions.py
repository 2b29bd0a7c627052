"""dosecalc.expressions: one grammar for structure expressions.

Truth: the grammar written in the module docstring (operators stand apart, & binds
tighter, known names match first), applied by hand to each example.
"""

import pytest

from dosecalc.expressions import ExpressionSyntaxError, is_expression, operand_names, parse, tokenise


def test_tokens():
    assert [(t.kind, t.value) for t in tokenise("Liver - (GTV1 + GTV2)")] == [
        ("name", "Liver"), ("op", "difference"), ("(", "("), ("name", "GTV1"), ("op", "union"),
        ("name", "GTV2"), (")", ")")]
    assert [t.text for t in tokenise("A + B") if t.kind == "op"] == ["+"]


def test_hyphenated_and_known_names():
    assert operand_names("Bowel-Small - GTV") == ["Bowel-Small", "GTV"]
    # a known name containing an operator with spaces stays one operand
    assert operand_names("Liver - GTV | PTV", names=["Liver - GTV"]) == ["Liver - GTV", "PTV"]
    assert operand_names("Normal Liver - GTV") == ["Normal Liver", "GTV"]


def test_precedence():
    assert parse("A - B & C") == ("difference", ("roi", "A"), ("intersection", ("roi", "B"), ("roi", "C")))
    assert parse("A - B | C") == ("union", ("difference", ("roi", "A"), ("roi", "B")), ("roi", "C"))
    assert parse("A", leaf=str.lower) == ("roi", "a")


@pytest.mark.parametrize("bad", ["", "A -", "(A | B", "A B )", "| A"])
def test_syntax_errors(bad):
    with pytest.raises(ExpressionSyntaxError):
        parse(bad)


def test_is_expression():
    assert is_expression("Liver - GTV") and is_expression("(GTV)") and is_expression("A & B")
    assert not is_expression("Bowel-Small") and not is_expression("Liver -GTV") and not is_expression("GTV1")
