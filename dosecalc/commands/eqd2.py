"""``dosecalc eqd2``: write the voxel-wise EQD2 (or BED) of a plan as an RTDOSE file.

The output has DoseType EFFECTIVE; the model, a/b (or the structure map), fractions and
transition dose are recorded in the file (DoseComment, ImageComments,
DerivationDescription), see :mod:`dosecalc.io.write_rtdose`.
"""

from __future__ import annotations

import math
import sys
import warnings

from ..errors import DoseCalcError, ParameterError
from .info import add_dose_is

NAME = "eqd2"
ORDER = 30
HELP = "write the voxel-wise EQD2 (or BED) of a plan as an RTDOSE (DoseType EFFECTIVE)"
DESCRIPTION = (
    "Convert the plan's physical dose voxel by voxel to EQD2 (or BED with --bed), LQ or "
    "LQ-L, with one alpha/beta or one per structure, and write it as an RTDOSE file with "
    "DoseType EFFECTIVE. Where listed structures overlap, the first listed wins (a warning "
    "names the overlap). A voxel belongs to a structure when >= 50 % of it is inside.")


def register(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="DICOM files or folders of one plan (RTDOSE, RTSTRUCT, RTPLAN)")
    parser.add_argument("--alpha-beta", required=True, type=float, metavar="GY",
                        help="alpha/beta in Gy (for every voxel, or outside the listed structures)")
    parser.add_argument("--structure-alpha-beta", action="append", default=[], metavar="NAME=GY",
                        help="alpha/beta for one structure or expression, e.g. GTV=10 or "
                             "'Liver - GTV=2.5'; repeat; the first listed wins on overlaps")
    parser.add_argument("--fractions", type=float, default=None, metavar="N",
                        help="number of fractions (default: the RTPLAN's NumberOfFractionsPlanned)")
    parser.add_argument("--model", choices=("lq", "lq-l"), default="lq",
                        help="lq (default) or lq-l (linear above --transition-dose)")
    parser.add_argument("--transition-dose", type=float, default=None, metavar="GY",
                        help="LQ-L transition dose per fraction d_T in Gy (required with lq-l)")
    parser.add_argument("--bed", action="store_true", help="write BED instead of EQD2")
    parser.add_argument("--out", required=True, metavar="FILE", help="output RTDOSE file")
    add_dose_is(parser)


def parse_structure_alpha_beta(items, default_gy: float) -> dict | float:
    """``["GTV=10", "Liver - GTV=2.5"]`` + default -> ``{"GTV": 10.0, "Liver - GTV": 2.5,
    "*": default}`` (order kept; the default alone when no item is given)."""
    if not items:
        return default_gy
    mapping: dict = {}
    for item in items:
        name, sep, value = str(item).rpartition("=")
        name = name.strip()
        try:
            ab = float(value)
        except ValueError:
            ab = None
        if not sep or not name or ab is None:
            raise ParameterError(f"--structure-alpha-beta expects NAME=GY (e.g. GTV=10), got {item!r}")
        if name in mapping:
            raise ParameterError(f"--structure-alpha-beta lists {name!r} twice")
        mapping[name] = ab
    mapping["*"] = default_gy
    return mapping


def _fractions(value):
    if value is None:
        return None
    if not (math.isfinite(value) and value >= 1 and value == int(value)):
        raise ParameterError(f"--fractions must be a whole number >= 1, got {value:g}")
    return int(value)


def run(args) -> int:
    from ..case import load
    from ..radiobiology import RadiobiologyWarning

    case = load(*args.paths, dose_is=args.dose_is)
    alpha_beta = parse_structure_alpha_beta(args.structure_alpha_beta, args.alpha_beta)
    convert = case.bed if args.bed else case.eqd2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RadiobiologyWarning)
        grid = convert(alpha_beta, fractions=_fractions(args.fractions), model=args.model,
                       transition_dose=args.transition_dose)
    for w in caught:
        sys.stderr.write(f"dosecalc eqd2: warning: {w.message}\n")
    from ..io.atomic import input_files

    inputs = [*input_files(args.paths), *(f.path for f in case.files)]
    path = grid.write(args.out, inputs=inputs)
    print(f"{grid.quantity}: {grid.description}")
    print(f"max {grid.max_gy:.2f} Gy ({grid.quantity}); written to {path}")
    return 0


def demo(case, out, stream) -> None:
    """Normal-liver mean EQD2 (a/b 2.5) and RILD NTCP (LKB, Michigan), PTV D95% BED10."""
    from pathlib import Path

    from ..ntcp import RILD_PARAMETER_SETS, case_ntcp

    p = RILD_PARAMETER_SETS["michigan"]
    eq = case.eqd2(p.alpha_beta_gy)
    n = eq.model["fractions"]
    stream.write(f"EQD2 (LQ, a/b {p.alpha_beta_gy:g} Gy, {n} fractions) of the normal liver; "
                 f"RILD NTCP: LKB, {p.name} set (TD50 {p.td50_gy:g} Gy EQD2, m {p.m:g}, n {p.n:g}; "
                 f"{p.confidence} source)\n")
    stream.write(f"  population of the NTCP parameters: {p.population}; not valid for Child-Pugh B\n")
    for name in ("Liver - CTV", "Liver - (GTV1 | GTV2)"):
        try:
            dvh = case.dvh(name, dose=eq)
        except DoseCalcError as exc:  # one missing structure must not hide the other lines
            stream.write(f"  {name:24s} unavailable: {exc}\n")
            continue
        risk = case_ntcp(case, name, p, dose=eq)
        stream.write(f"  {name:24s} {dvh.label('Mean[Gy]')} = {dvh.mean_gy:6.2f}   "
                     f"NTCP(RILD) = {100 * risk:.3g} %\n")
    try:
        bed = case.bed(10)
        dvh = case.dvh("PTV", dose=bed)
        stream.write(f"  {'PTV':24s} {dvh.label('D95%[Gy]')} = {dvh.metric('D95%[Gy]'):6.2f}\n")
    except DoseCalcError as exc:
        stream.write(f"  PTV BED10 unavailable: {exc}\n")
    try:
        path = eq.write(Path(out) / "eqd2_ab2.5.dcm", inputs=[f.path for f in case.files])
        stream.write(f"  EQD2 RTDOSE (DoseType EFFECTIVE) written to {path}\n")
    except DoseCalcError as exc:
        stream.write(f"  EQD2 RTDOSE not written: {exc}\n")
