"""``dosecalc check``: check a plan against a liver-SBRT protocol.

Exit codes: 0 every row passes or is acceptable, 1 a row fails, 3 nothing fails but
something required is not evaluable, 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ParameterError
from ..io.atomic import write_text
from .info import add_dose_is

NAME = "check"
ORDER = 90
HELP = "check a plan against a liver-SBRT protocol (exit 0 pass, 1 fail, 3 incomplete, 2 bad input)"
DESCRIPTION = (
    "Matches the protocol's structures to the plan's ROIs, computes every constraint that applies "
    "to the fractionation and the Child-Pugh class through the DVH engine (EQD2/BED where the "
    "metric names it) and prints one verdict per constraint: pass, acceptable (between the two "
    "levels), fail, or not evaluable with the reason; every limit shows its source and confidence. "
    "Without --child-pugh/--labs the class-A values are shown and the check is incomplete. "
    "Fractionations without a sourced table are not evaluable unless --convert asks for an "
    "isoeffective conversion (LQ-L, alpha/beta per organ; every converted row is labelled). "
    "Exit codes: 0 every row passes or is acceptable; 1 any row fails; 3 nothing fails but "
    "something required is not evaluable (missing organ, fractionation without a table, unknown "
    "Child-Pugh class); 2 bad input."
)


def register(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or folders of one plan")
    p.add_argument("--protocol", required=True, metavar="ID|FILE",
                   help="built-in protocol id (see 'dosecalc protocols') or a TOML protocol file")
    p.add_argument("--fractions", type=int, default=None, metavar="N",
                   help="number of fractions (default: the RTPLAN's)")
    lf = p.add_mutually_exclusive_group()
    lf.add_argument("--child-pugh", default=None, metavar="CLASS", help="Child-Pugh class/score: A5, A6, B7, B, ...")
    lf.add_argument("--labs", default=None, metavar="FILE",
                    help="labs TOML (bilirubin, albumin, INR, ascites, encephalopathy with units)")
    add_matching_options(p)
    add_protocol_options(p)
    p.add_argument("--prescription", type=float, default=None, metavar="GY",
                   help="prescription total dose in Gy (default: the RTPLAN's)")
    p.add_argument("--plan", default=None, metavar="UID|LABEL", help="which plan, when the paths hold several")
    p.add_argument("--format", choices=("table", "json", "csv", "html"), default="table")
    p.add_argument("--plot", choices=("auto", "builtin", "matplotlib"), default="auto",
                   help="DVH plots in HTML: matplotlib when installed (auto), or the built-in SVG")
    p.add_argument("--out", default=None, metavar="FILE", help="write the report to FILE (atomically)")
    add_dose_is(p)


def add_matching_options(p) -> None:
    """--map and --map-file (shared with ``batch``)."""
    p.add_argument("--map", action="append", default=[], metavar="STRUCTURE=ROI",
                   help="use ROI (or an expression) for a protocol structure, e.g. --map Liver=LIVER_1 (repeatable)")
    p.add_argument("--map-file", default=None, metavar="FILE",
                   help="TOML mapping file: STRUCTURE = \"ROI\" lines (or a [map] table); --map entries win")


def add_protocol_options(p) -> None:
    """--site, --convert, --transition-dose (shared with ``batch``)."""
    p.add_argument("--site", default=None, metavar="SITE",
                   help="treated-site profile of the protocol (oligoprogression: liver, lung, bone, adrenal, node)")
    p.add_argument("--convert", action="store_true",
                   help="convert the nearest sourced table isoeffectively (LQ-L, alpha/beta per organ) for organs "
                        "without a sourced limit at the plan's fractionation; every converted row is labelled")
    p.add_argument("--transition-dose", type=float, default=None, metavar="GY",
                   help="LQ-L transition dose per fraction for --convert (default 2 x alpha/beta of each organ)")


def parse_mapping(items, map_file=None) -> dict[str, str]:
    """``["Liver=LIVER_1", ...]`` (and a TOML mapping file) -> ``{"Liver": "LIVER_1"}``."""
    from ..protocols.matching import load_mapping

    out = load_mapping(map_file) if map_file else {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ParameterError(f"--map {item!r}: expected STRUCTURE=ROI, e.g. --map Liver=LIVER_1")
        out[key.strip()] = value.strip()
    return out


def run(args) -> int:
    import dosecalc

    from ..io.atomic import input_files, write_text
    from ..protocols.evaluate import check
    from ..protocols.report import render
    from ..protocols.schema import load_protocol

    protocol = load_protocol(args.protocol)  # validate before reading any DICOM
    mapping = parse_mapping(args.map, args.map_file)
    protocol.site(args.site)  # an unknown site is bad input before any DICOM is read
    case = dosecalc.load(*args.paths, plan=args.plan, dose_is=args.dose_is)
    report = check(case, protocol, fractions=args.fractions, child_pugh=args.child_pugh, labs=args.labs,
                   mapping=mapping, prescription_gy=args.prescription, site=args.site, convert=args.convert,
                   transition_dose=args.transition_dose)
    if args.out:
        text = render(report, args.format, colour=False, plot=args.plot)
        inputs = [*input_files(args.paths), *(f.path for f in case.files)]
        path = write_text(args.out, text, inputs=inputs)
        print(f"{report.protocol.id}: {report.verdict.upper()} ({_summary(report)}); report written to {path}")
    else:
        sys.stdout.write(render(report, args.format, plot=args.plot))
    return report.exit_code


def _summary(report) -> str:
    c = report.counts()
    return ", ".join(f"{n} {v}" for v, n in c.items())


def demo(case, out, stream) -> None:
    """Check the synthetic case against every built-in protocol: print the tables and write
    one HTML report per protocol into ``out``."""
    from ..protocols.evaluate import check
    from ..protocols.report import to_html, to_table
    from ..protocols.schema import builtin_ids

    for pid in builtin_ids():
        # the synthetic patient is declared Child-Pugh A5: without a class the check is incomplete
        report = check(case, pid, child_pugh="A5")
        stream.write(f"\n=== protocol check: {pid} ===\n")
        stream.write(to_table(report, stream=stream))
        path = write_text(Path(out) / f"check-{pid}.html", to_html(report))
        stream.write(f"HTML report: {path}\n")
