"""Orbit truth: SGP4/skyfield in ITRF, checked against independent implementations."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from srd.timescale import utc_to_gps
from telemetry.orbit import (Orbit, OrbitTable, ecef_to_geodetic, geodetic_to_ecef,
                             published_ephemeris)

DEMO = dt.datetime(2026, 11, 29, 10, 3, 26, tzinfo=dt.timezone.utc)
VENTOUX = (5.27, 44.17)


@pytest.fixture(scope="module")
def orbit(cfg):
    return Orbit(cfg.satellite("SPOT-6"))


def test_state_is_a_leo_sun_synchronous_orbit(orbit):
    t = utc_to_gps(DEMO) + np.arange(0, 600, 10.0)
    p, v = orbit.state(t)
    r = np.linalg.norm(p, axis=1)
    assert np.all((r > 6371e3 + 650e3) & (r < 6378e3 + 720e3))
    # ITRF speed: inertial ≈ 7.5 km/s minus the Earth's rotation
    s = np.linalg.norm(v, axis=1)
    assert np.all((s > 7.0e3) & (s < 7.6e3))


def test_velocity_is_the_derivative_of_position(orbit):
    t0 = utc_to_gps(DEMO)
    h = 0.01
    pm, _ = orbit.state(t0 - h)
    pp, _ = orbit.state(t0 + h)
    _, v = orbit.state(t0)
    # SGP4's analytic velocity differs from the derivative of its position by mm/s
    assert np.linalg.norm((pp - pm) / (2 * h) - v) < 1e-2      # m/s


def test_agrees_with_pyorbital(orbit, cfg):
    """pyorbital: its own SGP4 and TEME→Earth-fixed rotation (GMST only, no nutation).
    The two agree to the size of the neglected terms (tens of metres), a gross error
    (wrong time scale by 1 s = 7 km, wrong frame) would not."""
    from pyorbital.orbital import Orbital
    tle = cfg.satellite("SPOT-6").tle()
    orb = Orbital("SPOT 6", line1=tle.line1, line2=tle.line2)
    times = [DEMO + dt.timedelta(seconds=s) for s in (0, 100, 1000)]
    for t in times:
        lon, lat, alt = orb.get_lonlatalt(t.replace(tzinfo=None))
        p, _ = orbit.state(utc_to_gps(t))
        ref = geodetic_to_ecef(lon, lat, alt * 1000.0)
        assert np.linalg.norm(p - ref) < 300.0, t


def test_geodetic_round_trip_against_pyproj():
    from pyproj import Transformer
    tr = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    rng = np.random.default_rng(0)
    lon, lat, h = rng.uniform(-180, 180, 50), rng.uniform(-89, 89, 50), rng.uniform(-500, 8e5, 50)
    x, y, z = tr.transform(lon, lat, h)
    mine = geodetic_to_ecef(lon, lat, h)
    assert np.max(np.abs(mine - np.stack([x, y, z], -1))) < 1e-6
    lo, la, hh = ecef_to_geodetic(np.stack([x, y, z], -1))
    assert np.max(np.abs(lo - lon)) < 1e-10 and np.max(np.abs(la - lat)) < 1e-10
    assert np.max(np.abs(hh - h)) < 1e-5


def test_hermite_table_reproduces_sgp4(orbit):
    t0 = utc_to_gps(DEMO)
    table = OrbitTable(orbit, t0, t0 + 10, 0.1)
    t = t0 + np.random.default_rng(1).uniform(0, 10, 40)
    p, v = orbit.state(t)
    pt, vt = table.state(t)
    # SGP4 itself is evaluated with a time resolution of ≈ 0.1 µs (float days since the
    # epoch): ≈ 1 mm of jitter, which the smooth Hermite table does not have
    assert np.max(np.linalg.norm(p - pt, axis=1)) < 3e-3          # 3 mm
    # skyfield's ITRS velocity (SGP4 analytic velocity rotated) differs from the derivative
    # of its positions by up to a few cm/s
    assert np.max(np.linalg.norm(v - vt, axis=1)) < 5e-2
    # velocities are the derivative of the positions (smooth, consistent)
    # (GPS seconds as float64 resolve 0.24 µs ≈ 2 mm along track: difference over ±1 s)
    tm = t0 + 5.0 + np.arange(3)
    fd = (table.state(tm + 1.0)[0] - table.state(tm - 1.0)[0]) / 2.0
    assert np.max(np.linalg.norm(fd - table.state(tm)[1], axis=1)) < 1e-2   # (jerk·h²/6 ≈ 1.5 mm/s)
    from srd.errors import GeometryError
    with pytest.raises(GeometryError):
        table.state(t0 + 11)


def test_spot6_demo_pass_overflies_mont_ventoux(orbit):
    """The shipped TLE puts the 2026-11-29T10:03:26Z demo pass over Mont Ventoux: the
    ground track passes within 5 km of it a few seconds after the demo start."""
    t0 = utc_to_gps(DEMO)
    t = t0 + np.arange(-30, 30, 0.05)
    p, _ = orbit.state(t)
    lon, lat, _ = ecef_to_geodetic(p)
    d = np.hypot((lon - VENTOUX[0]) * 111.32 * np.cos(np.radians(lat)), (lat - VENTOUX[1]) * 110.57)
    k = int(np.argmin(d))
    assert d[k] < 5.0, f"closest approach {d[k]:.1f} km"
    assert 0.0 < t[k] - t0 < 8.0
    # descending (morning) pass, heading south-south-west
    assert lat[k + 20] < lat[k]


def test_published_ephemeris_noise_statistics():
    rng = np.random.default_rng(3)
    p = np.zeros((20000, 3))
    v = np.zeros((20000, 3))
    pn, vn = published_ephemeris(p, v, 0.5, 5e-4, rng)
    assert abs(pn.std() / 0.5 - 1) < 0.03 and abs(pn.mean()) < 0.02
    assert abs(vn.std() / 5e-4 - 1) < 0.03
