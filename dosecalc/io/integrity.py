"""Detect DICOM files that end before their data set does.

pydicom reads a file cut short without complaint in many places: an element whose
value runs past the end of the file is returned with the bytes that are there (a UID
cut to ``1.2.``, a ContourData list missing its last points), and a file that ends
inside its File Meta Information reads as an empty data set.  For dose evaluation that
is the worst outcome: a truncated export would load as a case with fewer contour points,
another frame of reference, or no dose at all.  :func:`find_truncation` therefore walks
the element headers of the whole file (PS3.10 section 7, PS3.5 section 7) and reports
where the data stops short of what the headers declare.

The walk only judges completeness.  It reads every header of the top-level data set and
of undefined-length sequences and items (the only way to find their end), checks that
each declared length fits in the file, and skips values by their length without
decoding them.  Anything it cannot interpret (an unknown VR, a stray delimiter) ends the
walk without a verdict, and pydicom's reader then decides.  Deflated data sets are
inflated first; a deflate stream without its end is a truncation.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .rawseq import ITEM, ITEM_END, LONG_VRS, SEQUENCE_END, SHORT_VRS, UNDEFINED_LENGTH

_MAX_DEPTH = 64
_SOP_CLASS_UID = 0x00080016
_MEDIA_SOP_CLASS_UID = 0x00020002
_TRANSFER_SYNTAX_UID = 0x00020010

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")

_HEAD = {"<": struct.Struct("<HHI").unpack_from, ">": struct.Struct(">HHI").unpack_from}
_EXPL = {"<": struct.Struct("<HH2sH").unpack_from, ">": struct.Struct(">HH2sH").unpack_from}
_U32 = {"<": struct.Struct("<I").unpack_from, ">": struct.Struct(">I").unpack_from}


@dataclass(frozen=True)
class Truncation:
    """Where a file stops short.

    Attributes
    ----------
    offset : int
        Byte offset of the element (or header) that the file cuts, from the file start.
    file_size : int
        Size of the file in bytes.
    what : str
        What is cut, e.g. ``"element (3006,0050) declares 5124 bytes, 312 remain"``.
    sop_class_uid : str
        The SOP Class UID read before the cut ('' when the file ends before it).
    at_item_boundary : bool
        The file ends right after a whole item of a top-level undefined-length element
        (only zero bytes, if any, follow): either a cut between two items or a writer
        that left out the final sequence delimiter, which some archives do to encapsulated
        pixel data.  Callers may accept this for files whose content they do not use.
    """

    offset: int
    file_size: int
    what: str
    sop_class_uid: str
    at_item_boundary: bool = False

    def describe(self) -> str:
        return (f"the file is truncated: it ends at byte {self.file_size} but {self.what} "
                f"(at byte {self.offset}); it was probably cut short while being exported or "
                f"copied, so export or copy it again")


class _Cut(Exception):
    def __init__(self, offset: int, what: str, at_item_boundary: bool = False) -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what
        self.at_item_boundary = at_item_boundary


class _Unknown(Exception):
    """Bytes the walk does not interpret: no verdict."""


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Walker:
    def __init__(self, buf, base: int, endian: str, implicit: bool) -> None:
        self.buf = buf
        self.base = base  # offset of buf[0] in the file, for messages
        self.n = len(buf)
        self.endian = endian
        self.implicit = implicit
        self.sop_class_uid = ""

    def cut(self, pos: int, what: str, at_item_boundary: bool = False) -> _Cut:
        return _Cut(self.base + pos, what, at_item_boundary)

    def zeros_to_end(self, pos: int) -> bool:
        return not any(bytes(self.buf[pos:self.n]))

    def header(self, pos: int, limit: int, implicit: bool, endian: str):
        """(tag, vr, length, value offset) of the element at ``pos``."""
        buf = self.buf
        if pos + 8 > limit:
            if limit == self.n:
                raise self.cut(pos, f"an element header needs 8 bytes and {limit - pos} remain")
            raise _Unknown("header crosses an item boundary")
        group, elem, length = _HEAD[endian](buf, pos)
        tag = group << 16 | elem
        if implicit or group == 0xFFFE:
            return tag, None, length, pos + 8
        _, _, vr, short = _EXPL[endian](buf, pos)
        if vr in SHORT_VRS:
            return tag, vr, short, pos + 8
        if vr in LONG_VRS:
            if pos + 12 > limit:
                if limit == self.n:
                    raise self.cut(pos, f"element {_tag(tag)} header needs 12 bytes and {limit - pos} remain")
                raise _Unknown("header crosses an item boundary")
            return tag, vr, _U32[endian](buf, pos + 8)[0], pos + 12
        raise _Unknown("unknown VR")

    def dataset(self, pos: int, end: int | None, implicit: bool, endian: str, depth: int,
                top: bool = False) -> int:
        """Elements from ``pos`` to ``end`` (None: up to an item delimiter)."""
        if depth > _MAX_DEPTH:
            raise _Unknown("nested too deep")
        limit = self.n if end is None else end
        while True:
            if pos == limit and end is not None:
                return pos
            if top and endian == "<" and self.n - pos < 8 and self.zeros_to_end(pos):
                # A few zero bytes after the last whole element: padding (pydicom ignores
                # them too).  A real cut leaves the start of a tag, and no little endian
                # tag an RT, CT or plan file holds starts with a zero byte.
                return self.n
            tag, vr, length, vpos = self.header(pos, limit, implicit, endian)
            if tag == ITEM_END:
                if end is None and length == 0:
                    return vpos
                raise _Unknown("stray item delimiter")
            if tag >> 16 == 0xFFFE:
                raise _Unknown("stray item tag")
            if length == UNDEFINED_LENGTH:
                # PS3.5 6.2.2: an undefined-length UN holds implicit VR little endian items.
                inner_implicit, inner_endian = (True, "<") if vr == b"UN" else (implicit, endian)
                pos = self.items(vpos, tag, inner_implicit, inner_endian, depth + 1)
                continue
            if vpos + length > limit:
                if limit == self.n:
                    raise self.cut(pos, f"element {_tag(tag)} declares {length} bytes and "
                                        f"{self.n - vpos} remain")
                raise _Unknown("element runs past its item")
            if top and tag == _SOP_CLASS_UID:
                self.sop_class_uid = _text(self.buf[vpos:vpos + length])
            pos = vpos + length

    def items(self, pos: int, owner: int, implicit: bool, endian: str, depth: int) -> int:
        """Items of an undefined-length element up to its sequence delimiter."""
        while True:
            if pos + 8 > self.n:
                raise self.cut(pos, f"the undefined-length element {_tag(owner)} has no "
                                    f"sequence delimiter (FFFE,E0DD)",
                               at_item_boundary=depth == 1 and self.zeros_to_end(pos))
            group, elem, length = _HEAD[endian](self.buf, pos)
            tag = group << 16 | elem
            pos += 8
            if tag == SEQUENCE_END:
                return pos
            if tag != ITEM:
                raise _Unknown("stray tag among items")
            if length == UNDEFINED_LENGTH:
                pos = self.dataset(pos, None, implicit, endian, depth)
            elif pos + length > self.n:
                raise self.cut(pos - 8, f"an item of {_tag(owner)} declares {length} bytes and "
                                        f"{self.n - pos} remain")
            else:
                pos += length


def _text(raw) -> str:
    return bytes(raw).rstrip(b"\x00 ").decode("ascii", "replace").strip()


class InflateLimitError(Exception):
    """A deflated data set inflates to more than the limit (a decompression bomb, or a
    file far larger than any RT export)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the deflated data set inflates to more than {limit // 2**20} MiB, "
                         f"the per-file limit (DOSECALC_MAX_INFLATED_MB)")
        self.limit = limit


