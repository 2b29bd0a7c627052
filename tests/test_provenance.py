"""dosecalc.provenance: the typed record behind an EFFECTIVE grid.

Truth: the keys and order of the ``model`` dict that the record replaced (as written in
the DVH JSON ``dose_model`` before), written out here.
"""

import json

import numpy as np
import pytest

from dosecalc.model import DoseGrid
from dosecalc.provenance import NONE, DoseProvenance


def test_empty_record_is_false():
    assert not NONE and len(NONE) == 0 and dict(NONE) == {}
    g = DoseGrid(np.zeros((1, 1, 1)), (0, 0, 0), (1, 1, 1))
    assert g.model == {} and not g.model


def test_mapping_view_and_order():
    p = DoseProvenance(model="LQ", quantity="EQD2Gy(a/b=2.5)", alpha_beta=2.5, fractions=5,
                       transition_dose_gy=None, source_dose_type="PHYSICAL", source_summation_type="PLAN",
                       source_scale=1.0, source_sop_instance_uid="1.2", source_path="rd.dcm")
    assert list(p) == ["model", "quantity", "alpha_beta", "fractions", "transition_dose_gy",
                       "source_dose_type", "source_summation_type", "source_scale",
                       "source_sop_instance_uid", "source_path"]
    assert p["fractions"] == 5 and p.get("overlaps") is None and "courses" not in p
    with pytest.raises(KeyError):
        p["courses"]
    assert json.loads(json.dumps(p.to_dict())) == dict(p)


def test_from_dict_keeps_unknown_keys_and_order():
    d = {"source_scale": 5.0, "model": "LQ", "written_by": "another system"}
    p = DoseProvenance.from_dict(d)
    assert p.model == "LQ" and p.source_scale == 5.0 and p.extra == {"written_by": "another system"}
    assert list(p.to_dict()) == list(d) and p == d


def test_grid_converts_a_dict():
    g = DoseGrid(np.zeros((1, 1, 1)), (0, 0, 0), (1, 1, 1), dose_type="EFFECTIVE",
                 model={"model": "LQ", "fractions": 3})
    assert isinstance(g.model, DoseProvenance) and g.model.fractions == 3
