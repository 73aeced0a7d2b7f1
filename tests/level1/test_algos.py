"""level1 numpy algorithms and Numba kernels: radiometry, resampling kernel, registration,
cloud mask, angles (against pyorbital), line timing."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from level1 import radiometry_algo as RA
from level1 import resample_kernels as RK
from level1.angles import sun_angles, view_angles
from level1.geometry import line_timing
from level1.level0 import BandData
from level1.quality_algo import misregistration, register
from level1.resample_algo import node_axis
from srd.errors import ProductError
from srd.timescale import utc_to_gps


def test_equalise_and_calibration_laws(cfg):
    ins = cfg.instrument("reduced")
    dark, gain = ins.detector_calibration("B2", 3)
    band = ins.band("B2")
    L = np.full((5, dark.size), 80.0)                          # W m-2 sr-1 um-1
    dn = np.rint(dark + gain * (L - band.bias) * band.absolute_gain).astype(np.uint16)
    dn[1, 3] = 4095                                            # saturated
    status = np.array([0, 0, 1, 0, 0], np.uint8)               # line 2 lost
    eq, fl = RA.equalise(dn, status, dark, gain, 12)
    assert np.all(fl[2] == RA.MISSING) and fl[1, 3] == RA.SATURATED and np.isnan(eq[1, 3])
    ok = fl == 0
    rad = RA.radiance(eq, band.absolute_gain, band.bias)
    assert np.abs(rad[ok] - 80.0).max() < 0.7 / band.absolute_gain   # rounding of DN only
    rho = RA.reflectance(np.float32(80.0), band.solar_irradiance, 60.0, 1.0)
    assert rho == pytest.approx(np.pi * 80 / (band.solar_irradiance * 0.5), rel=1e-6)


def test_striping_metric_sees_detector_errors_not_scenes():
    rng = np.random.default_rng(0)
    x = np.arange(256)
    scene = 500 + 100 * np.sin(2 * np.pi * x / 40)[None, :] + rng.normal(0, 2, (2000, 256))
    assert RA.column_spread(scene) < 2 * RA.column_noise(scene)
    striped = scene * (1 + 0.01 * rng.standard_normal(256))[None, :]
    assert RA.column_spread(striped) > 10 * RA.column_noise(striped)


@pytest.mark.parametrize("jit", [True, False])
def test_resample_kernel_reproduces_linear_fields_and_flags(jit):
    fn = RK.resample_module if jit else RK.resample_module.py_func
    fin = RK.finish_tile if jit else RK.finish_tile.py_func
    nl, nd = 80, 60
    L, D = np.mgrid[0:nl, 0:nd].astype(np.float64)
    src = (3.0 * L + 0.5 * D + 10).astype(np.float32)          # cubic convolution is exact on planes
    flags = np.zeros(src.shape, np.uint8)
    src[40, :] = np.nan
    flags[40, :] = RA.MISSING
    step = 8.0
    k = node_axis(64, 8)
    gy, gx = np.meshgrid(k, k, indexing="ij")
    gl = 5.0 + 0.9 * gy + 0.05 * gx                            # a rotated, scaled mapping
    gd = 4.0 + 0.7 * gx
    acc, w = np.zeros((64, 64)), np.zeros((64, 64))
    bad = np.zeros((64, 64), np.uint8)
    fn(src, flags, gl, gd, step, 0, 0, 5.0, acc, w, bad)
    out, fl = np.empty((64, 64), np.float32), np.empty((64, 64), np.uint8)
    fin(acc, w, bad, out, fl)
    R, C = np.mgrid[0:64, 0:64].astype(np.float64)
    Lx, Dx = 5.0 + 0.9 * R + 0.05 * C, 4.0 + 0.7 * C
    expect = 3.0 * Lx + 0.5 * Dx + 10
    near_lost = (Lx > 38.0 - 1e-6) & (Lx < 42.0 + 1e-6)      # the 4 taps i−1..i+2 reach line 40
    inside = (Dx >= 1) & (Dx <= nd - 3)
    good = ~near_lost & inside
    assert np.abs(out[good] - expect[good]).max() < 1e-3
    sure = (Lx > 38.0 + 1e-6) & (Lx < 42.0 - 1e-6) & inside
    assert np.all(fl[sure] == RA.MISSING) and np.isnan(out[sure]).all()
    assert not np.isnan(out[good]).any()
    assert np.all(fl[~inside] == RK.OUTSIDE)


def test_register_and_misregistration_measure_known_shifts():
    rng = np.random.default_rng(2)
    pan = ndimage.gaussian_filter(rng.standard_normal((512, 512)), 3.0) * 100 + 500
    ms_true = pan.reshape(128, 4, 128, 4).mean(axis=(1, 3))
    shifted = ndimage.shift(ms_true, (0.3, -0.2), order=3, mode="nearest")   # b(x) = a(x − d)
    res = misregistration(pan, {"B0": ms_true * 0.8 + 3, "B1": shifted}, 4, tile=32)
    assert abs(res["B0"]["drow"]) < 0.02 and abs(res["B0"]["dcol"]) < 0.02
    # the measured shift moves the band onto PAN: a(x) ≈ b(x − d) → d = −(0.3, −0.2)
    assert res["B1"]["drow"] == pytest.approx(-0.3, abs=0.03)
    assert res["B1"]["dcol"] == pytest.approx(0.2, abs=0.03)
    assert res["B1"]["tiles"] >= 10


def test_sun_and_view_angles_against_pyorbital():
    from pyorbital.astronomy import get_alt_az, sun_earth_distance_correction
    t = dt.datetime(2026, 11, 29, 10, 3, 28)
    z, a, d = sun_angles(utc_to_gps(t), 5.31, 44.28)
    alt, az = get_alt_az(t, 5.31, 44.28)
    assert float(z) == pytest.approx(90 - np.degrees(alt), abs=0.02)
    assert float(a) == pytest.approx(np.degrees(az) % 360, abs=0.05)
    assert float(d) == pytest.approx(sun_earth_distance_correction(t), abs=1e-4)
    from level1.sensor_model import geodetic_to_ecef
    g = geodetic_to_ecef(5.0, 44.0, 0.0)
    up = g / np.linalg.norm(g)
    inc, _ = view_angles(5.0, 44.0, g, g + 700e3 * up)
    assert float(inc) < 0.2                                          # geodetic ≈ geocentric up here


def test_line_timing_law_and_corrupt_block_time(tmp_path):
    period = 0.000325
    bt = np.array([[k * 32, 1000.0 + k * 32 * period] for k in range(10)])
    bd = BandData(1, "PAN", 1, 0, np.zeros((320, 4), np.uint16), np.zeros(320, np.uint8), bt, {},
                  Path(tmp_path / "M1_PAN.npy"))
    t0, p, r = line_timing(bd, period)
    assert t0 == pytest.approx(1000.0) and r < 1e-9
    bt[4, 1] += 0.01                                                # one CUC 10 ms off
    bd2 = BandData(1, "PAN", 1, 0, bd.dn, bd.line_status, bt, {}, bd.path)
    with pytest.raises(ProductError, match="block time of line 128"):
        line_timing(bd2, period)
