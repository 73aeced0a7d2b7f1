"""Numba drivers of the CCSDS 122 codec: every segment of an image in parallel (``prange``)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from decode.ccsds122.bpe_kernels import encode_body, segment_depths


@njit(cache=True, parallel=True, nogil=True)
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


@njit(cache=True, parallel=True, nogil=True)
def encode_all(blocks, starts, sizes, hlen, dcd, acd, wts, is_int, limits, fill):
    """Code every segment into a row of ``out`` after ``hlen`` header bytes (left zero for the
    caller); returns (out, segment lengths in bytes, cut to the byte limit when set, or filled
    with zeros up to it when ``fill``)."""
    n = starts.shape[0]
    smax = 0
    lmax = 0
    for g in range(n):
        smax = max(smax, sizes[g])
        lmax = max(lmax, limits[g])
    cap = max(smax * 64 * 5 + 64, lmax)
    out = np.zeros((n, cap), np.uint8)
    nbytes = np.zeros(n, np.int64)
    for g in prange(n):
        blk = blocks[starts[g]:starts[g] + sizes[g]]
        pos = encode_body(blk, wts, is_int, dcd[g], acd[g], out[g], hlen[g] * 8)
        nb = (pos + 7) >> 3
        if limits[g] and (nb > limits[g] or fill):
            nb = limits[g]
        nbytes[g] = nb
    return out, nbytes
