"""Compact masks (interior runs + boundary fractions) and the case's two-tier mask cache.

Truths: the dense fraction array itself (a compacted mask must expand to the same bits,
compared element by element with numpy); a run count found by a plain Python scan of the
array; for the cache, the DVH of a case that never cached anything (a fresh case per
structure), which a cached or expanded mask must reproduce bit for bit.
"""

import sys
from pathlib import Path

import numba
import numpy as np

import dosecalc.analysis as analysis
import dosecalc.mask_cache as mask_cache
import dosecalc.masks.rasterise as rasterise_mod
from dosecalc.masks.compact import compact, expand
from dosecalc.masks.lattice import StructureMask

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from test_analysis_case import make_case, make_grid, make_positive_case  # noqa: E402


def _python_runs(frac):
    """Runs of equal kind (full 1.0 / partial / zero gap) within each z plane, counted by
    a plain scan."""
    runs = 0
    for plane in frac:
        kind = 0
        for f in plane.ravel():
            new = 0 if f == 0.0 else (1 if f == 1.0 else 2)
            if new and new != kind:
                runs += 1
            kind = new
    return runs


def test_compact_round_trip_is_bit_exact_and_small():
    rng = np.random.default_rng(3)
    frac = np.zeros((7, 9, 11))
    frac[1:6, 2:8, 2:9] = 1.0                         # interior
    frac[1:6, 2, 2:9] = rng.random((5, 7))            # a boundary layer
    frac[3, 4, 0] = 5e-324                            # the smallest fraction still counts
    frac[0, 0, :4] = [1.0, 0.3, 1.0, 1.0]             # alternating kinds
    frac[0, -1, -1] = frac[1, 0, 0] = 1.0             # a run would cross planes: cut there
    frac.setflags(write=False)
    m = StructureMask("X", frac, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0, 0, 0), 1.0, 0.0,
                      settings={"supersample": 1}, corners_mm=np.ones((2, 3)))
    c = compact(m)
    assert len(c.run_start) == _python_runs(frac)
    assert c.values.size == int(np.count_nonzero((frac != 0) & (frac != 1)))
    back = expand(c)
    assert back.fraction.shape == frac.shape
    assert np.array_equal(back.fraction.view(np.uint64), frac.view(np.uint64))
    assert back.index_offset == (0, 0, 0) and back.settings == m.settings
    assert np.array_equal(back.corners_mm, m.corners_mm) and back.volume_cc == m.volume_cc
    assert not back.fraction.flags.writeable
    assert c.nbytes < frac.nbytes


def test_eqd2_after_physical_rasterises_nothing_and_matches_fresh(monkeypatch):
    """With the dense tier emptied (budget 0), the EQD2 pass expands every mask from the
    compact tier: no structure is rasterised a second time, and every DVH equals the one
    of a case that computed that structure from scratch."""
    monkeypatch.setattr(mask_cache, "MASK_CACHE_BYTES", 0)  # the constant lives in dosecalc.mask_cache
    calls = []

    def counted(real):
        def counting(*a, **k):
            calls.append(1)
            return real(*a, **k)
        return counting

    # the two ways a structure is rasterised: dense, or straight to compact form
    for entry in ("mask_from_prepared", "compact_from_prepared"):
        monkeypatch.setattr(rasterise_mod, entry, counted(getattr(rasterise_mod, entry)))
    case = make_case()
    names = ["Liver", "GTV", "Wide"]
    phys = case.dvhs(names)
    n_first = len(calls)
    eq = make_grid("EQD2Gy(a/b=2.5)")  # another grid of the same geometry
    conv = case.dvhs(names, dose=eq)
    assert len(calls) == n_first == len(names)
    for name in names:
        fresh = make_case()
        ref_p = fresh.dvh(name)
        ref_e = fresh.dvh(name, dose=eq)
        for got, ref in ((phys[name], ref_p), (conv[name], ref_e)):
            assert np.array_equal(got.curve_volume_cc, ref.curve_volume_cc)
            assert np.array_equal(got.curve_dose_gy, ref.curve_dose_gy)
            assert got.mean_gy == ref.mean_gy and got.volume_cc == ref.volume_cc


