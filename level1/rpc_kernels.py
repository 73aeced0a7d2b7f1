"""Numba kernels of the RPC00B rational function model (NITF STDI-0002 vol. 1, App. E, RPC00B).

Arrays in, arrays out; no I/O, no configuration objects. The model and its conventions are
documented in :mod:`level1.rpc`:

* ``coef`` (4, 20) float64: rows ``LINE_NUM, LINE_DEN, SAMP_NUM, SAMP_DEN`` in RPC00B monomial
  order (see :data:`level1.rpc.MONOMIALS`);
* ``norm`` (10,) float64: ``LINE_OFF, SAMP_OFF, LAT_OFF, LONG_OFF, HEIGHT_OFF, LINE_SCALE,
  SAMP_SCALE, LAT_SCALE, LONG_SCALE, HEIGHT_SCALE`` (pixels, degrees, metres).

No ``fastmath``: NaN inputs (nodata heights) must propagate as NaN, not be optimised away.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: indices into ``norm``
LINE_OFF, SAMP_OFF, LAT_OFF, LONG_OFF, HEIGHT_OFF = 0, 1, 2, 3, 4
LINE_SCALE, SAMP_SCALE, LAT_SCALE, LONG_SCALE, HEIGHT_SCALE = 5, 6, 7, 8, 9


@njit(cache=True)
def monomials(L: float, P: float, H: float, m: np.ndarray) -> None:
    """The 20 RPC00B monomials of normalised longitude ``L``, latitude ``P``, height ``H``
    (STDI-0002 App. E order: 1 L P H LP LH PH L² P² H² PLH L³ LP² LH² L²P P³ PH² L²H P²H H³)."""
    m[0] = 1.0
    m[1] = L
    m[2] = P
    m[3] = H
    m[4] = L * P
    m[5] = L * H
    m[6] = P * H
    m[7] = L * L
    m[8] = P * P
    m[9] = H * H
    m[10] = P * L * H
    m[11] = L * L * L
    m[12] = L * P * P
    m[13] = L * H * H
    m[14] = L * L * P
    m[15] = P * P * P
    m[16] = P * H * H
    m[17] = L * L * H
    m[18] = P * P * H
    m[19] = H * H * H


@njit(cache=True)
def monomials_grad(L: float, P: float, H: float, dl: np.ndarray, dp: np.ndarray) -> None:
    """∂/∂L and ∂/∂P of :func:`monomials` (same order)."""
    for k in range(20):
        dl[k] = 0.0
        dp[k] = 0.0
    dl[1] = 1.0
    dp[2] = 1.0
    dl[4] = P
    dp[4] = L
    dl[5] = H
    dp[6] = H
    dl[7] = 2.0 * L
    dp[8] = 2.0 * P
    dl[10] = P * H
    dp[10] = L * H
    dl[11] = 3.0 * L * L
    dl[12] = P * P
    dp[12] = 2.0 * L * P
    dl[13] = H * H
    dl[14] = 2.0 * L * P
    dp[14] = L * L
    dp[15] = 3.0 * P * P
    dp[16] = H * H
    dl[17] = 2.0 * L * H
    dp[18] = 2.0 * P * H


@njit(cache=True)
def _dot20(c: np.ndarray, m: np.ndarray) -> float:
    s = 0.0
    for k in range(20):
        s += c[k] * m[k]
    return s


@njit(cache=True)
def rpc_project(lon: np.ndarray, lat: np.ndarray, h: np.ndarray, coef: np.ndarray,
                norm: np.ndarray, col: np.ndarray, row: np.ndarray) -> None:
    """Ground → image: WGS84 ``lon``, ``lat`` (degrees), ellipsoidal height ``h`` (m), 1-D
    arrays of one length → ``col``, ``row`` (pixels, RPC convention: (0, 0) is the centre of
    the first pixel), written in place."""
    m = np.empty(20)
    for i in range(lon.shape[0]):
        L = (lon[i] - norm[LONG_OFF]) / norm[LONG_SCALE]
        P = (lat[i] - norm[LAT_OFF]) / norm[LAT_SCALE]
        H = (h[i] - norm[HEIGHT_OFF]) / norm[HEIGHT_SCALE]
        monomials(L, P, H, m)
        row[i] = _dot20(coef[0], m) / _dot20(coef[1], m) * norm[LINE_SCALE] + norm[LINE_OFF]
        col[i] = _dot20(coef[2], m) / _dot20(coef[3], m) * norm[SAMP_SCALE] + norm[SAMP_OFF]


@njit(cache=True)
def rpc_localise(col: np.ndarray, row: np.ndarray, h: np.ndarray, coef: np.ndarray,
                 norm: np.ndarray, tol: float, max_iter: int,
                 lon: np.ndarray, lat: np.ndarray, iters: np.ndarray) -> None:
    """Image → ground at height ``h``: Newton iteration on the normalised (L, P) with the
    analytic Jacobian of the rational functions, started at the scene centre (L = P = 0).

    ``tol`` is the convergence threshold on the image residual in pixels. ``iters[i]`` is the
    number of iterations used, or −1 when the point did not converge (lon/lat then NaN).
    """
    m = np.empty(20)
    dl = np.empty(20)
    dp = np.empty(20)
    for i in range(col.shape[0]):
        H = (h[i] - norm[HEIGHT_OFF]) / norm[HEIGHT_SCALE]
        rn = (row[i] - norm[LINE_OFF]) / norm[LINE_SCALE]
        cn = (col[i] - norm[SAMP_OFF]) / norm[SAMP_SCALE]
        L = 0.0
        P = 0.0
        iters[i] = -1
        lon[i] = np.nan
        lat[i] = np.nan
        if not (np.isfinite(H) and np.isfinite(rn) and np.isfinite(cn)):
            continue
        for it in range(max_iter):
            monomials(L, P, H, m)
            monomials_grad(L, P, H, dl, dp)
            ln = _dot20(coef[0], m)
            ld = _dot20(coef[1], m)
            sn = _dot20(coef[2], m)
            sd = _dot20(coef[3], m)
            fr = ln / ld - rn
            fc = sn / sd - cn
            if (abs(fr) * norm[LINE_SCALE] < tol and abs(fc) * norm[SAMP_SCALE] < tol):
                iters[i] = it
                break
            # d(N/D) = (N' D − N D') / D²
            a = (_dot20(coef[0], dl) * ld - ln * _dot20(coef[1], dl)) / (ld * ld)
            b = (_dot20(coef[0], dp) * ld - ln * _dot20(coef[1], dp)) / (ld * ld)
            c = (_dot20(coef[2], dl) * sd - sn * _dot20(coef[3], dl)) / (sd * sd)
            d = (_dot20(coef[2], dp) * sd - sn * _dot20(coef[3], dp)) / (sd * sd)
            det = a * d - b * c
            if det == 0.0 or not np.isfinite(det):
                break
            L -= (d * fr - b * fc) / det
            P -= (-c * fr + a * fc) / det
        if iters[i] >= 0:
            lon[i] = L * norm[LONG_SCALE] + norm[LONG_OFF]
            lat[i] = P * norm[LAT_SCALE] + norm[LAT_OFF]
