"""What a DVH reuses from the DVH of another dose on the same mask: a kept sort order
(checked before use) and the Min/Max read from the statistics pass.

Truths: numpy's stable argsort of the negated doses (the permutation the exact-mode DVH
sorts by, unique), numpy min/max over the samples the Min/Max count (volume >= threshold,
finite dose), a fresh state of ``stats_accumulate`` over the samples, and the DVHs of a
case that keeps no sort order (every DVH sorted anew), compared bit for bit.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import dosecalc.dvh_curve as dvh_curve
import dosecalc.mask_cache as mask_cache
from dosecalc.dvh_curve import stable_descending
from dosecalc.kernels.dvh import new_stats_state, stats_accumulate
from dosecalc.mask_cache import MaskCache
from dosecalc.masks.sampling import SamplePiece, _piece_extremes

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from test_analysis_case import make_positive_case  # noqa: E402


def _truth_order(d):
    return np.argsort(-d, kind="stable")


def _check(d, candidate):
    """stable_descending's answer: None, or exactly the stable sort (order and doses)."""
    got = stable_descending(d, candidate)
    if got is not None:
        truth = _truth_order(d)
        assert np.array_equal(got[0], truth)
        assert np.array_equal(got[1], d[truth]) and np.array_equal(np.signbit(got[1]), np.signbit(d[truth]))
    return got


def test_stable_descending_gives_the_stable_sort_or_nothing():
    """Many ties (doses from a few values, -0.0 among them): the stable sort's order
    passes; an order that differs only inside runs of tied doses is put right; orders
    that do not sort the doses (random permutations, reversed) give None."""
    rng = np.random.default_rng(5)
    for trial in range(300):
        n = int(rng.integers(0, 60))
        d = rng.choice(np.array([0.0, -0.0, 1.5, 2.0, 7.25, 30.0]), n) if trial % 2 else rng.normal(10, 3, n)
        truth = _truth_order(d)
        assert _check(d, truth) is not None, trial
        for _ in range(5):
            p = rng.permutation(n)
            if not np.all(d[p][:-1] >= d[p][1:]):
                assert _check(d, p) is None, trial
            else:  # descending with ties out of order: put right, or left to a sort
                _check(d, p)
        shuffled = truth.copy()  # tied samples in any order: every run shuffled
        x = d[truth]
        starts = np.r_[0, np.flatnonzero(x[:-1] != x[1:]) + 1]
        for a, b in zip(starts, np.r_[starts[1:], n]):
            shuffled[a:b] = rng.permutation(shuffled[a:b])
        wrong = [b - a for a, b in zip(starts, np.r_[starts[1:], n])
                 if not np.array_equal(shuffled[a:b], truth[a:b])]
        got = _check(d, shuffled)
        if sum(wrong) <= n // 2:  # (at most 60 runs here: under MAX_TIE_RUNS)
            assert got is not None, trial
        assert _check(d, truth[: max(n - 1, 0)]) is None or n == 0, trial
        if n > 1 and d.min() < d.max():
            assert _check(d, truth[::-1].copy()) is None, trial


def test_stable_descending_fixes_few_tie_runs_and_refuses_many():
    """Truth: the stable sort.  Two runs out of order are put right; with the limit of
    runs lowered below that, or half the samples in wrong runs, the answer is None."""
    d = np.repeat(np.array([9.0, 7.0, 5.0, 3.0]), 5)
    truth = _truth_order(d)
    p = truth.copy()
    p[0:5] = p[0:5][::-1]
    p[15:20] = p[15:20][::-1]
    assert _check(d, p) is not None
    p[5:10] = p[5:10][::-1]  # 15 of 20 samples in wrong runs: over half
    assert stable_descending(d, p) is None
    q = truth.copy()
    q[0:5] = q[0:5][::-1]
    assert _check(d, q) is not None
    old = dvh_curve.MAX_TIE_RUNS
    try:
        dvh_curve.MAX_TIE_RUNS = 0
        assert stable_descending(d, q) is None
    finally:
        dvh_curve.MAX_TIE_RUNS = old


def test_stable_descending_of_a_monotonic_transform():
    """The physical order handed to the EQD2 doses of the same samples (EQD2 is a
    non-decreasing function of the dose): where rounding merges doses one ulp apart,
    their runs are put right; the answer is always the EQD2 doses' own stable sort."""
    rng = np.random.default_rng(8)
    fixed = 0
    for trial in range(100):
        d = rng.random(2000) * (0.5 if trial % 3 == 0 else 40.0)
        if trial % 4 == 0:  # neighbours one ulp apart, which the transform may merge
            d[1::2] = np.nextafter(d[::2], np.inf)[: d[1::2].size]
        eqd2 = d * (d + 3.0) / 5.0
        got = _check(eqd2, _truth_order(d))
        assert got is not None, trial
        fixed += not np.array_equal(got[0], _truth_order(d))
    assert fixed  # some merges happened and were put right


def _samples(rng, n):
    d = rng.normal(20.0, 8.0, n)
    v = rng.random(n) * 1e-3
    v[rng.random(n) < 0.2] = 0.0
    tiny = rng.random(n) < 0.05
    v[tiny] = 1e-12
    if n and rng.random() < 0.5:  # a left-out sample holds the highest or lowest dose
        i = int(rng.integers(n))
        v[i] = 1e-12
        d[i] = d.max() + 1.0 if rng.random() < 0.5 else d.min() - 1.0
    if n and rng.random() < 0.3:  # ... or ties with a counted sample's
        i, j = rng.integers(n, size=2)
        v[i], v[j], d[i] = 1e-12, 5e-4, d[j]
    return d, v


