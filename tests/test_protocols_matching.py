"""dosecalc.protocols.matching: protocol structures found among a plan's ROI names.

Truth: the built-in protocol's own TOML (names, the GTV pattern, the derive expression
``Liver - GTV``) applied by hand to the ROI names given, and the grammar of
dosecalc.expressions (an operand that is an expression is parenthesised).
"""

import pytest

from dosecalc.errors import ParameterError
from dosecalc.protocols.matching import match_structures
from dosecalc.protocols.schema import load_protocol


@pytest.fixture(scope="module")
def oligo():
    return load_protocol("hcc-oligoprogression")


def test_names_patterns_and_derived(oligo):
    m = match_structures(oligo, ["Liver", "GTV1", "GTV2", "Stomach", "duodenum"])
    assert (m["Liver"].expression, m["Liver"].how) == ("Liver", "name")
    assert m["Duodenum"].expression == "duodenum"          # case-insensitive name
    assert m["GTV"].expression == "GTV1 | GTV2"             # the pattern unites both lesions
    # Liver - GTV, with the GTV union as one operand
    assert m["Liver-GTV"].expression == "Liver - (GTV1 | GTV2)"
    assert m["Liver-GTV"].rois == ("Liver", "GTV1", "GTV2")
    assert not m["Heart"].found and "Heart" in m["Heart"].reason


def test_single_gtv_is_not_parenthesised(oligo):
    m = match_structures(oligo, ["Liver", "GTV1"])
    assert m["Liver-GTV"].expression == "Liver - GTV1"


def test_mapping_wins_and_expression_values(oligo):
    m = match_structures(oligo, ["LIVER_1", "Tumour"], {"Liver": "LIVER_1", "GTV": "Tumour"})
    assert m["Liver"].expression == "LIVER_1" and m["Liver"].how == "mapping"
    assert m["Liver-GTV"].expression == "LIVER_1 - Tumour"
    with pytest.raises(ParameterError, match="no ROI named"):
        match_structures(oligo, ["Liver"], {"Liver": "Lever"})
