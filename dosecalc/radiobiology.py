"""Voxel-wise BED / EQD2 grids (LQ and LQ-L), alpha/beta maps, course summation.

Every conversion is applied to each voxel's total physical dose, never to a summary
value (``docs/REFERENCES.md``, section 5).  Formulas, with n fractions of d = D / n Gy:

* LQ: ``BED = D (1 + d / (a/b))``, ``EQD2 = BED / (1 + 2 / (a/b))``.
* LQ-L (Astrahan 2008): LQ up to a transition dose per fraction d_T, then the LQ tangent:
  ``BED / n = d_T (1 + d_T/(a/b)) + (d - d_T)(1 + 2 d_T/(a/b))`` for ``d > d_T``.  d_T is
  always an explicit parameter (one common choice is d_T = 2 a/b; none is assumed).

Rules this module applies (and records in every grid it makes):

* **Summation type.**  A grid with DoseSummationType ``FRACTION`` holds the dose of ONE
  fraction: the total is ``n x grid``.  ``PLAN`` holds the course total.  ``MULTI_PLAN``
  (a sum of plans) is converted as if it were one course of n equal fractions, with a
  :class:`RadiobiologyWarning`.  Any other type (``BEAM``, ``BRACHY``, ``*_SESSION``,
  ``CONTROL_POINT``, ``RECORD``) is partial dose: LQ is not additive, so it is refused.
* **alpha/beta maps.**  ``{"GTV": 10, "Liver - GTV": 2.5, "*": 3}``: keys are structure
  names or derived expressions (:mod:`dosecalc.derived`); ``"*"`` (required) applies to
  every voxel outside all listed structures.  A voxel belongs to a structure when at
  least half of its volume is inside (``case.mask(name, supersample=1)``, the dose grid's
  own lattice).  Where listed structures overlap, **the first listed wins**: mapping order
  is the user's priority (list the GTV before the Liver and the GTV keeps a/b 10).
  "Lowest a/b" was rejected because it is not conservative in general (below 2 Gy per
  fraction a lower a/b gives a LOWER EQD2) and silently overrides an explicit tumour a/b.
  Overlaps are never silent: they are warned about and listed in ``grid.model["overlaps"]``
  and ``grid.description``.
* **Outputs** are EFFECTIVE :class:`~dosecalc.model.DoseGrid` objects with ``quantity``
  ``"EQD2Gy(a/b=2.5)"`` / ``"BED(a/b=10)"`` (``a/b=map`` for a map), summation type
  ``PLAN`` (course total), and a :class:`~dosecalc.provenance.DoseProvenance` record
  (``model``; it reads like the dict it replaced and ``to_dict()`` is JSON-serialisable).

The work lives in four modules, one job each, all re-exported here:
:mod:`.radiobiology_lq` (LQ / LQ-L of numbers and grids), :mod:`.radiobiology_map`
(a/b maps from structures), :mod:`.radiobiology_case` (a case's converted grid and
samples), :mod:`.radiobiology_sum` (course sums).
"""

from __future__ import annotations

from .radiobiology_case import case_bed, case_eqd2, converted_samples
from .radiobiology_lq import (  # noqa: F401  (the private checks: their old home)
    RadiobiologyWarning, _check_alpha_beta, _check_fractions, _check_transition, bed, bed_grid, convert_grid,
    dose_for_bed, dose_for_eqd2, eqd2, eqd2_grid, parse_model, quantity_label)
from .radiobiology_map import AlphaBetaMap, alpha_beta_map
from .radiobiology_sum import sum_courses

__all__ = [
    "RadiobiologyWarning",
    "bed", "eqd2", "dose_for_bed", "dose_for_eqd2",
    "bed_grid", "eqd2_grid", "convert_grid",
    "AlphaBetaMap", "alpha_beta_map",
    "case_bed", "case_eqd2", "sum_courses",
    "quantity_label", "parse_model", "converted_samples",
]

