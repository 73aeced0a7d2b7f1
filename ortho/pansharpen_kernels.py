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


@njit(cache=True, nogil=True)
def upsample_polyphase(a: np.ndarray, w: np.ndarray, o: np.ndarray, ratio: int, H: int, W: int,
                       out: np.ndarray) -> None:
    """Separable 4-tap interpolation of ``a`` (bands, h, w) onto (bands, ``H``, ``W``) where
    output ``p = ratio·q + φ`` takes input taps ``q + o[φ] + t``, t = 0..3, with weights
    ``w[φ, t]`` (the same on both axes); input indices clamp to the edge (edge replication)."""
    nb, h, wd = a.shape
    tmp = np.empty((h, W))
    for b in range(nb):
        for i in range(h):
            for p in range(W):
                q = p // ratio
                f = p - q * ratio
                base = q + o[f]
                s = 0.0
                for t in range(4):
                    k = min(max(base + t, 0), wd - 1)
                    s += w[f, t] * a[b, i, k]
                tmp[i, p] = s
        for r in range(H):
            q = r // ratio
            f = r - q * ratio
            base = q + o[f]
            k0 = min(max(base, 0), h - 1)
            k1 = min(max(base + 1, 0), h - 1)
            k2 = min(max(base + 2, 0), h - 1)
            k3 = min(max(base + 3, 0), h - 1)
            w0, w1, w2, w3 = w[f, 0], w[f, 1], w[f, 2], w[f, 3]
            for p in range(W):
                out[b, r, p] = w0 * tmp[k0, p] + w1 * tmp[k1, p] + w2 * tmp[k2, p] + w3 * tmp[k3, p]
