"""Sub-commands of the ``dosecalc`` CLI, one module each.

A command module defines:

* ``NAME`` (str) and ``HELP`` (one line), and ``ORDER`` (int, position in ``--help``);
* ``register(parser)``: add its arguments to its ``argparse`` sub-parser;
* ``run(args) -> int``: do the work and return the exit code;
* optionally ``demo(case, out, stream)``: its section of ``dosecalc demo``, called in
  ``ORDER`` on the synthetic case (``out`` is the demo's output folder).

The CLI discovers the modules in this package, so adding a command touches no other file.
"""
