"""Load + all DVHs of the synthetic liver-SBRT case.

Full mode: 1 mm grid (>= 15 M voxels), >= 40 structures: the product's speed target is
load + all DVHs under 2 s warm on 2 cores.  Quick mode (CI): 3 mm grid, same structures.
Ratio: a fixed numpy workload on an array of the grid's size (sort + cumsum) divided by
our time, so the figure is comparable across machines; the dicompyler-core comparison is
``bench_dicompyler.py``.
"""

from __future__ import annotations

import time

from _common import best_of, numpy_reference_s, synthetic_case


def run(quick: bool) -> dict:
    import dosecalc

    spacing = 3.0 if quick else 1.0
    path = synthetic_case(spacing, extra_structures=22)

    t0 = time.perf_counter()
    case = dosecalc.load(path)
    dvhs = case.dvhs()
    cold = time.perf_counter() - t0  # includes numba compilation when the cache is cold

    def load_and_dvhs():
        c = dosecalc.load(path)
        return c, c.dvhs()

    warm, (case, dvhs) = best_of(load_and_dvhs, 2 if quick else 3)
    t_load, _ = best_of(lambda: dosecalc.load(path), 2)
    n = int(case.dose.values_gy.size)
    ref = numpy_reference_s(n)
    return {
        "size": {"voxels": n, "structures": len(dvhs), "spacing_mm": spacing},
        "timings_s": {"load_and_all_dvhs_warm": warm, "load_warm": t_load,
                      "first_run_incl_compile": cold, "numpy_reference": ref},
        "ratios": {"numpy_reference_over_load_and_dvhs": ref / warm},
        "mean_gy": {name: d.mean_gy for name, d in dvhs.items()},
    }
