"""Protocol files: built-ins encode the team references; malformed files are refused
with the file, the field path and the line named; ``extends`` overrides safely.

Truth: the numbers asserted for the built-ins are the ones in
../shared/domain/liver-sbrt-references.md (sections 2-4), copied here by hand; the
malformed files are written so that exactly one field is wrong.
"""

from pathlib import Path

import pytest

from dosecalc.errors import ProtocolError
from dosecalc.protocols.schema import CONFIDENCE, builtin_ids, load_protocol

BUILTINS = ("hcc-adjuvant-narrow-margin", "hcc-oligoprogression")
NORMAL_LIVER = {"hcc-adjuvant-narrow-margin": ("Liver-CTV", "Liver - CTV"),
                "hcc-oligoprogression": ("Liver-GTV", "Liver - GTV")}

MINIMAL = """\
id = "mini"
title = "Minimal"
version = "1"
trial = "none"

[[structures]]
name = "Liver"

[[constraints]]
id = "liver-mean"
structure = "Liver"
metric = "Mean[Gy]"
comparator = "<"
limit = 15
fractions = [5]
source = "test"
confidence = "primary"
"""


def write(tmp_path, text, name="p.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def constraint(p, structure, metric, fx):
    found = [c for c in p.constraints if c.structure == structure and c.metric == metric and fx in c.fractions]
    assert len(found) == 1, (structure, metric, fx, found)
    return found[0]


def test_builtins_are_listed_and_valid():
    assert set(BUILTINS) <= set(builtin_ids())
    for pid in BUILTINS:
        p = load_protocol(pid)
        assert p.id == pid and {3, 4, 5, 6} <= set(p.fractionations)
        for c in p.constraints:
            assert c.source and c.confidence in CONFIDENCE
            assert c.level2 is None or (c.level2_source and c.level2_confidence in CONFIDENCE)
        for rx in p.prescriptions:
            assert rx.source and rx.confidence in CONFIDENCE


@pytest.mark.parametrize("pid", BUILTINS)
def test_builtin_normal_liver_constraints_match_references(pid):
    """References s.3: CV15Gy[cc] >= 700 for 3 fx (FASTRACK II, primary) and 5 fx (RTOG
    1112, secondary); mean < 13 Gy 3 fx (QUANTEC, primary liver cancer) with the China NHC
    < 15 Gy as the looser level; < 15 Gy 5 fx (China NHC)."""
    p = load_protocol(pid)
    name, derive = NORMAL_LIVER[pid]
    assert p.structure(name).derive == derive
    for fx, conf in ((3, "primary"), (5, "secondary")):
        c = constraint(p, name, "CV15Gy[cc]", fx)
        assert (c.comparator, c.limit, c.confidence) == (">=", 700.0, conf)
    m3 = constraint(p, name, "Mean[Gy]", 3)
    assert (m3.comparator, m3.limit, m3.level2, m3.level2_kind) == ("<", 13.0, 15.0, "acceptable")
    assert constraint(p, name, "Mean[Gy]", 5).limit == 15.0


@pytest.mark.parametrize("pid", BUILTINS)
def test_builtin_covers_every_required_organ(pid):
    p = load_protocol(pid)
    for fx in (3, 5):
        structures = {c.structure for c in p.constraints if fx in c.fractions}
        for organ in ("Stomach", "Duodenum", "Bowel_Small", "Bowel_Large", "Esophagus", "SpinalCord",
                      "Heart", "Rib", "Skin", "PTV"):
            assert organ in structures, (organ, fx)
        assert structures & {"Kidney_Cortex", "Kidney_Contralateral"}
        assert constraint(p, "PTV", "V100%[%]", fx).limit == 95.0
        assert constraint(p, "PTV", "Max[%]", fx).limit == 140.0


def test_builtin_oar_numbers_match_tg101_and_sources():
    """References s.4 (TG-101 [S], FASTRACK II [P], Japanese series [P])."""
    p = load_protocol("hcc-oligoprogression")
    assert constraint(p, "SpinalCord", "D0.35cc[Gy]", 3).limit == 18.0
    assert constraint(p, "SpinalCord", "D1.2cc[Gy]", 5).limit == 14.5
    assert constraint(p, "Duodenum", "D10cc[Gy]", 3).limit == 11.4
    st5 = constraint(p, "Stomach", "D0.03cc[Gy]", 5)
    assert (st5.limit, st5.confidence, st5.level2, st5.level2_confidence) == (25.0, "primary", 32.0, "secondary")
    assert constraint(p, "Kidney_Cortex", "CV17.5Gy[cc]", 5).comparator == ">="
    canal = constraint(p, "SpinalCanal", "D0.03cc[Gy]", 3)
    assert canal.limit == 18.0 and "FASTRACK" in canal.source
    rx_b = [rx for rx in p.prescriptions if 5 in rx.fractions and "B" in rx.child_pugh]
    assert len(rx_b) == 1 and rx_b[0].dose_gy == 35.0 and rx_b[0].max_gy == 35.0


def test_minimal_file_loads(tmp_path):
    p = load_protocol(write(tmp_path, MINIMAL))
    assert p.id == "mini" and p.constraints[0].child_pugh == ("A", "B")


@pytest.mark.parametrize("old,new,field,words", [
    ('metric = "Mean[Gy]"', 'metric = "D95%"', "constraints[0].metric", "D95%[Gy]"),
    ('comparator = "<"', 'comparator = "=<"', "constraints[0].comparator", "must be one of"),
    ('limit = 15', 'limit = "15"', "constraints[0].limit", "finite number"),
    ('confidence = "primary"', 'confidence = "high"', "constraints[0].confidence", "unconfirmed"),
    ('source = "test"\n', '', "constraints[0].source", "required"),
    ('structure = "Liver"', 'structure = "Livr"', "constraints[0].structure", "not a structure"),
    ('fractions = [5]', 'fractions = [0]', "constraints[0].fractions", ">= 1"),
    ('limit = 15', 'limit = 15\nlimt = 14', "constraints[0].limt", "unknown field"),
    ('limit = 15', 'limit = 15\nlevel2 = 12\nlevel2_kind = "acceptable"\nlevel2_source = "x"\n'
     'level2_confidence = "primary"', "constraints[0].level2", "looser"),
    ('metric = "Mean[Gy]"', 'metric = "Mean[EQD2Gy]"', "constraints[0].metric", "alpha/beta"),
    ('trial = "none"\n', '', "trial", "required"),
])
def test_malformed_field_is_named_with_file_and_line(tmp_path, old, new, field, words):
    assert old in MINIMAL
    text = MINIMAL.replace(old, new)
    path = write(tmp_path, text)
    with pytest.raises(ProtocolError) as exc:
        load_protocol(path)
    msg = str(exc.value)
    assert str(path) in msg and field in msg and words in msg
    key = field.rsplit(".", 1)[-1]
    if key + " =" in text and "[" in field:
        line = next(i + 1 for i, t in enumerate(text.splitlines()) if t.startswith(key + " ="))
        assert f"(line {line})" in msg


def test_toml_syntax_error_and_unknown_id(tmp_path):
    with pytest.raises(ProtocolError, match="TOML syntax error"):
        load_protocol(write(tmp_path, MINIMAL + "\n[[constraints]\n"))
    with pytest.raises(ProtocolError, match="no built-in protocol 'nope'.*hcc-oligoprogression"):
        load_protocol("nope")


def test_derive_must_name_protocol_structures(tmp_path):
    text = MINIMAL + '\n[[structures]]\nname = "Liver-GTV"\nderive = "Liver-GTV1"\n'
    with pytest.raises(ProtocolError, match=r"structures\[1\]\.derive.*'Liver-GTV1'.*spaces"):
        load_protocol(write(tmp_path, text))


def test_extends_overrides_limit_only_with_a_new_source(tmp_path):
    base = load_protocol("hcc-oligoprogression")
    cid = "stomach-d1cc-5fx"
    bad = f'id = "inst"\nextends = "hcc-oligoprogression"\n\n[[constraints]]\nid = "{cid}"\nlimit = 18\n'
    with pytest.raises(ProtocolError, match=r"constraints\[0\].*own 'source' and 'confidence'"):
        load_protocol(write(tmp_path, bad))
    good = bad + 'source = "Institution X policy 2024"\nconfidence = "unconfirmed"\n'
    good = good.replace('extends = "hcc-oligoprogression"\n',
                        'extends = "hcc-oligoprogression"\nremove = ["skin-d10cc-5fx"]\n')
    good += ('\n[[constraints]]\nid = "liver-d50-5fx"\nstructure = "Liver"\nmetric = "D50%[Gy]"\n'
             'comparator = "<"\nlimit = 10\nfractions = [5]\nsource = "Institution X"\nconfidence = "unconfirmed"\n')
    p = load_protocol(write(tmp_path, good))
    assert p.extends == ("hcc-oligoprogression",) and p.title == base.title
    c = next(c for c in p.constraints if c.id == cid)
    assert (c.limit, c.source, c.structure, c.metric) == (18.0, "Institution X policy 2024", "Stomach", "D1cc[Gy]")
    ids = [c.id for c in p.constraints]
    assert "skin-d10cc-5fx" not in ids and ids[-1] == "liver-d50-5fx"
    assert len(p.constraints) == len(base.constraints)


def test_extends_loop_is_refused(tmp_path):
    write(tmp_path, MINIMAL.replace('id = "mini"', 'id = "a"\nextends = "b.toml"'), "a.toml")
    write(tmp_path, MINIMAL.replace('id = "mini"', 'id = "b"\nextends = "a.toml"'), "b.toml")
    with pytest.raises(ProtocolError, match="loops"):
        load_protocol(tmp_path / "a.toml")
