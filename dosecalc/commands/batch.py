"""``dosecalc batch``: evaluate every plan below a cohort root against a protocol.

Exit codes (the same contract as ``check``, over the whole cohort): 1 when any plan fails a
constraint; else 2 when a plan could not be evaluated (bad input: its error is in
summary.csv); else 3 when a plan is incomplete (something required not evaluable); else 0.
SIGINT/SIGTERM: 128 + the signal (130/143) after the tables of the plans done are written.
"""

from __future__ import annotations

import re
import signal
import sys

from ..errors import ParameterError
from .info import add_dose_is

NAME = "batch"
ORDER = 95
HELP = "evaluate every plan below a folder against a protocol (local processes or Dask)"
DESCRIPTION = (
    "Finds every plan below ROOT (one folder per patient; a folder with several RTPLANs gives "
    "one job per plan), checks each against the protocol and writes OUT/plans/*.json, "
    "OUT/constraints.csv (plan x constraint) and OUT/summary.csv (every plan with its status "
    "or error). A plan that fails is recorded and never stops the others; a re-run skips "
    "plans whose files, protocol and options are unchanged since their stored result (the "
    "summary says how many were evaluated and why). Each plan runs in a worker process with a "
    "time limit; a worker that dies (out of memory) costs only its plan. SIGINT/SIGTERM stop "
    "the workers and write the tables for the plans done (exit 130/143). Exit codes: 1 when any "
    "plan fails a constraint; else 2 when a plan could not be evaluated (its error is in "
    "summary.csv) or the input is bad; else 3 when a plan is incomplete (something required not "
    "evaluable); else 0 (every plan passes or is acceptable)."
)


def register(p) -> None:
    p.add_argument("root", metavar="ROOT", help="cohort folder, or a DICOMweb service root "
                   "http(s)://HOST:PORT/dicom-web (needs dosecalc[net])")
    p.add_argument("--protocol", required=True, metavar="ID|FILE", help="built-in protocol id or TOML file")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: number of cores; 0: in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler, e.g. tcp://host:8786 (needs dosecalc[dask])")
    p.add_argument("--force", action="store_true",
                   help="re-evaluate every plan, and use an output folder made for another cohort")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="per-plan time limit in seconds (default 600); a plan past it is an error")
    p.add_argument("--fractions", type=int, default=None, metavar="N")
    p.add_argument("--child-pugh", default=None, metavar="CLASS", help="e.g. A5, A6, B7 (all plans)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    add_dose_is(p)
    from .check import add_matching_options, add_protocol_options

    add_matching_options(p)
    add_protocol_options(p)

    from ..net.cli import register_source

    register_source(p)


_SCHEDULER = re.compile(r"(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+(:\d{1,5})?/?|[^\s/:]+:\d{1,5}")


def _connect(address: str):
    """A Dask client for ``address``, or one-line :class:`ParameterError`."""

    if not _SCHEDULER.fullmatch(address):
        raise ParameterError(f"--scheduler {address!r} is not a scheduler address; expected "
                             f"tcp://HOST:PORT (or HOST:PORT)")
    try:
        from distributed import Client
    except ImportError as exc:
        raise ParameterError("--scheduler needs Dask: pip install 'dosecalc[dask]'") from exc
    try:
        return Client(address, timeout="20s")
    except Exception as exc:  # Dask raises OSError, TimeoutError, ValueError... on bad addresses
        raise ParameterError(f"--scheduler {address}: cannot connect ({type(exc).__name__}: {exc})") from exc


class _Stop(Exception):
    """SIGTERM (or a second kind of stop) while the batch runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum, frame):
    # once: a second signal while the tables are written must not cut them
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Stop(signum)


def run(args) -> int:
    from ..cohort import DEFAULT_TIMEOUT_S, batch
    from ..io.walk import display_path
    from .check import parse_mapping

    mapping = parse_mapping(args.map, args.map_file)
    from ..net.cli import resolve_root

    args.root = resolve_root(args)  # a DICOMweb archive becomes a local cohort folder
    client = _connect(args.scheduler) if args.scheduler else None
    timeout = DEFAULT_TIMEOUT_S if args.timeout is None else args.timeout
    counts: dict[str, int] = {}
    failing = incomplete = 0
    run_ = None
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        run_ = batch(args.root, args.protocol, workers=args.workers, client=client, out=args.out,
                     force=args.force, fractions=args.fractions, child_pugh=args.child_pugh,
                     progress=False if args.no_progress else None, timeout=timeout,
                     dose_is=args.dose_is, mapping=mapping, site=args.site, convert=args.convert,
                     transition_dose=args.transition_dose)
        for r in run_:
            counts[r.status] = counts.get(r.status, 0) + 1
            failing += r.verdict == "fail"
            incomplete += r.verdict == "incomplete"
    except _Stop as stop:
        if run_ is not None:
            run_.close()  # workers stopped, tables written for what is done
        done = sum(counts.values())
        total = len(run_.jobs) if run_ is not None else 0
        sys.stderr.write(f"dosecalc batch: stopped by {stop}: {done} of {total} plans done; "
                         f"tables for them in {display_path(args.out)}\n")
        return 128 + stop.signum
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if client is not None:
            client.close()
    total = sum(counts.values())
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    redone = "; evaluated: " + ", ".join(f"{v} {k}" for k, v in sorted(run_.redone.items())) if run_.redone else ""
    sys.stdout.write(f"{total} plans: {parts}{redone}; {failing} fail a constraint, {incomplete} "
                     f"incomplete; results in {display_path(args.out)}\n")
    if failing:
        return 1
    if counts.get("error", 0):
        return 2
    return 3 if incomplete else 0
