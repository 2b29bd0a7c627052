"""Masks of every structure of the synthetic liver-SBRT case, step by step.

Full mode: 1 mm grid (~17 M voxels), 43 structures; quick mode (CI): 3 mm grid.  Per
step, summed over the structures (warm, best of a few runs): contour preparation
(flattening, topology), rasterisation, sample extraction (``mask_samples``), DVH build;
plus the DVH section of ``case.dvhs()`` as a whole (with numba's thread count, and on one
thread: big masks, samples and sorts are split over threads, see
``dosecalc.kernels.samples``) and the cells / samples produced.
Ratio: a fixed numpy workload on an array of the grid's size (sort + cumsum) divided by
our time (larger is better), so the figures compare across machines.
"""

from __future__ import annotations

import time

from _common import best_of, numpy_reference_s, synthetic_case


def _steps(case) -> dict:
    from dosecalc import masks
    from dosecalc.dvh import DVH

    grid = case.dose
    out = {"prepare": 0.0, "rasterise": 0.0, "samples": 0.0, "dvh_build": 0.0}
    cells = samples = 0
    for s in case.structures:
        if not s.has_volume:
            continue
        t0 = time.perf_counter()
        prep = masks.prepare(s, grid)
        t1 = time.perf_counter()
        m = masks.mask_from_prepared(prep, grid, "auto", "half", masks.DEFAULT_INTERPOLATION)
        t2 = time.perf_counter()
        d, v = masks.mask_samples(m, grid)
        t3 = time.perf_counter()
        DVH.from_samples(d, v, name=s.name, outside_cc=m.outside_cc)
        t4 = time.perf_counter()
        out["prepare"] += t1 - t0
        out["rasterise"] += t2 - t1
        out["samples"] += t3 - t2
        out["dvh_build"] += t4 - t3
        cells += m.fraction.size
        samples += len(d)
    out["cells"] = cells
    out["samples_n"] = samples
    return out


def run(quick: bool) -> dict:
    import dosecalc

    spacing = 3.0 if quick else 1.0
    path = synthetic_case(spacing, extra_structures=22)
    case = dosecalc.load(path)
    case.dvhs()  # compile / warm the caches of the OS and numba

    def all_dvhs():
        c = dosecalc.load(path)
        c.dose.values_gy  # decode the dose outside the timed DVH section
        t0 = time.perf_counter()
        c.dvhs()
        return time.perf_counter() - t0

    import numba

    repeats = 2 if quick else 3
    dvhs_s = min(all_dvhs() for _ in range(repeats))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        dvhs_1_s = min(all_dvhs() for _ in range(repeats))
    finally:
        numba.set_num_threads(threads)
    steps = min((_steps(case) for _ in range(repeats)), key=lambda r: sum(
        r[k] for k in ("prepare", "rasterise", "samples", "dvh_build")))
    load_s, _ = best_of(lambda: dosecalc.load(path).dose.values_gy, repeats)
    n = int(case.dose.values_gy.size)
    ref = numpy_reference_s(n)
    timings = {"load_warm": load_s, "all_dvhs_warm": dvhs_s, "all_dvhs_warm_1_thread": dvhs_1_s,
               "load_and_all_dvhs_warm": load_s + dvhs_s, "numpy_reference": ref}
    timings.update({f"step_{k}": steps[k] for k in ("prepare", "rasterise", "samples", "dvh_build")})
    return {
        "size": {"voxels": n, "structures": sum(1 for s in case.structures if s.has_volume),
                 "spacing_mm": spacing, "mask_cells": steps["cells"], "samples": steps["samples_n"],
                 "threads": threads},
        "timings_s": timings,
        "ratios": {"numpy_reference_over_all_dvhs": ref / dvhs_s,
                   "numpy_reference_over_load_and_dvhs": ref / (load_s + dvhs_s)},
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run("--quick" in sys.argv), indent=2))
