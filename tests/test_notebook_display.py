"""Notebook displays: ``repr`` and ``_repr_html_`` of Case, DoseGrid, StructureSet and DVH
are a few lines whatever the data, and their HTML is well formed and escaped.

Truths: sizes measured on the text itself; well-formedness by the standard library's
HTML parser (every element closed in order); escaping by looking for the raw markup of
names such as ``<script>`` in the output.  The displays read no contour or voxel array,
so a case of 4000-point contours on a 120^3 grid displays as the same few lines as one
of 8-point contours on a 10^3 grid (only the grid's digits differ).
"""

from __future__ import annotations

import html.parser
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import dosecalc
from dosecalc.case import Case
from dosecalc.model import ContourPlane, DoseGrid, Structure, StructureSet

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from square_rois import linear_grid, roi  # noqa: E402


class _Checker(html.parser.HTMLParser):
    """Well-formedness of the displays' HTML: every element closed in order, no script."""

    VOID = {"br", "hr", "img", "meta", "col"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(text: str) -> _Checker:
    p = _Checker()
    p.feed(text)
    p.close()
    assert p.stack == [], f"unclosed {p.stack}"
    assert "script" not in p.tags
    return p


def many_contour_case(n_rois: int, points: int, grid_n: int) -> Case:
    """``n_rois`` ROIs of ``points``-vertex polygons on 5 planes each, over a grid_n^3 grid."""
    t = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
    ring = np.c_[10 + 5 * np.cos(t), 10 + 5 * np.sin(t)]
    rois = tuple(Structure(i + 1, f"OAR_{i + 1:02d}",
                           planes=tuple(ContourPlane(float(z), (ring,)) for z in range(5)))
                 for i in range(n_rois))
    grid = DoseGrid(np.zeros((grid_n, grid_n, grid_n)), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return Case(dose=grid, structures=StructureSet(rois, label="RS"), patient_id="P1")


def test_displays_do_not_grow_with_contours_or_grid():
    small = many_contour_case(40, 8, 10)
    large = many_contour_case(40, 4000, 120)
    for get in (lambda c: c, lambda c: c.dose, lambda c: c.structures):
        a, b = get(small), get(large)
        t0 = time.perf_counter()
        ra, rb = repr(a), repr(b)
        ha, hb = a._repr_html_(), b._repr_html_()
        print(f"{type(a).__name__}: repr {len(rb)} chars, html {len(hb)} chars, "
              f"{(time.perf_counter() - t0) * 1e3:.2f} ms")
        # only the grid's dimensions differ (10 -> 120: one digit each, 3 or 6 of them)
        assert abs(len(rb) - len(ra)) <= 6 and abs(len(hb) - len(ha)) <= 6
        assert len(rb.encode()) < 1024
        check_html(hb)


def test_repr_of_a_40_roi_case(tmp_path):
    from dosecalc.phantom import write_case

    write_case(tmp_path / "c40", spacing_mm=6.0, ct_spacing_mm=5.0, extra_structures=19)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = dosecalc.load(tmp_path / "c40")
    assert len(case.structures) == 40
    points = sum(len(p) for s in case.structures for plane in s.planes for p in plane.polygons)
    text = repr(case)
    print(f"repr of a 40-ROI case ({points} contour points): {len(text)} characters")
    assert len(text.encode()) < 1024 and text.count("\n") <= 4
    assert "40 ROIs" in text and case.patient_id in text
    assert len(repr(case.dose)) < 300 and len(repr(case.structures)) < 400
    parsed = check_html(case._repr_html_())
    assert "Case" in "".join(parsed.text)
    check_html(case.structures._repr_html_())
    check_html(case.dose._repr_html_())
    dvh = case.dvh("GTV1")
    assert len(repr(dvh)) < 300 and "'GTV1'" in repr(dvh)
    check_html(dvh._repr_html_())


def test_html_displays_escape_names():
    evil = "<script>alert(1)</script>"
    ss = StructureSet((roi(1, evil, 2, 12, 3, 13), roi(2, "A&B", 14, 24, 2, 22)), label="<b>RS</b>")
    case = Case(dose=linear_grid(), structures=ss, patient_id="<i>P</i>")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dvh = case.dvh(evil, supersample=1)
    for obj in (case, case.structures, dvh, case.dose):
        out = obj._repr_html_()
        parsed = check_html(out)          # no <script> or <i> element from the data
        assert "i" not in parsed.tags
        assert "<script>" not in out and "<i>P</i>" not in out and "<b>RS</b>" not in out
    assert "&lt;script&gt;" in case.structures._repr_html_() and "A&amp;B" in case.structures._repr_html_()
    assert "&lt;script&gt;" in dvh._repr_html_()
    assert "&lt;i&gt;P&lt;/i&gt;" in case._repr_html_()


def test_dvh_display_of_a_long_expression_stays_short():
    from dosecalc.dvh import DVH

    name = " | ".join(f"OAR_{i:03d}" for i in range(500))        # 5 kB of expression
    d = DVH.from_samples(np.linspace(0.5, 9.5, 10), np.full(10, 0.1), name=name)
    assert len(repr(d)) < 300 and repr(d).startswith("<DVH 'OAR_000 | OAR_001")
    assert len(d._repr_html_()) < 2000
    check_html(d._repr_html_())