def test_dvh_from_pieces_equals_dvh_from_all_samples():
    """Truth: DVH.from_samples of all samples at once (the tested path).  The pieces of
    sample_chunks (a few planes each) concatenate to mask_samples' arrays, and the DVH
    built from them, binned and exact, has the same bits."""
    from dosecalc.dvh import DVH
    from dosecalc.masks import mask_samples
    from dosecalc.masks.sampling import sample_chunks

    case = make_case()
    mask = case.mask("Liver", supersample=1)
    assert mask.index_offset is not None
    d_all, v_all = mask_samples(mask, case.dose)
    n, chunks = sample_chunks(mask, case.dose, max_samples=300)
    pieces = list(chunks())
    assert n == d_all.size and len(pieces) > 3
    assert np.array_equal(np.concatenate([p[0] for p in pieces]), d_all)
    assert np.array_equal(np.concatenate([p[1] for p in pieces]), v_all)
    for mode in ("binned", "exact"):
        ref = DVH.from_samples(d_all, v_all, mode=mode, bin_gy=0.05)
        got = DVH.from_sample_chunks(chunks, mode=mode, bin_gy=0.05)
        assert np.array_equal(got.curve_volume_cc, ref.curve_volume_cc)
        assert np.array_equal(got.curve_dose_gy, ref.curve_dose_gy)
        assert (got.mean_gy, got.min_gy, got.max_gy, got.volume_cc) == \
            (ref.mean_gy, ref.min_gy, ref.max_gy, ref.volume_cc)


def test_compact_is_the_same_for_any_thread_count():
    """Truth: the single-threaded encoding; ranges of planes on two threads (forced by a
    tiny split threshold) must give the same arrays and the same expanded bits."""
    import numba

    import dosecalc.kernels.threads as threads

    rng = np.random.default_rng(5)
    frac = np.where(rng.random((40, 30, 30)) < 0.3, 1.0, rng.random((40, 30, 30)) * (rng.random((40, 30, 30)) < 0.5))
    frac.setflags(write=False)
    m = StructureMask("R", frac, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), None, 1.0, 0.0)
    old_split, old_threads = threads.MIN_SPLIT_WORK, numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = compact(m)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        threads.MIN_SPLIT_WORK = 10
        two = compact(m)
        back = expand(two)
    finally:
        threads.MIN_SPLIT_WORK = old_split
        numba.set_num_threads(old_threads)
    for a in ("run_off", "run_start", "run_length", "run_value", "values"):
        assert np.array_equal(getattr(one, a), getattr(two, a)), a
    assert np.array_equal(back.fraction.view(np.uint64), frac.view(np.uint64))


def test_samples_read_from_runs_equal_the_dense_samples():
    """Truth: mask_samples of the dense mask (the tested gather).  Samples read from the
    runs of the compact form - aligned lattice cut into pieces, sub-voxel lattice in one
    piece - are the same bits, in the same order; runs that wrap from one row to the next
    (a box filled to its edges) included."""
    from dosecalc.masks import mask_samples
    from dosecalc.masks.sampling import compact_sample_chunks

    case = make_case()
    for name, opts in (("Liver", {"supersample": 1}), ("GTV", {"supersample": 3}),
                       ("Wide", {"supersample": 1}), ("Liver", {})):
        dense = case.mask(name, **opts)
        c = compact(dense)
        n, chunks = compact_sample_chunks(c, case.dose, max_samples=200)
        pieces = list(chunks())
        d_ref, v_ref = mask_samples(dense, case.dose)
        assert n == d_ref.size
        d = np.concatenate([p[0] for p in pieces])
        v = np.concatenate([p[1] for p in pieces])
        assert np.array_equal(d.view(np.uint64), d_ref.view(np.uint64)), name
        assert np.array_equal(v.view(np.uint64), v_ref.view(np.uint64)), name
    # a box whose every cell is inside: one run wraps through all rows of each plane
    full = np.ones((3, 4, 5))
    full[1, 2, 3] = 0.25
    full.setflags(write=False)
    g = case.dose
    m = StructureMask("Full", full, g.origin_mm, g.spacing_mm, (0, 0, 0), 1.0, 0.0)
    d_ref, v_ref = mask_samples(m, g)
    c = compact(m)
    assert len(c.run_start) == 5  # plane 0, plane 1 (full, partial, full), plane 2
    _, chunks = compact_sample_chunks(c, g, max_samples=1)
    pieces = list(chunks())
    assert len(pieces) == 3
    assert np.array_equal(np.concatenate([p[0] for p in pieces]), d_ref)
    assert np.array_equal(np.concatenate([p[1] for p in pieces]), v_ref)
    # the same box on a sub-voxel lattice inside the grid (trilinear path)
    h = tuple(s / 2 for s in g.spacing_mm)
    sub = StructureMask("Sub", full, tuple(o + 1.0 for o in g.origin_mm), h, None, 1.0, 0.0)
    d_ref, v_ref = mask_samples(sub, g)
    _, chunks = compact_sample_chunks(compact(sub), g)
    (d, v), = list(chunks())
    assert np.array_equal(d, d_ref) and np.array_equal(v, v_ref)


