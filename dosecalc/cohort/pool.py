"""Local worker processes that a dying plan cannot take down with it.

``concurrent.futures.ProcessPoolExecutor`` breaks for good when one worker is killed
(the out-of-memory killer's SIGKILL), cannot stop one task that runs too long, and leaves
its workers running when the batch itself is killed.  This pool runs one plan at a time
per worker over a pipe:

- a worker that dies mid-plan gives that plan an error (``worker died: signal 9,
  possibly out of memory``) and is replaced; the other plans go on;
- a plan that runs past the time limit has its worker killed and replaced;
- workers die with the batch: ``PR_SET_PDEATHSIG`` (Linux) kills them if the batch is
  killed, and leaving the generator (end, error, SIGINT/SIGTERM) stops them all;
- workers ignore SIGINT: Ctrl-C on a terminal reaches the whole process group, and the
  batch, not each worker, decides what happens.

Workers are forked from multiprocessing's fork server, started once per batch process
with ``preload`` imported (``dosecalc.cohort.warm``: the imports and numba's set-up):
a new worker starts ready in milliseconds instead of the ~2.5 s a spawned interpreter
spent importing, in every batch call of a process and for every replaced worker.  The
server only imports: it never runs a numba kernel, so no thread pool exists when it
forks (numba's thread pools do not survive a fork).  Where there is no fork server
(not POSIX), workers are spawned and import ``preload`` themselves.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import time
import warnings
from collections import deque
from multiprocessing.connection import wait

from ..errors import DoseCalcWarning

#: Seconds a worker gets to leave after being asked before it is killed.
_STOP_GRACE_S = 2.0


def death_message(exitcode: int | None) -> str:
    """Why a worker ended without a result, from its exit code."""
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGKILL:
            return f"worker died: signal {sig}, possibly out of memory"
        return f"worker died: signal {sig} ({name})"
    return f"worker died: exit code {exitcode}"


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _worker_main(conn, numba_threads: int, parent_pid: int | None, warm=None) -> None:
    """A worker: warm up, then receive (function, args, numba threads), answer
    ("started",) then ("done", result)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    # the parent (the batch, or the fork server, which ends with the batch) died before
    # PDEATHSIG was set
    if parent_pid is not None and os.getppid() != parent_pid:
        return
    # each plan's notes are in its report; warnings from workers would only clutter stderr
    warnings.simplefilter("ignore", DoseCalcWarning)
    # A worker starts no process.  Said before numba starts its threads: in a process
    # whose start method is a kind of fork, numba takes a multiprocessing lock (a named
    # semaphore) for that start, which a worker killed mid-plan would leave to the
    # resource tracker to warn about on the batch's stderr.
    multiprocessing.set_start_method("spawn", force=True)
    _set_numba_threads(numba_threads)
    if warm is not None:
        # a spawned worker (no fork server) readies itself: a failing warm-up is only a
        # slower first plan, whose own error then stays with that plan
        try:
            importlib.import_module(warm)
        except Exception:  # noqa: BLE001
            pass
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args, threads = msg
        if threads != numba_threads:  # a pool may share the cores anew between runs
            numba_threads = threads
            _set_numba_threads(threads)
        conn.send(("started",))
        conn.send(("done", fn(*args)))


def _set_numba_threads(n: int) -> None:
    try:
        import numba

        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover - numba is a hard dependency
        pass


