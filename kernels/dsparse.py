"""Parse DICOM DS (decimal string) values joined by backslashes, in one pass.

Fast path (Clinger): a plain decimal ``[+-]digits[.digits]`` (spaces around it allowed)
whose digits form an integer m <= 2^53 and which has k <= 22 decimals is the exact
integer m divided by the exact power of ten 10^k; one IEEE division of two exact values
is correctly rounded, so the result is bit-identical to ``float(text)``.  Any other
field (an exponent, more digits, an empty or malformed value) is flagged for the
caller's general parser.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: 10^k for k = 0..22, all exactly representable in float64
POW10 = np.array([10.0 ** k for k in range(23)], dtype=np.float64)
# m * 10 + 9 stays <= 2^53 (exact in float64) while m <= this
_M_MAX = (2 ** 53 - 9) // 10


@njit(cache=True)
def parse_ds(buf, pow10, out, ok):
    """Parse the backslash-separated fields of ``buf`` (uint8) into ``out`` (float64).

    ``ok[i]`` is 1 where field i took the exact fast path, 0 where the caller must parse
    it.  Returns the number of fields (backslashes + 1).
    """
    n = buf.size
    field = 0
    i = 0
    while True:
        j = i
        while j < n and buf[j] != 92:  # backslash
            j += 1
        a = i
        b = j
        while a < b and buf[a] == 32:
            a += 1
        while b > a and buf[b - 1] == 32:
            b -= 1
        good = a < b
        neg = False
        if good and (buf[a] == 45 or buf[a] == 43):  # '-' or '+'
            neg = buf[a] == 45
            a += 1
        m = 0
        k = 0
        nd = 0
        dot = False
        p = a
        while good and p < b:
            c = buf[p]
            if 48 <= c <= 57:
                if m > _M_MAX:
                    good = False
                    break
                m = m * 10 + (c - 48)
                nd += 1
                if dot:
                    k += 1
            elif c == 46 and not dot:  # '.'
                dot = True
            else:
                good = False
                break
            p += 1
        if nd == 0 or k > 22:
            good = False
        if good:
            v = m / pow10[k]
            out[field] = -v if neg else v
            ok[field] = 1
        else:
            out[field] = 0.0
            ok[field] = 0
        field += 1
        if j >= n:
            break
        i = j + 1
    return field