def test_statistics_and_histogram_reduced_from_runs_equal_those_of_the_samples():
    """Truth: stats_accumulate and weighted_histogram over the gathered samples (the
    samples themselves checked against the dense gather above).  Reduced straight from
    the runs (SampleChunks.stats_into/histogram_into on the grid's own lattice, through a
    buffer smaller than the mask), the running state and every bin are the same bits;
    the DVH built either way is identical."""
    from dosecalc.dvh import DVH
    from dosecalc.kernels.dvh import new_stats_state, stats_accumulate, weighted_histogram
    from dosecalc.kernels.samples import _REDUCE_BUFFER
    from dosecalc.masks.sampling import compact_sample_chunks

    case = make_case()
    g = case.dose
    # a mask over the whole grid with random fractions (some cells empty, some full):
    # more samples than the buffer holds, so it is flushed several times
    rng = np.random.default_rng(3)
    frac = rng.random(g.shape)
    frac[frac < 0.2] = 0.0
    frac[frac > 0.7] = 1.0
    frac.setflags(write=False)
    rand = StructureMask("Random", frac, g.origin_mm, g.spacing_mm, (0, 0, 0), 1.0, 0.0)
    masks = {"Random": rand, **{n: case.mask(n, supersample=1) for n in ("Liver", "Wide", "GTV")}}
    checked = 0
    for name, mask in masks.items():
        c = compact(mask)
        n, fused = compact_sample_chunks(c, g, max_samples=500, reduce_above=0)
        _, plain = compact_sample_chunks(c, g, max_samples=500)
        assert fused._fused and not plain._fused
        assert n > 3 * _REDUCE_BUFFER or name != "Random"
        ref = new_stats_state()
        for d, v in plain():
            stats_accumulate(d, v, ref)
        got = new_stats_state()
        fused.stats_into(got)
        assert np.array_equal(got.view(np.uint64), ref.view(np.uint64)), name
        lo, hi = got[0], got[1]
        width = (hi - lo) / 997
        h_ref, h_got = np.zeros(997), np.zeros(997)
        for d, v in plain():
            weighted_histogram(d, v, lo, width, h_ref)
        fused.histogram_into(lo, width, h_got)
        assert np.array_equal(h_got.view(np.uint64), h_ref.view(np.uint64)), name
        a = DVH.from_sample_chunks(fused, name=name, mode="binned")
        b = DVH.from_sample_chunks(plain, name=name, mode="binned")
        assert np.array_equal(a.curve_volume_cc, b.curve_volume_cc) and a.mean_gy == b.mean_gy
        # Min/Max of the samples covering >= threshold: brute force in numpy over all of
        # them; fused, they come with the statistics, which stats_into then hands out
        # (the same bits as accumulating into a fresh state) or, into a state that is not
        # fresh, accumulates as before
        d_all = np.concatenate([d for d, _ in plain()])
        v_all = np.concatenate([v for _, v in plain()])
        thr = 0.3 * float(mask.cell_volume_cc)
        keep = v_all >= thr
        truth = (float(d_all[keep].min()), float(d_all[keep].max()))
        _, fused2 = compact_sample_chunks(c, g, max_samples=500, reduce_above=0)
        assert fused2.extremes(thr) == truth == plain.extremes(thr), name
        got = new_stats_state()
        fused2.stats_into(got)
        assert np.array_equal(got.view(np.uint64), ref.view(np.uint64)), name
        d0, v0 = next(iter(plain()))
        twice, ref2 = new_stats_state(), new_stats_state()
        stats_accumulate(d0, v0, twice)
        stats_accumulate(d0, v0, ref2)
        for d, v in plain():
            stats_accumulate(d, v, ref2)
        fused2.stats_into(twice)
        assert np.array_equal(twice.view(np.uint64), ref2.view(np.uint64)), name
        checked += 1
    assert checked == 4


