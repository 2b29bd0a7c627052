"""``dosecalc demo``: write the synthetic liver-SBRT case and run every command's demo on it.

Each command module that defines ``demo(case, out, stream)`` gets its own section, in
``ORDER``.  A section that fails prints one line and the others still run; the demo then
exits 1.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .. import commands
from ..errors import DoseCalcError, ParameterError

NAME = "demo"
HELP = "write a synthetic liver-SBRT case and run every command's demo on it"
DESCRIPTION = ("Write the synthetic liver-SBRT export (CT, RTSTRUCT, RTPLAN, RTDOSE), load it "
               "and run the demo section of every command. Without --out everything is "
               "written to a temporary folder that is removed afterwards.")
ORDER = 0


def register(parser) -> None:
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help="keep the case (DIR/case) and the demo outputs in DIR")
    parser.add_argument("--spacing", metavar="MM", type=float, default=2.5,
                        help="dose-grid voxel size in mm (default 2.5; 1.0 gives ~17 M voxels)")


def _header(stream, title: str) -> None:
    stream.write(f"\n== {title} " + "=" * max(3, 70 - len(title)) + "\n")
    stream.flush()


def run(args) -> int:
    from .. import load
    from ..phantom import write_case

    stream = sys.stdout
    debug = getattr(args, "debug", False)
    if not (args.spacing > 0):
        raise ParameterError(f"--spacing must be a positive number of mm, got {args.spacing}")
    t_start = time.perf_counter()
    temporary = args.out is None
    out = Path(tempfile.mkdtemp(prefix="dosecalc-demo-")) if temporary else args.out.expanduser()
    if temporary:
        # the files are deleted at the end: never print a path that will not exist
        stream = _Masked(stream, str(out), "<temporary folder>")
    failures: list[str] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        _header(stream, "synthetic case")
        t0 = time.perf_counter()
        case_dir = write_case(out / "case", spacing_mm=args.spacing)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        case = load(case_dir)
        t_load = time.perf_counter() - t0
        _summary(case, case_dir, stream, t_write, t_load)

        this = sys.modules[__name__]
        for mod in commands.command_modules():
            if mod is this or mod.NAME == NAME or not hasattr(mod, "demo"):
                continue
            _header(stream, mod.NAME)
            t0 = time.perf_counter()
            try:
                mod.demo(case, out, stream)
            except DoseCalcError as exc:
                if debug:
                    raise
                failures.append(mod.NAME)
                stream.write(f"error in the {mod.NAME} demo: {exc}\n")
            except Exception as exc:  # a bug in one section must not hide the others
                if debug:
                    raise
                failures.append(mod.NAME)
                where = traceback.extract_tb(exc.__traceback__)[-1]
                stream.write(f"error in the {mod.NAME} demo (unexpected {type(exc).__name__} at "
                             f"{Path(where.filename).name}:{where.lineno}): {exc}\n")
            stream.write(f"[{mod.NAME}: {time.perf_counter() - t0:.2f} s]\n")
            stream.flush()
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)

    _header(stream, "total")
    stream.write(f"total time {time.perf_counter() - t_start:.2f} s"
                 + ("; the temporary folder is deleted (--out DIR keeps the files)" if temporary
                    else f"; outputs in {out.resolve()}") + "\n")
    if failures:
        stream.write(f"{len(failures)} demo section(s) failed: {', '.join(failures)}\n")
        return 1
    return 0


def _summary(case, case_dir: Path, stream, t_write: float, t_load: float) -> None:
    dose = case.dose
    names = case.structures.names
    stream.write(f"written to {case_dir} in {t_write:.2f} s, loaded in {t_load:.2f} s\n")
    if case.plan is not None:
        stream.write(f"plan {case.plan.label!r}: {case.prescription_gy} Gy in "
                     f"{case.fractions} fractions\n")
    if dose is not None:
        nz, ny, nx = dose.shape
        stream.write(f"dose grid {nx} x {ny} x {nz} voxels of "
                     f"{' x '.join(f'{s:g}' for s in dose.spacing_mm)} mm, max {dose.max_gy:.2f} Gy\n")
    stream.write(f"{len(names)} structures: {', '.join(names)}\n")


class _Masked:
    """A text stream that writes ``placeholder`` instead of ``path``."""

    def __init__(self, stream, path: str, placeholder: str) -> None:
        self._stream, self._path, self._placeholder = stream, path, placeholder

    def write(self, text: str) -> int:
        return self._stream.write(text.replace(self._path, self._placeholder))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())
