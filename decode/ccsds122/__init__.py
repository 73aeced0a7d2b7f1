"""CCSDS 122.0-B-2 image codec (DWT + bit-plane encoder), exact with the reference encoder.

Public API (stable; used by the simulator for compression id 2 and by the decoder, ICD §4.1)::

    from decode import ccsds122
    data = ccsds122.encode(image, segment=128, bits=12)                 # lossless, integer DWT
    data = ccsds122.encode(image, segment=256, bits=12, dwt="float", bpp=1.0)   # byte-limited
    image = ccsds122.decode(data)                                       # ndarray (rows, cols)
    image, report = ccsds122.decode_report(data)      # damaged stream: partial image + report
                                                      # (report.rows_ok: exact pixel rows)
    images = ccsds122.decode_many([d1, d2, ...], workers=2)    # independent images in parallel
    info = ccsds122.info(data)                                          # headers, segments, rate

Segments have no length field, so within one image they are decoded one after the other (the
encoder codes them in parallel); the kernels release the GIL, so independent images (e.g. the
blocks of a pass, one 122 image each) decode in parallel threads with :func:`decode_many`.

Damage: a segment whose body holds an invalid code, ends past the data, or is not followed by
the next header is reported (segment number and byte offset), its blocks are zeroed, and
decoding resumes at the next Part 1A header found by scanning (expected SegmentCount, body
decodes, next header follows). :func:`decode` raises :class:`~srd.errors.CompressionError`;
:func:`decode_report` returns the image with ``rows_ok`` False on every pixel row the lost
blocks reach through the inverse DWT.

Stream layout (what the reference encoder writes and ICD §4.1 adopts): the image's segments
back to back, each byte-aligned, no length fields, 8-bit code words, optimum code selection;
Part 1A of the header in every segment, Parts 2, 3 and 4 in the first, Part 1B in the last
(with Parts 2 and 3 again when the last segment has fewer blocks). The image height is in no
header: it follows from the number of blocks and PadRows.

Units: pixels are integers of ``bits`` bits (1..16), signed (two's complement) or unsigned;
``segment`` is S, the number of 8×8-coefficient blocks per segment (16..2**20); a byte-limited
segment (``seg_byte_limit`` bytes including its header, or ``bpp`` bits per padded pixel, i.e.
SegByteLimit = floor(bpp·S·64/8)) is the lossless segment cut at that length.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from srd.errors import CompressionError

from . import headers as _h

__all__ = ["encode", "decode", "decode_report", "decode_many", "info", "StreamInfo",
           "DecodeReport", "icd_params", "parse_icd_params"]

MIN_SIZE = 17
MAX_S = 1 << 20


# ------------------------------------------------------------------- ICD §4.1 parameters
def icd_params(dwt: str = "int", seg_byte_limit: int = 0) -> bytes:
    """The 3 compression-parameter bytes of an ICD §4.1 image block header for compression id 2:
    DWT type (u8: 0 integer 9/7, 1 float 9/7), segment byte limit in units of 16 bytes (u16,
    big-endian, 0 = unlimited). Raises CompressionError if the limit is not a multiple of 16."""
    if dwt not in ("int", "float"):
        raise CompressionError(f"dwt must be 'int' or 'float', not {dwt!r}", field="dwt")
    if seg_byte_limit % 16 or not 0 <= seg_byte_limit // 16 < 1 << 16:
        raise CompressionError(f"segment byte limit {seg_byte_limit} is not a multiple of 16 "
                               "below 1 MiB (ICD §4.1 carries it in 16-byte units)",
                               field="seg_byte_limit")
    return bytes([0 if dwt == "int" else 1]) + (seg_byte_limit // 16).to_bytes(2, "big")


def parse_icd_params(params: bytes) -> tuple[str, int]:
    """Inverse of :func:`icd_params`: (dwt, segment byte limit in bytes)."""
    if len(params) != 3 or params[0] > 1:
        raise CompressionError(f"CCSDS 122 block parameters {bytes(params).hex()} invalid "
                               "(DWT type must be 0 or 1)", field="params")
    return ("int" if params[0] == 0 else "float"), int.from_bytes(params[1:3], "big") * 16


# ------------------------------------------------------------------------------ encoder
def encode(image, segment: int = 256, bits: int = 12, signed: bool = False, dwt: str = "int",
           seg_byte_limit: int | None = None, bpp: float | None = None,
           weights=None, use_fill: bool = False, workers: int | None = None) -> bytes:
    """Compress ``image`` (2-D integer array, rows × columns) into a CCSDS 122.0-B-2 stream.

    ``dwt='int'``: integer 9/7 (lossless unless byte-limited), ``'float'``: float 9/7.
    ``seg_byte_limit`` (bytes per segment, headers included) or ``bpp`` (bits per pixel after
    padding to multiples of 8) make byte-limited segments; the last, shorter segment gets
    floor(bpp·S_last·8) bytes (with ``seg_byte_limit``: floor(limit·S_last/S)).
    ``weights``: custom integer-DWT subband weights as 10 shifts 0..3 in the order LL3, HL3,
    LH3, HH3, HL2, LH2, HH2, HL1, LH1, HH1 (§3.9; sent in Part 4 with CustomWtFlag); default:
    the standard's weights, not transmitted (as the reference encoder does).
    ``use_fill``: byte-limited segments that end early are filled with zeros up to the limit
    (Part 2 UseFill, constant-rate output). ``workers``: threads coding segments in parallel
    (default all CPUs, 1 = sequential).
    Raises :class:`~srd.errors.CompressionError` (a ``ValueError``) naming the bad argument.
    """
    img = _check_image(image, bits, signed)
    if weights is not None:
        weights = np.asarray(weights, np.int64)
        if dwt != "int" or weights.shape != (10,) or weights.min() < 0 or weights.max() > 3:
            raise CompressionError("weights: 10 shifts 0..3 (LL3 … HH1), integer DWT only",
                                   field="weights")
    if dwt not in ("int", "float"):
        raise CompressionError(f"dwt must be 'int' or 'float', not {dwt!r}", field="dwt")
    if not (16 <= int(segment) <= MAX_S):
        raise CompressionError(f"segment size S={segment} outside 16..{MAX_S}", field="segment")
    if seg_byte_limit is not None and bpp is not None:
        raise CompressionError("give seg_byte_limit or bpp, not both", field="bpp")
    S = int(segment)
    if bpp is not None:
        if not bpp > 0:
            raise CompressionError(f"bpp must be > 0, got {bpp}", field="bpp")
        limit = int(np.floor(bpp * S * 64 / 8))
    else:
        limit = int(seg_byte_limit or 0)
    if limit and limit < 20:
        raise CompressionError(f"segment byte limit {limit} is smaller than the headers",
                               field="seg_byte_limit")
    if limit >= 1 << 27:
        raise CompressionError(f"segment byte limit {limit} does not fit 27 bits",
                               field="seg_byte_limit")
    rows, cols = img.shape
    blocks = forward(img, dwt, weights)
    nblocks = blocks.shape[0]
    sizes = [S] * (nblocks // S) + ([nblocks % S] if nblocks % S else [])
    nseg = len(sizes)
    starts = np.cumsum([0] + sizes[:-1]).astype(np.int64)
    pad_rows = (-rows) % 8
    from .codec_kernels import depths_all
    dcd, acd = depths_all(blocks, starts, np.array(sizes, np.int64))
    hdrs = []
    for g in range(nseg):
        last = g == nseg - 1
        short = last and sizes[g] != S
        f = {"StartImgFlag": int(g == 0), "EndImgFlag": int(last), "SegmentCount": g % 256,
             "BitDepthDC": int(dcd[g]), "BitDepthAC": int(acd[g]),
             "Part2Flag": int(g == 0 or short), "Part3Flag": int(g == 0 or short),
             "Part4Flag": int(g == 0), "PadRows": pad_rows if last else 0}
        if f["Part2Flag"]:
            if limit and short:
                seg_limit = (int(np.floor(bpp * sizes[g] * 64 / 8)) if bpp is not None
                             else limit * sizes[g] // S)
            else:
                seg_limit = limit
            f.update(SegByteLimit=seg_limit, StageStop=3, UseFill=int(bool(use_fill and limit)))
        if f["Part3Flag"]:
            f.update(S=sizes[g], OptDCSelect=1, OptACSelect=1)
        if f["Part4Flag"]:
            f.update(DWTtype=_h.DWT_INTEGER if dwt == "int" else _h.DWT_FLOAT,
                     SignedPixels=int(signed), PixelBitDepth=bits % 16, ImageWidth=cols)
            if weights is not None:
                f["CustomWtFlag"] = 1
                f.update({n: int(w) for n, w in zip(_h.WEIGHT_FIELDS, weights)})
        hdrs.append(_h.pack(f))
    seg_limits = np.zeros(nseg, np.int64)
    lim = limit
    for g in range(nseg):
        if g == nseg - 1 and sizes[g] != S and limit:
            lim = (int(np.floor(bpp * sizes[g] * 64 / 8)) if bpp is not None
                   else limit * sizes[g] // S)
        seg_limits[g] = lim
    hlen = np.array([len(h) for h in hdrs], np.int64)
    for g in range(nseg):
        if seg_limits[g] and seg_limits[g] <= hlen[g]:
            raise CompressionError(f"segment {g}: byte limit {seg_limits[g]} leaves no room after "
                                   f"its {hlen[g]}-byte header (S={sizes[g]} blocks)",
                                   field="seg_byte_limit", segment=g)
    wts = _weights(dwt == "int") if weights is None else weights
    fill = bool(use_fill and limit)

    def code(g):
        """Segment g: header + coded body, cut at (or filled to) its byte limit."""
        from .bpe_kernels import encode_body
        n = int(sizes[g])
        buf = np.zeros(max(n * 64 * 5 + 64, int(seg_limits[g])), np.uint8)
        pos = encode_body(blocks[starts[g]:starts[g] + n], wts, dwt == "int", dcd[g], acd[g],
                          buf, int(hlen[g]) * 8)
        nb = (pos + 7) >> 3
        if seg_limits[g] and (nb > seg_limits[g] or fill):
            nb = int(seg_limits[g])
        buf[:hlen[g]] = np.frombuffer(hdrs[g], np.uint8)
        return buf[:nb].tobytes()
    if nseg > 1 and workers != 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=min(nseg, workers or os.cpu_count() or 1)) as ex:
            parts = list(ex.map(code, range(nseg)))
    else:
        parts = [code(g) for g in range(nseg)]
    return b"".join(parts)


def _check_image(image, bits: int, signed: bool) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 2:
        raise CompressionError(f"image must be 2-D, got shape {a.shape}", field="image")
    if not np.issubdtype(a.dtype, np.integer):
        raise CompressionError(f"image must have an integer dtype, got {a.dtype}", field="image")
    if a.shape[0] < MIN_SIZE or a.shape[1] < MIN_SIZE:
        raise CompressionError(f"image {a.shape[0]}×{a.shape[1]} is smaller than "
                               f"{MIN_SIZE}×{MIN_SIZE}", field="image")
    if a.shape[1] >= 1 << 20:
        raise CompressionError(f"image width {a.shape[1]} does not fit 20 bits", field="image")
    if not (1 <= int(bits) <= 16):
        raise CompressionError(f"bits={bits} outside 1..16", field="bits")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if a.size and (a.min() < lo or a.max() > hi):
        raise CompressionError(f"pixel values {a.min()}..{a.max()} outside the "
                               f"{'signed' if signed else 'unsigned'} {bits}-bit range "
                               f"{lo}..{hi}", field="image")
    return a


def _weights(is_int: bool, fields: dict | None = None) -> np.ndarray:
    if not is_int:
        return np.zeros(10, np.int64)
    if fields and fields.get("CustomWtFlag"):
        return np.array([fields[n] for n in _h.WEIGHT_FIELDS], np.int64)
    return _h.DEFAULT_SHIFTS.astype(np.int64)


def forward(img: np.ndarray, dwt: str, weights=None) -> np.ndarray:
    """Pad (replicate last row/column to multiples of 8), 3-level DWT, weight, regroup:
    the block string (blocks, 64) int32 the bit-plane encoder codes (§3, §4.1)."""
    from .dwt_kernels import fwd_float_2d, fwd_int_2d, regroup, round_half_away, scale_int
    rows, cols = img.shape
    padded = np.pad(img.astype(np.int64), ((0, (-rows) % 8), (0, (-cols) % 8)), mode="edge")
    if dwt == "int":
        c = np.ascontiguousarray(padded, dtype=np.int32)
        fwd_int_2d(c, 3)
        scale_int(c, _h.DEFAULT_SHIFTS if weights is None else np.asarray(weights, np.int32),
                  False)
    else:
        f = np.ascontiguousarray(padded, dtype=np.float64)
        fwd_float_2d(f, 3)
        c = np.empty(f.shape, np.int32)
        round_half_away(f, c)
    blocks = np.empty(((c.shape[0] // 8) * (c.shape[1] // 8), 64), np.int32)
    regroup(c, blocks)
    return blocks


# ------------------------------------------------------------------------------ decoder
@dataclass(frozen=True)
class StreamInfo:
    width: int
    height: int
    bits: int
    signed: bool
    dwt: str
    segment_size: int
    segments: int
    blocks: int
    pad_rows: int
    seg_byte_limit: int
    bytes: int
    bpp: float                  # bits per (unpadded) pixel
    custom_weights: bool
    #: per segment: index, offset, length, header_bytes, blocks, first_block, bit_depth_dc,
    #: bit_depth_ac, seg_byte_limit, status ("ok", "truncated" at the byte limit, "error: ...")
    segment_list: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DecodeReport:
    """What :func:`decode_report` found.

    ``block_rows_ok`` (ceil(height/8),): False where a block of that row of blocks was not
    decoded. ``rows_ok`` (height,): False for every pixel row the lost blocks reach through the
    inverse DWT (the 9/7 synthesis over 3 levels spreads a block row r over pixel rows
    8r-21 … 8r+35): only rows_ok rows are guaranteed exact (lossless) / as coded (lossy).
    """
    info: StreamInfo
    block_rows_ok: np.ndarray
    rows_ok: np.ndarray
    errors: list

    def to_dict(self) -> dict:
        return {"info": self.info.to_dict(), "block_rows_lost": int((~self.block_rows_ok).sum()),
                "rows_lost": int((~self.rows_ok).sum()), "errors": list(self.errors)}


def _parse(data: bytes, want_coefficients: bool, workers: int | None = 1):
    """Walk the segments, decoding their bodies (segment ends are only known by decoding).

    Byte-limited streams: segments that reach their limit are exactly SegByteLimit bytes long,
    so with ``workers`` > 1 every segment is first decoded speculatively in parallel threads at
    offset k·SegByteLimit; the sequential walk then takes a speculative result only where its
    own header and offset agree (anything else is decoded again in order).

    A damaged segment (invalid code, data ending inside it, or a next header that is not where
    it ended) is reported and its blocks flagged; decoding then resumes at the next header
    found by scanning forward (Part 1A with the expected SegmentCount whose body decodes and is
    followed by another such header or the end of the data).
    """
    from .bpe_kernels import word_table
    buf = np.frombuffer(data, np.uint8)
    W = word_table(buf)
    total = len(buf)
    off = 0
    seg = 0
    params: dict | None = None
    segs: list[dict] = []
    errors: list[str] = []
    coef_chunks: list[np.ndarray] = []
    ok_chunks: list[np.ndarray] = []
    end_seen = False
    S = limit = nblocks = 0
    f: dict = {}
    spec: dict = {}
    while off < total and not end_seen:
        resync_from = expected = None
        try:
            f, hl = _h.unpack(buf, off)
            if seg == 0:
                if not (f["StartImgFlag"] and f["Part2Flag"] and f["Part3Flag"]
                        and f["Part4Flag"]):
                    raise CompressionError("first segment lacks StartImgFlag or header parts "
                                           "2-4", offset=off, field="StartImgFlag", segment=0)
                params = dict(f)
                _check_params(params, off)
            else:
                if f["StartImgFlag"]:
                    raise CompressionError(f"StartImgFlag set again", offset=off,
                                           field="StartImgFlag", segment=seg)
                if f["SegmentCount"] != seg % 256:
                    raise CompressionError(f"SegmentCount {f['SegmentCount']} (expected "
                                           f"{seg % 256})", offset=off, field="SegmentCount",
                                           segment=seg)
                if f["Part4Flag"]:
                    params.update({k: v for k, v in f.items() if k in _PART4})
                    _check_params(params, off)
        except (EOFError, CompressionError) as e:
            if seg == 0:
                if isinstance(e, CompressionError):
                    raise
                raise CompressionError(f"segment 0: {e}", offset=off, field="header",
                                       segment=0) from None
            if isinstance(e, EOFError):         # the data end inside a header: stream cut
                errors.append(f"segment {seg} (offset {off}): data end inside its header")
                segs.append({"index": seg, "offset": off, "length": total - off,
                             "header_bytes": 0, "blocks": S, "first_block": nblocks,
                             "bit_depth_dc": 0, "bit_depth_ac": 0, "seg_byte_limit": limit,
                             "status": "error: data end inside the header"})
                if want_coefficients:
                    coef_chunks.append(np.zeros((S, 64), np.int32))
                    ok_chunks.append(np.zeros(S, bool))
                nblocks += S
                break
            msg = e.message
            if _resync(buf, W, total, off, seg, S, limit, params, stop=off + 1) is not None:
                # a later segment's header right here: the segments in between are missing
                resync_from, expected = off, seg
            else:
                # the previous segment did not end where its decoding said: it is damaged
                prev = segs[-1]
                if prev["status"] in ("ok", "truncated"):
                    prev["status"] = "error: desynchronised"
                    if want_coefficients:
                        ok_chunks[-1][:] = False
                        coef_chunks[-1][:] = 0
                errors.append(f"segment {prev['index']} (offset {prev['offset']}): damaged — "
                              f"the next header is not at offset {off} ({msg})")
                resync_from, expected = prev["offset"] + prev["header_bytes"], seg
        if resync_from is None:
            if f["Part2Flag"]:
                limit = f["SegByteLimit"]
                params.update({k: f[k] for k in ("SegByteLimit", "DCStop", "BitPlaneStop",
                                                 "StageStop", "UseFill")})
                _check_params(params, off)
            if f["Part3Flag"]:
                S = f["S"]
                if S < 1:
                    raise CompressionError("S = 0", offset=off, field="S", segment=seg)
            end_seen = bool(f["EndImgFlag"])
            if seg == 0 and limit and workers != 1 and total > 2 * limit:
                spec = _speculate(buf, W, total, f, hl, S, limit, params, want_coefficients,
                                  workers)
            key = (off, hl, S, limit, f["BitDepthDC"], f["BitDepthAC"])
            if spec and key in spec:
                status, used, coefs = spec.pop(key)
            else:
                status, used, coefs = _decode_segment(W, total, off, hl, f, S, limit, params,
                                                      want_coefficients)
            if status.startswith("error"):
                errors.append(f"segment {seg} (offset {off}): {status[7:]}")
            if want_coefficients:
                if status.startswith("error"):
                    coefs[:] = 0            # damaged: no garbage coefficients
                coef_chunks.append(coefs)
                ok_chunks.append(np.full(S, not status.startswith("error")))
            segs.append({"index": seg, "offset": off, "length": hl + used, "header_bytes": hl,
                         "blocks": S, "first_block": nblocks, "bit_depth_dc": f["BitDepthDC"],
                         "bit_depth_ac": f["BitDepthAC"], "seg_byte_limit": limit,
                         "status": status})
            nblocks += S
            if not status.startswith("error"):
                off += hl + used
                seg += 1
                continue
            end_seen = False
            resync_from, expected = off + hl, seg + 1
        # resynchronise on the next plausible header
        found = _resync(buf, W, total, resync_from, expected, S, limit, params)
        if found is None:
            errors.append(f"no segment header found after offset {resync_from}: the rest of "
                          f"the image is lost")
            break
        p, delta = found
        for j in range(delta):          # whole segments lost between
            if want_coefficients:
                coef_chunks.append(np.zeros((S, 64), np.int32))
                ok_chunks.append(np.zeros(S, bool))
            segs.append({"index": expected + j, "offset": -1, "length": 0, "header_bytes": 0,
                         "blocks": S, "first_block": nblocks, "bit_depth_dc": 0,
                         "bit_depth_ac": 0, "seg_byte_limit": limit, "status": "error: lost"})
            errors.append(f"segment {expected + j}: lost (not found in the data)")
            nblocks += S
        seg = expected + delta
        off = p
    if params is None:
        raise CompressionError("empty CCSDS 122 stream", offset=0, field="header")
    width = params["ImageWidth"]
    bcols = (width + 7) // 8
    pad_rows = f.get("PadRows", 0) if end_seen else 0
    if not end_seen and not errors:
        errors.append(f"stream ends after segment {seg - 1} without EndImgFlag")
    brows = -(-nblocks // bcols)
    height = brows * 8 - pad_rows
    if height < MIN_SIZE and end_seen:
        raise CompressionError(f"image height {height} < {MIN_SIZE} ({nblocks} blocks of "
                               f"{bcols} per row, PadRows {pad_rows})", offset=0,
                               field="PadRows")
    bits = params["PixelBitDepth"] or 16
    inf = StreamInfo(width=width, height=height, bits=bits, signed=bool(params["SignedPixels"]),
                     dwt="int" if params["DWTtype"] == _h.DWT_INTEGER else "float",
                     segment_size=segs[0]["blocks"], segments=len(segs), blocks=nblocks,
                     pad_rows=pad_rows, seg_byte_limit=segs[0]["seg_byte_limit"], bytes=total,
                     bpp=round(total * 8 / max(1, width * height), 4),
                     custom_weights=bool(params.get("CustomWtFlag")),
                     segment_list=segs)
    return inf, coef_chunks, ok_chunks, errors


def _speculate(buf, W, total, f0, hl0, S, limit, params, want_coefficients, workers):
    """Decode, in parallel threads, the segments assumed at offsets k·limit (k ≥ 1) plus the
    first: {(offset, header bytes, S, limit, BitDepthDC, BitDepthAC): result}."""
    from concurrent.futures import ThreadPoolExecutor
    jobs = [(0, f0, hl0, S, limit)]
    for k in range(1, -(-total // limit)):
        off = k * limit
        try:
            f, hl = _h.unpack(buf, off)
        except EOFError:
            break
        if f["StartImgFlag"] or f["SegmentCount"] != k % 256 or f["Part4Flag"]:
            break
        jobs.append((off, f, hl, f["S"] if f["Part3Flag"] else S,
                     f["SegByteLimit"] if f["Part2Flag"] else limit))

    def run(job):
        off, f, hl, s_, lim = job
        return ((off, hl, s_, lim, f["BitDepthDC"], f["BitDepthAC"]),
                _decode_segment(W, total, off, hl, f, s_, lim, params, want_coefficients))
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as ex:
        return dict(ex.map(run, jobs))


def _decode_segment(W, total, off, hl, f, S, limit, params, want_coefficients):
    """Decode one segment body: (status, body bytes used, coefficients or None)."""
    from .bpe_kernels import CORRUPT, TRUNCATED, decode_fast, reconstruct_fast
    body = off + hl
    limit_bits = max(0, (total - body) * 8)
    if limit:
        limit_bits = max(0, min(limit_bits, (limit - hl) * 8))
    is_int = params["DWTtype"] == _h.DWT_INTEGER
    wts = _weights(is_int, params)
    mag = np.empty((S, 63), np.int32)
    sig = np.empty(S, np.int64)
    sp = np.empty((S, 63), np.int8)
    dc = np.zeros(S, np.int64)
    dckb = np.empty(S, np.int64)
    stop = np.zeros(3, np.int64)
    pos, st = decode_fast(W, body * 8, body * 8 + limit_bits, S, wts, is_int,
                          f["BitDepthDC"], f["BitDepthAC"], mag, sig, sp, dc, dckb, stop)
    used = (pos - body * 8 + 7) // 8
    status = "ok"
    if st == TRUNCATED:
        if not limit or (limit - hl) * 8 > limit_bits:
            status = "error: data end inside the segment"
        else:
            status = "truncated"
        used = limit_bits // 8
    elif st == CORRUPT:
        status = f"error: invalid code near bit {pos - body * 8} of its body"
    if params.get("UseFill") and limit:
        used = max(used, limit - hl)
    coefs = None
    if want_coefficients:
        coefs = np.empty((S, 64), np.int32)
        reconstruct_fast(mag, sig, sp, dc, dckb, wts, stop, coefs)
    return status, used, coefs


def _plausible(buf, p, expected, max_delta=8):
    """A non-first Part 1A at byte ``p`` whose SegmentCount is ``expected`` + 0..7 (mod 256)."""
    try:
        f, hl = _h.unpack(buf, p)
    except EOFError:
        return None
    if (f["StartImgFlag"] or f["Reserved1A"] or f["Part4Flag"] or f["BitDepthDC"] == 0
            or ((f["Part2Flag"] or f["Part3Flag"]) and not f["EndImgFlag"])):
        return None
    delta = (f["SegmentCount"] - expected) % 256
    if delta >= max_delta:
        return None
    return f, hl, delta


def _resync(buf, W, total, start, expected, S, limit, params, stop=None):
    """First offset in [start, stop) holding the header of segment ``expected`` + delta whose
    body decodes cleanly and ends at the data end or at the next segment's header."""
    end = min(total - 2, stop or total)
    if end <= start:
        return None
    # vectorised pre-filter on Part 1A bits: StartImgFlag 0, SegmentCount in range,
    # Reserved1A 0, Part4Flag 0
    b0 = buf[start:end].astype(np.int64)
    b1 = buf[start + 1:end + 1].astype(np.int64)
    b2 = buf[start + 2:end + 2].astype(np.int64)
    cnt = ((b0 & 0x3F) << 2) | (b1 >> 6)
    ok = ((b0 & 0x80) == 0) & (((cnt - expected) % 256) < 8) & ((b2 & 0x09) == 0)
    for p in (start + np.flatnonzero(ok)).tolist():
        c = _plausible(buf, p, expected)
        if c is None:
            continue
        f, hl, delta = c
        s_here = f["S"] if f["Part3Flag"] else S
        lim = f["SegByteLimit"] if f["Part2Flag"] else limit
        if s_here < 1:
            continue
        status, used, _ = _decode_segment(W, total, p, hl, f, s_here, lim, params, False)
        if status.startswith("error"):
            continue
        nxt = p + hl + used
        if f["EndImgFlag"] or nxt >= total or _plausible(buf, nxt, expected + delta + 1, 1):
            return p, delta
    return None


