"""dosecalc.quantity: the dose-quantity labels are built and parsed in one place.

Truth: the label strings of the README and of every output (``EQD2Gy(a/b=2.5)``,
``BED(a/b=10)``, ``EQD2Gy(a/b=map)``, ``dose``), written out here by hand.
"""

import pytest

from dosecalc.quantity import PHYSICAL, DoseKind, DoseQuantity


@pytest.mark.parametrize("q, label", [
    (DoseQuantity.eqd2(2.5), "EQD2Gy(a/b=2.5)"),
    (DoseQuantity.eqd2(3), "EQD2Gy(a/b=3)"),
    (DoseQuantity.bed(10.0), "BED(a/b=10)"),
    (DoseQuantity.bed("map"), "BED(a/b=map)"),
    (DoseQuantity.converted("eqd2", 0.5), "EQD2Gy(a/b=0.5)"),
    (DoseQuantity(DoseKind.EQD2), "EQD2Gy"),
    (PHYSICAL, "dose"),
])
def test_labels(q, label):
    assert q.label == label and str(q) == label


@pytest.mark.parametrize("label", ["EQD2Gy(a/b=2.5)", "BED(a/b=10)", "EQD2Gy(a/b=map)", "BED", "dose"])
def test_parse_round_trip(label):
    assert DoseQuantity.parse(label).label == label


def test_parse_values():
    q = DoseQuantity.parse("EQD2Gy(a/b=2.50)")
    assert q.kind is DoseKind.EQD2 and q.alpha_beta == 2.5 and q.is_converted
    assert DoseQuantity.parse("Gy").is_physical and DoseQuantity.parse("cGy").is_physical
    other = DoseQuantity.parse("EFFECTIVE(model unknown)")
    assert other.kind is DoseKind.OTHER and other.label == "EFFECTIVE(model unknown)"
    assert DoseQuantity.parse("EQD2Gy(x=1)").kind is DoseKind.OTHER


def test_matches():
    data = DoseQuantity.parse("EQD2Gy(a/b=2.5)")
    assert DoseQuantity.parse("EQD2Gy").matches(data)          # any a/b
    assert DoseQuantity.parse("EQD2Gy(a/b=2.50)").matches(data)  # numbers compared as numbers
    assert not DoseQuantity.parse("EQD2Gy(a/b=3)").matches(data)
    assert not DoseQuantity.parse("BED").matches(data)
    assert not DoseQuantity.parse("EQD2Gy").matches(PHYSICAL)


def test_protocol_alpha_beta_rule():
    assert DoseQuantity.states_plain_alpha_beta("EQD2Gy(a/b=2.5)")
    assert DoseQuantity.states_plain_alpha_beta("BED(a/b=10)")
    for bad in ("EQD2Gy", "BED(a/b=map)", "BED(a/b=1e1)", "EQD2Gy(a/b=.5)", "EQD2Gy(a/b=-2)"):
        assert not DoseQuantity.states_plain_alpha_beta(bad), bad
