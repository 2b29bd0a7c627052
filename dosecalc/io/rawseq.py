"""Walk the raw bytes of a DICOM sequence without building pydicom Datasets.

pydicom turns every sequence item into a :class:`pydicom.dataset.Dataset` (a dozen
attribute assignments per item): for the ~20 000 contour items of a large RT Structure
Set that costs about a second, far more than the contour numbers themselves.  This module
reads the element headers directly and returns, for each item, only the attributes asked
for, as the undecoded bytes of their values.

Scope (PS3.5 section 7): Implicit VR Little Endian and Explicit VR Little Endian; items
and sequences of defined or undefined length (delimiters (FFFE,E00D) / (FFFE,E0DD));
explicit VRs with a 2-byte length or a 2-byte reserved field + 4-byte length; elements
not asked for are skipped by their length (undefined-length sequences among them are
walked to find their end).

The walker is deliberately stricter than pydicom: whatever it is not sure to read exactly
as pydicom would (an unknown VR, a length running past its item, sequence or buffer, an
undefined-length element that is not a sequence, a delimiter out of place, an attribute
asked for that appears twice or with an unexpected VR, nesting deeper than
``MAX_DEPTH``) raises :class:`Unsupported`.  The caller then reads the file with
pydicom instead, so an anomaly never changes a result or an error message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Mapping

from pydicom.datadict import dictionary_VR

ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
# Nesting far beyond any real RT object; guards the recursion on crafted input.
MAX_DEPTH = 32

# PS3.5 table 7.1-1: VRs whose explicit header has 2 reserved bytes and a 4-byte length.
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
     b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})

_IMPLICIT = struct.Struct("<HHI").unpack_from  # group, element, 4-byte length
_EXPLICIT = struct.Struct("<HH2sH").unpack_from  # group, element, VR, 2-byte length
_UINT32 = struct.Struct("<I").unpack_from


class Unsupported(Exception):
    """Bytes the walker does not read; the caller falls back to pydicom.

    A control-flow signal internal to the readers (never raised to a dosecalc user)."""


@dataclass(frozen=True)
class Want:
    """An attribute to extract from each item.

    Attributes
    ----------
    vr : bytes
        The VR the attribute must carry in Explicit VR files (b"IS", b"SQ", ...).
    items : mapping of int to Want, optional
        For a sequence: the attributes to extract from each of its items.  The value
        returned is then a list of item dicts instead of bytes.
    """

    vr: bytes
    items: Mapping[int, "Want"] | None = field(default=None)


def sequence_element(buf, offset: int, tag: int, *, implicit_vr: bool,
                     wanted: Mapping[int, Want]) -> tuple[list[dict], int]:
    """Read the whole sequence element ``tag`` whose header starts at ``offset`` in ``buf``.

    Parameters
    ----------
    buf : bytes-like
        The file bytes (bytes, mmap, memoryview).
    offset : int
        Byte offset of the element's tag.
    tag : int
        The expected tag, e.g. ``0x30060039``; another tag raises :class:`Unsupported`.
    implicit_vr : bool
        True for Implicit VR Little Endian, False for Explicit VR Little Endian.
    wanted : mapping of int to Want
        Attributes to extract from each item.

    Returns
    -------
    (items, end)
        One dict per item mapping each wanted tag present to its raw value bytes (or, for
        a wanted sequence, to its list of item dicts); ``end`` is the byte offset just past
        the element.
    """
    n = len(buf)
    if offset + 8 > n:
        raise Unsupported("truncated element header")
    if implicit_vr:
        group, elem, length = _IMPLICIT(buf, offset)
        pos = offset + 8
        if dictionary_VR(tag) != "SQ":
            raise Unsupported("not a sequence")
    else:
        group, elem, vr, _ = _EXPLICIT(buf, offset)
        if vr != b"SQ" or offset + 12 > n:
            raise Unsupported("not an explicit SQ element")
        length = _UINT32(buf, offset + 8)[0]
        pos = offset + 12
    if (group << 16 | elem) != tag:
        raise Unsupported("unexpected tag")
    if length == UNDEFINED_LENGTH:
        return _items(buf, pos, None, n, implicit_vr, wanted, 0)
    end = pos + length
    if end > n:
        raise Unsupported("sequence runs past the end of the data")
    return _items(buf, pos, end, end, implicit_vr, wanted, 0)


def sequence_value(buf, *, implicit_vr: bool, wanted: Mapping[int, Want]) -> list[dict]:
    """The items of a defined-length sequence value held whole in ``buf`` (e.g. the
    ``value`` of a pydicom RawDataElement).  See :func:`sequence_element`."""
    items, _ = _items(buf, 0, len(buf), len(buf), implicit_vr, wanted, 0)
    return items


def _items(buf, pos: int, end: int | None, limit: int, implicit: bool, wanted,
           depth: int) -> tuple[list[dict], int]:
    """Items from ``pos`` up to ``end`` (None: up to the sequence delimiter, which must
    come before ``limit``)."""
    if depth > MAX_DEPTH:
        raise Unsupported("sequences nested too deep")
    if end is not None:
        limit = end
    items: list[dict] = []
    append = items.append
    while True:
        if pos == end:
            return items, pos
        if pos + 8 > limit:
            raise Unsupported("truncated item header")
        group, elem, length = _IMPLICIT(buf, pos)
        pos += 8
        tag = group << 16 | elem
        if tag == ITEM:
            if length == UNDEFINED_LENGTH:
                item, pos = _elements(buf, pos, None, limit, implicit, wanted, depth)
            else:
                item_end = pos + length
                if item_end > limit:
                    raise Unsupported("item runs past its sequence")
                item, pos = _elements(buf, pos, item_end, item_end, implicit, wanted, depth)
            append(item)
        elif tag == SEQUENCE_END and end is None and length == 0:
            return items, pos
        else:
            # pydicom reads on after a stray tag or stops a defined-length sequence at a
            # delimiter; neither is worth imitating.
            raise Unsupported("unexpected tag among sequence items")


def _elements(buf, pos: int, end: int | None, limit: int, implicit: bool, wanted,
              depth: int) -> tuple[dict, int]:
    """Elements of one item from ``pos`` up to ``end`` (None: up to the item delimiter)."""
    out: dict = {}
    get = wanted.get
    while True:
        if pos == end:
            return out, pos
        if pos + 8 > limit:
            raise Unsupported("truncated element header")
        if implicit:
            group, elem, length = _IMPLICIT(buf, pos)
            vr = None
            pos += 8
        else:
            group, elem, vr, length = _EXPLICIT(buf, pos)
            if group == 0xFFFE:  # item and delimiter tags carry no VR
                group, elem, length = _IMPLICIT(buf, pos)
                vr = None
                pos += 8
            elif vr in SHORT_VRS:
                pos += 8
            elif vr in LONG_VRS:
                if pos + 12 > limit:
                    raise Unsupported("truncated element header")
                length = _UINT32(buf, pos + 8)[0]
                pos += 12
            else:
                raise Unsupported("unknown VR")
        if group == 0xFFFE:
            if elem == 0xE00D and end is None and length == 0:
                return out, pos
            raise Unsupported("unexpected delimiter inside an item")
        tag = group << 16 | elem
        spec = get(tag)
        if spec is not None:
            if vr is not None and vr != spec.vr:
                raise Unsupported("unexpected VR")
            if tag in out:
                raise Unsupported("attribute repeated in an item")
        if length == UNDEFINED_LENGTH:
            if not (vr == b"SQ" if vr is not None else _is_sequence(tag)):
                raise Unsupported("undefined length on a non-sequence element")
            if spec is None:
                _, pos = _items(buf, pos, None, limit, implicit, {}, depth + 1)
                continue
            if spec.items is None:
                raise Unsupported("a sequence where a value was expected")
            out[tag], pos = _items(buf, pos, None, limit, implicit, spec.items, depth + 1)
        else:
            value_end = pos + length
            if value_end > limit:
                raise Unsupported("element runs past its item")
            if spec is None:
                pos = value_end
                continue
            if spec.items is not None:
                out[tag], _ = _items(buf, pos, value_end, value_end, implicit, spec.items, depth + 1)
            else:
                out[tag] = buf[pos:value_end]
            pos = value_end


def _is_sequence(tag: int) -> bool:
    """Implicit VR: a tag is a sequence when the data dictionary says so (as pydicom)."""
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False