class _Worker:
    def __init__(self, ctx, threads: int, warm: str | None = None) -> None:
        self.threads = threads
        parent, child = ctx.Pipe()
        self.conn = parent
        forked = ctx.get_start_method() == "forkserver"
        parent_pid = _fork_server_pid() if forked else os.getpid()
        self.proc = ctx.Process(target=_worker_main, args=(child, threads, parent_pid, None if forked else warm),
                                daemon=True,
                                name="dosecalc-batch-worker")
        self.proc.start()
        child.close()
        self.job = None
        self.used = False
        self.sent = 0.0
        self.started: float | None = None

    def give(self, job, fn, args) -> None:
        self.job = job
        self.used = True
        self.sent = time.monotonic()
        self.started = None
        try:
            self.conn.send((fn, (job, *args), self.threads))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker died: the next collect records it for this job

    def deadline(self, timeout: float | None) -> float | None:
        if timeout is None or self.job is None:
            return None
        # the clock starts when the worker takes the plan (a new worker imports first)
        return (self.started if self.started is not None else self.sent + 120.0) + timeout

    def stop(self) -> None:
        try:
            if self.proc.is_alive():
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(_STOP_GRACE_S if self.job is None else 0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


class WorkerPool:
    """``workers`` worker processes, started at once and used for one run of :meth:`run`;
    :meth:`close` ends them.

    Parameters
    ----------
    workers : int
        Processes (>= 1).
    threads : int, optional
        numba threads per worker; default: the cores divided among the workers, so that
        workers x threads does not exceed the cores (results do not depend on it).
    preload : str, optional
        A module that readies a worker when imported (``dosecalc.cohort.warm``): imported
        once by the fork server (its preload, when this process starts the server), or by
        each spawned worker.
    """

    def __init__(self, workers: int, threads: int | None = None, preload: str | None = None) -> None:
        self.n = max(1, int(workers))
        self.threads = threads if threads is not None else max(1, cores() // self.n)
        self.warm = preload
        self.ctx = _context(preload)
        self.workers: list[_Worker] = []
        try:
            for _ in range(self.n):
                self.workers.append(self._new())
        except BaseException:
            self.close()
            raise

    def _new(self) -> _Worker:
        return _Worker(self.ctx, self.threads, self.warm)

    def close(self) -> None:
        """End every worker: idle ones are asked to leave, busy ones are killed."""
        workers, self.workers = self.workers, []
        for w in workers:
            if w.job is not None or not w.used:  # a never used one may still be warming up
                w.kill()
            else:
                w.stop()

    def run(self, jobs, fn, args, timeout: float | None, on_fail):
        """Yield ``fn(job, *args)`` for every job, as they finish (see :func:`run_pool`)."""
        jobs = deque(jobs)
        pool = self.workers
        while jobs or any(w.job is not None for w in pool):
            for i, w in enumerate(pool):
                if w.job is None and jobs:
                    if not w.proc.is_alive():  # died while idle: no plan lost, replace it
                        w.kill()
                        pool[i] = w = self._new()
                    w.give(jobs.popleft(), fn, args)
            busy = [w for w in pool if w.job is not None]
            deadlines = [d for d in (w.deadline(timeout) for w in busy) if d is not None]
            wait_s = None if not deadlines else max(0.0, min(deadlines) - time.monotonic())
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], wait_s)
            for i, w in enumerate(pool):
                if w.job is None:
                    continue
                result, replace = _collect(w, timeout, on_fail)
                if replace:
                    pool[i] = self._new()
                if result is not None:
                    yield result


def _context(preload: str | None):
    """The fork server's context (its preload set while the server has not started),
    else spawn.  Never plain fork: this process may have numba threads running."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - not POSIX
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    if _fork_server_pid() is None:
        from multiprocessing import forkserver

        if preload is not None:
            ctx.set_forkserver_preload([preload])
        forkserver.ensure_running()  # returns at once; the server imports its preload
    return ctx


def prepare(preload: str | None) -> None:
    """Start the fork server now (if it does not run), so that it imports ``preload``
    while this process does other work (searching the cohort)."""
    _context(preload)


def _fork_server_pid() -> int | None:
    """The fork server's process id once it runs (it forks the workers, so it is their
    parent), else None."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except OSError:  # ended (its parent, this process, lives: restarted on next use)
        return None
    return pid


def cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_pool(jobs, fn, args, workers: int, timeout: float | None, on_fail, preload: str | None = None):
    """Yield ``fn(job, *args)`` for every job, as they finish, on ``workers`` processes.

    ``on_fail(job, message, seconds)`` makes the result of a plan whose worker died or
    ran past ``timeout`` seconds.  ``preload``: see :class:`WorkerPool`.
    """
    jobs = list(jobs)
    if not jobs:
        return
    pool = None
    try:
        pool = WorkerPool(min(workers, len(jobs)), preload=preload)
        yield from pool.run(jobs, fn, args, timeout, on_fail)
    finally:
        if pool is not None:
            pool.close()


def _collect(w: _Worker, timeout, on_fail):
    """(result or None, worker must be replaced)."""
    job = w.job
    try:
        while w.conn.poll():
            msg = w.conn.recv()
            if msg[0] == "started":
                w.started = time.monotonic()
            else:
                w.job = None
                return msg[1], False
    except (EOFError, OSError):
        pass
    if not w.proc.is_alive():
        w.proc.join()
        code = w.proc.exitcode
        w.conn.close()
        return on_fail(job, death_message(code), time.monotonic() - (w.started or w.sent)), True
    deadline = w.deadline(timeout)
    if deadline is not None and time.monotonic() >= deadline:
        w.kill()
        return on_fail(job, f"timed out after {timeout:g} s (the per-plan limit, --timeout); its worker was stopped",
                       time.monotonic() - (w.started or w.sent)), True
    return None, False
