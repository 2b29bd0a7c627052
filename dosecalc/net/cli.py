"""Command-line options of a DICOMweb source, shared by the commands that read one."""

from __future__ import annotations

import sys

from ..errors import ParameterError
from . import is_url
from .dicomweb import fetch_cohort, parse_headers


def register_source(p) -> None:
    """``--study``, ``--since``, ``--header``, ``--cache`` (for a DICOMweb ROOT only)."""
    g = p.add_argument_group("DICOMweb source (ROOT is http(s)://HOST:PORT/dicom-web)")
    g.add_argument("--study", action="append", default=[], metavar="UID",
                   help="only this StudyInstanceUID (repeatable)")
    g.add_argument("--since", default=None, metavar="DATE", help="only studies with StudyDate >= DATE (YYYY-MM-DD)")
    g.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="HTTP header for every request, e.g. 'Authorization: Bearer TOKEN' (repeatable)")
    g.add_argument("--cache", default=None, metavar="DIR",
                   help="instance cache (default $DOSECALC_CACHE or ~/.cache/dosecalc)")


def resolve_root(args) -> str:
    """``args.root`` itself for a folder; for a DICOMweb URL the materialised cohort folder."""
    if not is_url(args.root):
        used = [f"--{n}" for n in ("study", "since", "header", "cache") if getattr(args, n, None)]
        if used:
            raise ParameterError(f"{', '.join(used)} apply to a DICOMweb ROOT (http://...), not to folder {args.root}")
        return args.root
    return str(fetch_cohort(args.root, studies=args.study, since=args.since,
                            headers=parse_headers(args.header), cache=args.cache, stream=sys.stderr))
