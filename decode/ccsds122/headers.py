"""CCSDS 122.0-B-2 segment header (§4.2): the one table read and written by codec and tools.

A segment header is made of Part 1A (always), Part 1B (last segment of the image), Part 2,
Part 3 and Part 4 (present when their flag in Part 1A is set). Every part is a whole number of
bytes, so the coded data of a segment starts byte-aligned. :data:`PARTS` lists, for each part,
its fields in transmission order (most significant bit first) with their widths in bits. The
encoder (:func:`pack`) and every reader (:func:`unpack`, the Numba decoder through
:data:`WIDTHS`) use this table and nothing else.

The field layout is the one the reference encoder writes (University of Nebraska-Lincoln code
with JPL's fixes, also read by GICI TER): 16-bit pixels are coded ``PixelBitDepth = 0``
(value mod 16), ``CodeWordLength = 0`` means 8-bit words, the custom subband weights are
transmitted only when ``CustomWtFlag`` is set (the 20 bits are zero otherwise).
"""
from __future__ import annotations

import numpy as np

#: (part, ((field, bits), ...)) in stream order (CCSDS 122.0-B-2 Tables 4-2 .. 4-6)
PARTS: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("1A", (("StartImgFlag", 1), ("EndImgFlag", 1), ("SegmentCount", 8), ("BitDepthDC", 5),
            ("BitDepthAC", 5), ("Reserved1A", 1), ("Part2Flag", 1), ("Part3Flag", 1),
            ("Part4Flag", 1))),
    ("1B", (("PadRows", 3), ("Reserved1B", 5))),
    ("2", (("SegByteLimit", 27), ("DCStop", 1), ("BitPlaneStop", 5), ("StageStop", 2),
           ("UseFill", 1), ("Reserved2", 4))),
    ("3", (("S", 20), ("OptDCSelect", 1), ("OptACSelect", 1), ("Reserved3", 2))),
    ("4", (("DWTtype", 1), ("Reserved4a", 1), ("ExtendedPixelBitDepthFlag", 1),
           ("SignedPixels", 1), ("PixelBitDepth", 4), ("ImageWidth", 20), ("TransposeImg", 1),
           ("CodeWordLength", 3), ("CustomWtFlag", 1),
           # custom weights, 2 bits each, in the order of Table 4-6 (HH1 first, LL3 last)
           ("CustomWtHH1", 2), ("CustomWtHL1", 2), ("CustomWtLH1", 2), ("CustomWtHH2", 2),
           ("CustomWtHL2", 2), ("CustomWtLH2", 2), ("CustomWtHH3", 2), ("CustomWtHL3", 2),
           ("CustomWtLH3", 2), ("CustomWtLL3", 2), ("Reserved4b", 11))),
)

PART_NAMES = tuple(p for p, _ in PARTS)
#: bit widths per part, as int64 arrays (index = position in :data:`PARTS`) for the Numba reader
WIDTHS: tuple[np.ndarray, ...] = tuple(np.array([b for _, b in f], dtype=np.int64) for _, f in PARTS)
#: field name -> (part index, field index)
FIELD_INDEX: dict[str, tuple[int, int]] = {n: (pi, fi) for pi, (_, f) in enumerate(PARTS)
                                           for fi, (n, _) in enumerate(f)}
#: bytes per part
PART_BYTES: tuple[int, ...] = tuple(int(w.sum()) // 8 for w in WIDTHS)
assert all(int(w.sum()) % 8 == 0 for w in WIDTHS)

# DWTtype values (Part 4)
DWT_FLOAT, DWT_INTEGER = 0, 1
#: default subband weights of the integer DWT as bit shifts (§3.9, Table 3-4), in the
#: order LL3, HL3, LH3, HH3, HL2, LH2, HH2, HL1, LH1, HH1 used by the kernels
DEFAULT_SHIFTS = np.array([3, 3, 3, 2, 2, 2, 1, 1, 1, 0], dtype=np.int32)
#: header field name of each kernel weight index
WEIGHT_FIELDS = ("CustomWtLL3", "CustomWtHL3", "CustomWtLH3", "CustomWtHH3", "CustomWtHL2",
                 "CustomWtLH2", "CustomWtHH2", "CustomWtHL1", "CustomWtLH1", "CustomWtHH1")


def part_values(part: str, fields: dict[str, int]) -> np.ndarray:
    """Field values of one part in table order (missing fields are 0)."""
    pi = PART_NAMES.index(part)
    return np.array([int(fields.get(n, 0)) for n, _ in PARTS[pi][1]], dtype=np.int64)


def pack(fields: dict[str, int]) -> bytes:
    """Header bytes of one segment: Part 1A, then 1B/2/3/4 as the flags in ``fields`` say.

    Raises ``ValueError`` when a value does not fit its field.
    """
    present = _present(fields)
    out = bytearray()
    for (part, flds) in PARTS:
        if part not in present:
            continue
        acc, nbits = 0, 0
        for name, bits in flds:
            v = int(fields.get(name, 0))
            if v < 0 or v >> bits:
                raise ValueError(f"CCSDS 122 header field {name}={v} does not fit in {bits} bits")
            acc = (acc << bits) | v
            nbits += bits
        out += acc.to_bytes(nbits // 8, "big")
    return bytes(out)


def _present(fields: dict[str, int]) -> set[str]:
    present = {"1A"}
    if fields.get("EndImgFlag"):
        present.add("1B")
    for p in ("2", "3", "4"):
        if fields.get(f"Part{p}Flag"):
            present.add(p)
    return present


def unpack(data: bytes | np.ndarray, offset: int = 0) -> tuple[dict[str, int], int]:
    """Parse the header at byte ``offset``: (fields of the parts present, header length in bytes).

    Raises ``EOFError`` if the data end inside the header.
    """
    buf = bytes(data[offset:offset + sum(PART_BYTES)])
    fields: dict[str, int] = {}
    pos = 0
    for part, flds in PARTS:
        if part != "1A":
            flag = fields["EndImgFlag"] if part == "1B" else fields[f"Part{part}Flag"]
            if not flag:
                continue
        nbytes = PART_BYTES[PART_NAMES.index(part)]
        if pos + nbytes > len(buf):
            raise EOFError(f"segment header part {part} truncated")
        acc = int.from_bytes(buf[pos:pos + nbytes], "big")
        shift = nbytes * 8
        for name, bits in flds:
            shift -= bits
            fields[name] = (acc >> shift) & ((1 << bits) - 1)
        pos += nbytes
    return fields, pos
