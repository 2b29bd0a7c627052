"""The output folder of a cohort run: ``cohort.json``, ``plans/<name>.json``, the tables.

The folder remembers which cohort it was made for (``cohort.json``: the resolved roots):
results of one cohort are never served to another, and a run for another root is refused
unless ``force``.  Every file is written atomically and never onto an input file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from pathlib import Path
from typing import Iterable

from ..errors import OutputError
from ..io.atomic import write_text
from ..io.walk import display_path
from ..textsafe import csv_cell
from ..verdict import Verdict
from .jobs import RESULT_VERSION, PlanResult

CSV_COLUMNS = ("plan", "patient_id", "id", "structure", "roi", "metric", "value", "unit", "comparator",
               "limit", "level2", "verdict", "reason", "source", "confidence")
SUMMARY_COLUMNS = ("plan", "patient_id", "status", "verdict", "n_fail", "n_not_evaluable",
                   "seconds", "error", "dose_reading", "evaluated_because")
MARKER = "cohort.json"


def safe_name(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "root"
    # the hash keeps two keys that sanitise alike ("a b", "a_b") apart
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{name[:100]}-{digest}"


def check_out_folder(out) -> Path:
    """``out`` as a folder path, or :class:`OutputError` when it names an existing file
    or a special file."""
    p = Path(os.path.expanduser(os.fspath(out)))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return p
    except OSError as exc:
        raise OutputError(f"output folder cannot be used ({exc.strerror})", path=display_path(p)) from exc
    if stat.S_ISREG(st.st_mode):
        raise OutputError("output folder names an existing file; give a folder (created if absent)",
                          path=display_path(p))
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError("output folder names a special file (device, pipe or socket); give a folder",
                          path=display_path(p))
    return p


class Store:
    """The output folder.

    Parameters
    ----------
    out : str or Path
        Folder (created).
    roots : list of str
        The cohort roots of this run, resolved.
    inputs : set of str
        Resolved paths of every input file: no output is ever written onto one.
    force : bool
        Take over a folder made for another cohort.
    """

    def __init__(self, out, roots: list[str], inputs: set[str], force: bool = False):
        self.out = check_out_folder(out)
        self.plans = self.out / "plans"
        self.inputs = inputs
        try:
            self.plans.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"output folder cannot be created ({exc.strerror})",
                              path=display_path(self.out)) from exc
        marker = self.out / MARKER
        previous = self._marker_roots(marker)
        if previous is not None and sorted(previous) != sorted(roots) and not force:
            raise OutputError(
                f"output folder was made for another cohort ({', '.join(map(display_path, previous))}); "
                f"choose another output folder, or pass --force to evaluate this cohort into it",
                path=display_path(self.out))
        if previous is None or sorted(previous) != sorted(roots):
            self._guard(marker)
            write_text(marker, json.dumps({"roots": roots, "result_version": RESULT_VERSION},
                                          indent=1) + "\n")

    @staticmethod
    def _marker_roots(marker: Path):
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        roots = data.get("roots") if isinstance(data, dict) else None
        return [str(r) for r in roots] if isinstance(roots, list) else None

    def _guard(self, path: Path) -> None:
        if os.path.realpath(path) in self.inputs:
            raise OutputError("refusing to overwrite an input file of the cohort; choose another "
                              "output folder", path=display_path(path))

    def path(self, key: str) -> Path:
        return self.plans / f"{safe_name(key)}.json"

    def previous(self, key: str) -> PlanResult | None:
        """The stored result of ``key``, or None (absent, unreadable, other version)."""
        p = self.path(key)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.pop("result_version", None) != RESULT_VERSION \
                or data.get("plan") != key:
            return None
        try:
            return PlanResult(**data)
        except TypeError:
            return None

    def write(self, result: PlanResult) -> None:
        path = self.path(result.plan)
        self._guard(path)
        write_text(path, json.dumps(result.to_dict(), indent=1, default=str) + "\n")

    def write_tables(self, results: list[PlanResult]) -> None:
        for name, text in (("constraints.csv", csv_text(constraint_rows(results), CSV_COLUMNS)),
                           ("summary.csv", csv_text([summary_row(r) for r in results], SUMMARY_COLUMNS))):
            self._guard(self.out / name)
            write_text(self.out / name, text)


def constraint_rows(results: Iterable[PlanResult]) -> list[dict]:
    """One row per plan x constraint (plans that failed give no rows: see the summary)."""
    rows = []
    for r in results:
        if not r.report:
            continue
        for c in r.report.get("constraints", []):
            row = {"plan": r.plan, "patient_id": r.patient_id}
            row.update({k: c.get(k) for k in CSV_COLUMNS if k not in row})
            rows.append(row)
    return rows


def summary_row(r: PlanResult) -> dict:
    constraints = (r.report or {}).get("constraints", [])
    return {"plan": r.plan, "patient_id": r.patient_id, "status": r.status, "verdict": r.verdict,
            "n_fail": sum(1 for c in constraints if c.get("verdict") == Verdict.FAIL),
            "n_not_evaluable": sum(1 for c in constraints if c.get("verdict") == Verdict.NOT_EVALUABLE),
            "seconds": round(r.seconds, 3), "error": r.error,
            "dose_reading": (r.report or {}).get("dose_reading"),
            "evaluated_because": r.reason if r.status != "skipped" else None}


def csv_text(rows: list[dict], columns: tuple[str, ...]) -> str:
    """CSV with every text cell made safe (:func:`dosecalc.textsafe.csv_cell`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: csv_cell(v) for k, v in row.items()})
    return buf.getvalue()
