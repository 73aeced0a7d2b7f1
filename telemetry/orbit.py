"""Satellite orbit truth: SGP4 from the satellite's TLE, in ITRF, at GPS times.

The TLE is propagated with SGP4 (skyfield wrapping the ``sgp4`` library, Vallado's
revision of Spacetrack Report #3); skyfield rotates the TEME state to GCRS and then to
ITRS (IAU 2000A/2006 precession-nutation, Earth rotation angle from UT1 with its built-in
ΔT table; no polar motion data is loaded, so ITRS here = the terrestrial frame without
polar motion, a ≤ 15 m pole offset that is consistently part of the truth). Velocities
are relative to the rotating Earth (ITRF), m/s.

Times are GPS seconds since 1980-01-06 (:mod:`srd.timescale`): TT = GPS + 51.184 s
(TAI = GPS + 19 s). The Julian date is passed to skyfield as whole + fraction so the
time is not rounded to the ≈ 40 µs resolution of a single float64 Julian date.

This is the *truth*; :func:`published_ephemeris` adds the profile noise to make what an
on-board GNSS receiver would report (ICD §4.2).
"""
from __future__ import annotations

import numpy as np

from srd.errors import ConfigError

#: TT − GPS (s): TT = TAI + 32.184 s, TAI = GPS + 19 s.
TT_MINUS_GPS = 51.184
#: Julian date (TT scale) of the GPS epoch 1980-01-06T00:00:00 GPS, in TT.
_GPS_EPOCH_JD = 2444244.5

_TS = None


def _timescale():
    global _TS
    if _TS is None:
        from skyfield.api import load
        _TS = load.timescale(builtin=True)      # built-in tables: never the network
    return _TS


def skyfield_time(gps_s):
    """skyfield ``Time`` for GPS seconds (scalar or array), full precision."""
    g = np.asarray(gps_s, dtype=np.float64) + TT_MINUS_GPS
    days = np.floor(g / 86400.0)
    frac = (g - days * 86400.0) / 86400.0
    return _timescale().tt_jd(_GPS_EPOCH_JD + days, frac)


class Orbit:
    """SGP4 orbit of one configured satellite.

    ``state(gps)`` → (position m, velocity m/s), ITRF, shapes (..., 3).
    """

    def __init__(self, satellite) -> None:
        from skyfield.api import EarthSatellite
        tle = satellite.tle()
        self.name = satellite.name
        self.tle = tle
        self._sat = EarthSatellite(tle.line1, tle.line2, satellite.name, _timescale())
        if self._sat.model.error:
            raise ConfigError(f"SGP4 cannot initialise this TLE (error {self._sat.model.error})",
                              path=tle.source)

    def state(self, gps_s) -> tuple[np.ndarray, np.ndarray]:
        """ITRF position (m) and velocity (m/s, w.r.t. the rotating Earth) at GPS times."""
        from skyfield.framelib import itrs
        g = np.asarray(gps_s, dtype=np.float64)
        t = skyfield_time(g.ravel())
        pos = self._sat.at(t)
        r, v = pos.frame_xyz_and_velocity(itrs)
        p = np.asarray(r.m, dtype=np.float64).reshape(3, -1).T
        vel = np.asarray(v.m_per_s, dtype=np.float64).reshape(3, -1).T
        if not np.all(np.isfinite(p)):
            raise ConfigError(f"SGP4 propagation of {self.name} failed (decayed orbit or TLE too "
                              f"far from epoch {self.tle.epoch:%Y-%m-%d})", path=self.tle.source)
        return p.reshape(g.shape + (3,)), vel.reshape(g.shape + (3,))


