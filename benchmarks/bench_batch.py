"""Cohort throughput: plans per minute with 1 and 2 local workers and a 2-worker Dask
LocalCluster, on a synthetic cohort of coarse-grid plans (full: 12 plans, the cohort of issue 13's
target of 2 workers >= 1.5x one; quick: 6).

Ratios are against the 1-worker run of the same session (parallel speed-up).  Memory:
the peak resident set of each worker process, which stays bounded because a worker
returns only the small JSON-able result of each plan (no dose or mask arrays).  It is
each process's own high-water mark (``VmHWM``, sampled while the batch runs), not
``ru_maxrss``: Linux carries a parent's high-water mark into a child at exec, so the
children's ``ru_maxrss`` read this benchmark process's own peak.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from _common import WORK, synthetic_case

PROTOCOL = "hcc-oligoprogression"


def _cohort(n: int):
    src = synthetic_case(5.0, extra_structures=0)
    root = WORK / f"cohort_{n}"
    # the marker sits beside the cohort, not in it: inside, it would be one more "plan"
    done = WORK / f"cohort_{n}.complete"
    if not done.exists():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        for i in range(n):
            shutil.copytree(src, root / f"patient_{i:03d}", ignore=shutil.ignore_patterns(".complete"))
        done.write_text("ok\n")
    return root


def _descendants(pid: int) -> list[int]:
    """Process ids of every descendant of ``pid`` (Linux /proc), [] where unreadable."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for t in tasks:
            try:
                kids = [int(k) for k in (t / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            out += kids
            todo += kids
    return out


def _vm_hwm_kb(pid: "int | str" = "self") -> int | None:
    """Own peak resident set (VmHWM, kB) of process ``pid`` (Linux /proc), None where
    unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return None


class _PeakOfChildren:
    """Samples the own peak resident set (VmHWM, MB) of every descendant of this process
    every 50 ms while it is active; ``peak_mb`` is the largest seen (None if none)."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for pid in _descendants(os.getpid()):
                kb = _vm_hwm_kb(pid)
                if kb is not None:
                    self.peaks[pid] = max(kb, self.peaks.get(pid, 0))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float | None:
        return max(self.peaks.values()) / 1024.0 if self.peaks else None


def _own_peak_mb() -> float:
    """This process's own peak resident set (MB); run on each Dask worker."""
    kb = _vm_hwm_kb()
    if kb is None:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return kb / 1024.0


def _timed(fn) -> tuple[float, list]:
    t0 = time.perf_counter()
    results = list(fn())
    return time.perf_counter() - t0, results


def run(quick: bool) -> dict:
    from dosecalc import batch

    n = 6 if quick else 12
    root = _cohort(n)
    list(batch(root / "patient_000", PROTOCOL, workers=1, progress=False))  # warm caches

    t1, r1 = _timed(lambda: batch(root, PROTOCOL, workers=1, progress=False))
    with _PeakOfChildren() as children:
        t2, r2 = _timed(lambda: batch(root, PROTOCOL, workers=2, progress=False))
    child_peak_mb = children.peak_mb

    timings = {"workers_1": t1, "workers_2": t2}
    ratios = {"speedup_2_workers_vs_1": t1 / t2}
    memory = {"local_worker_peak_rss_mb": child_peak_mb}
    try:
        import distributed
    except ImportError:
        distributed = None
    if distributed is not None:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            list(batch(root / "patient_000", PROTOCOL, client=client, progress=False))  # warm workers
            td, rd = _timed(lambda: batch(root, PROTOCOL, client=client, progress=False))
            peaks = client.run(_own_peak_mb)
        timings["dask_localcluster_2"] = td
        ratios["speedup_dask_2_vs_1"] = t1 / td
        memory["dask_worker_peak_rss_mb"] = max(peaks.values())
        assert sum(r.status == "ok" for r in rd) == n
    assert sum(r.status == "ok" for r in r1) == n and sum(r.status == "ok" for r in r2) == n
    return {
        "size": {"plans": n, "grid_spacing_mm": 5.0},
        "timings_s": timings,
        "plans_per_minute": {k: 60.0 * n / v for k, v in timings.items()},
        "ratios": ratios,
        "memory": memory,
        "summary": [f"{n} plans: " + ", ".join(f"{k} {60.0 * n / v:.0f} plans/min" for k, v in timings.items())
                    + f"; 2 workers = {t1 / t2:.2f}x one"],
    }