def max_inflated_bytes() -> int:
    """Per-file limit on the inflated size of a deflated data set: 128 MiB, or
    ``DOSECALC_MAX_INFLATED_MB``.  Inflating once costs about this much memory and
    reading the result about as much again, so the default keeps one file well under
    1 GB; a real deflated RTDOSE of a 1 mm grid is about 70 MB."""
    import os

    try:
        mb = float(os.environ.get("DOSECALC_MAX_INFLATED_MB", "128"))
    except ValueError:
        mb = 128.0
    return int(max(mb, 1.0) * 2**20)


_IN_CHUNK = 1 << 20
_OUT_CHUNK = 16 << 20


def inflate_bounded(buf, pos: int, limit: int | None = None) -> tuple[bytearray, bool]:
    """Inflate the raw deflate stream ``buf[pos:]`` once, in bounded chunks.

    Returns ``(data, complete)``; ``complete`` is False when the stream has no end.
    Raises :class:`InflateLimitError` as soon as the output passes ``limit`` bytes (never
    holding more than the limit plus one chunk), and ``zlib.error`` when the bytes are
    not a deflate stream.
    """
    limit = max_inflated_bytes() if limit is None else limit
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    view = memoryview(buf)
    data: memoryview | bytes | None = None
    try:
        for start in range(pos, len(view), _IN_CHUNK):
            data = view[start:start + _IN_CHUNK]
            while data:
                # max_length bounds what one call produces: 1 MB of input can inflate to 1 GB
                out += inflater.decompress(data, _OUT_CHUNK)
                if len(out) > limit:
                    raise InflateLimitError(limit)
                data = inflater.unconsumed_tail
                if inflater.eof:
                    break
            if inflater.eof:
                break
        while not inflater.eof:
            more = inflater.decompress(b"", _OUT_CHUNK)
            if not more:
                break
            out += more
            if len(out) > limit:
                raise InflateLimitError(limit)
    finally:
        del data  # no view of the caller's buffer (an mmap it will close) may outlive this
        view.release()
    return out, inflater.eof


