"""Sun and viewing angles at ground points (numpy; degrees out, ITRF in).

Sun: the Astronomical Almanac's low-precision solar coordinates (section C, "Low-precision
formulas for the Sun": ≈ 0.01° between 1950 and 2050) rotated to the Earth-fixed frame by
Greenwich mean sidereal time (IAU 1982 expression, UT1 ≈ UTC — 0.9 s at most, 0.004°).
No ephemeris file and no network. Sun–Earth distance in AU from the same formulas.

Angles follow DIMAP V2 conventions: zenith/incidence from the local ellipsoid normal,
azimuth from geographic north, clockwise, in [0, 360).
"""
from __future__ import annotations

import numpy as np

from srd.timescale import gps_to_utc, leap_seconds_at_utc

JD_GPS_EPOCH = 2444244.5        # 1980-01-06T00:00:00 UTC
JD_J2000 = 2451545.0


def sun_direction(gps_s) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector to the Sun in ITRF (..., 3) and the Sun distance (AU) at GPS times."""
    g = np.asarray(gps_s, np.float64)
    leap = leap_seconds_at_utc(gps_to_utc(float(np.ravel(g)[0])))
    n = (g - leap) / 86400.0 + JD_GPS_EPOCH - JD_J2000            # days from J2000.0 (UTC)
    L = np.radians((280.460 + 0.9856474 * n) % 360.0)               # mean longitude
    g_an = np.radians((357.528 + 0.9856003 * n) % 360.0)           # mean anomaly
    lam = L + np.radians(1.915 * np.sin(g_an) + 0.020 * np.sin(2 * g_an))   # ecliptic longitude
    eps = np.radians(23.439 - 4.0e-7 * n)                           # obliquity
    r_au = 1.00014 - 0.01671 * np.cos(g_an) - 0.00014 * np.cos(2 * g_an)
    x, y, z = np.cos(lam), np.cos(eps) * np.sin(lam), np.sin(eps) * np.sin(lam)   # equatorial (TOD)
    gmst = np.radians((280.46061837 + 360.98564736629 * n) % 360.0)
    c, s = np.cos(gmst), np.sin(gmst)
    return np.stack([c * x + s * y, -s * x + c * y, z], -1), r_au


def _enu(lon_deg, lat_deg):
    lo, la = np.radians(lon_deg), np.radians(lat_deg)
    e = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], -1)
    n = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], -1)
    u = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
    return e, n, u


def direction_angles(lon_deg, lat_deg, direction) -> tuple[np.ndarray, np.ndarray]:
    """(zenith°, azimuth°) of ITRF unit ``direction`` (..., 3) seen from ground points."""
    e, n, u = _enu(np.asarray(lon_deg, np.float64), np.asarray(lat_deg, np.float64))
    d = np.asarray(direction, np.float64)
    de, dn, du = (np.sum(d * a, -1) for a in (e, n, u))
    zen = np.degrees(np.arccos(np.clip(du, -1, 1)))
    az = np.degrees(np.arctan2(de, dn)) % 360.0
    return zen, az


def sun_angles(gps_s, lon_deg, lat_deg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(solar zenith°, solar azimuth°, Sun distance AU) at ground points and GPS times."""
    s, r = sun_direction(gps_s)
    z, a = direction_angles(lon_deg, lat_deg, s)
    return z, a, r


def view_angles(lon_deg, lat_deg, ground_ecef, sat_ecef) -> tuple[np.ndarray, np.ndarray]:
    """(incidence°, azimuth°) of the satellite seen from the ground point (DIMAP
    ``INCIDENCE_ANGLE`` / ``AZIMUTH_ANGLE``: the direction ground → satellite)."""
    d = np.asarray(sat_ecef, np.float64) - np.asarray(ground_ecef, np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return direction_angles(lon_deg, lat_deg, d)
