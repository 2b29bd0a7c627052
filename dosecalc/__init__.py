"""dosecalc: DVHs, BED/EQD2 and liver-SBRT protocol checks for DICOM RT dose plans.

Typical use from a planning script::

    import dosecalc
    case = dosecalc.load("export_dir")
    dvh = case.dvh("Liver - GTV")
    dvh.metric("CV15Gy[cc]")

Names are imported lazily so that ``dosecalc --help`` and small scripts start fast.
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"

# The kernels live in ./kernels at the top of the repository and are installed as the
# subpackage dosecalc.kernels (pyproject's package-dir; normal and editable installs need
# nothing more).  Run from a source checkout (`python -m dosecalc` in the repository), the
# package is ./dosecalc: its search path also reaches the repository root, so
# `dosecalc.kernels` is found as ./kernels by the ordinary import system.
_here = os.path.dirname(os.path.abspath(__file__))
if not os.path.isdir(os.path.join(_here, "kernels")) and os.path.isfile(
        os.path.join(os.path.dirname(_here), "kernels", "__init__.py")):
    __path__.append(os.path.dirname(_here))  # noqa: F821  (a package's __path__)



# public name -> module that defines it
_EXPORTS = {
    "load": "dosecalc.case",
    "Case": "dosecalc.case",
    "DoseGrid": "dosecalc.model",
    "Structure": "dosecalc.model",
    "StructureSet": "dosecalc.model",
    "ContourPlane": "dosecalc.model",
    "Plan": "dosecalc.model",
    "DVH": "dosecalc.dvh",
    "geud": "dosecalc.ntcp",
    "ntcp_lkb": "dosecalc.ntcp",
    "sum_courses": "dosecalc.radiobiology",
    "sum_plans": "dosecalc.plansum",
    "dose_difference": "dosecalc.plansum",
    "compare": "dosecalc.comparison",
    "plot": "dosecalc.plot",
    "check": "dosecalc.protocols.evaluate",
    "load_protocol": "dosecalc.protocols.schema",
    "batch": "dosecalc.cohort",
    "errors": "dosecalc.errors",
    "phantom": "dosecalc.phantom",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dosecalc' has no attribute {name!r}")
    mod = importlib.import_module(module)
    # a module named like the attribute (dosecalc.phantom) is the value itself, unless it
    # defines that attribute (dosecalc.case defines load())
    value = getattr(mod, name) if hasattr(mod, name) else mod
    globals()[name] = value
    return value


def __dir__():
    return __all__
