"""Numba kernels of geometric resampling, shared by level1 (module stitching onto the perfect
sensor) and ortho (inverse-location grids and map resampling).

Arrays in, arrays out; numpy + numba only, no I/O, no configuration. Every kernel here calls
only kernels of this file (Numba's on-disk cache notices changes of a kernel's own file only).
No ``fastmath`` anywhere: NaN marks masked samples, DEM voids and nodata and must propagate.
All kernels release the GIL so that Dask's threaded scheduler runs tiles in parallel.

Pixel convention of the ortho kernels (as the RPC00B model, :mod:`level1.rpc`): ``(col, row) =
(0, 0)`` is the **centre** of the first pixel; a source pixel ``(c, r)`` covers
``[c − ½, c + ½) × [r − ½, r + ½)``.

Resampling methods (``method`` codes of :func:`resample`):

* ``NEAREST`` (0) — the pixel containing the point;
* ``BILINEAR`` (1) — 2×2 taps, triangle kernel;
* ``CUBIC`` (2) — 4×4 taps, Keys (1981, IEEE Trans. ASSP 29(6)) cubic convolution with
  a = −0.5 (the kernel of GDAL ``-r cubic`` and OTB ``bco`` radius 2); level1 samples with the
  same weights (:func:`keys_weights`), which preserve radiometry and sharpness better than
  bilinear;
* ``LANCZOS`` (3) — 6×6 taps, windowed sinc ``sinc(x)·sinc(x/3)`` for |x| < 3 (GDAL ``lanczos``).

Nodata in :func:`resample`: a tap outside the image or flagged invalid in ``valid`` (uint8,
1 = valid) gets no weight and the remaining weights are renormalised (as GDAL's warper does); a
point whose nearest source pixel is invalid or outside the image is nodata.

Level-1 module resampling (:func:`resample_module`, :func:`finish_tile`): the geometric mapping
(output row, col) → (module line, detector) is known on a sparse node grid (every ``step``
output pixels; rows ``r = k·step``); it is smooth, so it is bilinearly interpolated between
nodes. Flag bits as :mod:`level1.radiometry_algo` (MISSING 1, SATURATED 2, OUTSIDE 8).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

NEAREST, BILINEAR, CUBIC, LANCZOS = 0, 1, 2, 3
#: level1 sample flags (as :mod:`level1.radiometry_algo`)
MISSING = 1
SATURATED = 2
OUTSIDE = 8
#: method name → (code, kernel radius in source pixels)
METHODS = {"nearest": (NEAREST, 0), "bilinear": (BILINEAR, 1), "cubic": (CUBIC, 2),
           "lanczos": (LANCZOS, 3)}


@njit(cache=True, nogil=True)
def _keys_cubic(x: float) -> float:
    """Keys cubic convolution kernel, a = −0.5 (Keys 1981, eq. 15)."""
    a = -0.5
    x = abs(x)
    if x <= 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return 0.0


@njit(cache=True, nogil=True)
def _lanczos3(x: float) -> float:
    """Lanczos window, a = 3: sinc(x)·sinc(x/3), |x| < 3."""
    if x == 0.0:
        return 1.0
    ax = abs(x)
    if ax >= 3.0:
        return 0.0
    px = math.pi * x
    return 3.0 * math.sin(px) * math.sin(px / 3.0) / (px * px)


#: sin and cos of m·π/3, m = 0..5 (angle addition in the Lanczos weights)
_S3 = np.array([math.sin(m * math.pi / 3.0) for m in range(6)])
_C3 = np.array([math.cos(m * math.pi / 3.0) for m in range(6)])


@njit(cache=True, nogil=True)
def _weights(method: int, f: float, w: np.ndarray) -> int:
    """Taps of one axis for fractional offset ``f`` ∈ [0, 1) from the floor pixel; fills ``w``
    and returns the offset of the first tap relative to the floor pixel."""
    if method == BILINEAR:
        w[0] = 1.0 - f
        w[1] = f
        return 0
    if method == CUBIC:
        # Keys (a = −0.5) at distances 1+f, f, 1−f, 2−f, expanded (same values as _keys_cubic)
        f2 = f * f
        f3 = f2 * f
        w[0] = -0.5 * f3 + f2 - 0.5 * f
        w[1] = 1.5 * f3 - 2.5 * f2 + 1.0
        w[2] = -1.5 * f3 + 2.0 * f2 + 0.5 * f
        w[3] = 0.5 * f3 - 0.5 * f2
        return -1
    # LANCZOS: tap k at distance x = f + 2 − k; sin(πx) = (−1)^k sin(πf) and
    # sin(πx/3) = sin(πf/3 + (2−k)π/3) by angle addition: 3 trigonometric calls, not 12
    if f == 0.0:
        for k in range(6):
            w[k] = 1.0 if k == 2 else 0.0
        return -2
    sp = math.sin(math.pi * f)
    a = math.pi * f / 3.0
    sa = math.sin(a)
    ca = math.cos(a)
    for k in range(6):
        x = f + 2.0 - k
        m = (2 - k) % 6
        s3 = sa * _C3[m] + ca * _S3[m]
        s1 = sp if k % 2 == 0 else -sp
        w[k] = 3.0 * s1 * s3 / (math.pi * math.pi * x * x) if abs(x) < 3.0 else 0.0
    return -2


@njit(cache=True, nogil=True)
def _store(out: np.ndarray, b: int, i: int, j: int, v: float, lo: float, hi: float,
           round_int: bool) -> None:
    if round_int:
        v = math.floor(v + 0.5)
    if v < lo:
        v = lo
    elif v > hi:
        v = hi
    out[b, i, j] = v


@njit(cache=True, nogil=True)
def resample(src: np.ndarray, valid: np.ndarray, has_valid: bool, col: np.ndarray,
             row: np.ndarray, method: int, lo: float, hi: float, round_int: bool,
             out: np.ndarray, out_valid: np.ndarray) -> None:
    """Resample ``src`` (bands, H, W) at source positions ``col``/``row`` (ny, nx) pixels.

    ``valid`` (H, W) uint8 is used when ``has_valid``; ``out`` (bands, ny, nx) receives the
    values clipped to [``lo``, ``hi``] (and rounded when ``round_int``, for integer outputs),
    ``out_valid`` (ny, nx) 1 where a value was produced, else 0 (``out`` = ``lo`` there when
    ``lo`` ≥ 0, else 0). NaN positions are nodata.
    """
    nb, H, W = src.shape
    ny, nx = col.shape
    ntap = 6
    wx = np.empty(ntap)
    wy = np.empty(ntap)
    acc = np.empty(nb)
    fill = lo if lo > 0.0 else 0.0
    if hi < fill:
        fill = hi
    for i in range(ny):
        for j in range(nx):
            c = col[i, j]
            r = row[i, j]
            if method == CUBIC and not has_valid and c >= 1.0 and r >= 1.0 and c < W - 2 and r < H - 2:
                # interior Keys cubic without mask (the bulk of an ortho): scalar weights and
                # sums, no tap tests — 3× faster than the general path below
                c0 = int(c)
                r0 = int(r)
                f = c - c0
                f2 = f * f
                f3 = f2 * f
                x0 = -0.5 * f3 + f2 - 0.5 * f
                x1 = 1.5 * f3 - 2.5 * f2 + 1.0
                x2 = -1.5 * f3 + 2.0 * f2 + 0.5 * f
                x3 = 0.5 * f3 - 0.5 * f2
                g = r - r0
                g2 = g * g
                g3 = g2 * g
                y0_ = -0.5 * g3 + g2 - 0.5 * g
                y1 = 1.5 * g3 - 2.5 * g2 + 1.0
                y2 = -1.5 * g3 + 2.0 * g2 + 0.5 * g
                y3 = 0.5 * g3 - 0.5 * g2
                ya = r0 - 1
                xa = c0 - 1
                for b in range(nb):
                    v = (y0_ * (x0 * src[b, ya, xa] + x1 * src[b, ya, xa + 1]
                                + x2 * src[b, ya, xa + 2] + x3 * src[b, ya, xa + 3])
                         + y1 * (x0 * src[b, ya + 1, xa] + x1 * src[b, ya + 1, xa + 1]
                                 + x2 * src[b, ya + 1, xa + 2] + x3 * src[b, ya + 1, xa + 3])
                         + y2 * (x0 * src[b, ya + 2, xa] + x1 * src[b, ya + 2, xa + 1]
                                 + x2 * src[b, ya + 2, xa + 2] + x3 * src[b, ya + 2, xa + 3])
                         + y3 * (x0 * src[b, ya + 3, xa] + x1 * src[b, ya + 3, xa + 1]
                                 + x2 * src[b, ya + 3, xa + 2] + x3 * src[b, ya + 3, xa + 3]))
                    _store(out, b, i, j, v, lo, hi, round_int)
                out_valid[i, j] = 1
                continue
            ok = False
            if c >= -0.5 and c < W - 0.5 and r >= -0.5 and r < H - 0.5:   # False for NaN
                ic = int(math.floor(c + 0.5))
                ir = int(math.floor(r + 0.5))
                ok = (not has_valid) or valid[ir, ic] != 0
            if not ok:
                out_valid[i, j] = 0
                for b in range(nb):
                    out[b, i, j] = fill
                continue
            if method == NEAREST:
                for b in range(nb):
                    acc[b] = src[b, ir, ic]
            else:
                c0 = int(math.floor(c))
                r0 = int(math.floor(r))
                n = 2 if method == BILINEAR else (4 if method == CUBIC else 6)
                ox = _weights(method, c - c0, wx)
                oy = _weights(method, r - r0, wy)
                ya = r0 + oy
                xa = c0 + ox
                if (not has_valid) and ya >= 0 and xa >= 0 and ya + n <= H and xa + n <= W:
                    # interior, no mask (the common case): scalar separable sums, no tests
                    if method == BILINEAR:
                        for b in range(nb):
                            v = (wy[0] * (wx[0] * src[b, ya, xa] + wx[1] * src[b, ya, xa + 1])
                                 + wy[1] * (wx[0] * src[b, ya + 1, xa] + wx[1] * src[b, ya + 1, xa + 1]))
                            _store(out, b, i, j, v, lo, hi, round_int)
                    else:                                       # Lanczos: weights normalised
                        sx = 0.0
                        sy = 0.0
                        for k in range(n):
                            sx += wx[k]
                            sy += wy[k]
                        norm = 1.0 / (sx * sy)
                        for b in range(nb):
                            v = 0.0
                            for ky in range(n):
                                t = 0.0
                                for kx in range(n):
                                    t += wx[kx] * src[b, ya + ky, xa + kx]
                                v += wy[ky] * t
                            _store(out, b, i, j, v * norm, lo, hi, round_int)
                    out_valid[i, j] = 1
                    continue
                for b in range(nb):
                    acc[b] = 0.0
                wsum = 0.0
                for ky in range(n):
                    rr = r0 + oy + ky
                    if rr < 0 or rr >= H or wy[ky] == 0.0:
                        continue
                    for kx in range(n):
                        cc = c0 + ox + kx
                        if cc < 0 or cc >= W:
                            continue
                        if has_valid and valid[rr, cc] == 0:
                            continue
                        w = wy[ky] * wx[kx]
                        wsum += w
                        for b in range(nb):
                            acc[b] += w * src[b, rr, cc]
                if abs(wsum) > 1e-6:
                    for b in range(nb):
                        acc[b] /= wsum
                else:                         # every weighted tap invalid: nearest value
                    for b in range(nb):
                        acc[b] = src[b, ir, ic]
            out_valid[i, j] = 1
            for b in range(nb):
                _store(out, b, i, j, acc[b], lo, hi, round_int)


@njit(cache=True, nogil=True)
def _bilerp(g: np.ndarray, iy: int, ix: int, ty: float, tx: float) -> float:
    return ((1.0 - ty) * ((1.0 - tx) * g[iy, ix] + tx * g[iy, ix + 1])
            + ty * ((1.0 - tx) * g[iy + 1, ix] + tx * g[iy + 1, ix + 1]))


@njit(cache=True, nogil=True)
def sample_bilinear(a: np.ndarray, c: float, r: float) -> float:
    """Bilinear value of 2-D ``a`` at pixel-centre coordinates (``c``, ``r``); NaN outside the
    array or when a contributing node is NaN (a DEM void)."""
    H, W = a.shape
    if not (c >= 0.0 and r >= 0.0 and c <= W - 1 and r <= H - 1):
        return np.nan
    c0 = min(int(math.floor(c)), W - 2) if W > 1 else 0
    r0 = min(int(math.floor(r)), H - 2) if H > 1 else 0
    tx = c - c0
    ty = r - r0
    if W == 1 or H == 1:
        return a[r0, c0]
    return _bilerp(a, r0, c0, ty, tx)


@njit(cache=True, nogil=True)
def locate(y0: float, x0: float, step: int, gcol: np.ndarray, grow: np.ndarray,
           levels: np.ndarray, dem: np.ndarray, dcol: np.ndarray, drow: np.ndarray,
           fallback_h: float, col: np.ndarray, row: np.ndarray, h: np.ndarray) -> int:
    """Source image position of every pixel of an output tile through the inverse-location grid.

    The output pixel ``(y0 + i, x0 + j)`` (global output indices, pixel centres) falls in grid
    cell ``((y0+i)/step, (x0+j)/step)``. Its ellipsoidal height is the bilinear DEM value at
    the DEM position bilinearly interpolated from ``dcol``/``drow`` (GY, GX) — or ``fallback_h``
    outside the DEM or on a void (counted in the return value). The image position is the
    bilinear interpolation of the grid ``gcol``/``grow`` (K, GY, GX) on each height layer
    ``levels`` (K,) metres, linear between the two layers bracketing the height (extrapolated
    outside). With ``dem.size == 0`` every pixel uses ``fallback_h``. Writes ``col``, ``row``,
    ``h`` (ny, nx); returns the number of pixels that used the fallback height.
    """
    ny, nx = col.shape
    K, GY, GX = gcol.shape
    use_dem = dem.size > 0
    DH, DW = dem.shape
    nfall = 0
    inv = 1.0 / step
    # per output row the grid is first interpolated along y (one value per node column), so
    # each pixel only interpolates linearly along x: half the loads and flops of a bilinear
    rc = np.empty((K, GX))
    rr = np.empty((K, GX))
    rdc = np.empty(GX)
    rdr = np.empty(GX)
    for i in range(ny):
        gy = (y0 + i) * inv
        iy = max(0, min(int(math.floor(gy)), GY - 2))   # tiles with a halo extrapolate
        ty = gy - iy
        for q in range(GX):
            rdc[q] = dcol[iy, q] + ty * (dcol[iy + 1, q] - dcol[iy, q])
            rdr[q] = drow[iy, q] + ty * (drow[iy + 1, q] - drow[iy, q])
            for k in range(K):
                rc[k, q] = gcol[k, iy, q] + ty * (gcol[k, iy + 1, q] - gcol[k, iy, q])
                rr[k, q] = grow[k, iy, q] + ty * (grow[k, iy + 1, q] - grow[k, iy, q])
        for j in range(nx):
            gx = (x0 + j) * inv
            ix = max(0, min(int(math.floor(gx)), GX - 2))
            tx = gx - ix
            z = np.nan
            if use_dem:
                dc = rdc[ix] + tx * (rdc[ix + 1] - rdc[ix])
                dr = rdr[ix] + tx * (rdr[ix + 1] - rdr[ix])
                if dc >= 0.0 and dr >= 0.0 and dc < DW - 1 and dr < DH - 1:
                    c0 = int(dc)
                    r0 = int(dr)
                    z = _bilerp(dem, r0, c0, dr - r0, dc - c0)
                else:
                    z = sample_bilinear(dem, dc, dr)          # last row/column, or off the DEM
            if not math.isfinite(z):
                z = fallback_h
                nfall += 1
            h[i, j] = z
            if K == 1:
                col[i, j] = rc[0, ix] + tx * (rc[0, ix + 1] - rc[0, ix])
                row[i, j] = rr[0, ix] + tx * (rr[0, ix + 1] - rr[0, ix])
                continue
            k = 0
            while k < K - 2 and z > levels[k + 1]:
                k += 1
            t = (z - levels[k]) / (levels[k + 1] - levels[k])
            c0_ = rc[k, ix] + tx * (rc[k, ix + 1] - rc[k, ix])
            c1_ = rc[k + 1, ix] + tx * (rc[k + 1, ix + 1] - rc[k + 1, ix])
            r0_ = rr[k, ix] + tx * (rr[k, ix + 1] - rr[k, ix])
            r1_ = rr[k + 1, ix] + tx * (rr[k + 1, ix + 1] - rr[k + 1, ix])
            col[i, j] = c0_ + t * (c1_ - c0_)
            row[i, j] = r0_ + t * (r1_ - r0_)
    return nfall


@njit(cache=True, nogil=True)
def sample_points(a: np.ndarray, c: np.ndarray, r: np.ndarray, out: np.ndarray) -> None:
    """:func:`sample_bilinear` of ``a`` at every (``c[i]``, ``r[i]``) (1-D) into ``out[i]``."""
    for i in range(c.shape[0]):
        out[i] = sample_bilinear(a, c[i], r[i])

# ---------------------------------------------------------------- level1: module stitching

@njit(cache=True, nogil=True)
def keys_weights(f: float, w: np.ndarray) -> None:
    """Cubic convolution weights (Keys, a = −0.5) of taps −1, 0, 1, 2 at fractional offset f."""
    _weights(CUBIC, f, w)


@njit(cache=True, nogil=True)
def _node_interp(grid: np.ndarray, gy: float, gx: float) -> float:
    ny, nx = grid.shape
    iy = min(max(int(math.floor(gy)), 0), ny - 2)
    ix = min(max(int(math.floor(gx)), 0), nx - 2)
    return _bilerp(grid, iy, ix, gy - iy, gx - ix)


@njit(cache=True, nogil=True)
def resample_module(src: np.ndarray, src_flags: np.ndarray, grid_line: np.ndarray,
                    grid_det: np.ndarray, step: float, row0: int, col0: int, ramp: float,
                    acc: np.ndarray, wsum: np.ndarray, bad: np.ndarray) -> None:
    """Accumulate one module's contribution to an output tile.

    ``src`` float32 (lines, dets) with NaN where masked, ``src_flags`` uint8 of the same shape;
    ``grid_line``/``grid_det`` (ny, nx) node mapping for output rows/cols ``k·step``;
    the tile's first output pixel is (``row0``, ``col0``), its shape is ``acc``'s.
    ``acc``/``wsum`` accumulate weighted values (feathering weight rising linearly over
    ``ramp`` detectors from the module's usable edge, so overlapping modules blend without a
    seam); ``bad`` collects the flags of samples that could not be computed.
    """
    nl, nd = src.shape
    th, tw = acc.shape
    wy = np.empty(4)
    wx = np.empty(4)
    for r in range(th):
        gy = (row0 + r) / step
        for c in range(tw):
            gx = (col0 + c) / step
            L = _node_interp(grid_line, gy, gx)
            D = _node_interp(grid_det, gy, gx)
            if not (math.isfinite(L) and math.isfinite(D)):
                continue
            i = int(math.floor(L))
            j = int(math.floor(D))
            if i < 1 or j < 1 or i + 2 >= nl or j + 2 >= nd:
                continue                                  # outside this module: no vote
            keys_weights(L - i, wy)
            keys_weights(D - j, wx)
            s = 0.0
            fl = 0
            for a in range(4):
                for b in range(4):
                    v = src[i - 1 + a, j - 1 + b]
                    if math.isnan(v):
                        fl |= src_flags[i - 1 + a, j - 1 + b]
                    else:
                        s += wy[a] * wx[b] * v
            if fl != 0:
                bad[r, c] |= fl
                continue
            edge = min(D - 1.0, (nd - 2.0) - D)
            w = min(max(edge / ramp, 1e-3), 1.0) if ramp > 0 else 1.0
            acc[r, c] += w * s
            wsum[r, c] += w


@njit(cache=True, nogil=True)
def finish_tile(acc: np.ndarray, wsum: np.ndarray, bad: np.ndarray, out: np.ndarray,
                flags: np.ndarray) -> None:
    """Normalise accumulated values; pixels with no module vote get NaN and their flags
    (OUTSIDE when no module covered them at all)."""
    th, tw = acc.shape
    for r in range(th):
        for c in range(tw):
            if wsum[r, c] > 0.0:
                out[r, c] = acc[r, c] / wsum[r, c]
                flags[r, c] = 0
            else:
                out[r, c] = np.nan
                flags[r, c] = bad[r, c] if bad[r, c] != 0 else OUTSIDE