def test_extremes_above_equals_numpy_over_kept_finite_samples():
    """Truth: numpy min/max of the finite doses of samples whose volume is at least the
    threshold.  Fed in pieces cut anywhere, the running state is the same; no kept
    sample gives (+inf, -inf), which piece_extremes_result reads as NaN."""
    from dosecalc.kernels.dvh import extremes_above
    from dosecalc.masks.sampling import chunk_extremes, piece_extremes_result

    rng = np.random.default_rng(11)
    for trial in range(200):
        n = int(rng.integers(0, 300))
        d = rng.normal(20.0, 8.0, n)
        v = rng.random(n) * 1e-3
        v[rng.random(n) < 0.3] = 0.0
        v[rng.random(n) < 0.1] = 1e-12
        bad = rng.random(n)
        d[bad < 0.03] = np.nan
        d[(bad >= 0.03) & (bad < 0.05)] = np.inf
        thr = 1e-9
        keep = (v >= thr) & np.isfinite(d)
        truth = (float(d[keep].min()), float(d[keep].max())) if keep.any() else None
        ext = np.array([np.inf, -np.inf])
        cuts = np.sort(rng.integers(0, n + 1, 3))
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, n]):
            extremes_above(d[a:b].copy(), v[a:b].copy(), thr, ext)
        got = piece_extremes_result(ext)
        if truth is None:
            assert all(np.isnan(got)), trial
        else:
            assert got == truth, trial
            pieces = [(d[a:b], v[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, n])]
            assert chunk_extremes(lambda: pieces, thr) == truth, trial


def test_eqd2_after_physical_reads_the_kept_subvoxel_samples(monkeypatch):
    """The EQD2 DVH of a sub-voxel mask converts the interpolated physical dose; after
    the physical DVHs it reads the samples they kept instead of interpolating again.
    Truth: the EQD2 DVHs of a fresh case that computed no physical DVH (every sample
    interpolated anew), and of a case whose sample tier keeps nothing."""
    import dosecalc.masks.sampling as sampling

    calls = []
    real = sampling.gather_runs_interp

    def counting(*a):
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(sampling, "gather_runs_interp", counting)

    case = make_positive_case()
    names = ["Liver", "GTV", "Wide"]
    sub = [n for n in names if case.mask(n).index_offset is None]
    assert sub, "the test needs a structure on a sub-voxel lattice"
    case.dvhs(names)
    assert calls
    calls.clear()
    eq = case.eqd2(2.5)
    conv = case.dvhs(names, dose=eq)
    assert not calls  # every sub-voxel EQD2 sample converted from the kept ones
    fresh = make_positive_case()
    monkeypatch.setattr(mask_cache, "SAMPLE_CACHE_BYTES", 0)
    nothing_kept = make_positive_case()
    nothing_kept.dvhs(names)
    for name in names:
        for other in (fresh, nothing_kept):
            ref = other.dvh(name, dose=other.eqd2(2.5))
            got = conv[name]
            assert np.array_equal(got.curve_volume_cc, ref.curve_volume_cc), name
            assert np.array_equal(got.curve_dose_gy, ref.curve_dose_gy), name
            assert (got.mean_gy, got.min_gy, got.max_gy) == (ref.mean_gy, ref.min_gy, ref.max_gy), name
    assert not nothing_kept.mask_cache._samples


