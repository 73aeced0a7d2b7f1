"""Numba driver kernels of the CCSDS 122 codec (per image; segments are coded in parallel by
threads in :func:`decode.ccsds122.encode`, the kernels release the GIL)."""
from __future__ import annotations

import numpy as np
from numba import njit

from decode.ccsds122.bpe_kernels import segment_depths


@njit(cache=True, nogil=True)
def depths_all(blocks, starts, sizes):
    """(BitDepthDC, BitDepthAC) of every segment."""
    n = starts.shape[0]
    dcd = np.zeros(n, np.int64)
    acd = np.zeros(n, np.int64)
    for g in range(n):
        a, b = segment_depths(blocks, starts[g], sizes[g])
        dcd[g] = a
        acd[g] = b
    return dcd, acd
