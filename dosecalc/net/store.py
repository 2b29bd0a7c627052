"""The DICOM node's store: received instances grouped by study, and which plans are complete.

Layout under the node's output folder::

    studies/<StudyInstanceUID>/<CT|RS|RP|RD>.<SOPInstanceUID>.dcm   received instances
    studies/<StudyInstanceUID>/reports/<plan>-<fingerprint>.{json,csv,html}

Every instance is written atomically (temporary file + rename), so a dropped association
or a full disk never leaves a partial file under a real name.  A plan is *complete* when
its RTPLAN, at least one RTDOSE that references it and the RTSTRUCT it references are all
in the study (and, for per-beam doses, one dose per beam of the plan).  Its *input set*
is identified by the SOP Instance UIDs and content hashes of those files plus the
protocol and options: a report named by that fingerprint means the set was evaluated,
which makes evaluation happen exactly once per set, across restarts too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..io.scan import Header, read_header
from ..io.uids import MODALITY_OF
from ..io.atomic import write_bytes

PREFIX = {"CT": "CT", "RTSTRUCT": "RS", "RTPLAN": "RP", "RTDOSE": "RD"}
# a DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters; anything else could
# walk out of the store when used as a file name
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def valid_uid(uid: str) -> bool:
    """True when ``uid`` is a syntactically valid DICOM UID (safe as a file name)."""
    return bool(uid) and len(uid) <= 64 and _UID.match(uid) is not None


@dataclass(frozen=True)
class InputSet:
    """The files of one complete plan and their fingerprint.

    Attributes
    ----------
    study_uid, plan_uid : str
    label : str
        RTPlanLabel (or the plan UID when empty), for file names and log lines.
    files : tuple of str
        RTPLAN, RTSTRUCT and the RTDOSE file(s) to load.
    fingerprint : str
        Hash of the files' UIDs and contents and of the evaluation options.
    notes : tuple of str
        What was chosen and why (superseded doses).
    """

    study_uid: str
    plan_uid: str
    label: str
    files: tuple[str, ...]
    fingerprint: str
    notes: tuple[str, ...] = ()

    @property
    def report_stem(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.label).strip("._") or "plan"
        return f"{safe[:60]}-{self.fingerprint[:12]}"


class Store:
    """Received instances under ``root/studies``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.studies = self.root / "studies"
        self.studies.mkdir(parents=True, exist_ok=True)
        self._headers: dict[str, tuple[float, int, Header]] = {}
        self._hashes: dict[str, tuple[float, int, str]] = {}

    def clean_temporaries(self) -> int:
        """Remove temporary files a crash left behind; return how many."""
        n = 0
        for p in self.studies.glob("*/.*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
        return n

    def study_dir(self, study_uid: str) -> Path:
        return self.studies / study_uid

    def path_for(self, study_uid: str, modality: str, sop_uid: str) -> Path:
        return self.study_dir(study_uid) / f"{PREFIX[modality]}.{sop_uid}.dcm"

    def put(self, study_uid: str, modality: str, sop_uid: str, data: bytes) -> str:
        """Store one instance atomically.

        Returns
        -------
        str
            "stored" (new), "duplicate" (same UID, same bytes: nothing written) or
            "replaced" (same UID, other bytes: the new content replaces the old).

        Raises
        ------
        OSError
            The disk is full or not writable (the old file, if any, is untouched).
        """
        path = self.path_for(study_uid, modality, sop_uid)
        outcome = "stored"
        if path.exists():
            if _same_content(path, data):
                return "duplicate"
            outcome = "replaced"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, data)
        return outcome

    # --- what is complete ------------------------------------------------------------
    def _header(self, path: Path) -> Header | None:
        try:
            st = path.stat()
        except OSError:
            return None
        key = str(path)
        cached = self._headers.get(key)
        if cached and cached[0] == st.st_mtime and cached[1] == st.st_size:
            return cached[2]
        try:
            h = read_header(path)
        except Exception:  # a file the loader cannot read is reported when evaluated
            return None
        self._headers[key] = (st.st_mtime, st.st_size, h)
        return h

    def _hash(self, path: str) -> str:
        st = os.stat(path)
        cached = self._hashes.get(path)
        if cached and cached[0] == st.st_mtime and cached[1] == st.st_size:
            return cached[2]
        h = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        self._hashes[path] = (st.st_mtime, st.st_size, h)
        return h

    def input_sets(self, study_uid: str, options_fingerprint: str) -> tuple[list[InputSet], list[str]]:
        """The complete plans of a study, and one line per plan still waiting for a file.

        Parameters
        ----------
        study_uid : str
        options_fingerprint : str
            Hash of the protocol and evaluation options (part of every set's fingerprint).
        """
        folder = self.study_dir(study_uid)
        heads: dict[str, list[tuple[Header, Path]]] = {"RTPLAN": [], "RTDOSE": [], "RTSTRUCT": []}
        for prefix, modality in (("RP", "RTPLAN"), ("RD", "RTDOSE"), ("RS", "RTSTRUCT")):
            for p in sorted(folder.glob(f"{prefix}.*.dcm")):
                h = self._header(p)
                if h is not None and MODALITY_OF.get(h.sop_class_uid) == modality:
                    heads[modality].append((h, p))
        structs = {h.sop_instance_uid: p for h, p in heads["RTSTRUCT"]}
        sets, waiting = [], []
        for plan, plan_path in heads["RTPLAN"]:
            uid = plan.sop_instance_uid
            label = plan.label or uid
            doses = [(h, p) for h, p in heads["RTDOSE"] if uid in h.referenced_plan_uids]
            ref = plan.referenced_structure_set_uid
            missing = []
            if not doses:
                missing.append("an RTDOSE that references it")
            if not ref:
                missing.append("an RTSTRUCT reference (ReferencedStructureSetSequence is empty)")
            elif ref not in structs:
                missing.append(f"RTSTRUCT {ref}")
            notes: list[str] = []
            chosen = self._choose_doses(doses, notes)
            beams = _number_of_beams(plan_path)
            if chosen and all(h.summation_type == "BEAM" for h, _ in chosen) and beams and len(chosen) < beams:
                missing.append(f"per-beam RTDOSE files for {beams - len(chosen)} more of its {beams} beams")
            if missing or ref is None:  # (no ref is among the missing already)
                waiting.append(f"plan '{label}' ({uid}) waits for " + " and ".join(missing))
                continue
            files = [str(plan_path), str(structs[ref])] + [str(p) for _, p in chosen]
            blob = "|".join([options_fingerprint] + sorted(
                f"{Path(f).name}:{self._hash(f)}" for f in files))
            fp = hashlib.sha256(blob.encode()).hexdigest()
            sets.append(InputSet(study_uid, uid, label, tuple(files), fp, tuple(notes)))
        return sets, waiting

    @staticmethod
    def _choose_doses(doses, notes):
        """Per-beam doses are summed by the loader; of several whole-plan doses of one plan
        (a dose recomputed and exported again), the last received supersedes the others."""
        whole = [(h, p) for h, p in doses if h.summation_type != "BEAM"]
        if len(whole) <= 1:
            return whole or doses
        whole.sort(key=lambda hp: (hp[1].stat().st_mtime_ns, hp[1].name))
        latest = whole[-1]
        notes.append(f"RTDOSE {latest[0].sop_instance_uid} (received last) supersedes "
                     + ", ".join(h.sop_instance_uid for h, _ in whole[:-1]))
        return [latest]

    def reported(self, s: InputSet) -> Path | None:
        """The JSON report of an input set already evaluated, if any."""
        p = self.study_dir(s.study_uid) / "reports" / f"{s.report_stem}.json"
        return p if p.exists() else None


def _same_content(path: Path, data: bytes) -> bool:
    """Byte for byte the stored file.  The same instance re-sent in another encoding
    (transfer syntax) counts as new content: comparing data elements would parse every
    contour of a large RTSTRUCT in the association's thread, and re-evaluating is safe."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _number_of_beams(path: Path) -> int | None:
    """NumberOfBeams of the RTPLAN's first fraction group (None when absent)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["FractionGroupSequence"])
        fg = ds.FractionGroupSequence[0]
        n = int(fg.get("NumberOfBeams", 0) or 0)
    except Exception:
        return None
    return n or None