def test_dvhs_side_by_side_equal_one_by_one_and_raise_in_order(monkeypatch):
    """Truth: the DVHs computed one by one on this thread (SIDE_BY_SIDE_MAX_VOXELS = 0).
    Side by side on two threads every DVH has the same bits; with an unknown structure
    among the names, the error of the first failing name (in order) is raised."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        import pytest

        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    names = ["Liver", "GTV", "Wide", "Liver - GTV"]
    monkeypatch.setattr(analysis, "SIDE_BY_SIDE_MAX_VOXELS", 0)
    ref = make_case().dvhs(names)
    monkeypatch.setattr(analysis, "SIDE_BY_SIDE_MAX_VOXELS", 10**9)
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        got = make_case().dvhs(names)
        # errors: the first failing target in order wins, even when a later one fails first
        import time

        real = analysis.case_dvh

        def failing(case, t, **kw):
            if t.name == "GTV":
                time.sleep(0.3)
                raise ValueError("GTV failed")
            if t.name == "Wide":
                raise ValueError("Wide failed")
            return real(case, t, **kw)

        monkeypatch.setattr(analysis, "case_dvh", failing)
        try:
            make_case().dvhs(["Liver", "GTV", "Wide"])
        except ValueError as exc:
            assert str(exc) == "GTV failed"
        else:
            raise AssertionError("a failing structure must raise")
    finally:
        numba.set_num_threads(old)
    assert list(got) == list(ref)
    for k in ref:
        assert np.array_equal(got[k].curve_volume_cc, ref[k].curve_volume_cc)
        assert np.array_equal(got[k].curve_dose_gy, ref[k].curve_dose_gy)
        assert got[k].mean_gy == ref[k].mean_gy and got[k].max_gy == ref[k].max_gy


def test_prism_compact_layer_by_layer_equals_compact_of_dense_mask(monkeypatch):
    """Truth: the dense prism mask of the whole box (prism_mask), compacted.  Rasterised
    layer by layer straight into runs (rasterise_runs), in ranges of layers on 1 to 3
    threads (every split forced, down to ranges of one layer), the compact mask has the
    same arrays and the same volume bit for bit, and it expands to the dense fractions."""
    import dosecalc.kernels.threads as threads
    from dosecalc.masks.contours import prepare
    from dosecalc.masks.prism import prism_compact, prism_mask
    from dosecalc.masks.rasterise import lattice_box, resolve_k

    monkeypatch.setattr(threads, "MIN_SPLIT_WORK", 0)
    case = make_case()
    grid = case.dose
    checked = 0
    old = numba.get_num_threads()
    try:
        for s in case.structures:
            if not s.has_volume:
                continue
            prep = prepare(s, grid, "half", True)
            for supersample in (1, "auto"):
                k = resolve_k(prep, grid, supersample)
                box = lattice_box(prep, grid)
                dense = prism_mask(prep, grid, k, box, supersample, "half")
                ref = compact(dense)
                for n_threads in (1, 2, 3):
                    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
                    c = prism_compact(prep, grid, k, box, supersample, "half")
                    assert c.shape == ref.shape
                    for f in ("run_off", "sample_off", "run_start", "run_length", "run_value", "values"):
                        assert np.array_equal(getattr(c, f), getattr(ref, f)), (s.name, supersample, n_threads, f)
                    assert c.mask.volume_cc == dense.volume_cc and c.mask.outside_cc == dense.outside_cc
                    assert c.mask.origin_mm == dense.origin_mm and c.mask.spacing_mm == dense.spacing_mm
                    assert np.array_equal(expand(c).fraction, dense.fraction)
                    checked += 1
    finally:
        numba.set_num_threads(old)
    assert checked >= 6


def test_layer_sum_kernel_has_the_bits_of_numpy_sum():
    """Truth: numpy's own ``layer.sum()`` (what the dense mask's volume is summed with).
    The layer sums of rasterise_runs reproduce it bit for bit on layers of every size
    class of numpy's pairwise summation (< 8, <= 128, recursive halves)."""
    from dosecalc.kernels.raster import _pairwise_sum

    rng = np.random.default_rng(7)
    for _ in range(400):
        ny, nx = (int(v) for v in rng.integers(1, 300, 2))
        a = rng.random((ny, nx)) * (rng.random((ny, nx)) < 0.6)
        if rng.random() < 0.3:
            a[:] = np.round(a, 3)
        assert 0.0 + _pairwise_sum(a.reshape(-1), 0, a.size, 0, a.size) == float(a.sum()), (ny, nx)
        # only a[z0:z1] non-zero: the zero blocks are skipped, the bits stay numpy's
        z0, z1 = sorted(int(q) for q in rng.integers(0, a.size + 1, 2))
        b = a.reshape(-1).copy()
        b[:z0] = 0.0
        b[z1:] = 0.0
        assert 0.0 + _pairwise_sum(b, 0, b.size, z0, z1) == float(b.sum()), (ny, nx, z0, z1)


def test_sample_tier_holds_only_samples_of_masks_the_compact_tier_holds():
    """Truth: the tier's byte count by construction (16 bytes per sample here: 10 float64
    doses and 10 float64 volumes = 160 bytes), and which compute functions run."""
    from dosecalc.mask_cache import MaskCache

    class Packed:  # stands for a compact mask: the tiers read only its size
        nbytes = 100

    cache = MaskCache()
    a, b, grid = Packed(), Packed(), object()
    d, v = np.zeros(10), np.ones(10)

    def never():
        raise AssertionError("kept samples must be handed out, not computed again")

    cache.put_compact("a", a, budget=150)
    assert cache.samples(a, grid, lambda: (d, v))[0] is d
    assert cache._sample_bytes == 160 and cache.samples(a, grid, never)[1] is v
    cache.put_compact("b", b, budget=150)  # the compact tier drops a (least recently used)
    assert cache.get_compact("a") is None and cache.get_compact("b") is b
    assert cache._sample_bytes == 0 and not cache._samples
    # samples of a mask the compact tier does not hold are computed and not kept
    assert cache.samples(a, grid, lambda: (d, v))[0] is d
    assert not cache._samples and cache._sample_bytes == 0
