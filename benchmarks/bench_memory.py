"""Peak memory of load + all DVHs of the synthetic liver case, in a fresh process.

Full mode: 0.5 mm grid (134.6 M voxels, 43 structures; target: peak <= 2.5 GB).
Quick mode (CI): 3 mm grid (the case bench_dvh uses).  The child process loads the case, computes every DVH and
reports its own peak resident set (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss``
elsewhere).  Not ``ru_maxrss`` on Linux: a child inherits its parent's high-water mark
through the fork/exec that starts it, so after run.py's other benchmarks the quick figure
read 1.12-1.25 GB, the parent's peak, while the child itself peaked at 0.5 GB.

Baseline of the same run: the bytes of the float64 dose grid itself (what any tool that
holds the dose in Gy must keep).  Ratio (larger is better): grid bytes / peak bytes; the
peak in bytes per voxel is printed too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from _common import synthetic_case

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    import dosecalc

    def peak_bytes():
        # VmHWM: this process's own high-water mark.  ru_maxrss is not: Linux carries the
        # parent's peak over the fork/exec that started us (run.py's earlier benchmarks).
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    t0 = time.perf_counter()
    case = dosecalc.load(sys.argv[1])
    n = case.dose.values_gy.size
    grid_bytes = case.dose.values_gy.nbytes
    dvhs = case.dvhs()
    print(json.dumps({"voxels": n, "grid_bytes": grid_bytes, "structures": len(dvhs),
                      "seconds": time.perf_counter() - t0, "peak_bytes": peak_bytes()}))
    """
)


def run(quick: bool) -> dict:
    spacing = 3.0 if quick else 0.5  # quick: the case bench_dvh writes anyway
    t0 = time.perf_counter()
    path = synthetic_case(spacing, extra_structures=22)
    t_write = time.perf_counter() - t0
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed: {proc.stderr.strip()[-400:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_gb = r["peak_bytes"] / 1e9
    return {
        "size": {"spacing_mm": spacing, "voxels": r["voxels"], "structures": r["structures"]},
        "timings_s": {"load_and_dvhs_in_child": r["seconds"], "write_case_if_new": t_write},
        "memory": {"peak_gb": peak_gb, "grid_gb": r["grid_bytes"] / 1e9,
                   "peak_bytes_per_voxel": r["peak_bytes"] / r["voxels"]},
        "ratios": {"grid_bytes_over_peak": r["grid_bytes"] / r["peak_bytes"]},
        "summary": [f"synthetic case {spacing:g} mm ({r['voxels'] / 1e6:.1f} M voxels, {r['structures']} "
                    f"DVHs): peak {peak_gb:.2f} GB = {r['peak_bytes'] / r['voxels']:.1f} bytes per voxel "
                    f"(the float64 grid alone: {r['grid_bytes'] / 1e9:.2f} GB)"],
    }


if __name__ == "__main__":
    print(json.dumps(run("--full" not in sys.argv), indent=1))
