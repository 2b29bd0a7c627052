"""Plans from where they live: a DICOM node (:mod:`.listen`) and DICOMweb archives
(:mod:`.dicomweb`).

Both need the optional ``net`` extra (``pip install 'dosecalc[net]'``): pynetdicom for
the DICOM upper layer and DIMSE services, dicomweb-client for QIDO-RS and WADO-RS.
"""

from __future__ import annotations

from ..errors import ParameterError


def require(module: str, what: str):
    """Import an optional dependency or raise a one-line :class:`ParameterError` naming
    the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ParameterError(f"{what} needs {module}: pip install 'dosecalc[net]'") from exc


def is_url(path) -> bool:
    """True for an ``http://`` or ``https://`` address (a DICOMweb source)."""
    return isinstance(path, str) and path[:8].lower().startswith(("http://", "https://"))
