"""CCSDS 122.0-B-2 §3 discrete wavelet transforms (Numba kernels, no I/O).

* Integer 9/7 (§3.3, "9/7M"): reversible lifting, floor rounding, whole-sample symmetric
  extension at both ends. Low-pass samples go to the first half, high-pass to the second.
* Float 9/7 (§3.2): the standard's analysis filters (9-tap low, 7-tap high) by direct
  convolution and the matching synthesis filters, symmetric extension, float64 arithmetic.
  Coefficients are rounded to the nearest integer (half away from zero) before bit-plane coding.
* Three levels in 2-D: rows then columns at each level on the LL quadrant (Mallat layout);
  inverse in the opposite order.
* :func:`regroup` / :func:`ungroup`: Mallat layout <-> the block string of §4.1 (one 8×8 block
  per LL3 coefficient, in raster order; inside a block the LL3/HL3/LH3/HH3 coefficients, the 2×2
  children of HL2/LH2/HH2 and the 4×4 grandchildren of HL1/LH1/HH1 at their pyramid places).

Images are padded beforehand to multiples of 8 by replicating the last row and column; the
transform needs at least 5 samples at the coarsest level, i.e. width and height ≥ 17 (the
standard's minimum).
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Analysis filters of the float 9/7 DWT (§3.2, Table 3-1): h (low pass, 9 taps, centre first),
# g (high pass, 7 taps, centre first). Synthesis filters (Table 3-2) for the inverse.
_H = np.array([0.852698679009, 0.377402855613, -0.110624404418, -0.023849465020,
               0.037828455507])
_G = np.array([-0.788485616406, 0.418092273222, 0.040689417609, -0.064538882629])
_QH = np.array([0.788485616406, 0.418092273222, -0.040689417609, -0.064538882629])
_QG = np.array([-0.852698679009, 0.377402855613, 0.110624404418, -0.023849465020,
                -0.037828455507])


@njit(cache=True, inline="always")
def _ext(i, n):
    """Whole-sample symmetric extension of index ``i`` for a signal of length ``n`` (n ≥ 5)."""
    if i < 0:
        return -i
    if i >= n:
        return 2 * (n - 1) - i
    return i


@njit(cache=True, nogil=True)
def fwd_int_1d(x, n, tmp):
    """Integer 9/7 forward transform of ``x[:n]`` in place (n even, ≥ 6); ``tmp`` ≥ n int32."""
    half = n >> 1
    # high-pass (odd samples): D_j = x_{2j+1} - floor((9(x_{2j}+x_{2j+2}) - (x_{2j-2}+x_{2j+4}) + 8)/16)
    for j in range(half):
        if 1 <= j < half - 2:           # interior: no extension needed
            a = x[2 * j] + x[2 * j + 2]
            b = x[2 * j - 2] + x[2 * j + 4]
        else:
            a = x[_ext(2 * j, n)] + x[_ext(2 * j + 2, n)]
            b = x[_ext(2 * j - 2, n)] + x[_ext(2 * j + 4, n)]
        tmp[half + j] = x[2 * j + 1] - ((9 * a - b + 8) >> 4)
    # low-pass (even samples): C_j = x_{2j} - floor(-(D_{j-1}+D_j)/4 + 1/2), D_{-1} = D_0
    for j in range(half):
        dm = tmp[half + j - 1] if j > 0 else tmp[half]
        tmp[j] = x[2 * j] - ((2 - (dm + tmp[half + j])) >> 2)
    for i in range(n):
        x[i] = tmp[i]


@njit(cache=True, nogil=True)
def inv_int_1d(x, n, tmp):
    """Inverse of :func:`fwd_int_1d` (exact)."""
    half = n >> 1
    for j in range(half):
        dm = x[half + j - 1] if j > 0 else x[half]
        tmp[2 * j] = x[j] + ((2 - (dm + x[half + j])) >> 2)
    for j in range(half):
        if 1 <= j < half - 2:
            a = tmp[2 * j] + tmp[2 * j + 2]
            b = tmp[2 * j - 2] + tmp[2 * j + 4]
        else:
            a = tmp[_ext(2 * j, n)] + tmp[_ext(2 * j + 2, n)]
            b = tmp[_ext(2 * j - 2, n)] + tmp[_ext(2 * j + 4, n)]
        tmp[2 * j + 1] = x[half + j] + ((9 * a - b + 8) >> 4)
    for i in range(n):
        x[i] = tmp[i]


@njit(cache=True, nogil=True)
def fwd_float_1d(x, n, tmp):
    """Float 9/7 forward transform of ``x[:n]`` in place (analysis filters, §3.2).
    ``tmp``: scratch of at least 2n + 8 float64."""
    half = n >> 1
    e = tmp[n:]                      # x extended by 4 samples each side: e[i + 4] = x[i]
    for i in range(-4, n + 4):
        e[i + 4] = x[_ext(i, n)]
    for j in range(half):
        c = 2 * j + 4
        tmp[j] = (_H[0] * e[c] + _H[1] * (e[c - 1] + e[c + 1]) + _H[2] * (e[c - 2] + e[c + 2])
                  + _H[3] * (e[c - 3] + e[c + 3]) + _H[4] * (e[c - 4] + e[c + 4]))
        c += 1
        x[half + j] = (_G[0] * e[c] + _G[1] * (e[c - 1] + e[c + 1])
                       + _G[2] * (e[c - 2] + e[c + 2]) + _G[3] * (e[c - 3] + e[c + 3]))
    for j in range(half):
        x[j] = tmp[j]


@njit(cache=True, nogil=True)
def inv_float_1d(x, n, tmp):
    """Float 9/7 inverse (synthesis filters, §3.2) of ``x[:n]`` in place; ``tmp`` ≥ n + 8."""
    half = n >> 1
    r = tmp[:half + 4]               # r[i + 2] = low[i], i = -2 .. half + 1
    d = tmp[half + 4:n + 8]          # d[i + 2] = high[i]
    for i in range(-2, half + 2):
        ir = -i if i < 0 else (2 * half - 1 - i if i >= half else i)
        idd = -i - 1 if i < 0 else (2 * (half - 1) - i if i >= half else i)
        r[i + 2] = x[ir]
        d[i + 2] = x[half + idd]
    for m in range(half):
        k = m + 2
        x[2 * m] = (_QH[0] * r[k] + _QH[2] * (r[k - 1] + r[k + 1])
                    + _QG[1] * (d[k - 1] + d[k]) + _QG[3] * (d[k - 2] + d[k + 1]))
        x[2 * m + 1] = (_QH[1] * (r[k] + r[k + 1]) + _QH[3] * (r[k - 1] + r[k + 2])
                        + _QG[0] * d[k] + _QG[2] * (d[k - 1] + d[k + 1])
                        + _QG[4] * (d[k - 2] + d[k + 2]))


@njit(cache=True, inline="always")
def _r(i, n):
    """Reflected row index (whole-sample symmetric extension)."""
    if i < 0:
        return -i
    if i >= n:
        return 2 * (n - 1) - i
    return i


@njit(cache=True, nogil=True)
def _fwd_int_cols(img, h, w, tmp):
    """Integer 9/7 forward along columns of img[:h, :w], row-vectorised (cache friendly)."""
    half = h >> 1
    for j in range(half):
        r0 = _r(2 * j, h)
        r1 = 2 * j + 1
        r2 = _r(2 * j + 2, h)
        rm = _r(2 * j - 2, h)
        r4 = _r(2 * j + 4, h)
        for c in range(w):
            tmp[half + j, c] = img[r1, c] - ((9 * (img[r0, c] + img[r2, c])
                                             - (img[rm, c] + img[r4, c]) + 8) >> 4)
    for j in range(half):
        jm = half + (j - 1 if j > 0 else 0)
        for c in range(w):
            tmp[j, c] = img[2 * j, c] - ((2 - (tmp[jm, c] + tmp[half + j, c])) >> 2)
    for r in range(h):
        for c in range(w):
            img[r, c] = tmp[r, c]


@njit(cache=True, nogil=True)
def _inv_int_cols(img, h, w, tmp):
    """Inverse of :func:`_fwd_int_cols`."""
    half = h >> 1
    for j in range(half):
        jm = half + (j - 1 if j > 0 else 0)
        for c in range(w):
            tmp[2 * j, c] = img[j, c] + ((2 - (img[jm, c] + img[half + j, c])) >> 2)
    for j in range(half):
        r0 = _r(2 * j, h)
        r2 = _r(2 * j + 2, h)
        rm = _r(2 * j - 2, h)
        r4 = _r(2 * j + 4, h)
        for c in range(w):
            tmp[2 * j + 1, c] = img[half + j, c] + ((9 * (tmp[r0, c] + tmp[r2, c])
                                                    - (tmp[rm, c] + tmp[r4, c]) + 8) >> 4)
    for r in range(h):
        for c in range(w):
            img[r, c] = tmp[r, c]


@njit(cache=True, nogil=True)
def fwd_int_2d(img, levels):
    """3-level integer 9/7 forward DWT of ``img`` (int32, rows/cols multiples of 8) in place."""
    rows, cols = img.shape
    m = max(rows, cols)
    line = np.empty(m, np.int32)
    tmp = np.empty(m, np.int32)
    tmp2 = np.empty((rows, cols), np.int32)
    for lev in range(levels):
        h = rows >> lev
        w = cols >> lev
        for r in range(h):
            fwd_int_1d(img[r], w, tmp)
        _fwd_int_cols(img, h, w, tmp2)


@njit(cache=True, nogil=True)
def inv_int_2d(img, levels):
    """Inverse of :func:`fwd_int_2d` in place."""
    rows, cols = img.shape
    m = max(rows, cols)
    tmp = np.empty(m, np.int32)
    tmp2 = np.empty((rows, cols), np.int32)
    for lev in range(levels - 1, -1, -1):
        h = rows >> lev
        w = cols >> lev
        _inv_int_cols(img, h, w, tmp2)
        for r in range(h):
            inv_int_1d(img[r], w, tmp)


@njit(cache=True, nogil=True)
def _fwd_float_cols(img, h, w, tmp):
    """Float 9/7 forward along the columns of img[:h, :w], row-vectorised."""
    half = h >> 1
    for j in range(half):
        c = 2 * j
        a0 = c
        a1, b1 = _r(c - 1, h), _r(c + 1, h)
        a2, b2 = _r(c - 2, h), _r(c + 2, h)
        a3, b3 = _r(c - 3, h), _r(c + 3, h)
        a4, b4 = _r(c - 4, h), _r(c + 4, h)
        for k in range(w):
            tmp[j, k] = (_H[0] * img[a0, k] + _H[1] * (img[a1, k] + img[b1, k])
                         + _H[2] * (img[a2, k] + img[b2, k]) + _H[3] * (img[a3, k] + img[b3, k])
                         + _H[4] * (img[a4, k] + img[b4, k]))
        c = 2 * j + 1
        g1, h1 = _r(c - 1, h), _r(c + 1, h)
        g2, h2 = _r(c - 2, h), _r(c + 2, h)
        g3, h3 = _r(c - 3, h), _r(c + 3, h)
        for k in range(w):
            tmp[half + j, k] = (_G[0] * img[c, k] + _G[1] * (img[g1, k] + img[h1, k])
                                + _G[2] * (img[g2, k] + img[h2, k])
                                + _G[3] * (img[g3, k] + img[h3, k]))
    for i in range(h):
        for k in range(w):
            img[i, k] = tmp[i, k]


@njit(cache=True, inline="always")
def _rl(i, half):
    """Low band index i extended symmetrically (r[-i] = r[i], r[half-1+i] = r[half-i]): the
    even samples of the whole-sample symmetric extension of the signal."""
    if i < 0:
        return -i
    if i >= half:
        return 2 * half - 1 - i
    return i


@njit(cache=True, inline="always")
def _dl(i, half):
    """High band index extended (d[-i] = d[i-1], d[half-1+i] = d[half-1-i])."""
    if i < 0:
        return -i - 1
    if i >= half:
        return 2 * (half - 1) - i
    return i


@njit(cache=True, nogil=True)
def _inv_float_cols(img, h, w, tmp):
    """Float 9/7 inverse along the columns of img[:h, :w], row-vectorised."""
    half = h >> 1
    for m in range(half):
        r0, rm, rp, rp2 = m, _rl(m - 1, half), _rl(m + 1, half), _rl(m + 2, half)
        d0 = half + m
        dm = half + _dl(m - 1, half)
        dm2 = half + _dl(m - 2, half)
        dp = half + _dl(m + 1, half)
        dp2 = half + _dl(m + 2, half)
        for k in range(w):
            tmp[2 * m, k] = (_QH[0] * img[r0, k] + _QH[2] * (img[rm, k] + img[rp, k])
                             + _QG[1] * (img[dm, k] + img[d0, k])
                             + _QG[3] * (img[dm2, k] + img[dp, k]))
            tmp[2 * m + 1, k] = (_QH[1] * (img[r0, k] + img[rp, k])
                                 + _QH[3] * (img[rm, k] + img[rp2, k]) + _QG[0] * img[d0, k]
                                 + _QG[2] * (img[dm, k] + img[dp, k])
                                 + _QG[4] * (img[dm2, k] + img[dp2, k]))
    for i in range(h):
        for k in range(w):
            img[i, k] = tmp[i, k]


@njit(cache=True, nogil=True)
def fwd_float_2d(img, levels):
    """3-level float 9/7 forward DWT of ``img`` (float64) in place."""
    rows, cols = img.shape
    m = max(rows, cols)
    tmp = np.empty(2 * m + 16, np.float64)
    tmp2 = np.empty((rows, cols), np.float64)
    for lev in range(levels):
        h = rows >> lev
        w = cols >> lev
        for r in range(h):
            fwd_float_1d(img[r], w, tmp)
        _fwd_float_cols(img, h, w, tmp2)


@njit(cache=True, nogil=True)
def inv_float_2d(img, levels):
    """Inverse of :func:`fwd_float_2d` in place."""
    rows, cols = img.shape
    m = max(rows, cols)
    tmp = np.empty(2 * m + 16, np.float64)
    tmp2 = np.empty((rows, cols), np.float64)
    for lev in range(levels - 1, -1, -1):
        h = rows >> lev
        w = cols >> lev
        _inv_float_cols(img, h, w, tmp2)
        for r in range(h):
            inv_float_1d(img[r], w, tmp)


@njit(cache=True, nogil=True)
def round_half_away(a, out):
    """Round float coefficients to int32, halves away from zero (as the reference encoder)."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            v = a[i, j]
            out[i, j] = np.int32(v + 0.5) if v >= 0 else -np.int32(-v + 0.5)


