"""The ``dosecalc`` command line: discovers sub-commands and turns errors into one line.

Exit codes: 0 success, 1 a protocol constraint failed (``check``, ``batch``) or a patient is
not eligible (``eligibility``), 2 bad input or usage, 3 nothing failed but something required
could not be evaluated (``check``, ``batch``, ``eligibility``).
Errors print ONE line on stderr naming the file and the problem; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import gc
import sys
import warnings

from . import __version__, commands
from .errors import DoseCalcError, DoseCalcWarning
from .textsafe import one_line

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3

# Commands whose process outlives one job (a node, a cohort): the cyclic garbage collector
# stays on for them (see console).
LONG_RUNNING = frozenset({"listen", "batch"})


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints usage; keep one line, exit 2
        message = one_line(message)
        sys.stderr.write(f"dosecalc {self.prog.split(' ', 1)[-1]}: error: {message}\n"
                         if " " in self.prog else f"dosecalc: error: {message}\n")
        sys.exit(EXIT_BAD_INPUT)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser.  ``command``: register the arguments of that command only (the
    others are listed with their help line): a command's ``register`` may import what
    only that command needs (``--scheduler``'s Dask, ``batch``'s DICOMweb source), and
    ``dosecalc dvh`` or ``dosecalc --help`` should not pay for it.  None: every command."""
    parser = _Parser(prog="dosecalc", description="DVHs, BED/EQD2 and liver-SBRT protocol checks "
                     "for DICOM RT dose plans. Dose in Gy, volume in cc, coordinates in mm.")
    parser.add_argument("--version", action="version", version=f"dosecalc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in commands.command_modules():
        # argparse %-formats help strings; metric names such as D95% must stay literal
        p = sub.add_parser(mod.NAME, help=mod.HELP.replace("%", "%%"),
                           description=getattr(mod, "DESCRIPTION", mod.HELP))
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks on error")
        if command is None or command == mod.NAME:
            mod.register(p)
        p.set_defaults(_run=mod.run)
    return parser


def _command_in(argv: list[str]) -> str:
    """The sub-command named in ``argv``: its first word that is not an option (the
    top-level options take no value).  "" when there is none (``dosecalc --help``)."""
    for word in argv:
        if word == "--":
            break
        if not word.startswith("-"):
            return word
    return ""


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # names that are not valid UTF-8 (surrogate escapes) print as \xNN, never a traceback
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    parser = build_parser(_command_in(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    debug = getattr(args, "debug", False)
    if not debug:
        def warning_line(message, category=None, filename=None, lineno=None, file=None, line=None):
            # a physicist reads "warning: <what>", not a source file and line of dosecalc
            sys.stderr.write(f"dosecalc {args.command}: warning: {' '.join(str(message).split())}\n")

        warnings.showwarning = warning_line
    # Commands print the notes themselves (loader notes, coverage); the Python warnings
    # that carry them for scripts would repeat them on stderr.
    warnings.simplefilter("ignore", DoseCalcWarning)
    try:
        return int(args._run(args) or 0)
    except DoseCalcError as exc:
        if debug:
            raise
        sys.stderr.write(f"dosecalc {args.command}: error: {one_line(exc)}\n")
        return EXIT_BAD_INPUT
    except OSError as exc:  # a file system refusing (no space, file-size limit, permission)
        if debug:
            raise
        where = f"{one_line(exc.filename)}: " if exc.filename else ""
        sys.stderr.write(f"dosecalc {args.command}: error: {where}{one_line(exc.strerror or exc)}\n")
        return EXIT_BAD_INPUT
    except RecursionError:
        if debug:
            raise
        sys.stderr.write(f"dosecalc {args.command}: error: input nested too deep to read\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("dosecalc: interrupted\n")
        return 130


def console() -> int:
    """The ``dosecalc`` process (console script, ``python -m dosecalc``): :func:`main` on
    its command line, the process exiting after it.

    A process that runs one job and exits keeps what it makes (modules, numba's typing
    tables, the case) until then, so the cyclic collector's passes over it are waste:
    0.4-0.5 s CPU of a one-shot ``dosecalc dvh`` of the SRS export (full collections in
    numba's import and set-up, while reading the RTSTRUCT, and at exit), ~0.02 s in a warm
    process.  It stays off for such a job and what was made is frozen at the end (no full
    pass at exit); ``listen`` and ``batch`` outlive one job and keep it.  :func:`main`
    called from a script is unchanged.
    """
    one_job = _command_in(sys.argv[1:]) not in LONG_RUNNING
    if one_job:
        gc.disable()
    try:
        return main()
    finally:
        if one_job:
            gc.freeze()
            gc.enable()  # frozen objects are never examined again
