"""DWT and bit-plane kernels, jitted and as plain Python (``.py_func``), against independent
numpy formulations of CCSDS 122.0-B-2 §3."""
from __future__ import annotations

import numpy as np
import pytest

from decode import ccsds122
from decode.ccsds122 import bpe_kernels as B
from decode.ccsds122 import dwt_kernels as D
from decode.ccsds122 import headers as H

RNG = np.random.default_rng(7)


def int97_forward_reference(x: np.ndarray) -> np.ndarray:
    """§3.3.2 equations, boundary cases written out as the standard states them (eq. 9-13)."""
    x = x.astype(np.int64)
    n = len(x)
    h = n // 2
    d = np.empty(h, np.int64)
    fl = np.floor
    d[0] = x[1] - int(fl(9 / 16 * (x[0] + x[2]) - 1 / 16 * (x[2] + x[4]) + 1 / 2))
    for j in range(1, h - 2):
        d[j] = x[2 * j + 1] - int(fl(9 / 16 * (x[2 * j] + x[2 * j + 2])
                                     - 1 / 16 * (x[2 * j - 2] + x[2 * j + 4]) + 1 / 2))
    d[h - 2] = x[n - 3] - int(fl(9 / 16 * (x[n - 4] + x[n - 2]) - 1 / 16 * (x[n - 6] + x[n - 2])
                                 + 1 / 2))
    d[h - 1] = x[n - 1] - int(fl(9 / 8 * x[n - 2] - 1 / 8 * x[n - 4] + 1 / 2))
    c = np.empty(h, np.int64)
    c[0] = x[0] - int(fl(-d[0] / 2 + 1 / 2))
    for j in range(1, h):
        c[j] = x[2 * j] - int(fl(-1 / 4 * (d[j - 1] + d[j]) + 1 / 2))
    return np.concatenate([c, d])


