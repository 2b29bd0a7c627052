"""Running serial ``nogil`` numba kernels over ranges of planes on a few Python threads.

A ``parallel=True`` (prange) kernel costs one to two seconds of compilation on every cold
start; a serial kernel compiled with ``nogil=True`` and called on ranges ``[k0, k1)`` from
several threads costs nothing extra to compile.  Every range writes only its own part of
the outputs, so results do not depend on the number of threads; numba's thread count
(``NUMBA_NUM_THREADS``, ``numba.set_num_threads``) governs this parallelism too.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

# Below this many cells (or samples) an input runs on the calling thread: handing work to
# a thread costs ~0.1 ms, the work of 250 k cells ~1 ms.
MIN_SPLIT_WORK = 250_000
# Tasks per thread, so that a range that runs slower (a busy core) is evened out.
TASKS_PER_THREAD = 2

_pool_lock = threading.Lock()
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}


def worker_count() -> int:
    """Threads to use: numba's current thread count (``NUMBA_NUM_THREADS``,
    ``numba.set_num_threads``), so that one setting governs all parallelism."""
    # numba.get_num_threads() starts numba's threading layer (OpenMP threads and the
    # multiprocessing import, ~40 ms) that no kernel here needs; until it has started,
    # numba.set_num_threads (which starts it) cannot have been called, so the count is
    # NUMBA_NUM_THREADS, as numba documents.
    from numba.np.ufunc import parallel

    if not getattr(parallel, "_is_initialized", True):
        return max(1, int(numba.config.NUMBA_NUM_THREADS))
    return max(1, int(numba.get_num_threads()))


def _executor(n: int) -> ThreadPoolExecutor:
    """The pool of ``n`` helper threads of this process.  Keyed by process id (a forked child
    has none of its parent's threads) and by size (numba's thread count is per calling
    thread); pools are never shut down, so a caller on another thread can always use
    the one it got."""
    key = (os.getpid(), n)
    with _pool_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="dosecalc")
        return pool


def split_even(n: int, parts: int) -> list[tuple[int, int]]:
    """``[0, n)`` cut into at most ``parts`` contiguous, non-empty ranges of equal size."""
    parts = max(1, min(parts, n))
    edges = [(n * p) // parts for p in range(parts + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def split_weighted(cum: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Cut items ``[0, len(cum) - 1)`` into contiguous ranges of about equal work.

    ``cum`` is the prefix sum of the work per item (``cum[0] == 0``), e.g. a mask's
    ``plane_start``.
    """
    n = len(cum) - 1
    total = int(cum[-1])
    if n <= 0:
        return []
    if parts <= 1 or total <= 0:
        return [(0, n)]
    edges = {0, n}
    for p in range(1, parts):
        target = total * p / parts
        c = int(np.searchsorted(cum, target, side="left"))
        # the nearer of the two item boundaries around the target
        if c > 0 and (c > n or target - cum[c - 1] < cum[c] - target):
            c -= 1
        edges.add(min(max(c, 0), n))
    edges = sorted(edges)
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run_ranges(fn, ranges, *args) -> list:
    """``[fn(*args, a, b) for (a, b) in ranges]``, the ranges shared among the calling
    thread and ``worker_count() - 1`` pool threads (each takes the next range when done
    with one, so a slow core does fewer).

    ``fn`` must release the GIL and write only to its own range of the outputs.  Results
    come back in range order.
    """
    threads = min(worker_count(), len(ranges))
    if threads <= 1:
        return [fn(*args, a, b) for a, b in ranges]
    results = [None] * len(ranges)
    tickets = itertools.count()  # next() on it is atomic under the GIL

    def work():
        while True:
            i = next(tickets)
            if i >= len(ranges):
                return
            results[i] = fn(*args, *ranges[i])

    pool = _executor(worker_count() - 1)
    futures = [pool.submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for f in futures:
            f.result()
    return results


def plane_ranges(n_planes: int, work: int, cum: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Ranges of planes for :func:`run_ranges`: one range for small inputs, otherwise
    ``TASKS_PER_THREAD`` per thread, balanced by ``cum`` (prefix sum of work per plane)
    when given."""
    threads = worker_count()
    if threads <= 1 or work < MIN_SPLIT_WORK or n_planes <= 1:
        return [(0, n_planes)] if n_planes > 0 else []
    parts = threads * TASKS_PER_THREAD
    return split_weighted(cum, parts) if cum is not None else split_even(n_planes, parts)
