"""Numba kernels of pansharpening (numpy + numba only; algorithms in :mod:`ortho.pansharpen_algo`).

No ``fastmath``: a zero or NaN low-pass value must fall back explicitly, not be optimised away.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def hpm_combine(ms: np.ndarray, pan: np.ndarray, low: np.ndarray, a: float, b: float,
                out: np.ndarray) -> None:
    """High-pass modulation of one band (Vivone et al. 2015, eq. 15), in one pass:
    ``out = ms · (a·pan + b) / (a·low + b)`` — ``a·pan + b`` is the PAN equalised to the band and
    ``a·low + b`` its MTF-matched low-pass. Where the low-pass is ≤ 0 or not finite, ``out = ms``.
    All arrays (H, W) float64."""
    H, W = ms.shape
    for i in range(H):
        for j in range(W):
            pl = a * low[i, j] + b
            m = ms[i, j]
            if pl > 0.0 and math.isfinite(pl):
                v = m * (a * pan[i, j] + b) / pl
                out[i, j] = v if math.isfinite(v) else m
            else:
                out[i, j] = m
