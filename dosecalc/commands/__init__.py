"""Sub-commands of the ``dosecalc`` CLI, one module each.

A command module defines:

* ``NAME`` (str) and ``HELP`` (one line), and ``ORDER`` (int, position in ``--help``);
* ``register(parser)``: add its arguments to its ``argparse`` sub-parser;
* ``run(args) -> int``: do the work and return the exit code;
* optionally ``demo(case, out, stream)``: its section of ``dosecalc demo``, called in
  ``ORDER`` on the synthetic case (``out`` is the demo's output folder).

The CLI discovers the modules in this package (:func:`command_modules`), so adding a
command touches no other file.

Imports: a command module imports the domain (case, protocols, batch, phantom...) inside
``run()`` / ``demo()``, not at its top, because ``dosecalc --help`` imports every command
module: measured on the 2-core machine, ``dosecalc --help`` takes 0.6-0.8 s this way and
2.7-3.1 s with those imports at the top (numba, pydicom, scipy).  Cheap modules (errors,
io.atomic, the vocabulary) are imported at the top.  The CLI calls ``register()`` only
for the command being run (``cli.build_parser``), so what a ``register()`` imports (the
DICOMweb source options of ``batch``) is paid by that command only: ``dosecalc --help``
0.23-0.26 s, measured at load average 8-9 on the 2-core machine.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["command_modules"]


def command_modules():
    """The command modules of this package, in their declared order (``ORDER``, ``NAME``)."""
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))
