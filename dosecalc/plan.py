"""Plan data: what the RTPLAN says about fractions, beam doses and the prescription.

Part of the data layer (:mod:`dosecalc.model` re-exports it).  Doses in Gy, points in mm.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BeamDose:
    """One ReferencedBeamSequence item of a fraction group.

    Attributes
    ----------
    beam_number : int
        ReferencedBeamNumber.
    dose_gy : float or None
        BeamDose: the beam's dose per fraction (Gy) at its specification point.
    specification_point_mm : tuple of 3 floats or None
        BeamDoseSpecificationPoint (x, y, z) in mm (patient coordinates).
    """

    beam_number: int
    dose_gy: float | None = None
    specification_point_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class FractionGroup:
    """One FractionGroupSequence item of an RTPLAN.

    Attributes
    ----------
    number : int
        FractionGroupNumber.
    fractions : int or None
        NumberOfFractionsPlanned.
    beams : tuple of BeamDose
        Its beams with their dose per fraction (BeamDose), where stated.
    """

    number: int
    fractions: int | None = None
    beams: tuple[BeamDose, ...] = ()

    @property
    def dose_per_fraction_gy(self) -> float | None:
        """Sum of the beams' BeamDose (Gy per fraction); None unless every beam states one.

        The beams' specification points may differ, so this is the group's dose per
        fraction in the planning system's own bookkeeping, not a dose at one point."""
        doses = [b.dose_gy for b in self.beams if b.dose_gy is not None]
        if not doses or len(doses) < len(self.beams):
            return None
        return float(sum(doses))


@dataclass(frozen=True)
class DoseReference:
    """One DoseReferenceSequence item of an RTPLAN (doses in Gy, point in mm)."""

    number: int | None
    reference_type: str = ""
    structure_type: str = ""
    prescription_gy: float | None = None
    point_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Plan:
    """What the RTPLAN says about the prescription.

    Attributes
    ----------
    fractions : int or None
        Fractions of the course: NumberOfFractionsPlanned of its one fraction group, or
        the sum over several groups when their doses per fraction agree (see
        :mod:`dosecalc.io.rtplan`); None with ``fractions_reason`` when they do not.
    prescription_gy : float or None
        TargetPrescriptionDose (Gy) of the dose reference, when present.
    label : str
        RTPlanLabel.
    fraction_groups : tuple of FractionGroup
        Every fraction group with its beams' BeamDose and specification points.
    dose_references : tuple of DoseReference
        Every dose reference (type, prescription, point coordinates).
    fractions_reason : str
        Why ``fractions`` is None although the plan has fraction groups ('' otherwise).
    """

    fractions: int | None = None
    prescription_gy: float | None = None
    label: str = ""
    name: str = ""
    sop_instance_uid: str | None = None
    referenced_structure_set_uid: str | None = None
    frame_of_reference_uid: str | None = None
    source_path: str | None = None
    fraction_groups: tuple[FractionGroup, ...] = ()
    dose_references: tuple[DoseReference, ...] = ()
    fractions_reason: str = ""

    def group(self, number: int) -> FractionGroup | None:
        """The fraction group with this FractionGroupNumber, or None."""
        return next((g for g in self.fraction_groups if g.number == number), None)
