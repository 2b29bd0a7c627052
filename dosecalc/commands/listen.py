"""``dosecalc listen``: a DICOM node that checks every plan the planning system sends."""

from __future__ import annotations

NAME = "listen"
ORDER = 96
HELP = "DICOM node: receive plans over DICOM (C-STORE) and check each against a protocol"
DESCRIPTION = (
    "A DICOM Storage SCP (answers C-ECHO) that accepts CT, RTSTRUCT, RTPLAN and RTDOSE, stores "
    "them under OUT/studies/<StudyInstanceUID>/ and, once a plan's RTPLAN, RTDOSE and RTSTRUCT "
    "have arrived and the association ended (or after --quiet seconds without a file), checks "
    "it against the protocol once per set of inputs: JSON, CSV and HTML reports in "
    "OUT/studies/<StudyInstanceUID>/reports/. One log line per event on stderr and in "
    "OUT/listen.log. Stops cleanly on SIGINT/SIGTERM. Needs dosecalc[net]."
)


def register(p) -> None:
    p.add_argument("--port", type=int, default=11112, help="TCP port (default 11112)")
    p.add_argument("--ae-title", default="DOSECALC", help="this node's AE title (default DOSECALC)")
    p.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--protocol", required=True, metavar="ID|FILE", help="built-in protocol id or TOML file")
    p.add_argument("--out", required=True, metavar="DIR", help="store and reports (created)")
    p.add_argument("--allow", action="append", default=[], metavar="AE[@HOST]",
                   help="admit only these callers (repeatable); others are refused at association")
    p.add_argument("--quiet", type=float, default=60.0, metavar="SECONDS",
                   help="evaluate a study idle this long even while its association is open (default 60)")
    p.add_argument("--fractions", type=int, default=None, metavar="N")
    p.add_argument("--child-pugh", default=None, metavar="CLASS", help="e.g. A5, A6, B7 (all plans)")
    from .check import add_matching_options

    add_matching_options(p)  # --map, --map-file as for check and batch


def run(args) -> int:
    import signal
    import threading

    from ..net.listen import Node, setup_logging
    from ..protocols.schema import load_protocol
    from .check import parse_mapping

    protocol = load_protocol(args.protocol)
    mapping = parse_mapping(args.map, args.map_file)
    setup_logging()
    node = Node(args.out, protocol, port=args.port, ae_title=args.ae_title, bind=args.bind,
                allow=args.allow, mapping=mapping, fractions=args.fractions,
                child_pugh=args.child_pugh, quiet_s=args.quiet)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        node.start()
        while not stop.wait(0.5):
            pass
    finally:
        node.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
