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
import sys

__version__ = "0.1.0"


def _map_source_kernels() -> None:
    """Make ``dosecalc.kernels`` importable from a source checkout.

    Installed, the kernels are the subpackage ``dosecalc/kernels``.  Run from the
    repository root (``python -m dosecalc``), Python imports ``./dosecalc`` while the
    kernels sit in ``./kernels``: point the subpackage there, as the installed layout does.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(os.path.dirname(here), "kernels")
    if "dosecalc.kernels" in sys.modules or os.path.isdir(os.path.join(here, "kernels")):
        return
    init = os.path.join(src, "__init__.py")
    if os.path.isfile(init):
        import importlib.util

        spec = importlib.util.spec_from_file_location("dosecalc.kernels", init, submodule_search_locations=[src])
        module = importlib.util.module_from_spec(spec)
        sys.modules["dosecalc.kernels"] = module
        spec.loader.exec_module(module)


_map_source_kernels()

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
    "check": "dosecalc.protocols.evaluate",
    "load_protocol": "dosecalc.protocols.schema",
    "batch": "dosecalc.batch",
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
