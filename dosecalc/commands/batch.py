"""``dosecalc batch``: evaluate every plan below a cohort root against a protocol.

Exit codes (the same contract as ``check``, over the whole cohort): 1 when any plan fails a
constraint; else 2 when a plan could not be evaluated (bad input: its error is in
summary.csv); else 3 when a plan is incomplete (something required not evaluable); else 0.
"""

from __future__ import annotations

import sys

NAME = "batch"
ORDER = 95
HELP = "evaluate every plan below a folder against a protocol (local processes or Dask)"
DESCRIPTION = (
    "Finds every plan below ROOT (one folder per patient; a folder with several RTPLANs gives "
    "one job per plan), checks each against the protocol and writes OUT/plans/*.json, "
    "OUT/constraints.csv (plan x constraint) and OUT/summary.csv (every plan with its status "
    "or error). A plan that fails is recorded and never stops the others; a re-run skips "
    "plans already done for the same protocol and options. Exit codes: 1 when any plan fails a "
    "constraint; else 2 when a plan could not be evaluated (its error is in summary.csv) or the "
    "input is bad; else 3 when a plan is incomplete (something required not evaluable); else 0 "
    "(every plan passes or is acceptable)."
)


def register(p) -> None:
    p.add_argument("root", metavar="ROOT", help="cohort folder")
    p.add_argument("--protocol", required=True, metavar="ID|FILE", help="built-in protocol id or TOML file")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: number of cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler, e.g. tcp://host:8786 (needs dosecalc[dask])")
    p.add_argument("--force", action="store_true", help="re-evaluate plans already done")
    p.add_argument("--fractions", type=int, default=None, metavar="N")
    p.add_argument("--child-pugh", default=None, metavar="CLASS", help="e.g. A5, A6, B7 (all plans)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    from .info import add_dose_is

    add_dose_is(p)
    from .check import add_matching_options, add_protocol_options

    add_matching_options(p)
    add_protocol_options(p)


def run(args) -> int:
    from ..batch import batch
    from ..errors import ParameterError
    from .check import parse_mapping

    mapping = parse_mapping(args.map, args.map_file)
    client = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ParameterError("--scheduler needs Dask: pip install 'dosecalc[dask]'") from exc
        try:
            client = Client(args.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ParameterError(f"--scheduler {args.scheduler}: cannot connect ({exc})") from exc
    try:
        run_ = batch(args.root, args.protocol, workers=args.workers, client=client, out=args.out,
                     force=args.force, fractions=args.fractions, child_pugh=args.child_pugh,
                     progress=False if args.no_progress else None, dose_is=args.dose_is, mapping=mapping,
                     site=args.site, convert=args.convert, transition_dose=args.transition_dose)
        counts: dict[str, int] = {}
        failing = incomplete = 0
        for r in run_:
            counts[r.status] = counts.get(r.status, 0) + 1
            failing += r.verdict == "fail"
            incomplete += r.verdict == "incomplete"
    finally:
        if client is not None:
            client.close()
    total = sum(counts.values())
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    sys.stdout.write(f"{total} plans: {parts}; {failing} fail a constraint, {incomplete} incomplete; "
                     f"results in {args.out}\n")
    if failing:
        return 1
    if counts.get("error", 0):
        return 2
    return 3 if incomplete else 0
