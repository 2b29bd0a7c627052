"""The planning system's own DVHs, stored in the RTDOSE (RT DVH module, PS3.3 C.8.8.4).

Reading
-------
Each DVHSequence item references one ROI (DVHReferencedROISequence) and holds
``DVHData``: pairs (bin width, volume) with doses in ``DVHDoseScaling`` x DoseUnits
(GY, CGY; RELATIVE needs a prescription) and volumes in DVHVolumeUnits (CM3, PERCENT;
PER_U is refused as unusable).

* CUMULATIVE: the volume of bin i is the volume receiving at least its lower edge (the
  first value is the whole volume).  DIFFERENTIAL: the volume of bin i lies inside the
  bin; the cumulative curve is the sum from the top down.
* Between edges the curve is taken as linear, so a stored DVH becomes a
  :class:`~dosecalc.dvh.DVH` whose TG-263 metrics (D95%, V20Gy, ...) are read exactly as
  ours.  PERCENT volumes carry no absolute volume: such a DVH reports volumes in percent
  of the structure (cc metrics are NaN unless the volume is supplied).

Min, max and mean
-----------------
The curve knows Min and Max to one bin only, so the stored DVHMinimumDose,
DVHMaximumDose and DVHMeanDose are preferred, once their unit is **decided from the
data**: the stored maximum is compared with the curve's top edge as Gy, as cGy, and as %
of the prescription (some Eclipse exports write them in % of the prescription although
DoseUnits says GY).  The unit whose reading lands within two bins (and 2 %) of the curve
wins; when none does, the attributes are not used and the curve's values are, with a
note.  The unit decided is kept in ``attribute_unit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .dvh import DVH
from .errors import DicomError
from .io.scan import guarded, read_dataset

_DOSE_UNITS = {"GY": 1.0, "CGY": 0.01}


@dataclass(frozen=True, eq=False)
class StoredDVH:
    """One planning-system DVH of the RTDOSE.

    Attributes
    ----------
    roi_number : int
        ReferencedROINumber.
    dvh_type : str
        ``CUMULATIVE`` or ``DIFFERENTIAL`` (as stored).
    dose_units, volume_units : str
        DoseUnits (GY, CGY, RELATIVE) and DVHVolumeUnits (CM3, PERCENT).
    edges_gy : ndarray
        Bin edges in Gy (n + 1 values from 0).
    cumulative : ndarray
        Volume receiving at least each edge, in ``volume_units`` (n + 1 values).
    stated : dict
        DVHMinimumDose / DVHMaximumDose / DVHMeanDose as stored (unit not assumed).
    attribute_unit : str
        ``"Gy"``, ``"cGy"``, ``"% of prescription"``, ``"unknown"`` or ``"absent"``.
    min_gy, max_gy, mean_gy : float
        From the attributes when their unit is established, else from the curve.
    notes : tuple of str
    """

    roi_number: int
    dvh_type: str
    dose_units: str
    volume_units: str
    edges_gy: np.ndarray = field(repr=False)
    cumulative: np.ndarray = field(repr=False)
    stated: dict
    attribute_unit: str
    min_gy: float
    max_gy: float
    mean_gy: float
    notes: tuple[str, ...] = ()

    @property
    def volume(self) -> float:
        """Whole volume in ``volume_units`` (cc for CM3, 100 for PERCENT)."""
        return float(self.cumulative[0]) if self.cumulative.size else 0.0

    @property
    def bin_gy(self) -> float:
        return float(np.median(np.diff(self.edges_gy))) if self.edges_gy.size > 1 else math.nan

    def to_dvh(self, name: str = "", *, volume_cc: float | None = None,
               prescription_gy: float | None = None) -> DVH:
        """This curve as a :class:`DVH` (metrics as ours).  PERCENT volumes are scaled to
        ``volume_cc`` when given; without it the volume unit stays percent (cc metrics
        are then in % and labelled so in ``settings``)."""
        scale = 1.0
        unit = "cc"
        if self.volume_units == "PERCENT":
            if volume_cc is not None and self.volume > 0:
                scale = volume_cc / self.volume
            else:
                unit = "% of the structure (no absolute volume stored)"
        d, v = self.edges_gy, self.cumulative * scale
        total = float(v[0]) if v.size else 0.0
        if total <= 0:
            return DVH.empty(name, "the stored DVH holds no volume", prescription_gy=prescription_gy,
                             settings={"source": "planning system (DVHSequence)"})
        # keep one point at full volume (the Min edge) and one at zero (the Max edge)
        full = np.nonzero(v >= total * (1 - 1e-12))[0]
        zero = np.nonzero(v <= 0.0)[0]
        lo = int(full[-1]) if full.size else 0
        hi = int(zero[0]) if zero.size else v.size - 1
        d, v = d[lo:hi + 1], np.minimum.accumulate(v[lo:hi + 1])
        curve_v = np.ascontiguousarray(v[::-1], dtype=np.float64)
        curve_d = np.ascontiguousarray(d[::-1], dtype=np.float64)
        curve_v.setflags(write=False)
        curve_d.setflags(write=False)
        return DVH(name=name, volume_cc=total, outside_cc=0.0, prescription_gy=prescription_gy,
                   quantity="dose",
                   settings={"source": "planning system (DVHSequence)", "volume_unit": unit,
                             "bin_gy": self.bin_gy, "attribute_unit": self.attribute_unit},
                   curve_volume_cc=curve_v, curve_dose_gy=curve_d, covered_cc=total,
                   _min_gy=self.min_gy, _max_gy=self.max_gy, _mean_gy=self.mean_gy)


def curve_values(edges_gy: np.ndarray, cumulative: np.ndarray) -> dict:
    """Min, max and mean (Gy) of a cumulative curve, linear between edges.

    Mean = (1/V) x integral of V(d) dd (trapezoids); Min / Max = the edges where the curve
    leaves the full volume / reaches zero (known to one bin)."""
    d, v = edges_gy, cumulative
    total = float(v[0]) if v.size else 0.0
    if total <= 0:
        return {"min_gy": math.nan, "max_gy": math.nan, "mean_gy": math.nan}
    mean = float(np.sum(np.diff(d) * 0.5 * (v[:-1] + v[1:])) / total)
    below = np.nonzero(v < total * (1 - 1e-9))[0]
    dmin = float(d[below[0] - 1]) if below.size and below[0] > 0 else 0.0
    pos = np.nonzero(v > 0)[0]
    dmax = float(d[pos[-1] + 1]) if pos.size and pos[-1] + 1 < d.size else float(d[-1])
    return {"min_gy": dmin, "max_gy": dmax, "mean_gy": mean}


def attribute_unit(stated: dict, curve: dict, bin_gy: float, prescription_gy: float | None) -> str:
    """Which unit DVHMaximumDose (and its siblings) are in, judged against the curve."""
    mx = stated.get("DVHMaximumDose")
    if mx is None or not math.isfinite(curve.get("max_gy", math.nan)):
        return "absent"
    target = curve["max_gy"]
    tol = max(2.0 * (bin_gy if math.isfinite(bin_gy) else 0.0), 0.02 * target, 1e-6)
    readings = [("Gy", mx), ("cGy", mx / 100.0)]
    if prescription_gy:
        readings.append(("% of prescription", mx * prescription_gy / 100.0))
    fits = [u for u, val in readings if abs(val - target) <= tol]
    if len(fits) == 1:
        return fits[0]
    if len(fits) > 1:  # e.g. a 100 Gy prescription: % and Gy coincide
        return fits[0] if fits[0] == "Gy" else "unknown"
    return "unknown"


def _to_gy(value: float, unit: str, prescription_gy: float | None) -> float:
    if unit == "Gy":
        return value
    if unit == "cGy":
        return value / 100.0
    return value * (prescription_gy or math.nan) / 100.0


def read_dvh_sequence(ds, path: str, prescription_gy: float | None = None) -> tuple[list[StoredDVH], list[str]]:
    """The DVHSequence of an RTDOSE dataset as :class:`StoredDVH` records, and notes."""
    out: list[StoredDVH] = []
    notes: list[str] = []
    for k, item in enumerate(ds.get("DVHSequence") or [], start=1):
        refs = item.get("DVHReferencedROISequence") or []
        if len(refs) != 1 or refs[0].get("ReferencedROINumber") is None:
            notes.append(f"{path}: DVHSequence item {k} references {len(refs)} ROIs; skipped")
            continue
        roi = int(refs[0].ReferencedROINumber)
        kind = str(item.get("DVHType", "") or "").strip().upper()
        units = str(item.get("DoseUnits", "") or "").strip().upper()
        vunits = str(item.get("DVHVolumeUnits", "") or "").strip().upper()
        if kind not in ("CUMULATIVE", "DIFFERENTIAL"):
            notes.append(f"{path}: DVH of ROI {roi}: DVHType {kind!r} is neither CUMULATIVE nor DIFFERENTIAL; skipped")
            continue
        if vunits not in ("CM3", "PERCENT"):
            notes.append(f"{path}: DVH of ROI {roi}: DVHVolumeUnits {vunits!r} (expected CM3 or PERCENT); skipped")
            continue
        if units in _DOSE_UNITS:
            factor = _DOSE_UNITS[units]
        elif units == "RELATIVE" and prescription_gy:
            factor = prescription_gy
        else:
            notes.append(f"{path}: DVH of ROI {roi}: DoseUnits {units!r} cannot be read as Gy"
                         + (" without a prescription" if units == "RELATIVE" else "") + "; skipped")
            continue
        try:
            scale = float(item.get("DVHDoseScaling", 1.0) or 1.0)
            data = np.asarray([float(x) for x in item.DVHData], dtype=np.float64)
        except (TypeError, ValueError, AttributeError) as exc:
            raise DicomError(f"DVH of ROI {roi}: DVHData / DVHDoseScaling are not numbers ({exc})",
                             path=path) from exc
        if data.size % 2 or data.size == 0 or not np.all(np.isfinite(data)) or scale <= 0:
            raise DicomError(f"DVH of ROI {roi}: DVHData must hold (bin width, volume) pairs of finite "
                             f"numbers and DVHDoseScaling must be > 0", path=path)
        pairs = data.reshape(-1, 2)
        width = pairs[:, 0] * scale * factor
        vol = pairs[:, 1]
        # Eclipse writes rounding crumbs such as -2.9e-13 cc in the tail: clip those to 0;
        # anything larger is a broken curve
        crumb = max(1e-9 * float(np.max(np.abs(vol))), 1e-9)
        if np.any(width < 0) or np.any(vol < -crumb):
            raise DicomError(f"DVH of ROI {roi}: negative bin width or volume in DVHData "
                             f"(min volume {float(vol.min()):.3g}, min width {float(width.min()):.3g})",
                             path=path)
        vol = np.maximum(vol, 0.0)
        if kind == "DIFFERENTIAL":
            vol = np.cumsum(vol[::-1])[::-1]
        edges = np.concatenate([[0.0], np.cumsum(width)])
        cumulative = np.concatenate([vol, [0.0]])
        stated = {key: float(item.get(key)) for key in ("DVHMinimumDose", "DVHMaximumDose", "DVHMeanDose")
                  if item.get(key) is not None and str(item.get(key)).strip() != ""}
        curve = curve_values(edges, cumulative)
        bin_gy = float(np.median(width)) if width.size else math.nan
        unit = attribute_unit(stated, curve, bin_gy, prescription_gy)
        values = dict(curve)
        rec_notes = []
        if unit in ("Gy", "cGy", "% of prescription"):
            for key, attr in (("min_gy", "DVHMinimumDose"), ("max_gy", "DVHMaximumDose"),
                              ("mean_gy", "DVHMeanDose")):
                if attr in stated:
                    values[key] = _to_gy(stated[attr], unit, prescription_gy)
            if unit != "Gy":
                rec_notes.append(f"DVHMinimum/Maximum/MeanDose are in {unit} (judged against the curve), "
                                 f"not in the DoseUnits {units}")
        elif unit == "unknown":
            rec_notes.append(f"DVHMaximumDose {stated.get('DVHMaximumDose')} fits the curve's maximum "
                             f"{curve['max_gy']:.4g} Gy in no known unit: min/max/mean taken from the curve")
        out.append(StoredDVH(roi_number=roi, dvh_type=kind, dose_units=units, volume_units=vunits,
                             edges_gy=edges, cumulative=cumulative, stated=stated, attribute_unit=unit,
                             min_gy=values["min_gy"], max_gy=values["max_gy"], mean_gy=values["mean_gy"],
                             notes=tuple(rec_notes)))
    return out, notes


def case_stored_dvhs(case) -> dict:
    """The planning system's DVHs of a case's RTDOSE, keyed by ROI name (``"Name (ROI n)"``
    when names repeat, ``"ROI n"`` when the number is not in the structure set)."""
    grid = case.dose
    if grid is None or not grid.source_path:
        return {}
    path = grid.source_path
    ds = read_dataset(path, stop_before_pixels=True)
    records, _ = guarded("RT Dose DVHSequence", path, read_dvh_sequence, ds, path, case.prescription_gy)
    names = {s.number: s.name for s in case.structures}
    counts: dict[str, int] = {}
    for s in case.structures:
        counts[s.name] = counts.get(s.name, 0) + 1
    out = {}
    for r in records:
        name = names.get(r.roi_number)
        key = f"ROI {r.roi_number}" if name is None else (
            f"{name} (ROI {r.roi_number})" if counts.get(name, 0) > 1 else name)
        out[key] = r
    return out