def float97_forward_reference(x: np.ndarray) -> np.ndarray:
    """Analysis filters (§3.2, Table 3-1) by convolution on the symmetric extension."""
    h = np.array([0.037828455507, -0.023849465020, -0.110624404418, 0.377402855613,
                  0.852698679009, 0.377402855613, -0.110624404418, -0.023849465020,
                  0.037828455507])
    g = np.array([-0.064538882629, 0.040689417609, 0.418092273222, -0.788485616406,
                  0.418092273222, 0.040689417609, -0.064538882629])
    e = np.pad(x.astype(np.float64), 4, mode="reflect")
    n = len(x)
    low = [np.dot(h, e[2 * j:2 * j + 9]) for j in range(n // 2)]
    high = [np.dot(g, e[2 * j + 2:2 * j + 9]) for j in range(n // 2)]
    return np.array(low + high)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("n", [6, 8, 10, 24, 64, 130])
def test_int97_1d_against_equations(jit, n):
    x = RNG.integers(-(1 << 15), 1 << 15, n).astype(np.int32)
    fwd = D.fwd_int_1d if jit else D.fwd_int_1d.py_func
    inv = D.inv_int_1d if jit else D.inv_int_1d.py_func
    y = x.copy()
    fwd(y, n, np.empty(n, np.int32))
    np.testing.assert_array_equal(y, int97_forward_reference(x))
    inv(y, n, np.empty(n, np.int32))
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("n", [6, 8, 24, 66])
def test_float97_1d_against_filters(jit, n):
    x = RNG.normal(1000, 300, n)
    fwd = D.fwd_float_1d if jit else D.fwd_float_1d.py_func
    inv = D.inv_float_1d if jit else D.inv_float_1d.py_func
    y = x.copy()
    fwd(y, n, np.empty(2 * n + 8))
    np.testing.assert_allclose(y, float97_forward_reference(x), rtol=0, atol=1e-9)
    inv(y, n, np.empty(n + 8))
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-6)      # biorthogonal: perfect reconstruction


def test_2d_transforms_invert_and_regroup():
    img = RNG.integers(0, 4096, (48, 72)).astype(np.int32)
    c = img.copy()
    D.fwd_int_2d(c, 3)
    # columns done row-vectorised must equal the 1-D kernel applied per column
    ref = img.copy()
    for lev in range(3):
        h, w = 48 >> lev, 72 >> lev
        for r in range(h):
            D.fwd_int_1d(ref[r], w, np.empty(w, np.int32))
        for col in range(w):
            v = ref[:h, col].copy()
            D.fwd_int_1d(v, h, np.empty(h, np.int32))
            ref[:h, col] = v
    np.testing.assert_array_equal(c, ref)
    blocks = np.empty((6 * 9, 64), np.int32)
    D.regroup(c, blocks)
    assert blocks[0, 0] == c[0, 0] and blocks[10, 1] == c[1, 9 + 1]     # LL3 / HL3 of block (1, 1)
    back = np.empty_like(c)
    D.ungroup(blocks, back)
    np.testing.assert_array_equal(back, c)
    D.inv_int_2d(c, 3)
    np.testing.assert_array_equal(c, img)
    f = img.astype(np.float64)
    D.fwd_float_2d(f, 3)
    D.inv_float_2d(f, 3)
    np.testing.assert_allclose(f, img, atol=1e-6)


def test_subband_weights_layout():
    c = np.ones((32, 32), np.int32)
    D.scale_int(c, H.DEFAULT_SHIFTS, False)
    assert c[0, 0] == 8 and c[0, 4] == 8 and c[4, 0] == 8 and c[4, 4] == 4       # LL3 HL3 LH3 HH3
    assert c[0, 8] == 4 and c[8, 0] == 4 and c[8, 8] == 2                         # HL2 LH2 HH2
    assert c[0, 16] == 2 and c[16, 0] == 2 and c[16, 16] == 1                     # HL1 LH1 HH1
    r_w = [B.R_WT[r] for r in range(63)]
    assert r_w[:3] == [1, 2, 3] and r_w[3:15] == sum([[k] * 4 for k in (4, 5, 6)], [])


@pytest.mark.parametrize("jit", [True, False])
def test_segment_kernels_python_and_jit(jit):
    """The segment coder/decoder pair as plain Python (slow) and jitted give the same bits."""
    y, x = np.mgrid[:32, :32]
    img = (2000 + 500 * np.sin(x / 5) + RNG.normal(0, 20, x.shape)).astype(np.uint16)
    blocks = ccsds122.forward(img, "int")                     # 16 blocks = one segment
    wts = H.DEFAULT_SHIFTS.astype(np.int64)
    dcd, acd = B.segment_depths(blocks, 0, 16)
    enc = B._encode_core if jit else B._encode_core.py_func
    buf = np.zeros(16 * 64 * 5, np.uint8)
    S = 16
    pos = enc(blocks, wts, True, dcd, acd, buf, 0, np.zeros((6, S), np.int64),
              np.zeros((S, 64), np.int32), np.zeros((S, 64), np.uint8), np.zeros((S, 64), np.uint8),
              np.zeros((S, 3), np.int64), np.zeros((4, S, B.MAXW), np.int8),
              np.zeros((6, S), np.int64), np.zeros((1, 3), np.int64), np.zeros((1, 3), np.int64))
    ref = np.zeros_like(buf)
    assert pos == B.encode_body(blocks, wts, True, dcd, acd, ref, 0)
    np.testing.assert_array_equal(buf, ref)
    dec = B._decode_core if jit else B._decode_core.py_func
    W = B.word_table(buf[:(pos + 7) // 8])
    mag = np.empty((S, 63), np.int64)
    sig = np.empty(S, np.int64)
    sp = np.empty((S, 63), np.int64)
    dc = np.zeros(S, np.int64)
    dckb = np.empty(S, np.int64)
    stop = np.zeros(3, np.int64)
    end, st = dec(W, 0, pos, S, wts, True, dcd, acd, mag, sig, sp, dc, dckb, stop,
                  np.zeros(S, np.int64), np.zeros(S, np.int64), np.zeros((5, S), np.int64),
                  np.zeros((1, 3), np.int64), np.zeros((1, 3), np.int64))
    assert (end, st) == (pos, B.OK)
    out = np.empty((S, 64), np.int64)
    B.reconstruct_fast(mag, sig, sp, dc, dckb, wts, stop, out)
    np.testing.assert_array_equal(out, blocks)
