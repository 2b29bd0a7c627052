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
        "from numba.core.registry import CPUDispatcher\n"
        "sigs = {f'{m}.{k}': len(f.signatures) for m, mod in list(sys.modules.items())\n"
        "        if m.startswith('dosecalc.kernels.')\n"
        "        for k, f in vars(mod).items() if isinstance(f, CPUDispatcher) and f.signatures}\n"
        "mods = sorted(m for m in sys.modules if m.startswith(('dosecalc.radiobiology', 'dosecalc.net')))\n"
        "print(json.dumps([sigs, mods, parallel._is_initialized]))\n", threads)
    sigs, mods, started = out
    assert sigs["dosecalc.kernels.interp.trilinear_points"] == 1  # read-only and writable points before
    assert set(sigs.values()) == {1}
    assert mods == []
    assert started is False


def test_one_job_process_runs_without_the_cyclic_collector(synthetic_case_dir, tmp_path, monkeypatch):
    """The process entry (console) runs a one-job command with the collector off and
    freezes what it made, turning the collector back on; main(argv) from a script leaves
    the collector alone; a node or a cohort (long-running) keeps it.  Truth: the gc
    module's own state, seen from inside the command."""
    import gc

    from dosecalc import cli

    seen = []
    real = cli.main

    def spy(argv=None):
        seen.append(gc.isenabled())
        return real(argv)

    argv = ["dvh", str(synthetic_case_dir), "--format", "json", "--out", str(tmp_path / "d.json")]
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    assert cli.main(argv) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    monkeypatch.setattr(cli, "main", spy)
    monkeypatch.setattr(sys, "argv", ["dosecalc", *argv])
    try:
        assert cli.console() == 0
        assert seen == [False]
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        gc.unfreeze()
        monkeypatch.setattr(sys, "argv", ["dosecalc", "listen", "--help"])
        with pytest.raises(SystemExit):
            cli.console()
        assert seen == [False, True]
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        gc.enable()
