"""``python -m dosecalc`` runs the command-line interface."""

import sys

from .cli import console

sys.exit(console())
