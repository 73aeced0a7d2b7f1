"""Resampling and location kernels (level1/resample_kernels.py, shared with ortho), jitted and via .py_func.

Peer: GDAL's warper (rasterio.warp.reproject) resampling the same image on a grid shifted by a
sub-pixel translation — the same Keys cubic / Lanczos-3 / bilinear kernels must agree.
"""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject

from level1 import resample_kernels as K

ENGINES = [K.resample, K.resample.py_func]


def _img(h=40, w=50, seed=3):
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    return (gaussian_filter(rng.normal(size=(h, w)), 1.2) * 3000 + 20000).astype(np.uint16)[None]


def _run(fn, src, col, row, method, valid=None, dtype=np.float64, lo=-np.inf, hi=np.inf, rnd=False):
    out = np.zeros((src.shape[0],) + col.shape, dtype)
    ov = np.zeros(col.shape, np.uint8)
    v = valid if valid is not None else np.ones((1, 1), np.uint8)
    fn(np.ascontiguousarray(src), v, valid is not None, col, row, method, lo, hi, rnd, out, ov)
    return out, ov


@pytest.mark.parametrize("fn", ENGINES)
@pytest.mark.parametrize("method", ["nearest", "bilinear", "cubic", "lanczos"])
def test_identity_positions_reproduce_the_image(fn, method):
    src = _img(12, 13)
    row, col = np.mgrid[0:12, 0:13].astype(np.float64)
    out, ov = _run(fn, src, col, row, K.METHODS[method][0])
    assert ov.all()
    np.testing.assert_allclose(out, src, atol=1e-6)


@pytest.mark.parametrize("method,rs", [("bilinear", Resampling.bilinear), ("cubic", Resampling.cubic),
                                        ("lanczos", Resampling.lanczos), ("nearest", Resampling.nearest)])
def test_matches_gdal_warper_on_subpixel_shift(method, rs):
    src = _img()
    dy, dx = 0.3, 0.71
    # destination pixel (i, j) centre sits at source pixel-centre coordinate (i + dy, j + dx)
    dst = np.zeros((1, 40, 50), np.float64)
    reproject(src.astype(np.float64), dst, src_transform=Affine.identity(), src_crs="EPSG:3857",
              dst_transform=Affine.translation(dx, dy), dst_crs="EPSG:3857", resampling=rs)
    row, col = np.mgrid[0:40, 0:50].astype(np.float64)
    ours, ov = _run(K.resample, src, col + dx, row + dy, K.METHODS[method][0])
    r = K.METHODS[method][1] + 1
    inner = (slice(r, 40 - r), slice(r, 50 - r))
    np.testing.assert_allclose(ours[0][inner], dst[0][inner], atol=1e-3 if method != "lanczos" else 0.5)


@pytest.mark.parametrize("fn", ENGINES)
def test_linear_ramp_is_reproduced_by_bilinear_and_cubic(fn):
    row, col = np.mgrid[0:20, 0:20].astype(np.float64)
    src = (3.0 * col + 7.0 * row + 11.0)[None]
    rng = np.random.default_rng(0)
    pc = rng.uniform(2, 17, (8, 9))
    pr = rng.uniform(2, 17, (8, 9))
    for m in (K.BILINEAR, K.CUBIC):
        out, ov = _run(fn, src, pc, pr, m)
        np.testing.assert_allclose(out[0], 3.0 * pc + 7.0 * pr + 11.0, atol=1e-9)


@pytest.mark.parametrize("fn", ENGINES)
def test_nodata_is_excluded_and_renormalised(fn):
    src = np.full((1, 10, 10), 500.0)
    valid = np.ones((10, 10), np.uint8)
    valid[4, 4] = 0
    src[0, 4, 4] = 60000.0              # garbage under the mask must not leak
    row, col = np.mgrid[0:10, 0:10].astype(np.float64)
    out, ov = _run(fn, src, col + 0.25, row + 0.25, K.CUBIC, valid=valid)
    assert ov[4, 4] == 0                                   # nearest source pixel invalid
    assert ov.sum() == 99                                  # 9.25 < 9.5: still inside the image
    np.testing.assert_allclose(out[0][ov == 1], 500.0)     # neighbours unaffected


