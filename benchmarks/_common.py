"""Shared pieces of the benchmarks: the synthetic case on disk and a timing helper."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work"


def synthetic_case(spacing_mm: float, extra_structures: int) -> Path:
    """Write (once; reused across runs) the synthetic liver case at this spacing."""
    from dosecalc.phantom import write_case

    out = WORK / f"phantom_{spacing_mm:g}mm_{extra_structures}x"
    done = out / ".complete"
    if not done.exists():
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        write_case(out, spacing_mm=spacing_mm, extra_structures=extra_structures)
        done.write_text("ok\n")
    return out


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    """Minimum wall time of ``repeats`` calls (the least disturbed by other load)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def numpy_reference_s(n_voxels: int) -> float:
    """A fixed numpy workload on an array of the dose grid's size (sort + cumulative sum),
    used as the in-run baseline that makes timings comparable across machines."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random(n_voxels)

    def work():
        s = np.sort(a)
        return float(np.cumsum(s)[-1])

    return best_of(work, 2)[0]