_PART4 = {n for n, _ in _h.PARTS[4][1]}


def _check_params(p: dict, off: int) -> None:
    def bad(msg, fld):
        raise CompressionError(msg, offset=off, field=fld)
    if p.get("CodeWordLength", 0) != 0:
        bad(f"code word length {p['CodeWordLength']} unsupported (8-bit words only)",
            "CodeWordLength")
    if p.get("TransposeImg"):
        bad("transposed images are not supported", "TransposeImg")
    if p.get("ExtendedPixelBitDepthFlag"):
        bad("pixel depths above 16 bits are not supported", "ExtendedPixelBitDepthFlag")
    if p.get("ImageWidth", 17) < MIN_SIZE:
        bad(f"image width {p.get('ImageWidth')} < {MIN_SIZE}", "ImageWidth")
    if p.get("DCStop") or p.get("BitPlaneStop") or p.get("StageStop", 3) != 3:
        bad("DCStop/BitPlaneStop/StageStop truncation is not supported", "StageStop")


def info(data: bytes) -> StreamInfo:
    """Headers and segments of a stream (decodes the bodies to find the segment boundaries)."""
    inf, _, _, _ = _parse(bytes(data), False)
    return inf


def decode_report(data: bytes, rows: int | None = None,
                  workers: int | None = None) -> tuple[np.ndarray, DecodeReport]:
    """Decode what can be decoded: (image, report). Blocks of segments that could not be
    decoded are zero and flagged (``report.block_rows_ok``, ``report.rows_ok``); never raises
    for a damaged body after a valid first header.

    ``rows``: the image height when known from elsewhere (e.g. the ICD block header) — the
    stream itself only tells it through its last segment, so a stream cut short otherwise
    yields a shorter image; with ``rows`` the missing rows are zero and flagged.
    ``workers``: threads for byte-limited streams (segments at known offsets decode in
    parallel); default all CPUs, 1 = sequential.
    """
    inf, chunks, oks, errors = _parse(bytes(data), True, workers)
    if rows is not None:
        if inf.pad_rows or not errors:      # the stream states its height: it must agree
            if inf.height != rows:
                errors = errors + [f"stream height {inf.height} != expected {rows} rows"]
        inf = StreamInfo(**{**asdict(inf), "height": int(rows)})
    bcols = (inf.width + 7) // 8
    # at least 3 block rows so the inverse DWT has its 5 samples at level 3 (partial streams)
    brows = max(3, -(-max(inf.blocks, 1) // bcols), -(-inf.height // 8))
    total_blocks = brows * bcols
    okb = np.zeros(total_blocks, bool)
    if len(chunks) == 1 and len(chunks[0]) == total_blocks:
        coefs = chunks[0]
    else:
        coefs = np.zeros((total_blocks, 64), np.int32)
        i = 0
        for c in chunks:
            coefs[i:i + len(c)] = c[:total_blocks - i]
            i += len(c)
    i = 0
    for o in oks:
        okb[i:i + len(o)] = o[:total_blocks - i]
        i += len(o)
    img = inverse(coefs, brows * 8, bcols * 8, inf.dwt == "int",
                  _weights(inf.dwt == "int", None if not inf.custom_weights else
                           _first_fields(data)))
    from .dwt_kernels import clip_cast
    h = max(inf.height, 0)
    lo, hi = ((-(1 << (inf.bits - 1)), (1 << (inf.bits - 1)) - 1) if inf.signed
              else (0, (1 << inf.bits) - 1))
    out = np.empty((h, inf.width), np.int16 if inf.signed else np.uint16)
    clip_cast(img, lo, hi, out)
    block_ok = okb.reshape(brows, bcols).all(axis=1)
    rows_ok = np.ones(h, bool)
    for r in np.flatnonzero(~block_ok):
        rows_ok[max(0, 8 * r - 21):max(0, 8 * r + 36)] = False
    return out, DecodeReport(inf, block_ok[:-(-h // 8)], rows_ok, errors)


def _first_fields(data: bytes) -> dict:
    return _h.unpack(np.frombuffer(data, np.uint8), 0)[0]


def decode(data: bytes, rows: int | None = None, workers: int | None = None) -> np.ndarray:
    """Decompress a CCSDS 122.0-B-2 stream to a 2-D array (uint16, or int16 when signed).

    Lossless streams decode exactly; byte-limited streams are reconstructed at the middle of
    each coefficient's remaining interval. ``rows``: expected height (checked); ``workers``:
    threads for byte-limited streams (see :func:`decode_report`). Raises :class:`~srd.errors.CompressionError` naming
    the segment and byte offset when a segment cannot be decoded.
    """
    img, rep = decode_report(data, rows, workers)
    if rep.errors:
        first = rep.info.segment_list[-1]
        raise CompressionError("; ".join(rep.errors), offset=first["offset"],
                               field="segment", segment=first["index"])
    return img


def decode_many(streams, workers: int | None = None, reports: bool = False) -> list:
    """Decode independent streams in parallel threads (the Numba kernels release the GIL).

    Returns the images in order (or ``(image, DecodeReport)`` pairs when ``reports``; then a
    damaged stream does not raise). ``workers`` defaults to the number of CPUs.
    """
    from concurrent.futures import ThreadPoolExecutor
    streams = list(streams)
    def fn(s):          # parallel over images, each image sequential (no nested pools)
        return decode_report(s, workers=1) if reports else decode(s, workers=1)
    if len(streams) <= 1 or workers == 1:
        return [fn(s) for s in streams]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as ex:
        return list(ex.map(fn, streams))


def inverse(coefs: np.ndarray, rows: int, cols: int, is_int: bool, wts: np.ndarray) -> np.ndarray:
    """Block string (weighted coefficients) -> padded image (int64): ungroup, unweight, IDWT."""
    from .dwt_kernels import inv_float_2d, inv_int_2d, ungroup_unweight
    ci = np.empty((rows, cols), np.int32)
    ungroup_unweight(coefs, ci, wts if is_int else np.zeros(10, np.int64))
    if is_int:
        inv_int_2d(ci, 3)
        return ci
    f = ci.astype(np.float64)
    inv_float_2d(f, 3)
    from .dwt_kernels import round_half_away
    round_half_away(f, ci)
    return ci