@njit(cache=True, nogil=True)
def scale_int(img, shifts, inverse):
    """Multiply (or, inverse, divide exactly) each subband by 2**shift (§3.9 subband weights).

    ``shifts`` in the order LL3, HL3, LH3, HH3, HL2, LH2, HH2, HL1, LH1, HH1.
    """
    rows, cols = img.shape
    for r in range(rows):
        for c in range(cols):
            s = shifts[_band(r, c, rows, cols)]
            if s:
                if inverse:
                    img[r, c] = img[r, c] >> s     # exact: lossless coefficients are multiples
                else:
                    img[r, c] = img[r, c] << s


@njit(cache=True, inline="always")
def _band(r, c, rows, cols):
    """Weight index (LL3=0 ... HH1=9) of Mallat position (r, c)."""
    for lev in range(1, 4):
        hr = r >= (rows >> lev)
        hc = c >= (cols >> lev)
        if hr or hc:
            base = 7 - 3 * (lev - 1)        # level 1 -> 7 (HL1), level 2 -> 4, level 3 -> 1
            if hr and hc:
                return base + 2
            if hc:
                return base
            return base + 1
    return 0


@njit(cache=True, nogil=True)
def regroup(img, blocks):
    """Mallat layout (rows, cols) -> block string ``blocks`` (rows/8 * cols/8, 64), §4.1."""
    rows, cols = img.shape
    br = rows >> 3
    bc = cols >> 3
    for i in range(br):
        for j in range(bc):
            b = blocks[i * bc + j]
            b[0] = img[i, j]
            b[1] = img[i, bc + j]               # HL3
            b[8] = img[br + i, j]               # LH3
            b[9] = img[br + i, bc + j]          # HH3
            for y in range(2):
                for x in range(2):
                    b[y * 8 + 2 + x] = img[2 * i + y, 2 * bc + 2 * j + x]             # HL2
                    b[(2 + y) * 8 + x] = img[2 * br + 2 * i + y, 2 * j + x]           # LH2
                    b[(2 + y) * 8 + 2 + x] = img[2 * br + 2 * i + y, 2 * bc + 2 * j + x]  # HH2
            for y in range(4):
                for x in range(4):
                    b[y * 8 + 4 + x] = img[4 * i + y, 4 * bc + 4 * j + x]             # HL1
                    b[(4 + y) * 8 + x] = img[4 * br + 4 * i + y, 4 * j + x]           # LH1
                    b[(4 + y) * 8 + 4 + x] = img[4 * br + 4 * i + y, 4 * bc + 4 * j + x]  # HH1


