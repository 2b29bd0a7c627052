"""Liver-SBRT protocol checks: protocols as TOML data, structure matching, evaluation,
liver function and reports.

* :func:`load_protocol` (``schema``): built-in id or TOML file -> validated Protocol.
* :func:`check` (``evaluate``): Case + Protocol -> Report with one verdict per constraint.
* ``liver_function``: Child-Pugh, ALBI, Cockcroft-Gault, laboratory eligibility.
* ``report``: terminal table, JSON, CSV and a self-contained HTML report.
"""

from __future__ import annotations

from .evaluate import Report, check
from .schema import Protocol, builtin_ids, load_protocol

__all__ = ["Protocol", "Report", "builtin_ids", "check", "load_protocol"]