def find_truncation(buf, inflate=None) -> Truncation | None:
    """Where the DICOM file held in ``buf`` ends before its data set does.

    Parameters
    ----------
    buf : bytes-like
        The whole file (bytes, mmap or memoryview).
    inflate : callable, optional
        ``inflate(buf, pos) -> (data, complete)`` for a deflated data set starting at
        ``pos`` (default :func:`inflate_bounded`); a reader passes its own to keep the
        inflated bytes and inflate only once.  Its :class:`InflateLimitError` propagates.

    Returns
    -------
    Truncation or None
        None when every declared length fits in the file, or when the walk met bytes it
        does not interpret (pydicom then decides).
    """
    n = len(buf)
    sop_class = ""
    if n >= 132 and bytes(buf[128:132]) == b"DICM":
        meta = _Walker(buf, 0, "<", False)
        pos = 132
        syntax = ""
        try:
            while pos + 8 <= n and _HEAD["<"](buf, pos)[0] == 0x0002:
                tag, _, length, vpos = meta.header(pos, n, False, "<")
                if length == UNDEFINED_LENGTH or vpos + length > n:
                    raise meta.cut(pos, f"File Meta Information element {_tag(tag)} declares "
                                        f"{length} bytes and {n - vpos} remain")
                if tag == _MEDIA_SOP_CLASS_UID:
                    sop_class = _text(buf[vpos:vpos + length])
                elif tag == _TRANSFER_SYNTAX_UID:
                    syntax = _text(buf[vpos:vpos + length])
                pos = vpos + length
            if pos + 8 > n:
                raise meta.cut(pos, "the data set that follows the File Meta Information is missing")
        except _Cut as c:
            return Truncation(c.offset, n, c.what, sop_class)
        except _Unknown:
            return None
        if not syntax:
            return None
        endian = ">" if syntax == _EXPLICIT_BE else "<"
        implicit = syntax == _IMPLICIT_LE
        if syntax in _DEFLATED:
            try:
                body, complete = (inflate or inflate_bounded)(buf, pos)
            except zlib.error:
                return None
            if not complete:
                return Truncation(pos, n, "the deflated data set has no end of stream", sop_class)
            walker, start = _Walker(body, pos, "<", False), 0
        else:
            walker, start = _Walker(buf, 0, endian, implicit), pos
    else:
        # A raw data set without preamble: PS3.5 default implicit VR little endian, unless
        # the first element carries an explicit VR (as pydicom guesses).
        if n < 8:
            return None
        explicit = bytes(buf[4:6]) in SHORT_VRS or bytes(buf[4:6]) in LONG_VRS
        endian = ">" if bytes(buf[0:1]) == b"\x00" and bytes(buf[1:2]) in (b"\x02", b"\x08") else "<"
        walker, start = _Walker(buf, 0, endian, not explicit), 0
    try:
        walker.dataset(start, walker.n, walker.implicit, walker.endian, 0, top=True)
    except _Cut as c:
        return Truncation(c.offset, n, c.what, sop_class or walker.sop_class_uid, c.at_item_boundary)
    except _Unknown:
        return None
    return None