@pytest.mark.parametrize("fn", ENGINES)
def test_outside_and_nan_positions_are_nodata(fn):
    src = _img(8, 8)
    col = np.array([[-0.6, -0.5, 7.49, 7.5, np.nan]])
    row = np.array([[3.0, 3.0, 3.0, 3.0, 3.0]])
    out, ov = _run(fn, src, col, row, K.CUBIC, dtype=np.uint16, lo=0, hi=65535, rnd=True)
    assert ov.tolist() == [[0, 1, 1, 0, 0]]
    assert out[0, 0, 0] == 0 and out[0, 0, 4] == 0


@pytest.mark.parametrize("fn", ENGINES)
def test_uint16_output_rounds_and_clips_overshoot(fn):
    src = np.zeros((1, 8, 8))
    src[0, :, 4:] = 65535.0             # a step: cubic overshoots on both sides
    row, col = np.mgrid[2:6, 0:8].astype(np.float64)
    col = col + 0.5
    out16, _ = _run(fn, src, col, row, K.CUBIC, dtype=np.uint16, lo=0, hi=65535, rnd=True)
    outf, _ = _run(fn, src, col, row, K.CUBIC)
    assert outf.min() < 0 and outf.max() > 65535                    # it does overshoot
    np.testing.assert_array_equal(out16, np.clip(np.floor(outf + 0.5), 0, 65535).astype(np.uint16))


@pytest.mark.parametrize("fn", [K.locate, K.locate.py_func])
def test_locate_interpolates_grid_and_heights(fn):
    # a grid whose image position is an affine function of (y, x, h): interpolation is exact
    step, GY, GX = 8, 4, 5
    levels = np.array([100.0, 300.0, 900.0])
    gy, gx = np.mgrid[0:GY, 0:GX] * step
    gcol = np.stack([2.0 * gx + 0.01 * z for z in levels])
    grow = np.stack([3.0 * gy - 0.02 * z + 5 for z in levels])
    dem = np.array([[150.0, 250.0], [450.0, 850.0]])          # 2x2 DEM, node spacing 1
    dcol = gx / (step * (GX - 1))                              # DEM position spans the DEM
    drow = gy / (step * (GY - 1))
    col = np.empty((6, 7))
    row = np.empty((6, 7))
    h = np.empty((6, 7))
    nf = fn(3.0, 2.0, step, gcol, grow, levels, dem, np.ascontiguousarray(dcol, dtype=np.float64),
            np.ascontiguousarray(drow, dtype=np.float64), -1.0, col, row, h)
    assert nf == 0
    yy, xx = np.mgrid[3:9, 2:9].astype(np.float64)
    u, v = xx / (step * (GX - 1)), yy / (step * (GY - 1))
    h_exp = (1 - v) * ((1 - u) * 150 + u * 250) + v * ((1 - u) * 450 + u * 850)
    np.testing.assert_allclose(h, h_exp, atol=1e-9)
    np.testing.assert_allclose(col, 2.0 * xx + 0.01 * h_exp, atol=1e-9)
    np.testing.assert_allclose(row, 3.0 * yy - 0.02 * h_exp + 5, atol=1e-9)


def test_locate_uses_fallback_height_off_dem():
    gcol = np.zeros((2, 2, 2))
    grow = np.zeros((2, 2, 2))
    gcol[1] = 1.0                     # col = (h - 0) / 10 between layers 0 and 10 m
    col = np.empty((2, 2))
    row = np.empty((2, 2))
    h = np.empty((2, 2))
    dem = np.array([[np.nan, 4.0], [4.0, 4.0]])
    dc = np.full((2, 2), 5.0)          # every node far off the 2x2 DEM
    nf = K.locate(0.0, 0.0, 1, gcol, grow, np.array([0.0, 10.0]), dem, dc, dc, 7.0, col, row, h)
    assert nf == 4 and np.all(h == 7.0) and np.allclose(col, 0.7)


@pytest.mark.parametrize("jit", [True, False])
def test_level1_keys_weights_are_the_keys_kernel(jit):
    """level1's module resampling uses the same Keys (a = −0.5) taps as ortho's CUBIC:
    weights of taps −1, 0, 1, 2 equal the kernel at distances 1+f, f, 1−f, 2−f, sum to 1."""
    kw = K.keys_weights if jit else K.keys_weights.py_func
    w = np.empty(4)
    for f in np.linspace(0.0, 0.999, 37):
        kw(f, w)
        ref = [K._keys_cubic.py_func(f - (k - 1)) for k in range(4)]
        np.testing.assert_allclose(w, ref, rtol=0, atol=1e-14)
        assert abs(w.sum() - 1.0) < 1e-14
    kw(0.0, w)
    np.testing.assert_array_equal(w, [0.0, 1.0, 0.0, 0.0])
