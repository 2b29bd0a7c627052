"""The one-pass DS parser must give exactly what a correctly rounded parser gives.

Truth: numpy's float64 conversion of each field (Python's correctly rounded float()),
compared bit for bit (uint64 views), on edge cases and on many random decimal strings of
the kinds planning systems write (fixed decimals, exponents, padding, signs, -0).
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dosecalc.kernels.dsparse import POW10, parse_ds


def parse(fields: list[bytes]) -> np.ndarray:
    joined = b"\\".join(fields)
    n = joined.count(b"\\") + 1
    out = np.empty(n)
    ok = np.empty(n, dtype=np.uint8)
    assert parse_ds(np.frombuffer(joined, dtype=np.uint8), POW10, out, ok) == n
    slow = np.flatnonzero(ok == 0)
    if slow.size:
        out[slow] = np.array([fields[i] for i in slow], dtype=np.float64)
    return out, ok


def same_bits(a, b):
    return np.array_equal(np.asarray(a, np.float64).view(np.uint64), np.asarray(b, np.float64).view(np.uint64))


def test_edge_cases_bit_identical():
    fields = [b"0", b"-0", b"-0.0", b"+1.5", b" 12.25 ", b"1.", b".5", b"-.5", b"123456789012345",
              b"9007199254740993", b"0.1", b"0.3", b"-274.9999", b"1e3", b"1.5E-2", b"  -3.0000001",
              b"0.0000000000000000000001", b"0.00000000000000000000001", b"17.2999999999999989",
              b"1234567.891011121314"]
    got, ok = parse(fields)
    want = np.array(fields, dtype=np.float64)
    assert same_bits(got, want)
    assert ok[0] and ok[3] and not ok[13]  # exponents go to the general parser


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-10 ** 9, 10 ** 9), st.integers(0, 12), st.sampled_from(["f", "e", "pad", "plus"])),
                min_size=1, max_size=60))
def test_random_decimals_bit_identical(items):
    fields = []
    for value, decimals, style in items:
        x = value / 10 ** (decimals % 7)
        text = {"f": f"{x:.{decimals}f}", "e": f"{x:.{decimals}e}", "pad": f" {x:.{decimals}f} ",
                "plus": f"+{abs(x):.{decimals}f}"}[style]
        fields.append(text.encode())
    got, _ = parse(fields)
    assert same_bits(got, np.array(fields, dtype=np.float64))
