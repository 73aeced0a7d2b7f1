"""level1/sensor_model.py: ephemeris/attitude interpolation, lines of sight, direct and inverse
location — against an independent synthetic truth (tests/level1/synthetic.py, pyproj)."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio

from level1 import sensor_kernels as SK
from level1.dem import Dem
from level1.rpc import fit_rpc
from level1.sensor_model import (Attitude, DetectorArray, Ephemeris, PushbroomModel, instrument_to_body,
                                 los_instrument, matrix_to_rotvec)
from srd.errors import GeometryError

from l1_synthetic import T_GPS0, SyntheticPass, ground_truth

DUR = 2.0
T0 = T_GPS0 - 1.0


@pytest.fixture(scope="module")
def sp():
    return SyntheticPass(roll=0.05, pitch=-0.02)


@pytest.fixture(scope="module")
def clean(sp):
    return sp.records(T0 - 3, T0 + DUR + 3, noise_m=0, noise_mps=0, noise_rad=0)


@pytest.fixture(scope="module")
def noisy(sp):
    return sp.records(T0 - 3, T0 + DUR + 3, noise_m=0.5, noise_mps=5e-4, noise_rad=2e-6, seed=11)


@pytest.fixture(scope="module")
def pan(cfg):
    ins = cfg.instrument("reduced")
    return ins, DetectorArray.from_instrument(ins, "PAN", 2)


def _angle(Ra, Rb):
    return np.linalg.norm(matrix_to_rotvec(np.swapaxes(Ra, -1, -2) @ Rb), axis=-1)


def test_ephemeris_hermite_exact_and_fit_beats_noise(sp, clean, noisy):
    clean, noisy = clean[0], noisy[0]
    tt = np.linspace(T0, T0 + DUR, 41)
    pt, vt = sp.state(tt)
    e = Ephemeris.from_records(clean, method="hermite")
    p, v = e.state(tt)
    assert np.abs(p - pt).max() < 1e-4 and np.abs(v - vt).max() < 1e-5
    h = Ephemeris.from_records(noisy, method="hermite")
    f = Ephemeris.from_records(noisy, method="fit", sigma_pos_m=0.5, sigma_vel_mps=5e-4)
    eh = np.linalg.norm(h.state(tt)[0] - pt, axis=-1)
    ef = np.linalg.norm(f.state(tt)[0] - pt, axis=-1)
    # 0.5 m/axis noise → ~0.87 m 3-D per sample; the joint pos+vel fit averages it over 12 samples
    assert np.sqrt(np.mean(ef ** 2)) < 0.45
    assert np.sqrt(np.mean(ef ** 2)) < 0.6 * np.sqrt(np.mean(eh ** 2))
    assert f.residual_pos_m == pytest.approx(0.5, rel=0.3)     # per-axis RMS of the fit residual


def test_attitude_methods_on_clean_and_noisy_data(sp, clean, noisy):
    clean, noisy = clean[1], noisy[1]
    tt = np.linspace(T0, T0 + DUR, 41)
    Rt = sp.matrix(tt)
    for m in ("slerp", "fit", "gyro"):
        a = Attitude.from_records(clean, method=m)
        assert _angle(Rt, a.matrix(tt)).max() < 1e-9, m
    s = Attitude.from_records(noisy, method="slerp")
    g = Attitude.from_records(noisy)                      # auto → gyro (rates are consistent)
    assert g.method == "gyro"
    es, eg = _angle(Rt, s.matrix(tt)), _angle(Rt, g.matrix(tt))
    assert np.sqrt(np.mean(eg ** 2)) < 0.35 * 2e-6 * np.sqrt(3)
    assert np.sqrt(np.mean(eg ** 2)) < 0.5 * np.sqrt(np.mean(es ** 2))
    assert g.residual_rad == pytest.approx(2e-6 * np.sqrt(3), rel=0.3)


def test_attitude_auto_rejects_inconsistent_rates(clean):
    bad = clean[1].copy()
    bad["rate"] = bad["rate"] + np.float32(1e-4)          # a 100 µrad/s bias is not a gyro
    a = Attitude.from_records(bad, drift_degree=0)
    assert a.method == "fit"


def _geoloc_rms(model, L, D, H, truth):
    lon, lat, h = model.direct(L, D, H)
    dx = (lon - truth[0]) * 111_195 * np.cos(np.radians(lat))
    dy = (lat - truth[1]) * 111_195
    return float(np.sqrt(np.mean(dx ** 2 + dy ** 2))), lon, lat, h


def test_direct_location_matches_independent_truth(sp, clean, pan):
    ins, det = pan
    rng = np.random.default_rng(1)
    L = rng.uniform(0, DUR / ins.pan_line_period_s, 300)
    D = rng.uniform(0, det.n - 1, 300)
    H = rng.uniform(-50, 2500, 300)
    px, py = det.angles(D)
    truth = ground_truth(sp, T0 + L * ins.pan_line_period_s, los_instrument(px, py), H)
    e, a = clean
    model = PushbroomModel(Ephemeris.from_records(e, method="hermite"), Attitude.from_records(a),
                           det, T0, ins.pan_line_period_s)
    rms, lon, lat, h = _geoloc_rms(model, L, D, H, truth)
    assert rms < 0.002
    assert np.abs(h - H).max() < 1e-3
    # inverse location returns the image point (float64 GPS time resolution ≈ 2.4e-7 s)
    l2, d2 = model.inverse(lon, lat, h)
    assert np.abs(l2 - L).max() < 2e-3 and np.abs(d2 - D).max() < 1e-6
    # Published (noisy) ancillary, ±5 s around the datatake, 8 noise realisations: the error is
    # what the noise allows (σ/√n on the GNSS offset and the star-tracker offset), well below
    # the per-sample noise (0.5 m/axis GNSS, 2 µrad ≈ 1.4 m on ground).
    results = []
    for seed in range(8):
        e, a = sp.records(T0 - 5, T0 + DUR + 5, noise_m=0.5, noise_mps=5e-4, noise_rad=2e-6, seed=seed)
        model = PushbroomModel(Ephemeris.from_records(e, sigma_pos_m=0.5, sigma_vel_mps=5e-4),
                               Attitude.from_records(a), det, T0, ins.pan_line_period_s)
        results.append(_geoloc_rms(model, L, D, H, truth)[0])
    assert np.mean(results) < 0.35 and max(results) < 0.6, results


def test_instrument_misalignment_is_applied(sp, clean, pan):
    ins, det = pan
    e, a = clean
    R_ib = instrument_to_body((1e-4, -2e-4, 3e-4))
    model = PushbroomModel(Ephemeris.from_records(e, method="hermite"), Attitude.from_records(a),
                           det, T0, ins.pan_line_period_s, instrument_to_body=R_ib)
    D = np.array([0.0, 100.0, 255.0])
    L = np.array([10.0, 3000.0, 6000.0])
    px, py = det.angles(D)
    truth = ground_truth(sp, T0 + L * ins.pan_line_period_s, (R_ib @ los_instrument(px, py)[..., None])[..., 0], 0.0)
    lon, lat, _ = model.direct(L, D, 0.0)
    assert np.abs(lon - truth[0]).max() * 8e4 < 0.002 and np.abs(lat - truth[1]).max() * 1.1e5 < 0.002


def test_dem_intersection_lands_on_the_dem(clean, pan):
    ins, det = pan
    e, a = clean
    base = PushbroomModel(Ephemeris.from_records(e, method="hermite"), Attitude.from_records(a),
                          det, T0, ins.pan_line_period_s)
    lo0, la0, _ = base.direct(np.array([0.0, 6000.0]), np.array([0.0, 255.0]), 0.0)
    # a synthetic DEM: a 1200 m hill on a 300 m plain, 3" grid, centred on the scene
    w, n = np.floor(lo0.mean() * 10) / 10 - 0.3, np.floor(la0.mean() * 10) / 10 + 0.3
    lon = w + (np.arange(720) + 0.5) / 1200
    lat = n - (np.arange(720) + 0.5) / 1200
    Lo, La = np.meshgrid(lon, lat)
    z = 300 + 1200 * np.exp(-(((Lo - lo0.mean()) / 0.02) ** 2 + ((La - la0.mean()) / 0.02) ** 2))
    dem = Dem(z, np.array([w, 1 / 1200, 0, n, 0, -1 / 1200]), "synthetic")
    model = PushbroomModel(base.ephemeris, base.attitude, det, T0, ins.pan_line_period_s, dem=dem)
    L = np.linspace(0, 6000, 25)
    D = np.linspace(0, 255, 25)
    lon_d, lat_d, h_d = model.direct(L, D)
    assert np.abs(h_d - dem.height(lon_d, lat_d)).max() < 2e-3
    l2, d2 = model.inverse(lon_d, lat_d, h_d)
    assert np.abs(l2 - L).max() < 2e-3 and np.abs(d2 - D).max() < 1e-5


def test_real_srtm_with_geoid(shared_dir):
    d = shared_dir / "data" / "dem"
    dem = Dem.open(d / "N44E005.hgt", geoid=d / "egm96_15.gtx", bounds=(5.1, 44.0, 5.4, 44.3))
    with rasterio.open(d / "N44E005.hgt") as ds:
        r, c = ds.index(5.27, 44.17)
        H = float(ds.read(1)[r, c])
        lon_c, lat_c = ds.xy(r, c)
    with rasterio.open(d / "egm96_15.gtx") as g:
        N = float(next(g.sample([(lon_c, lat_c)]))[0])      # nearest geoid node, ≈ 51 m here
    h = float(dem.height(lon_c, lat_c))
    assert h == pytest.approx(H + N, abs=0.3)             # geoid varies < 0.3 m within a node
    lo, hi = dem.range_over(np.linspace(5.1, 5.4, 50), np.linspace(44.0, 44.3, 50))
    assert 100 < lo < hi < 2000


def test_kernels_jitted_match_py_func():
    pos = np.array([[7.0e6, 0.0, 0.0], [0.0, 7.0e6, 1.0e5]])
    u = -pos / np.linalg.norm(pos, axis=1, keepdims=True)
    h = np.array([100.0, 2000.0])
    a, b = np.empty((2, 3)), np.empty((2, 3))
    SK.intersect_height(pos, u, h, a)
    SK.intersect_height.py_func(pos, u, h, b)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a[:, 2], h, atol=1e-4)
    assert SK.geodetic_from_ecef.py_func(6378137.0, 0.0, 0.0) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)


def test_errors_are_typed(clean, pan):
    ins, det = pan
    e, a = clean
    model = PushbroomModel(Ephemeris.from_records(e), Attitude.from_records(a), det, T0, ins.pan_line_period_s)
    with pytest.raises(GeometryError, match="outside the ephemeris"):
        model.direct([1e6], [0.0], 0.0)
    with pytest.raises(GeometryError, match="needs a DEM"):
        model.direct([0.0], [0.0])
    wide = DetectorArray(np.zeros(2), np.array([-1.5, 1.5]))      # ±86°: looks past the Earth
    m2 = PushbroomModel(model.ephemeris, model.attitude, wide, T0, ins.pan_line_period_s)
    with pytest.raises(GeometryError, match="does not reach"):
        m2.direct([0.0], [0.0], 0.0)
    with pytest.raises(GeometryError):
        Ephemeris([1.0], [[0, 0, 0]], [[0, 0, 0]])


def test_rpc_fit_reproduces_physical_model(noisy, pan):
    ins, det = pan
    e, a = noisy
    model = PushbroomModel(Ephemeris.from_records(e), Attitude.from_records(a), det, T0,
                           ins.pan_line_period_s)
    rows = int(DUR / ins.pan_line_period_s)
    rpc, rep = fit_rpc(model.direct_function(), det.n, rows, -100.0, 2500.0)
    assert rep.check_max_px < 0.01
    rng = np.random.default_rng(4)
    L, D, H = rng.uniform(0, rows - 1, 400), rng.uniform(0, det.n - 1, 400), rng.uniform(-100, 2500, 400)
    lon, lat, _ = model.direct(L, D, H)
    c, r = rpc.project(lon, lat, H)
    assert np.abs(c - D).max() < 0.01 and np.abs(r - L).max() < 0.01


def test_dem_kernel_jitted_matches_py_func():
    lon = 5.0 + (np.arange(40) + 0.5) / 40
    lat = 45.0 - (np.arange(40) + 0.5) / 40
    Lo, La = np.meshgrid(lon, lat)
    dem = 500 + 300 * np.sin(Lo * 20) * np.cos(La * 15)
    gt = np.array([5.0, 1 / 40, 0, 45.0, 0, -1 / 40])
    from l1_synthetic import ecef
    ground = ecef(np.array([5.3, 5.6]), np.array([44.6, 44.4]), np.array([0.0, 0.0]))
    up = ground / np.linalg.norm(ground, axis=1, keepdims=True)
    pos = ground + 700e3 * up + np.array([[3e4, 0, 0], [0, -2e4, 0]])
    u = ground - pos
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    outs = []
    for fn in (SK.intersect_dem, SK.intersect_dem.py_func):
        out, it = np.empty((2, 3)), np.empty(2, np.int64)
        fn(pos, u, dem, gt, 0.0, 1e-3, 60, out, it)
        assert (it >= 0).all()
        outs.append(out)
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-9)
    h_dem = [SK.dem_bilinear(dem, gt, np.degrees(o[0]), np.degrees(o[1])) for o in outs[0]]
    np.testing.assert_allclose(outs[0][:, 2], h_dem, atol=2e-3)
