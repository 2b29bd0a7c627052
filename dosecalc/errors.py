"""The one error hierarchy of dosecalc.

Every error the engine raises on bad input derives from :class:`DoseCalcError`, so a
planning script can catch one type and the CLI can turn any of them into a single line
on stderr (exit 2).  Messages name the file, the DICOM attribute or the parameter, and
what was expected.
"""

from __future__ import annotations

from pathlib import Path


class DoseCalcError(Exception):
    """Base class of every error dosecalc raises on bad input or bad usage."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class DicomError(DoseCalcError):
    """A DICOM file is unreadable, incomplete, or holds values the engine cannot use."""


class TruncatedFileError(DicomError):
    """A DICOM file that ends before the data its headers declare (cut short in transfer).

    ``sop_class_uid`` is the SOP Class UID read before the cut, '' when the file ends
    before it."""

    def __init__(self, message: str, *, sop_class_uid: str = "", path: str | Path | None = None) -> None:
        self.sop_class_uid = sop_class_uid
        super().__init__(message, path=path)


class MissingAttributeError(DicomError):
    """A required DICOM attribute is absent or empty."""

    def __init__(self, attribute: str, *, path: str | Path | None = None, context: str = "") -> None:
        self.attribute = attribute
        extra = f" ({context})" if context else ""
        super().__init__(f"required attribute {attribute} is missing or empty{extra}", path=path)


class GeometryError(DicomError):
    """Geometry the engine does not support: oblique grids, non-uniform frames, non-axial contours."""


class ContourError(DicomError):
    """A contour that cannot form a closed planar polygon."""


class FrameOfReferenceError(DoseCalcError):
    """Dose, structures and CT do not share one frame of reference."""


class SelectionError(DoseCalcError):
    """Nothing to load, or several plans and no way to choose between them."""

    def __init__(self, message: str, *, candidates: list[str] | None = None, path=None) -> None:
        self.candidates = list(candidates or [])
        super().__init__(message, path=path)


class StructureNotFoundError(DoseCalcError, KeyError):
    """A structure name or number that the case does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class MetricSpecError(DoseCalcError, ValueError):
    """A DVH metric specification that does not follow the TG-263 syntax."""


class ParameterError(DoseCalcError, ValueError):
    """A parameter value outside its valid range (alpha/beta <= 0, fractions < 1, ...)."""


class ProtocolError(DoseCalcError):
    """A protocol file that does not follow the schema."""


class OutputError(DoseCalcError):
    """An output that cannot be written (would overwrite an input, unwritable folder...)."""


class DoseCalcWarning(UserWarning):
    """Base of dosecalc's warnings: what the command line prints as notes, raised as Python
    warnings for scripts and notebooks (the CLI silences them and prints its notes)."""


class LoadWarning(DoseCalcWarning):
    """A note of :func:`dosecalc.load` (also kept in ``case.notes``): a reading that was
    chosen, a file that was skipped, an attribute that disagreed with another."""