def test_piece_extremes_equal_numpy_over_counted_samples_and_hand_out_the_statistics():
    rng = np.random.default_rng(13)
    thr = 1e-9
    for trial in range(400):
        n = int(rng.integers(0, 200))
        d, v = _samples(rng, n)
        if trial % 10 == 0 and n:
            d[int(rng.integers(n))] = np.nan  # invalid samples: read the slow way
        if trial % 15 == 0 and n:
            v[int(rng.integers(n))] = -1.0
        keep = (v >= thr) & np.isfinite(d)
        truth = (float(d[keep].min()), float(d[keep].max())) if keep.any() else None
        ref = new_stats_state()
        stats_accumulate(d, v, ref)
        got, acc = _piece_extremes(d, v, thr)
        if truth is None:
            assert all(np.isnan(got)), trial
        else:
            assert got == truth, trial
        assert acc is not None and np.array_equal(acc, ref, equal_nan=True), trial
        piece = SamplePiece(d, v)
        assert piece.extremes(thr) == got or truth is None, trial
        out = new_stats_state()
        piece.stats_into(out)
        assert np.array_equal(out, ref, equal_nan=True), trial
        more = ref.copy()  # a state that is not fresh is added to, not overwritten
        piece.stats_into(more)
        twice = ref.copy()
        stats_accumulate(d, v, twice)
        assert np.array_equal(more, twice, equal_nan=True), trial
    # threshold 0 counts zero volumes too: no statistics shortcut
    d, v = np.array([5.0, 1.0]), np.array([1.0, 0.0])
    assert _piece_extremes(d, v, 0.0) == ((1.0, 5.0), None)


def test_order_tier_keeps_orders_of_held_masks_within_its_budget(monkeypatch):
    """Truth: the byte count by construction (8 bytes per int64) and the budget."""
    class Packed:
        nbytes = 100

    cache = MaskCache()
    a, b = Packed(), Packed()
    order = np.arange(10)
    cache.keep_sort_order(a, order)  # not held by the compact tier: not kept
    assert cache.sort_order(a) is None and cache._order_bytes == 0
    cache.put_compact("a", a, budget=150)
    cache.keep_sort_order(a, order)
    assert cache.sort_order(a) is order and cache._order_bytes == 80
    cache.keep_sort_order(a, order[::-1].copy())  # replaced, not added
    assert cache._order_bytes == 80 and cache.sort_order(a)[0] == 9
    cache.put_compact("b", b, budget=150)  # a is dropped, and its order with it
    assert cache.sort_order(a) is None and cache._order_bytes == 0
    monkeypatch.setattr(mask_cache, "ORDER_CACHE_BYTES", 79)
    cache.keep_sort_order(b, order)
    assert cache.sort_order(b) is None and cache._order_bytes == 0
    cache.clear()
    assert cache._order_bytes == 0 and not cache._orders


@pytest.mark.parametrize("poison", [False, True])
def test_eqd2_dvhs_reuse_the_physical_sort_and_equal_fresh_ones(monkeypatch, poison):
    """After the physical DVHs the EQD2 ones sort nothing (their kept orders pass the
    check); with every kept order replaced by a wrong one they sort again.  Either way
    they equal, bit for bit, the EQD2 DVHs of a case that keeps no order."""
    # (not the Liver: 2.3 M samples sorted exactly would add 0.5 GB to the test process)
    names = ["GTV", "Wide"]
    sorts = []
    real = dvh_curve.stable_argsort

    def counting(keys):
        sorts.append(keys.size)
        return real(keys)

    monkeypatch.setattr(dvh_curve, "stable_argsort", counting)
    case = make_positive_case()
    phys = case.dvhs(names, mode="exact")  # (auto would histogram these 0.2 M+ samples)
    exact = [n for n in names if phys[n].settings["mode"] == "exact"]
    assert exact == names
    assert len(sorts) == len(exact) and len(case.mask_cache._orders) == len(exact)
    if poison:
        for key, (packed, order) in list(case.mask_cache._orders.items()):
            case.mask_cache._orders[key] = (packed, order[::-1].copy())
    sorts.clear()
    eq = case.eqd2(2.5)
    got = case.dvhs(names, dose=eq, mode="exact")
    assert len(sorts) == (len(exact) if poison else 0)
    monkeypatch.setattr(mask_cache, "ORDER_CACHE_BYTES", 0)
    fresh = make_positive_case()
    fresh.dvhs(names, mode="exact")
    assert not fresh.mask_cache._orders
    for name in names:
        ref = fresh.dvh(name, dose=fresh.eqd2(2.5), mode="exact")
        assert np.array_equal(got[name].curve_volume_cc, ref.curve_volume_cc), name
        assert np.array_equal(got[name].curve_dose_gy, ref.curve_dose_gy), name
        assert (got[name].mean_gy, got[name].min_gy, got[name].max_gy) == (ref.mean_gy, ref.min_gy, ref.max_gy)