class OrbitTable:
    """Orbit truth sampled at ``step`` seconds and interpolated by cubic Hermite
    polynomials on positions and velocities (error ≈ step⁴·r·ω⁴/384: < 1 nm at 0.1 s).

    SGP4 as evaluated by skyfield has ≈ 1 mm of numerical jitter (its time since epoch is
    a float in days, ≈ 0.1 µs resolution) and an analytic velocity that differs from the
    derivative of its position by mm/s. The table therefore stores a least-squares
    Chebyshev fit (per ≤ 60 s piece, degree 14) of SGP4 positions sampled every ``step``
    — residual < 1 mm — and the fit's derivative as velocity, so that positions and
    velocities are mutually consistent and smooth (the yaw steering uses the velocity).
    The samples *are* the truth written to ``orbit.npy``; :meth:`state` between them is what
    any consumer gets by Hermite interpolation of that file."""

    PIECE_S = 60.0
    DEGREE = 14

    def __init__(self, orbit: Orbit, t0: float, t1: float, step: float = 0.1) -> None:
        from numpy.polynomial import chebyshev as C
        n = int(np.ceil((t1 - t0) / step)) + 1
        self.step = float(step)
        self.times = t0 + step * np.arange(n)
        p, _ = orbit.state(self.times)
        pos, vel = np.empty_like(p), np.empty_like(p)
        npiece = max(1, int(np.ceil((self.times[-1] - self.times[0]) / self.PIECE_S)))
        bounds = np.linspace(0, n, npiece + 1).astype(int)
        for a, b in zip(bounds[:-1], bounds[1:]):
            a0 = max(0, a - 5)                        # fit a little beyond the piece
            b0 = min(n, b + 5)
            tt = self.times[a0:b0] - self.times[0]      # relative: keep µs precision
            lo, hi = tt[0], tt[-1]
            x = (2 * tt - lo - hi) / (hi - lo)
            deg = min(self.DEGREE, len(tt) - 1)
            coef = C.chebfit(x, p[a0:b0], deg)
            xs = x[a - a0:b - a0]
            pos[a:b] = C.chebval(xs, coef).T
            vel[a:b] = C.chebval(xs, C.chebder(coef)).T * 2 / (hi - lo)
        self.position, self.velocity = pos, vel

    @classmethod
    def from_samples(cls, times, position, velocity) -> "OrbitTable":
        obj = cls.__new__(cls)
        obj.times = np.asarray(times, np.float64)
        obj.step = float(obj.times[1] - obj.times[0])
        obj.position = np.asarray(position, np.float64)
        obj.velocity = np.asarray(velocity, np.float64)
        return obj

    def state(self, gps_s) -> tuple[np.ndarray, np.ndarray]:
        """ITRF position (m) and velocity (m/s) at GPS times inside the table."""
        g = np.asarray(gps_s, np.float64)
        if np.any(g < self.times[0] - 1e-9) or np.any(g > self.times[-1] + 1e-9):
            from srd.errors import GeometryError
            raise GeometryError(f"time outside the orbit table [{self.times[0]:.3f}, "
                                f"{self.times[-1]:.3f}] GPS s", field="gps_time")
        k = np.clip(np.searchsorted(self.times, g, side="right") - 1, 0, len(self.times) - 2)
        # the segment's own length: the stored times are what orbit.npy holds (GPS seconds
        # as float64 resolve 0.24 µs, so a nominal step would be off by ~1e-6 relative)
        h = (self.times[k + 1] - self.times[k])[..., None]
        t = (g - self.times[k])[..., None] / h
        p0, p1 = self.position[k], self.position[k + 1]
        v0, v1 = self.velocity[k] * h, self.velocity[k + 1] * h
        t2, t3 = t * t, t * t * t
        pos = (2 * t3 - 3 * t2 + 1) * p0 + (t3 - 2 * t2 + t) * v0 + (-2 * t3 + 3 * t2) * p1 + (t3 - t2) * v1
        vel = ((6 * t2 - 6 * t) * p0 + (3 * t2 - 4 * t + 1) * v0 + (-6 * t2 + 6 * t) * p1
               + (3 * t2 - 2 * t) * v1) / h
        return pos, vel


def published_ephemeris(position: np.ndarray, velocity: np.ndarray, noise_m: float,
                        noise_mps: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Add independent Gaussian noise (1σ per axis: ``noise_m`` metres, ``noise_mps`` m/s)
    to truth ITRF position/velocity, as an on-board GNSS navigation solution would."""
    return (position + noise_m * rng.standard_normal(position.shape),
            velocity + noise_mps * rng.standard_normal(velocity.shape))


# ---------------------------------------------------------------------------- WGS84 helpers
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


def geodetic_to_ecef(lon_deg, lat_deg, h_m) -> np.ndarray:
    """WGS84 geodetic (degrees, metres above the ellipsoid) → ECEF/ITRF metres (..., 3)."""
    lon = np.radians(np.asarray(lon_deg, np.float64))
    lat = np.radians(np.asarray(lat_deg, np.float64))
    h = np.asarray(h_m, np.float64)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    return np.stack([(n + h) * np.cos(lat) * np.cos(lon), (n + h) * np.cos(lat) * np.sin(lon),
                     (n * (1.0 - WGS84_E2) + h) * np.sin(lat)], axis=-1)


def ecef_to_geodetic(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF metres (..., 3) → (lon°, lat°, h m), WGS84, by Bowring's iteration (3 passes:
    < 1 µm for terrestrial and LEO heights)."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - WGS84_E2))
    for _ in range(4):
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
        h = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1.0 - WGS84_E2 * n / (n + h)))
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    h = p / np.cos(lat) - n
    return np.degrees(np.arctan2(y, x)), np.degrees(lat), h