@njit(cache=True, nogil=True)
def ungroup(blocks, img):
    """Inverse of :func:`regroup`."""
    rows, cols = img.shape
    br = rows >> 3
    bc = cols >> 3
    for i in range(br):
        for j in range(bc):
            b = blocks[i * bc + j]
            img[i, j] = b[0]
            img[i, bc + j] = b[1]
            img[br + i, j] = b[8]
            img[br + i, bc + j] = b[9]
            for y in range(2):
                for x in range(2):
                    img[2 * i + y, 2 * bc + 2 * j + x] = b[y * 8 + 2 + x]
                    img[2 * br + 2 * i + y, 2 * j + x] = b[(2 + y) * 8 + x]
                    img[2 * br + 2 * i + y, 2 * bc + 2 * j + x] = b[(2 + y) * 8 + 2 + x]
            for y in range(4):
                for x in range(4):
                    img[4 * i + y, 4 * bc + 4 * j + x] = b[y * 8 + 4 + x]
                    img[4 * br + 4 * i + y, 4 * j + x] = b[(4 + y) * 8 + x]
                    img[4 * br + 4 * i + y, 4 * bc + 4 * j + x] = b[(4 + y) * 8 + 4 + x]


@njit(cache=True, nogil=True)
def ungroup_unweight(blocks, img, shifts):
    """:func:`ungroup` into int32 ``img`` dividing each coefficient by its subband weight
    2**shift (rounding to nearest, exact for lossless streams); ``shifts`` as in
    :func:`scale_int` (all zero for the float DWT)."""
    rows, cols = img.shape
    br = rows >> 3
    bc = cols >> 3
    wk = np.empty(64, np.int64)
    for k in range(64):
        wk[k] = shifts[_band(k >> 3, k & 7, 8, 8)]
    tmp = np.empty(64, np.int64)
    for i in range(br):
        for j in range(bc):
            b = blocks[i * bc + j]
            for k in range(64):
                v = b[k]
                w = wk[k]
                if w:
                    h = np.int64(1) << (w - 1)
                    v = (v + h) >> w if v >= 0 else -((-v + h) >> w)
                tmp[k] = v
            img[i, j] = tmp[0]
            img[i, bc + j] = tmp[1]
            img[br + i, j] = tmp[8]
            img[br + i, bc + j] = tmp[9]
            for y in range(2):
                for x in range(2):
                    img[2 * i + y, 2 * bc + 2 * j + x] = tmp[y * 8 + 2 + x]
                    img[2 * br + 2 * i + y, 2 * j + x] = tmp[(2 + y) * 8 + x]
                    img[2 * br + 2 * i + y, 2 * bc + 2 * j + x] = tmp[(2 + y) * 8 + 2 + x]
            for y in range(4):
                for x in range(4):
                    img[4 * i + y, 4 * bc + 4 * j + x] = tmp[y * 8 + 4 + x]
                    img[4 * br + 4 * i + y, 4 * j + x] = tmp[(4 + y) * 8 + x]
                    img[4 * br + 4 * i + y, 4 * bc + 4 * j + x] = tmp[(4 + y) * 8 + 4 + x]


@njit(cache=True, nogil=True)
def clip_cast(img, lo, hi, out):
    """out[:] = clip(img[:out rows, :out cols], lo, hi) cast to out's dtype (pixel range)."""
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            v = img[r, c]
            out[r, c] = lo if v < lo else (hi if v > hi else v)
