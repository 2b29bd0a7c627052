"""Run the dosecalc benchmarks and compare them with the last committed results.

Usage::

    python benchmarks/run.py [--quick] [--only NAME ...] [--max-regression 3.0]

Each ``benchmarks/bench_<name>.py`` defines ``run(quick: bool) -> dict`` returning at
least ``{"timings_s": {...}, "ratios": {...}}``.  A *ratio* is always measured against a
baseline run in the same process (numpy, pydicom's default parsing, a brute-force
reference...), so it is comparable across machines; absolute seconds are kept for the
record only.  Ratios are oriented so that larger is better ("ours is N x faster").

A benchmark that needs a download or a second environment sets ``IN_QUICK = False`` and
runs only in full mode (or when named with ``--only``).

Every run first prints the date, the machine and its load average, and each benchmark
its start time and load average (kept in its result as ``load_average``): a figure
measured on a busy machine says so.  A benchmark may return ``"summary"``, lines that
state its figures as ratios to the baselines of the same run; they are printed as they
are, and the README quotes only such printed figures.

Results go to ``benchmarks/results/<name>.json`` (atomically) with machine information
and the numba thread count.  Before overwriting, the previous file (in a clean clone:
the committed one) is read and every ratio is printed as new/old.  The run fails (exit
1) only when a ratio falls by more than ``--max-regression`` (default 3x) in two runs in
a row, so the noise of a shared machine does not break CI while a real regression does.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine_info() -> dict:
    import numba
    import numpy

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
    }
    try:
        with open("/proc/meminfo") as fh:
            info["mem_total_kb"] = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return info


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none): a figure
    measured while other work runs says so."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def header(info: dict) -> str:
    """One line saying when, where and under what load the figures were measured."""
    load = load_average()
    load_s = "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)
    mem = info.get("mem_total_kb")
    mem_s = f", {mem / 1024 / 1024:.1f} GiB" if mem else ""
    return (f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; machine {info['processor']}, "
            f"{info['cpu_count']} cores{mem_s}, {info['platform']}; python {info['python']}, "
            f"numpy {info['numpy']}, numba {info['numba']} ({info['numba_threads']} threads); "
            f"load average {load_s}")


def discover() -> dict[str, Path]:
    return {p.stem[len("bench_"):]: p for p in sorted(HERE.glob("bench_*.py"))}


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(f"dosecalc_bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HERE))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(HERE))
    return mod


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def compare(name: str, new: dict, old: dict | None, max_regression: float) -> list[str]:
    """Print new/old for every ratio; return the regressions beyond the threshold."""
    bad = []
    new_r = new.get("ratios", {})
    old_r = (old or {}).get("ratios", {})
    for key in sorted(new_r):
        value = new_r[key]
        prev = old_r.get(key)
        if prev is None or not prev or value is None:
            print(f"  {name}.{key}: {value:.3g}x (no previous result)")
            continue
        change = value / prev
        flag = ""
        if change < 1.0 / max_regression:
            flag = f"  <-- REGRESSION (> {max_regression:g}x worse)"
            bad.append(f"{name}.{key}: {prev:.3g}x -> {value:.3g}x")
        print(f"  {name}.{key}: {value:.3g}x (previous {prev:.3g}x, new/previous {change:.2f}){flag}")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for CI (a few minutes at most)")
    ap.add_argument("--only", nargs="*", default=None, help="benchmark names (bench_<name>.py)")
    ap.add_argument("--max-regression", type=float, default=3.0,
                    help="fail when a ratio falls by more than this factor (default 3)")
    args = ap.parse_args(argv)

    RESULTS.mkdir(exist_ok=True)
    found = discover()
    names = args.only or list(found)
    if args.quick and not args.only:
        # benchmarks that need downloads or a second environment declare IN_QUICK = False
        names = [n for n in names if getattr(load_module(n, found[n]), "IN_QUICK", True)]
    unknown = [n for n in names if n not in found]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {sorted(found)}", file=sys.stderr)
        return 2
    info = machine_info()
    regressions: list[str] = []
    failures: list[str] = []
    mode = "quick" if args.quick else "full"
    print(header(info), flush=True)
    for name in names:
        out_path = RESULTS / f"{name}{'-quick' if args.quick else ''}.json"
        old = None
        if out_path.exists():
            try:
                old = json.loads(out_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
        load_before = load_average()
        print(f"[{name}] ({mode}) {time.strftime('%Y-%m-%d %H:%M:%S')}, load average "
              f"{' '.join(f'{x:.2f}' for x in load_before or [])}", flush=True)
        # A regression must show twice: a shared machine can slow one run down, and one
        # noisy run must not fail CI.
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                result = load_module(name, found[name]).run(quick=args.quick)
            except Exception as exc:  # a broken benchmark is reported, the others still run
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
                print(f"  FAILED: {type(exc).__name__}: {exc}", flush=True)
                result = None
                break
            result = dict(result)
            result.update(benchmark=name, mode=mode, machine=info,
                          wall_s=time.perf_counter() - t0, date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                          load_average={"before": load_before, "after": load_average()})
            for key, value in sorted(result.get("timings_s", {}).items()):
                print(f"  {key}: {value:.4g} s")
            for line in result.get("summary", []):
                print(f"  {line}")
            bad = compare(name, result, old, args.max_regression)
            if not bad or attempt == 2:
                break
            print(f"  regression seen: running {name} again to confirm", flush=True)
        if result is None:
            continue
        regressions += bad
        write_json_atomic(out_path, result)
    if failures:
        print("benchmarks that failed to run:\n  " + "\n  ".join(failures))
    if regressions:
        print("large regressions:\n  " + "\n  ".join(regressions))
    return 1 if (regressions or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
