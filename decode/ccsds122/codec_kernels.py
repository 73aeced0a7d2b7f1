"""Numba drivers of the CCSDS 122 codec: every segment of an image in parallel (``prange``)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from decode.ccsds122.bpe_kernels import encode_body, segment_depths


@njit(cache=True, parallel=True)
def depths_all(blocks, starts, sizes):
    """(BitDepthDC, BitDepthAC) of every segment."""
    n = starts.shape[0]
    dcd = np.zeros(n, np.int64)
    acd = np.zeros(n, np.int64)
    for g in prange(n):
        a, b = segment_depths(blocks, starts[g], sizes[g])
        dcd[g] = a
        acd[g] = b
    return dcd, acd


@njit(cache=True, parallel=True)
def encode_all(blocks, starts, sizes, hlen, dcd, acd, wts, is_int, limits):
    """Code every segment into a row of ``out`` after ``hlen`` header bytes (left zero for the
    caller); returns (out, segment lengths in bytes, cut to the byte limit when set)."""
    n = starts.shape[0]
    smax = 0
    for g in range(n):
        smax = max(smax, sizes[g])
    cap = smax * 64 * 5 + 64
    out = np.zeros((n, cap), np.uint8)
    nbytes = np.zeros(n, np.int64)
    for g in prange(n):
        blk = blocks[starts[g]:starts[g] + sizes[g]]
        pos = encode_body(blk, wts, is_int, dcd[g], acd[g], out[g], hlen[g] * 8)
        nb = (pos + 7) >> 3
        if limits[g] and nb > limits[g]:
            nb = limits[g]
        nbytes[g] = nb
    return out, nbytes


@njit(cache=True)
def unweight(c, wts, out):
    """Divide each subband by its weight 2**w, rounding to nearest (exact when lossless)."""
    rows, cols = c.shape
    for r in range(rows):
        for cc in range(cols):
            w = wts[_band(r, cc, rows, cols)]
            v = c[r, cc]
            if w:
                h = np.int64(1) << (w - 1)
                v = (v + h) >> w if v >= 0 else -((-v + h) >> w)
            out[r, cc] = v


@njit(cache=True, inline="always")
def _band(r, c, rows, cols):
    for lev in range(1, 4):
        hr = r >= (rows >> lev)
        hc = c >= (cols >> lev)
        if hr or hc:
            base = 7 - 3 * (lev - 1)
            if hr and hc:
                return base + 2
            if hc:
                return base
            return base + 1
    return 0
