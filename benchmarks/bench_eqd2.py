"""Voxel-wise EQD2 of a large dose grid: numba kernel vs the numpy expression.

Full mode: a 15.6 M voxel grid (250 x 250 x 250); quick mode (CI): 2 M voxels.
Timings (best of a few, warm):

* ``eqd2_scalar_ab``: :func:`dosecalc.radiobiology.eqd2_grid` with one a/b (a new
  read-only grid: kernel + DoseGrid construction, no copy);
* ``eqd2_label_map``: the same with a uint8 label map of 3 a/b values;
* ``kernel_in_place``: the kernel alone writing into a preallocated array;
* ``numpy_scalar_ab`` / ``numpy_label_map``: the straightforward numpy expressions
  ``D * (D / n + ab) / (2 + ab)`` (ab from ``table[labels]`` for the map);
* ``memcopy``: ``np.copyto`` of the grid (read + write of the same bytes: the memory
  bandwidth bound the kernel can at best reach).

Ratios (larger is better): numpy time / ours, and memcopy time / kernel time (1.0 means
the kernel runs at memory-copy speed).

Run alone (``python benchmarks/bench_eqd2.py [--quick]``: writes
``benchmarks/results/eqd2.json`` atomically) or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from _common import best_time


def run(quick: bool) -> dict:
    import numba
    import numpy as np

    from dosecalc.kernels.radiobiology import MODEL_LQ, QUANTITY_EQD2, lq_convert
    from dosecalc.model import DoseGrid
    from dosecalc.radiobiology import convert_grid, eqd2_grid

    n_side = 200 if quick else 250  # quick: ~10 ms timings, well above timer noise
    repeats = 7 if quick else 5
    rng = np.random.default_rng(0)
    values = rng.uniform(0.0, 60.0, size=(n_side, n_side, n_side))
    grid = DoseGrid(values, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    labels = rng.integers(0, 3, size=grid.shape, dtype=np.uint8)
    table = np.array([3.0, 2.5, 10.0])
    n, ab = 5, 2.5

    t0 = time.perf_counter()
    eqd2_grid(grid, ab, n)  # first call: numba compile or cache load
    first = time.perf_counter() - t0
    convert_grid(grid, table, n, labels=labels)

    flat = grid.values_gy.reshape(-1)
    out = np.empty_like(flat)
    no_labels = np.zeros(0, dtype=np.uint8)
    one = np.array([ab])
    dt = np.array([1.0])

    t = {
        "first_call_incl_compile_or_cache_load": first,
        "eqd2_scalar_ab": best_time(lambda: eqd2_grid(grid, ab, n), repeats),
        "eqd2_label_map": best_time(lambda: convert_grid(grid, table, n, labels=labels), repeats),
        "kernel_in_place": best_time(lambda: lq_convert(flat, 1.0, float(n), no_labels, one, dt,
                                                    MODEL_LQ, QUANTITY_EQD2, 0, out), repeats),
        "numpy_scalar_ab": best_time(lambda: values * (values / n + ab) / (2.0 + ab), repeats),
        "numpy_label_map": best_time(lambda: (lambda a: values * (values / n + a) / (2.0 + a))(table[labels]),
                                 repeats),
        "memcopy": best_time(lambda: np.copyto(out, flat), repeats),
    }
    # The kernel's answer is checked here too: a fast wrong number is no result.
    ref = values * (values / n + ab) / (2.0 + ab)
    err = float(np.max(np.abs(eqd2_grid(grid, ab, n).values_gy - ref)))
    return {
        "size": {"voxels": int(values.size), "shape": list(grid.shape), "numba_threads": numba.get_num_threads()},
        "timings_s": t,
        "ratios": {
            "numpy_over_eqd2_scalar_ab": t["numpy_scalar_ab"] / t["eqd2_scalar_ab"],
            "numpy_over_eqd2_label_map": t["numpy_label_map"] / t["eqd2_label_map"],
            "memcopy_over_kernel": t["memcopy"] / t["kernel_in_place"],
        },
        "max_abs_error_vs_numpy_gy": err,
        "throughput_gb_s_kernel": 16.0 * values.size / t["kernel_in_place"] / 1e9,
    }


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="EQD2 kernel benchmark")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import machine_info

    from dosecalc.io.atomic import write_text

    result = run(args.quick)
    result.update(benchmark="eqd2", mode="quick" if args.quick else "full", machine=machine_info(),
                  date=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    out = Path(__file__).resolve().parent / "results" / f"eqd2{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(exist_ok=True)
    write_text(out, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: result[k] for k in ("timings_s", "ratios", "max_abs_error_vs_numpy_gy")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
