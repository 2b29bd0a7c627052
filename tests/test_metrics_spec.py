"""TG-263 metric-spec parser.

Truth: the grammar in the docstring of dosecalc.metrics, which follows AAPM TG-263
(<type><value><unit>[<output unit>]; types D, V, CV, DC, Mean, Max, Min).
"""

import pytest

from dosecalc.errors import DoseCalcError, MetricSpecError
from dosecalc.metrics import metric_label, parse_metric, quantity_matches


@pytest.mark.parametrize("text, kind, value, vunit, out", [
    ("D95%[Gy]", "D", 95.0, "%", "Gy"),
    ("D0.03cc[Gy]", "D", 0.03, "cc", "Gy"),
    ("D95%[%]", "D", 95.0, "%", "%"),
    ("D2cc[cGy]", "D", 2.0, "cc", "cGy"),
    ("DC700cc[Gy]", "DC", 700.0, "cc", "Gy"),
    ("DC10%[Gy]", "DC", 10.0, "%", "Gy"),
    ("V20Gy[%]", "V", 20.0, "Gy", "%"),
    ("V15Gy[cc]", "V", 15.0, "Gy", "cc"),
    ("V100%[%]", "V", 100.0, "%", "%"),
    ("V1500cGy[cc]", "V", 1500.0, "cGy", "cc"),
    ("CV15Gy[cc]", "CV", 15.0, "Gy", "cc"),
    ("CV19.2Gy[cc]", "CV", 19.2, "Gy", "cc"),
    ("Mean[Gy]", "Mean", None, None, "Gy"),
    ("Max[%]", "Max", None, None, "%"),
    ("Min[Gy]", "Min", None, None, "Gy"),
    ("Volume[cc]", "Volume", None, None, "cc"),
    ("D95%[EQD2Gy(a/b=2.5)]", "D", 95.0, "%", "EQD2Gy(a/b=2.5)"),
    ("V60EQD2Gy[cc]", "V", 60.0, "EQD2Gy", "cc"),
    ("Mean[BED(a/b=10)]", "Mean", None, None, "BED(a/b=10)"),
    ("  D.5cc[Gy] ", "D", 0.5, "cc", "Gy"),
])
def test_parse_valid_specs(text, kind, value, vunit, out):
    """Each spec decomposes into the fields the TG-263 grammar assigns it."""
    s = parse_metric(text)
    assert (s.kind, s.value, s.value_unit, s.output_unit) == (kind, value, vunit, out)
    assert s.text == text.strip()


@pytest.mark.parametrize("text, hint", [
    ("D95%", "D95%[Gy]"),
    ("V20Gy", "V20Gy[cc]"),
    ("Mean", "Mean[Gy]"),
    ("d95%[gy]", "did you mean D95%[Gy]"),
    ("mean[Gy]", "did you mean Mean[Gy]"),
    ("D95%[cc]", "returns a dose"),
    ("V20Gy[Gy]", "returns a volume"),
    ("D 95%[Gy]", "remove the spaces"),
    ("D-5cc[Gy]", "expected TG-263 syntax"),
    ("D95[Gy]", "expected TG-263 syntax"),
    ("V20[cc]", "expected TG-263 syntax"),
    ("D1e2cc[Gy]", "expected TG-263 syntax"),
    ("", "expected TG-263 syntax"),
    ("Dmax", "expected TG-263 syntax"),
    ("Volume[%]", "expected TG-263 syntax"),
])
def test_malformed_specs_raise_with_spec_and_hint(text, hint):
    """Malformed specs raise MetricSpecError naming the spec and the expected syntax."""
    with pytest.raises(MetricSpecError) as exc:
        parse_metric(text)
    msg = str(exc.value)
    assert repr(text.strip()) in msg or repr(text) in msg
    assert hint in msg
    assert isinstance(exc.value, DoseCalcError)


def test_volume_percent_above_100_is_refused():
    """D110% has no meaning (more than the whole structure)."""
    with pytest.raises(MetricSpecError, match="between 0 and 100"):
        parse_metric("D110%[Gy]")


def test_non_string_spec():
    with pytest.raises(MetricSpecError):
        parse_metric(95)


def test_needs_prescription_and_dose_label():
    """% of prescription appears as a dose output [%] or a V/CV threshold x%."""
    assert parse_metric("D95%[%]").needs_prescription
    assert parse_metric("V100%[%]").needs_prescription
    assert parse_metric("Max[%]").needs_prescription
    assert not parse_metric("D95%[Gy]").needs_prescription
    assert not parse_metric("V20Gy[%]").needs_prescription
    assert parse_metric("V20Gy[%]").dose_label == "Gy"
    assert parse_metric("D95%[%]").dose_label is None
    assert parse_metric("V60EQD2Gy[cc]").dose_label == "EQD2Gy"


def test_labels_carry_converted_quantity():
    """Converted-dose labels follow the TG-263 form EQD2Gy(a/b=x) in place of Gy."""
    q = "EQD2Gy(a/b=2.5)"
    assert metric_label("D95%[Gy]", q) == "D95%[EQD2Gy(a/b=2.5)]"
    assert metric_label("V20Gy[cc]", q) == "V20EQD2Gy(a/b=2.5)[cc]"
    assert metric_label("CV15Gy[cc]", q) == "CV15EQD2Gy(a/b=2.5)[cc]"
    assert metric_label("Mean[Gy]", q) == "Mean[EQD2Gy(a/b=2.5)]"
    assert metric_label("D0.03cc[Gy]", q) == "D0.03cc[EQD2Gy(a/b=2.5)]"
    assert metric_label("D95%[%]", q) == "D95%[%]"
    assert metric_label("Volume[cc]", q) == "Volume[cc]"
    assert metric_label("D0.03cc[Gy]") == "D0.03cc[Gy]"


def test_quantity_matching():
    """A label without a/b matches any a/b of its model; with a/b it must be equal."""
    assert quantity_matches("Gy", "dose")
    assert quantity_matches("Gy", "EQD2Gy(a/b=3)")
    assert quantity_matches("EQD2Gy", "EQD2Gy(a/b=3)")
    assert quantity_matches("EQD2Gy(a/b=3.0)", "EQD2Gy(a/b=3)")
    assert not quantity_matches("EQD2Gy(a/b=2.5)", "EQD2Gy(a/b=3)")
    assert not quantity_matches("EQD2Gy", "dose")
    assert not quantity_matches("BED", "EQD2Gy(a/b=3)")
