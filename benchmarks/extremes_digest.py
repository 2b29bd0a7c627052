"""Digest of every DVH's Min/Max (as float.hex), its source and its metrics, for the
Brainlab SRS export and the synthetic cases: run before and after a change to the
extremes kernels; the digests must be equal (bit-identical results).

    python benchmarks/extremes_digest.py [--verbose]
"""

from __future__ import annotations

import hashlib
import tempfile
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, synthetic_case  # noqa: E402

import dosecalc  # noqa: E402

METRICS = ("Min[Gy]", "Max[Gy]", "Mean[Gy]", "D95%[Gy]", "D2%[Gy]", "D98%[Gy]", "D0.03cc[Gy]",
           "V20Gy[cc]", "V10Gy[%]")


def _hex(v) -> str:
    return float(v).hex()


def case_lines(folder: Path) -> list[str]:
    case = dosecalc.load(folder)
    lines = []
    for name, d in case.dvhs().items():
        vals = " ".join(_hex(d.metric(m)) for m in METRICS)
        curve = hashlib.sha256(np.ascontiguousarray(d.curve_dose_gy).tobytes()
                               + np.ascontiguousarray(d.curve_volume_cc).tobytes()).hexdigest()[:16]
        how = d.settings.get("extremes", "")
        lines.append(f"{folder.name}|{name}|{_hex(d.min_gy)}|{_hex(d.max_gy)}|{how}|{vals}|{curve}")
    return lines


def main() -> None:
    folders = [WORK / "real" / "brainlab_srs", synthetic_case(1.0, extra_structures=22)]
    # coarser synthetic cases, written to the temporary directory (_work may be
    # shared with other checkouts)
    from dosecalc.phantom import write_case
    for spacing, extra in ((2.0, 0), (4.0, 5), (3.0, 10)):
        out = Path(tempfile.gettempdir()) / "dosecalc_digest_cases" / f"phantom_{spacing:g}mm_{extra}x"
        if not (out / ".complete").exists():
            out.mkdir(parents=True, exist_ok=True)
            write_case(out, spacing_mm=spacing, extra_structures=extra)
            (out / ".complete").write_text("ok\n")
        folders.append(out)
    total = hashlib.sha256()
    for f in folders:
        lines = case_lines(f)
        h = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        total.update(h.encode())
        print(f"{f.name}: {len(lines)} DVHs {h}")
        if "--verbose" in sys.argv:
            print("\n".join(lines))
    print("all:", total.hexdigest())


if __name__ == "__main__":
    main()
