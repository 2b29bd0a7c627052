"""The case a planning script works with: the loaded data plus the operations on it.

:class:`Case` is :class:`~dosecalc.model.CaseData` (what the loader reads) with the
operations of the analysis layers below it (DVHs, masks, derived structures, BED/EQD2)
and an explicit :class:`~dosecalc.mask_cache.MaskCache`.  :func:`load` is the public
``dosecalc.load``: :func:`dosecalc.io.load.load` reads plain data, this wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .analysis import case_dvh, case_dvhs, case_mask
from .derived import case_structure
from .io.load import load as load_data
from .mask_cache import MaskCache
from .model import CaseData, DoseGrid
from .radiobiology import case_bed, case_eqd2
from .stored_dvh import case_stored_dvhs

__all__ = ["Case", "load"]


@dataclass(frozen=True, eq=False)
class Case(CaseData):
    """One plan's dose, structures, plan and CT geometry, with the analyses.

    Attributes
    ----------
    mask_cache : MaskCache
        Masks made for this case, shared by its DVHs of any dose of the same geometry
        (physical and EQD2, say), bounded in bytes.
    """

    mask_cache: MaskCache = field(default_factory=MaskCache, repr=False, compare=False)

    @classmethod
    def of(cls, data: CaseData) -> "Case":
        """The Case of loaded data (itself when it already is one)."""
        if isinstance(data, Case):
            return data
        return cls(**{f.name: getattr(data, f.name) for f in fields(CaseData)})

    def structure(self, expression: str | int):
        """A structure by name or number, or a derived one such as ``"Liver - GTV"``
        (see :mod:`dosecalc.derived`)."""
        return case_structure(self, expression)

    def mask(self, name, **options):
        """Fractional voxel mask of a structure on the dose grid (see
        :func:`dosecalc.analysis.case_mask`)."""
        return case_mask(self, name, **options)

    def dvh(self, name, **options):
        """DVH of one structure or derived expression (see :func:`dosecalc.analysis.case_dvh`).

        Examples
        --------
        ``export_dir`` holds the synthetic export (:func:`dosecalc.phantom.write_case`).

        >>> import dosecalc
        >>> case = dosecalc.load(export_dir)
        >>> liver = case.dvh("Liver - GTV1")            # derived structure, exact masks
        >>> liver.quantity, liver.metric("Volume[cc]") > 1000, liver.metric("Max[Gy]") > 20
        ('dose', True, True)
        """
        return case_dvh(self, name, **options)

    def dvhs(self, names=None, **options):
        """DVHs of several structures, by default every one with contours."""
        return case_dvhs(self, names, **options)

    def stored_dvhs(self):
        """The planning system's own DVHs from the RTDOSE's DVHSequence, keyed by ROI name
        (see :mod:`dosecalc.stored_dvh`); empty when the RTDOSE stores none."""
        return case_stored_dvhs(self)

    def eqd2(self, alpha_beta, fractions=None, model="lq", transition_dose=None) -> DoseGrid:
        """Voxel-wise EQD2 grid (see :func:`dosecalc.radiobiology.case_eqd2`).

        Examples
        --------
        >>> import dosecalc
        >>> case = dosecalc.load(export_dir)             # the synthetic export, 5 fractions
        >>> eqd2 = case.eqd2(2.5)
        >>> eqd2.quantity, eqd2.dose_type, eqd2.model["fractions"]
        ('EQD2Gy(a/b=2.5)', 'EFFECTIVE', 5)
        >>> case.dvh("GTV1", dose=eqd2).label("Mean[Gy]")
        'Mean[EQD2Gy(a/b=2.5)]'
        """
        return case_eqd2(self, alpha_beta, fractions=fractions, model=model, transition_dose=transition_dose)

    def bed(self, alpha_beta, fractions=None, model="lq", transition_dose=None) -> DoseGrid:
        """Voxel-wise BED grid (see :func:`dosecalc.radiobiology.case_bed`)."""
        return case_bed(self, alpha_beta, fractions=fractions, model=model, transition_dose=transition_dose)


def load(*paths, plan: str | None = None, prescription_gy: float | None = None,
         dose_is: str | None = None, keep_relative: bool = False) -> Case:
    """Load one plan's dose, structures, plan and CT geometry (``dosecalc.load``).

    Parameters and errors as :func:`dosecalc.io.load.load`, which reads the files; the
    result is a :class:`Case`.

    Examples
    --------
    ``export_dir`` is a folder of a DICOM RT export (here the synthetic one written by
    :func:`dosecalc.phantom.write_case`; folders are searched recursively):

    >>> import dosecalc
    >>> case = dosecalc.load(export_dir)
    >>> case.plan.fractions, case.prescription_gy, len(case.structures)
    (5, 40.0, 21)
    """
    return Case.of(load_data(*paths, plan=plan, prescription_gy=prescription_gy, dose_is=dose_is,
                             keep_relative=keep_relative))
