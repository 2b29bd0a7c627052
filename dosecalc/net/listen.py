"""``dosecalc listen``: a DICOM node that checks every plan the planning system sends.

A Storage SCP (pynetdicom) accepts CT, RTSTRUCT, RTPLAN and RTDOSE instances and answers
C-ECHO.  Each instance is stored atomically under ``OUT/studies/<StudyInstanceUID>/``
(:mod:`.store`).  When an association ends (released, aborted or dropped), or when a
study has received nothing for ``quiet_s`` seconds while its association stays open,
every plan of the study whose RTPLAN, RTDOSE and RTSTRUCT have arrived (by references) is
evaluated against the protocol, once per set of inputs; the JSON, CSV and HTML reports
are written under ``OUT/studies/<StudyInstanceUID>/reports/``.

Every event is one log line (stderr and ``OUT/listen.log``).  Nothing a sender does stops
the node: an instance of another SOP class is refused (status 0x0122), a malformed
dataset is refused (0xC210 / 0xA900), a full disk refuses the instance (0xA700) and keeps
serving, a calling AE title or host not in ``allow`` is refused at association
(A-ASSOCIATE-RJ, calling AE title not recognised).  Evaluation runs on one thread beside
the network threads, so receiving never waits for an evaluation.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DoseCalcError, OutputError, ParameterError
from ..io.scan import one_line
from ..io.uids import MODALITY_OF
from . import require
from .store import InputSet, Store, valid_uid
from ..case import load
from ..io.atomic import write_text
from ..protocols.evaluate import check
from ..protocols.report import render

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom.transport import ThreadedAssociationServer

LOG = logging.getLogger("dosecalc.listen")

# DIMSE C-STORE statuses (PS3.4 Annex B.2.3, PS3.7 C.4.2.1.4)
SUCCESS = 0x0000
REFUSED_SOP_CLASS = 0x0122      # Refused: SOP Class not supported
OUT_OF_RESOURCES = 0xA700       # Refused: Out of resources
DOES_NOT_MATCH = 0xA900         # Error: Data Set does not match SOP Class
CANNOT_UNDERSTAND = 0xC210      # Error: Cannot understand
VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"  # C-ECHO (PS3.4 Annex A)


@dataclass(frozen=True)
class Allowed:
    """One ``--allow AE[@HOST]`` entry (host None: any host)."""

    ae_title: str
    host: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Allowed":
        ae, _, host = text.partition("@")
        ae = ae.strip()
        if not ae or len(ae) > 16 or "\\" in ae:
            raise ParameterError(f"--allow {text!r}: expected AE[@HOST] with an AE title of 1-16 characters")
        return cls(ae, host.strip() or None)

    def admits(self, ae_title: str, host: str) -> bool:
        return ae_title.strip() == self.ae_title and (self.host is None or self.host == host)


@dataclass
class _Assoc:
    who: str
    studies: set = field(default_factory=set)
    counts: dict = field(default_factory=dict)
    how: str = "released"


def options_fingerprint(protocol, mapping, fractions, child_pugh) -> str:
    """Hash of what decides a report besides the DICOM files."""
    from .. import __version__

    proto = protocol.to_dict() if hasattr(protocol, "to_dict") else repr(protocol)
    blob = json.dumps({"protocol": proto, "mapping": mapping, "fractions": fractions,
                       "child_pugh": child_pugh, "dosecalc": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Node:
    """The DICOM node.

    Parameters
    ----------
    out : str or Path
        Output folder (store, reports, ``listen.log``); created.
    protocol : Protocol
        A loaded protocol (:func:`dosecalc.load_protocol`).
    port : int
        TCP port (0: any free port; see :attr:`port` after :meth:`start`).
    ae_title : str
        This node's AE title.
    bind : str
        Address to listen on (``0.0.0.0`` for every interface).
    allow : list of str
        ``AE[@HOST]`` entries; empty admits every caller.
    mapping : dict, optional
        Protocol structure -> ROI (as ``dosecalc check --map``).
    fractions, child_pugh
        As for :func:`dosecalc.check`.
    quiet_s : float
        Evaluate a study that received nothing for this many seconds even while its
        association stays open.
    """

    def __init__(self, out, protocol, *, port: int = 11112, ae_title: str = "DOSECALC",
                 bind: str = "127.0.0.1", allow=(), mapping=None, fractions=None, child_pugh=None,
                 quiet_s: float = 60.0):
        require("pynetdicom", "dosecalc listen")
        if not (0 <= int(port) <= 65535):
            raise ParameterError(f"--port must be 0-65535, got {port}")
        if not ae_title or len(ae_title) > 16 or "\\" in ae_title:
            raise ParameterError(f"--ae-title {ae_title!r}: expected 1-16 characters")
        if not quiet_s > 0:
            raise ParameterError(f"--quiet must be a positive number of seconds, got {quiet_s}")
        self.out = Path(out)
        self.protocol = protocol
        self.port = int(port)
        self.ae_title = ae_title
        self.bind = bind
        self.allow = [a if isinstance(a, Allowed) else Allowed.parse(a) for a in allow]
        self.mapping = dict(mapping or {})
        self.fractions = fractions
        self.child_pugh = child_pugh
        self.quiet_s = float(quiet_s)
        self.options_fp = options_fingerprint(protocol, self.mapping, fractions, child_pugh)
        try:
            self.store = Store(self.out)
        except OSError as exc:
            raise ParameterError(f"--out {out}: cannot create the store ({exc.strerror})") from exc
        self._assocs: dict[int, _Assoc] = {}
        self._lock = threading.Lock()
        self._last_rx: dict[str, float] = {}     # study -> time of the last instance
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._server: ThreadedAssociationServer | None = None
        self._worker: threading.Thread | None = None
        self._log_handler: logging.Handler | None = None
        self._said_waiting: dict[str, tuple] = {}
        self.evaluations = 0

    # --- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        """Open the port, start the evaluator and queue studies left complete but not
        evaluated by an earlier run."""
        from pynetdicom import AE, AllStoragePresentationContexts, evt

        self._attach_log_file()
        removed = self.store.clean_temporaries()
        ae = AE(ae_title=self.ae_title)
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax)
        ae.add_supported_context(VERIFICATION_SOP_CLASS)
        ae.maximum_pdu_size = 0          # accept any PDU size the sender proposes
        ae.network_timeout = 120         # a silent peer is dropped, its association ends
        # pynetdicom's stubs type the events loosely: the list is what start_server documents
        handlers: list[Any] = [(evt.EVT_REQUESTED, self._on_requested), (evt.EVT_C_ECHO, self._on_echo),
                    (evt.EVT_C_STORE, self._on_store), (evt.EVT_ESTABLISHED, self._on_established),
                    (evt.EVT_CONN_CLOSE, self._on_closed)]
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # our own one-line events
        try:
            server = ae.start_server((self.bind, self.port), block=False, evt_handlers=handlers)
        except OSError as exc:
            self._detach_log_file()
            raise ParameterError(f"--port {self.port}: cannot listen on {self.bind} ({exc.strerror or exc})") from exc
        assert server is not None  # block=False: start_server returns the running server
        self._server = server
        self.port = server.server_address[1]
        self._worker = threading.Thread(target=self._evaluate_loop, name="dosecalc-evaluator", daemon=True)
        self._worker.start()
        allow = ", ".join(a.ae_title + (f"@{a.host}" if a.host else "") for a in self.allow) or "any caller"
        LOG.info(f"listening on {self.bind}:{self.port} as AE {self.ae_title} (protocol "
                 f"{getattr(self.protocol, 'id', '?')}; allow {allow}; store {self.store.studies})"
                 + (f"; removed {removed} temporary file(s) of an interrupted run" if removed else ""))
        for d in sorted(self.store.studies.iterdir()):
            if d.is_dir() and valid_uid(d.name):
                self._queue.put((d.name, False))

    def stop(self) -> None:
        """Close the port and every association; finish the evaluation in progress."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        LOG.info("stopped")
        self._detach_log_file()

    def _attach_log_file(self) -> None:
        h = logging.FileHandler(self.out / "listen.log", encoding="utf-8")
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        LOG.addHandler(h)
        self._log_handler = h

    def _detach_log_file(self) -> None:
        if self._log_handler is not None:
            LOG.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    # --- network events (association threads) ----------------------------------------------
    @staticmethod
    def _who(assoc) -> str:
        ae = getattr(assoc.requestor, "ae_title", "") or ""
        if not ae and assoc.requestor.primitive is not None:
            ae = assoc.requestor.primitive.calling_ae_title
        return f"{str(ae).strip() or '?'}@{assoc.requestor.address}"

    def _on_requested(self, event) -> None:
        assoc = event.assoc
        calling = str(assoc.requestor.primitive.calling_ae_title).strip()
        host = assoc.requestor.address
        if self.allow and not any(a.admits(calling, host) for a in self.allow):
            LOG.warning(f"refused association from {calling}@{host}: not in --allow")
            # rejected permanent, by the service user, calling AE title not recognised
            assoc.acse.send_reject(0x01, 0x01, 0x03)
            assoc.kill()

    def _on_established(self, event) -> None:
        with self._lock:
            self._assocs[id(event.assoc)] = _Assoc(self._who(event.assoc))

    def _on_echo(self, event) -> int:
        LOG.info(f"echo from {self._who(event.assoc)}")
        return SUCCESS

    def _on_closed(self, event) -> None:
        with self._lock:
            a = self._assocs.pop(id(event.assoc), None)
        if a is None:
            return
        if not event.assoc.is_released:
            # an A-ABORT and a lost connection end alike here: what arrived whole is kept
            a.how = "ended without release (aborted or connection lost)"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(a.counts.items())) or "nothing"
        LOG.info(f"association from {a.who} {a.how}: {counts}")
        for study in sorted(a.studies):
            with self._lock:
                self._last_rx.pop(study, None)
            self._queue.put((study, True))

    def _count(self, assoc, what: str, study: str | None = None) -> None:
        with self._lock:
            a = self._assocs.get(id(assoc))
            if a is None:
                return
            a.counts[what] = a.counts.get(what, 0) + 1
            if study is not None:
                a.studies.add(study)
                self._last_rx[study] = time.monotonic()

    def _on_store(self, event) -> int:
        assoc = event.assoc
        who = self._who(assoc)
        try:
            sop_class = str(event.request.AffectedSOPClassUID)
            sop_uid = str(event.request.AffectedSOPInstanceUID)
        except Exception:  # pragma: no cover - pynetdicom validates the request
            sop_class, sop_uid = "", ""
        modality = MODALITY_OF.get(sop_class)
        if modality is None:
            LOG.warning(f"refused {sop_uid} from {who}: SOP class {sop_class} ({_class_name(sop_class)}) "
                        f"is not CT, RTSTRUCT, RTPLAN or RTDOSE")
            self._count(assoc, "refused")
            return REFUSED_SOP_CLASS
        try:
            ds = event.dataset
            study = str(ds.get("StudyInstanceUID", "") or "")
            ds_uid = str(ds.get("SOPInstanceUID", "") or "")
            ds_class = str(ds.get("SOPClassUID", "") or "")
        except Exception as exc:
            LOG.warning(f"refused {modality} {sop_uid} from {who}: malformed dataset ({one_line(exc)})")
            self._count(assoc, "refused")
            return CANNOT_UNDERSTAND
        problem = None
        if not valid_uid(sop_uid):
            problem = f"AffectedSOPInstanceUID {sop_uid!r} is not a valid UID"
        elif ds_uid != sop_uid or ds_class != sop_class:
            problem = (f"dataset SOPClassUID/SOPInstanceUID {ds_class}/{ds_uid} differ from the "
                       f"request's {sop_class}/{sop_uid}")
        elif not valid_uid(study):
            problem = f"StudyInstanceUID {study!r} is missing or not a valid UID"
        if problem:
            LOG.warning(f"refused {modality} {sop_uid} from {who}: malformed dataset ({problem})")
            self._count(assoc, "refused")
            return DOES_NOT_MATCH
        try:
            outcome = self.store.put(study, modality, sop_uid, event.encoded_dataset())
        except (OSError, DoseCalcError) as exc:  # the atomic writer reports OSErrors as OutputError
            code = getattr(exc, "errno", None) or getattr(exc.__cause__, "errno", None)
            reason = "disk full" if code in (errno.ENOSPC, errno.EDQUOT) else "cannot write"
            LOG.error(f"refused {modality} {sop_uid} from {who}: {reason} ({one_line(exc)}) in {self.store.studies}")
            self._count(assoc, "refused")
            return OUT_OF_RESOURCES
        if modality != "CT" or outcome == "replaced":  # CT slices are counted, not listed
            LOG.info(f"{outcome} {modality} {sop_uid} of study {study} from {who}"
                     + (" (same UID, other bytes)" if outcome == "replaced" else ""))
        self._count(assoc, modality if outcome == "stored" else outcome, study)
        with self._lock:
            ended = id(assoc) not in self._assocs
        if ended:  # the connection closed while this instance was being stored
            self._queue.put((study, True))
        return SUCCESS

    # --- evaluation (one thread) -------------------------------------------------------------
    def _evaluate_loop(self) -> None:
        while not self._stop.is_set():
            try:
                study, ended = self._queue.get(timeout=0.2)
            except queue.Empty:
                self._queue_quiet_studies()
                continue
            try:
                self._evaluate_study(study, ended)
            except Exception as exc:  # the node must keep serving whatever happens here
                LOG.error(f"study {study}: internal error while evaluating ({type(exc).__name__}: {one_line(exc)})")

    def _queue_quiet_studies(self) -> None:
        now = time.monotonic()
        with self._lock:
            quiet = [s for s, t in self._last_rx.items() if now - t >= self.quiet_s]
            for s in quiet:
                del self._last_rx[s]
        for s in quiet:
            LOG.info(f"study {s}: nothing received for {self.quiet_s:g} s, evaluating what is complete")
            self._queue.put((s, True))

    def _evaluate_study(self, study: str, ended: bool) -> None:
        sets, waiting = self.store.input_sets(study, self.options_fp)
        if ended and waiting and self._said_waiting.get(study) != tuple(waiting):
            for line in waiting:
                LOG.info(f"study {study}: {line}")
        self._said_waiting[study] = tuple(waiting)
        for s in sets:
            if self._stop.is_set():
                return
            done = self.store.reported(s)
            if done is not None:
                if ended:
                    LOG.info(f"study {study} plan '{s.label}': these inputs were already evaluated ({done})")
                continue
            self._evaluate(s)

    def _evaluate(self, s: InputSet) -> None:
        folder = self.store.study_dir(s.study_uid) / "reports"
        stem = folder / s.report_stem
        for note in s.notes:
            LOG.info(f"study {s.study_uid} plan '{s.label}': {note}")
        t0 = time.perf_counter()
        try:
            folder.mkdir(exist_ok=True)
            try:
                case = load(*s.files)
                report = check(case, self.protocol, fractions=self.fractions, child_pugh=self.child_pugh,
                               mapping=self.mapping)
                if s.notes:
                    report = replace(report, notes=tuple(report.notes) + s.notes)
            except DoseCalcError as exc:
                message = one_line(exc, limit=1000)
                write_text(stem.with_suffix(".json"), json.dumps(
                    {"study": s.study_uid, "plan": s.plan_uid, "status": "not evaluable", "error": message,
                     "files": list(s.files)}, indent=2) + "\n")
                self.evaluations += 1
                LOG.warning(f"study {s.study_uid} plan '{s.label}': not evaluable: {message}")
                return
            texts = {fmt: render(report, fmt, colour=False) for fmt in ("csv", "html", "json")}
            for fmt in ("csv", "html", "json"):  # JSON last: its presence means "evaluated"
                write_text(stem.with_suffix("." + fmt), texts[fmt])
        except (OSError, OutputError) as exc:
            LOG.error(f"study {s.study_uid} plan '{s.label}': report not written ({one_line(exc)}); "
                      f"evaluated again when the study next receives a file")
            return
        self.evaluations += 1
        counts = ", ".join(f"{n} {v}" for v, n in report.counts().items())
        LOG.info(f"evaluated study {s.study_uid} plan '{s.label}': {report.verdict.upper()} ({counts}) "
                 f"in {time.perf_counter() - t0:.1f} s -> {stem}.json")


def _class_name(uid: str) -> str:
    try:
        from pydicom.uid import UID

        return UID(uid).name
    except Exception:
        return "unknown"


def setup_logging() -> None:
    """One line per event on stderr: time, level, message."""
    if not any(getattr(h, "_dosecalc", False) for h in LOG.handlers):
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        h._dosecalc = True  # type: ignore[attr-defined]
        LOG.addHandler(h)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
