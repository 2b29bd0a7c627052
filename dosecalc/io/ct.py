"""CT series -> :class:`~dosecalc.model.CTSeries` (geometry from headers; no pixels read)."""

from __future__ import annotations

from ..errors import DicomError
from ..model import CTSeries
from .scan import Header


def ct_series(headers: list[Header]) -> tuple[CTSeries, list[str]]:
    """Geometry of one CT series from the scanned slice headers.

    Parameters
    ----------
    headers : list of Header
        Scanned headers of the slices of one series (same SeriesInstanceUID).

    Returns
    -------
    (CTSeries, notes)
        Slices sorted by increasing patient z (mm); notes on irregularities (mixed
        matrix sizes, duplicate slice positions).
    """
    if not headers:
        raise DicomError("a CT series needs at least one slice")
    notes: list[str] = []
    slices = []
    for h in headers:
        if h.image_position is None or len(h.image_position) != 3:
            notes.append(f"{h.path}: CT slice without a valid ImagePositionPatient; left out of the CT geometry")
            continue
        slices.append((h.image_position[2], h))
    slices.sort(key=lambda t: t[0])
    z = tuple(float(t[0]) for t in slices)
    if len(set(round(v, 3) for v in z)) != len(z):
        notes.append(f"CT series {headers[0].series_instance_uid}: several slices share one z position")
    first = slices[0][1] if slices else headers[0]
    shapes = {(h.rows, h.columns) for _, h in slices}
    if len(shapes) > 1:
        notes.append(f"CT series {headers[0].series_instance_uid}: slices of different sizes {sorted(shapes)}")
    ps = first.pixel_spacing if first.pixel_spacing and len(first.pixel_spacing) == 2 else (0.0, 0.0)
    series = CTSeries(
        series_instance_uid=str(first.series_instance_uid or ""),
        n_slices=len(slices),
        z_positions_mm=z,
        rows=int(first.rows or 0),
        columns=int(first.columns or 0),
        pixel_spacing_mm=(float(ps[0]), float(ps[1])),
        frame_of_reference_uid=first.frame_of_reference_uid,
        source_paths=tuple(h.path for _, h in slices),
    )
    return series, notes
