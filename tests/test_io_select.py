"""dosecalc.io.select: one plan's files chosen among the scanned headers by DICOM references.

Truth: the reference chain written in the module docstring (RTDOSE -> RTPLAN -> RTSTRUCT
-> CT series), applied by hand to headers built here (no files are read).
"""

import pytest

from dosecalc.errors import SelectionError
from dosecalc.io.scan import Header, ScanResult
from dosecalc.io.select import select
from dosecalc.io.uids import CT_IMAGE_STORAGE, RT_DOSE_STORAGE, RT_PLAN_STORAGE, RT_STRUCTURE_SET_STORAGE


def _h(path, modality, cls, uid, **kw):
    return Header(path=path, modality=modality, sop_class_uid=cls, sop_instance_uid=uid,
                  frame_of_reference_uid="1.9", **kw)


def _two_plans() -> ScanResult:
    hs = []
    for k in ("A", "B"):
        hs.append(_h(f"/x/CT_{k}.dcm", "CT", CT_IMAGE_STORAGE, f"ct{k}", series_instance_uid=f"series{k}",
                     image_position=(0.0, 0.0, 0.0)))
        hs.append(_h(f"/x/RS_{k}.dcm", "RTSTRUCT", RT_STRUCTURE_SET_STORAGE, f"rs{k}",
                     referenced_series_uids=(f"series{k}",)))
        hs.append(_h(f"/x/RP_{k}.dcm", "RTPLAN", RT_PLAN_STORAGE, f"rp{k}", label=f"Plan {k}",
                     referenced_structure_set_uid=f"rs{k}"))
        hs.append(_h(f"/x/RD_{k}.dcm", "RTDOSE", RT_DOSE_STORAGE, f"rd{k}", referenced_plan_uids=(f"rp{k}",),
                     summation_type="PLAN", dose_type="PHYSICAL"))
    return ScanResult(headers=hs)


def test_two_plans_need_a_choice():
    with pytest.raises(SelectionError) as info:
        select(_two_plans())
    assert sorted(info.value.candidates) == ["rpA", "rpB"]


@pytest.mark.parametrize("choice", ["rpB", "plan b", "/x/RD_B.dcm"])
def test_choice_by_uid_label_or_dose_path_follows_the_chain(choice):
    sel = select(_two_plans(), plan=choice)
    assert sel.plan.sop_instance_uid == "rpB"
    assert [d.path for d in sel.doses] == ["/x/RD_B.dcm"]
    assert sel.struct.path == "/x/RS_B.dcm"
    assert [c.path for c in sel.ct] == ["/x/CT_B.dcm"]
