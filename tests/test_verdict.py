"""dosecalc.verdict: verdicts are an enum whose values are the output strings.

Truth: the strings of the README's check JSON (pass / acceptable / fail / not evaluable /
incomplete).
"""

import json

from dosecalc.verdict import Verdict


def test_strings_unchanged():
    assert [v.value for v in Verdict] == ["pass", "acceptable", "fail", "not evaluable", "incomplete"]
    assert Verdict.FAIL == "fail" and f"{Verdict.NOT_EVALUABLE}" == "not evaluable"
    assert json.dumps({"verdict": Verdict.ACCEPTABLE}) == '{"verdict": "acceptable"}'
    assert Verdict("pass") is Verdict.PASS
