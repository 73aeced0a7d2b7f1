"""Registration and fusion-quality measures (ortho/quality_algo.py)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, shift

from ortho import quality_algo as Q


def _tex(n=160, seed=0):
    return gaussian_filter(np.random.default_rng(seed).normal(size=(n, n)), 1.5)


@pytest.mark.parametrize("d", [(0.3, -0.7), (-2.3, 1.04), (0.02, 0.0), (4.0, -3.0)])
def test_phase_shift_recovers_known_subpixel_shift(d):
    a = _tex()
    b = 1.7 * shift(a, d, order=3, mode="nearest") + 40.0     # gain/offset do not matter
    dy, dx = Q.phase_shift(a[30:94, 30:94], b[30:94, 30:94])
    assert abs(dy - d[0]) < 0.01 and abs(dx - d[1]) < 0.01


def test_windowed_shifts_statistics():
    a = _tex(256)
    b = shift(a, (0.1, 0.0), order=3, mode="nearest")
    s = Q.windowed_shifts(a, b, window=64)
    assert s.windows == 16
    assert abs(s.mean_dy - 0.1) < 0.005 and abs(s.mean_dx) < 0.005 and abs(s.max_px - 0.1) < 0.01
    with pytest.raises(ValueError):
        Q.windowed_shifts(a, b, np.zeros(a.shape, bool))


def test_fusion_indices_of_perfect_and_degraded_images():
    rng = np.random.default_rng(2)
    ref = np.stack([gaussian_filter(rng.normal(size=(64, 64)), 2) * 50 + 500 + 30 * k for k in range(4)])
    assert Q.ergas(ref, ref, 4) == 0 and Q.sam(ref, ref) < 1e-6 and Q.q4(ref, ref) == pytest.approx(1.0)
    noisy = ref + rng.normal(scale=20, size=ref.shape)
    # ERGAS by hand: 100/4 * sqrt(mean (rmse/mu)^2)
    rmse = np.sqrt(((noisy - ref) ** 2).mean(axis=(1, 2)))
    assert Q.ergas(ref, noisy, 4) == pytest.approx(25 * np.sqrt(np.mean((rmse / ref.mean(axis=(1, 2))) ** 2)))
    assert 0 < Q.q4(ref, noisy) < 0.9 and Q.sam(ref, noisy) > 0.5
    # a spectral distortion (band swap) keeps per-band statistics but breaks Q4 and SAM
    swapped = ref[[1, 0, 2, 3]]
    assert Q.q4(ref, swapped) < Q.q4(ref, ref) - 0.1 and Q.sam(ref, swapped) > 0
    # Q of a constant offset: 4 σ²μxμy / (2σ² (μx²+μy²))
    x = ref[0]
    q = Q.q_index(x, x + 10, block=64)
    mx, my = x.mean(), x.mean() + 10
    assert q == pytest.approx(2 * mx * my / (mx ** 2 + my ** 2), rel=1e-9)


def test_qnr_of_an_ideal_fusion_is_high():
    rng = np.random.default_rng(3)
    hr = np.stack([gaussian_filter(rng.normal(size=(128, 128)), 3) for _ in range(4)]) + 10
    pan = hr.mean(0)
    from ortho.pansharpen_algo import degrade
    ms = degrade(hr, 4, 0.3)
    pan_lr = degrade(pan, 4, 0.3)
    good = Q.qnr(hr, ms, pan, pan_lr)
    bad = Q.qnr(np.repeat(pan[None], 4, 0), ms, pan, pan_lr)     # PAN copied in every band
    assert good["QNR"] > bad["QNR"] and good["D_lambda"] < bad["D_lambda"]


def test_windows_without_2d_structure_have_no_shift():
    """Flat fields and straight edges (aperture problem) must not yield a number."""
    flat = np.full((32, 32), 7.0)
    assert np.isnan(Q.phase_shift(flat, flat)).all()
    edge = np.zeros((32, 32))
    edge[:, 16:] = 100.0                        # a vertical edge: x is defined, y is not
    assert np.isnan(Q.phase_shift(edge, np.roll(edge, 1, axis=1))).all()
    a = _tex(128)
    img = a.copy()
    img[:64] = np.sin(np.arange(128) / 3.0)[None, :] * 50     # top half: vertical stripes only
    s = Q.windowed_shifts(img, shift(img, (0.2, 0.1), order=3, mode="nearest"), window=32)
    assert s.rejected >= 6 and s.windows >= 6
    assert abs(s.median_dy - 0.2) < 0.01 and abs(s.median_dx - 0.1) < 0.01
