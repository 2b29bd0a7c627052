"""DICOM UIDs: the one table of SOP classes dosecalc reads and writes, and new UIDs.

New UIDs are random by default; a ``seed`` string makes them deterministic (hash based,
:func:`pydicom.uid.generate_uid` with ``entropy_srcs``), so that the synthetic case is
byte-for-byte reproducible.
"""

from __future__ import annotations

from pydicom.uid import generate_uid

# SOP classes (PS3.4 B.5), the only place their UIDs are written
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.8"

#: SOP class UID -> the modality dosecalc reads it as (an RT Ion Plan is an RTPLAN)
MODALITY_OF = {CT_IMAGE_STORAGE: "CT", RT_DOSE_STORAGE: "RTDOSE", RT_STRUCTURE_SET_STORAGE: "RTSTRUCT",
               RT_PLAN_STORAGE: "RTPLAN", RT_ION_PLAN_STORAGE: "RTPLAN"}
#: SOP classes of plans (RT Plan, RT Ion Plan)
RTPLAN_CLASSES = frozenset(uid for uid, m in MODALITY_OF.items() if m == "RTPLAN")


def new_uid(seed: str | None = None, *parts: object) -> str:
    """A new UID; deterministic when ``seed`` is given (then ``parts`` name its role).

    Parameters
    ----------
    seed : str or None
        None gives a random UID; otherwise the UID is a hash of ``seed`` and ``parts``.
    parts : objects
        Distinguish UIDs derived from one seed ("series", "sop", slice index, ...).
    """
    if seed is None:
        return generate_uid()
    return generate_uid(entropy_srcs=[str(seed), *(str(p) for p in parts)])
