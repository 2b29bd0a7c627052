"""What a one-shot ``dosecalc dvh`` loads (issue 13: its fixed start-up cost).

Truth: numba's own records in a fresh process: ``numba.get_num_threads()`` for the thread
count, ``parallel._is_initialized`` for whether its threading layer was started, each
dispatcher's ``signatures`` for the compiled (cache-loaded) versions of a kernel, and
``sys.modules`` for what was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _python(code: str, threads: str = "2") -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=threads)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_worker_count_is_numbas_thread_count_without_starting_its_threading_layer():
    out = _python(
        "import json, numba\n"
        "from numba.np.ufunc import parallel\n"
        "from dosecalc.kernels.threads import worker_count\n"
        "before = worker_count()\n"
        "started = parallel._is_initialized\n"
        "default = numba.get_num_threads()\n"
        "numba.set_num_threads(1)\n"
        "print(json.dumps([before, started, default, worker_count(), numba.get_num_threads()]))\n")
    before, started, default, after, numba_after = out
    assert started is False
    assert before == default == 2
    assert after == numba_after == 1


@pytest.mark.parametrize("threads", ["1", "2"])
def test_physical_dvh_run_loads_one_signature_per_kernel_and_no_radiobiology(synthetic_case_dir, tmp_path, threads):
    argv = ["dvh", str(synthetic_case_dir), "--format", "json", "--out", str(tmp_path / "d.json")]
    out = _python(
        "import json, sys\n"
        "from dosecalc.cli import main\n"
        f"main({argv!r})\n"
        "from numba.np.ufunc import parallel\n"
        "from dosecalc.kernels import interp, runs\n"
        "sigs = {f.__name__: len(f.signatures) for f in\n"
        "        (interp.trilinear_points, runs.count_runs, runs.encode_runs)}\n"
        "mods = sorted(m for m in sys.modules if m.startswith(('dosecalc.radiobiology', 'dosecalc.net')))\n"
        "print(json.dumps([sigs, mods, parallel._is_initialized]))\n", threads)
    sigs, mods, started = out
    assert sigs == {"trilinear_points": 1, "count_runs": 1, "encode_runs": 1}
    assert mods == []
    assert started is False


def test_one_shot_command_line_runs_without_the_cyclic_collector(synthetic_case_dir, tmp_path, monkeypatch):
    """main() on the process's own command line (argv None) turns the collector off and
    freezes what was made; main(argv) from a script leaves the collector alone; a node or
    a cohort (long-running) keeps it.  Truth: the gc module's own state."""
    import gc

    from dosecalc import cli

    argv = ["dvh", str(synthetic_case_dir), "--format", "json", "--out", str(tmp_path / "d.json")]
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    assert cli.main(argv) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    monkeypatch.setattr(sys, "argv", ["dosecalc", *argv])
    try:
        assert cli.main() == 0
        assert not gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()
    assert {"listen", "batch"} <= cli.LONG_RUNNING
