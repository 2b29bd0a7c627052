"""Shared pieces of the benchmarks: the synthetic case on disk and a timing helper."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work"


def synthetic_case(spacing_mm: float, extra_structures: int) -> Path:
    """Write (once; reused across runs) the synthetic liver case at this spacing."""
    from dosecalc.phantom import write_case

    out = WORK / f"phantom_{spacing_mm:g}mm_{extra_structures}x"
    done = out / ".complete"
    if not done.exists():
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        write_case(out, spacing_mm=spacing_mm, extra_structures=extra_structures)
        done.write_text("ok\n")
    return out


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    """Minimum wall time of ``repeats`` calls (the least disturbed by other load)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def best_time(fn, repeats: int = 3) -> float:
    """Minimum wall time (s) of ``repeats`` calls."""
    return best_of(fn, repeats)[0]


#: The reference workload never runs on fewer elements than this, so that it takes
#: ~0.3 s and its timing noise stays far below the 3x regression threshold.
REFERENCE_MIN_ELEMENTS = 4_000_000


def numpy_reference_s(n_voxels: int) -> float:
    """A fixed numpy workload (sort + cumulative sum of max(n_voxels, 4 M) random
    float64), the in-run baseline that makes timings comparable across machines."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random(max(int(n_voxels), REFERENCE_MIN_ELEMENTS))

    def work():
        s = np.sort(a)
        return float(np.cumsum(s)[-1])

    return best_of(work, 3)[0]


# --- real exports shipped inside public sdists (downloaded, never committed) ----------------

#: (distribution, version, folder inside the sdist that holds the DICOM files)
REAL_EXPORTS = {
    # Brainlab Elements SRS plan: 40 ROIs, 1 mm dose grid (230 x 334 x 196 voxels).
    "brainlab_srs": ("dicomhandler", "0.0.1", "Examples"),
    # Varian Eclipse breast plan whose RTDOSE carries the planning system's DVHSequence.
    "eclipse_breast": ("dicompyler-core", "0.5.6", "tests/testdata/example_data"),
    # Elekta Monaco (CMS) RTPLAN templates (no dose): BeamDose with BeamDoseSpecificationPoint.
    "monaco_plans": ("pymedphys", "0.41.0", "lib/pymedphys/_experimental/serviceplans/templates"),
    # Varian ARIA RT Ion Plans (proton, Eclipse; no dose): BeamDose without specification points.
    "aria_ion_plans": ("pymchelper", "2.9.6", "tests/res/dicom"),
}


class DownloadError(RuntimeError):
    """The sdist could not be fetched or does not hold the expected files."""


def fetch_sdist(dist: str, version: str, timeout_s: float = 300.0) -> Path:
    """Download (once) ``dist==version`` as a source distribution with pip into
    ``benchmarks/_work/sdists`` and return the archive's path."""
    import subprocess
    import sys

    folder = WORK / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    def existing() -> Path | None:
        # PyPI names sdists either dist-version or dist_version (PEP 625)
        want = f"{dist}-{version}.tar.gz".lower().replace("_", "-")
        hits = [p for p in folder.glob("*.tar.gz") if p.name.lower().replace("_", "-") == want]
        return hits[0] if hits else None

    if existing() is not None:
        return existing()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(folder), f"{dist}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DownloadError(f"pip download {dist}=={version} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DownloadError(f"pip download {dist}=={version} failed: {tail[0]}")
    got = existing()
    if got is None:
        raise DownloadError(f"pip download {dist}=={version} produced no sdist in {folder}")
    return got


def real_export(key: str) -> Path:
    """Folder holding the DICOM files of one of :data:`REAL_EXPORTS`, unpacked (once) from
    its sdist into ``benchmarks/_work/real/<key>``.  Only the example folder is extracted,
    and only regular files (no links, no absolute or ``..`` paths)."""
    import tarfile

    dist, version, inner = REAL_EXPORTS[key]
    out = WORK / "real" / key
    # the marker sits beside the folder, not in it: the loader would note it as a stray file
    done = WORK / "real" / f"{key}.complete"
    if done.exists():
        return out
    archive = fetch_sdist(dist, version)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    n = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            # sdist layout: <dist>-<version>/<inner>/<file>
            if not member.isfile() or len(parts) < 3 or ".." in parts:
                continue
            rel = Path(*parts[1:])
            if rel.parent != Path(inner):
                continue
            src = tar.extractfile(member)
            if src is None:
                continue
            (out / rel.name).write_bytes(src.read())
            n += 1
    if n == 0:
        raise DownloadError(f"{archive.name} holds no files under {inner}/")
    done.write_text("ok\n")
    return out


def rt_files(folder: Path) -> dict[str, list[Path]]:
    """DICOM files of a folder grouped by Modality (``RTSTRUCT``, ``RTDOSE``, ...)."""
    import pydicom

    out: dict[str, list[Path]] = {}
    for f in sorted(folder.iterdir()):
        if not f.is_file() or f.name.startswith("."):
            continue
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["Modality"])
        except Exception:  # not DICOM: ignored, the loader is tested elsewhere
            continue
        out.setdefault(str(ds.get("Modality", "")), []).append(f)
    return out
