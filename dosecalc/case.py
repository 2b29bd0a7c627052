"""The case a planning script works with: the loaded data plus the operations on it.

:class:`Case` is :class:`~dosecalc.model.CaseData` (what the loader reads) with the
operations of the analysis layers below it (DVHs, masks, derived structures, BED/EQD2)
and an explicit :class:`~dosecalc.mask_cache.MaskCache`.  :func:`load` is the public
``dosecalc.load``: :func:`dosecalc.io.load.load` reads plain data, this wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .analysis import case_dvh, case_dvhs, case_mask
from .derived import DerivedStructure, case_structure
from .display import case_html, case_repr
from .dvh import DVH
from .io.load import load as load_data
from .mask_cache import MaskCache
from .masks import StructureMask
from .model import CaseData, DoseGrid, Structure
from .stored_dvh import StoredDVH, case_stored_dvhs
from .tables import case_dvh_table

if TYPE_CHECKING:  # pragma: no cover
    import pandas

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

    def structure(self, expression: "str | int | Structure | DerivedStructure") -> "Structure | DerivedStructure":
        """A structure by name, ROI number (``37`` or ``"37"``), the key ``"Name (ROI n)"``
        of an ROI whose name is shared, or a derived one such as ``"Liver - GTV"`` (see
        :mod:`dosecalc.derived`).

        Raises
        ------
        StructureNotFoundError
            No such ROI (the message lists the names) or an expression that does not parse.
        """
        return case_structure(self, expression)

    def mask(self, name: "str | int | Structure | DerivedStructure", **options: Any) -> StructureMask:
        """Fractional voxel mask of a structure on the dose grid (kept in ``mask_cache``).

        Parameters
        ----------
        name : str, int or Structure
            ROI name (case-insensitive), ROI number, ``"Name (ROI n)"`` key or derived
            expression, as for :meth:`dvh`.
        **options
            ``grid`` (a DoseGrid whose lattice to use, default ``case.dose``) and the mask
            options ``supersample``, ``end_cap``, ``interpolation`` (see
            :func:`dosecalc.analysis.case_mask`).

        Returns
        -------
        dosecalc.masks.StructureMask
            Fraction (0..1) of each cell inside the structure; ``volume_cc`` the whole
            volume (cc), ``outside_cc`` the part outside the dose grid (cc).

        Examples
        --------
        >>> import math, dosecalc
        >>> case = dosecalc.load(export_dir)
        >>> m = case.mask("GTV1")
        >>> inside_cc = float(m.fraction.sum()) * math.prod(m.spacing_mm) / 1000.0
        >>> abs(inside_cc + m.outside_cc - m.volume_cc) < 1e-9 * m.volume_cc   # fractions add up
        True
        """
        return case_mask(self, name, **options)

    def dvh(self, name: "str | int | Structure | DerivedStructure", **options: Any) -> DVH:
        """DVH of one structure, ROI or derived expression.

        Parameters
        ----------
        name : str, int or Structure
            ROI name (case-insensitive), ROI number (``37`` or ``"37"``), any key
            :meth:`dvhs` returns (``"Name (ROI n)"`` for ROIs sharing a name), or a
            derived expression (``"Liver - GTV"``, ``"GTV1 | GTV2"``; operators need
            spaces around them).
        **options
            ``dose`` (a DoseGrid; EQD2/BED grids give converted DVHs), ``prescription_gy``
            (Gy, for ``%`` metrics; default the plan's, for physical dose only), ``mode``,
            ``bin_gy`` (Gy), and the mask options ``supersample``, ``end_cap``,
            ``interpolation``; see :func:`dosecalc.analysis.case_dvh`.

        Returns
        -------
        DVH
            Volumes in cc, doses in Gy (or the grid's quantity).  A structure partly
            outside the dose grid gives a :class:`~dosecalc.dvh.CoverageWarning`; its
            metrics describe the covered part.

        Raises
        ------
        StructureNotFoundError
            No such structure (the message lists the names), or an ambiguous name.

        Examples
        --------
        ``export_dir`` holds the synthetic export (:func:`dosecalc.phantom.write_case`).

        >>> import dosecalc
        >>> case = dosecalc.load(export_dir)
        >>> liver = case.dvh("Liver - GTV1")            # derived structure, exact masks
        >>> liver.quantity, liver.metric("Volume[cc]") > 1000, liver.metric("Max[Gy]") > 20
        ('dose', True, True)
        >>> number = case.structures["GTV1"].number
        >>> case.dvh(number).volume_cc == case.dvh(str(number)).volume_cc == case.dvh("GTV1").volume_cc
        True
        """
        return case_dvh(self, name, **options)

    def dvhs(self, names: "Iterable[str | int] | str | int | None" = None, **options: Any) -> dict[str, DVH]:
        """DVHs of several structures, by default every ROI with closed contours.

        Parameters
        ----------
        names : iterable of str or int, optional
            Names, ROI numbers or expressions (as for :meth:`dvh`); default every ROI
            drawn as a volume.
        **options
            As :meth:`dvh`.

        Returns
        -------
        dict of str -> DVH
            In the order asked.  Keyed by name; ROIs sharing a name are keyed
            ``"Name (ROI n)"``.  Every key is accepted by :meth:`dvh`.
        """
        return case_dvhs(self, names, **options)

    def dvh_table(self, metrics: "Iterable[str] | None" = None,
                  structures: "Iterable[str | int] | str | int | None" = None, **options: Any) -> "pandas.DataFrame":
        """One row per structure, one column per DVH metric, as a pandas DataFrame.

        Parameters
        ----------
        metrics : iterable of str, optional
            TG-263 metrics (``"D95%[Gy]"``, ``"V20Gy[cc]"``, ``"Mean[Gy]"``); default
            :data:`dosecalc.tables.DEFAULT_METRICS` (those of ``dosecalc dvh``).
        structures : iterable of str or int, optional
            Names, ROI numbers or expressions, as for :meth:`dvh`; default every ROI
            drawn as a volume.
        **options
            As :meth:`dvh` (``dose=case.eqd2(3)`` gives an EQD2 table).

        Returns
        -------
        pandas.DataFrame
            Indexed by the keys of :meth:`dvhs` (``structure``); columns ``quantity``,
            ``outside_cc`` (cc) and one per metric, labelled with its unit (``D95%[Gy]``,
            ``D95%[EQD2Gy(a/b=3)]``); NaN where a metric is undefined.  Needs pandas (the
            ``pandas`` extra): a :class:`~dosecalc.errors.ParameterError` says so when it
            is missing.

        Examples
        --------
        >>> import dosecalc
        >>> case = dosecalc.load(export_dir)
        >>> table = case.dvh_table(["Mean[Gy]", "V20Gy[cc]"], structures=["GTV1", "Liver"])
        >>> list(table.index), list(table.columns)
        (['GTV1', 'Liver'], ['quantity', 'outside_cc', 'Mean[Gy]', 'V20Gy[cc]'])
        """
        return case_dvh_table(self, metrics, structures, **options)

    def stored_dvhs(self) -> dict[str, StoredDVH]:
        """The planning system's own DVHs from the RTDOSE's DVHSequence, keyed by ROI name
        (see :mod:`dosecalc.stored_dvh`); empty when the RTDOSE stores none."""
        return case_stored_dvhs(self)

    def eqd2(self, alpha_beta: "float | Mapping[str, float]", fractions: int | None = None,
             model: str = "lq", transition_dose: float | None = None) -> DoseGrid:
        """Voxel-wise EQD2 grid (Gy), LQ or LQ-L.

        Parameters
        ----------
        alpha_beta : float or mapping
            alpha/beta in Gy, or ``{structure: a/b, ..., "*": a/b}`` (see
            :func:`dosecalc.radiobiology.case_eqd2`).
        fractions : int, optional
            Number of fractions; default the plan's.
        model : {"lq", "lq-l"}
        transition_dose : float, optional
            d_T in Gy per fraction (LQ-L only).

        Returns
        -------
        DoseGrid
            EFFECTIVE, quantity ``"EQD2Gy(a/b=...)"``; pass it as ``dose=`` to :meth:`dvh`.

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
        from .radiobiology import case_eqd2  # local: a physical DVH run does not need it

        return case_eqd2(self, alpha_beta, fractions=fractions, model=model, transition_dose=transition_dose)

    def bed(self, alpha_beta: "float | Mapping[str, float]", fractions: int | None = None,
            model: str = "lq", transition_dose: float | None = None) -> DoseGrid:
        """Voxel-wise BED grid (Gy), quantity ``"BED(a/b=...)"``; arguments as :meth:`eqd2`."""
        from .radiobiology import case_bed  # local: a physical DVH run does not need it

        return case_bed(self, alpha_beta, fractions=fractions, model=model, transition_dose=transition_dose)

    # notebook display: a few lines whatever the case's size (dosecalc/display.py)
    def __repr__(self) -> str:
        return case_repr(self)

    def _repr_html_(self) -> str:
        return case_html(self)


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
