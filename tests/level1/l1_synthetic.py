"""Synthetic truth for level1 tests, built from the contracts only (no level1 or telemetry code).

A circular sun-synchronous-like orbit in an inertial frame, rotated into ITRF by the Earth's
rotation; the yaw-steered geodetic-nadir attitude of telemetry/attitude.py's documented
convention (Z to the geodetic nadir, X along the ITRF velocity ⊥ Z, Y = Z × X, then
Rx(roll)·Ry(pitch)); published records with Gaussian noise like the ICD ancillary packets.
Geodetic conversions use pyproj (an independent implementation) and the ground truth is
found by bisection along the ray, not by the level1 kernels.
"""
from __future__ import annotations

import numpy as np
from pyproj import Transformer

OMEGA_E = 7.2921151467e-5          # rad/s, WGS84
GM = 3.986004418e14
T_GPS0 = 1_448_000_000.0           # ≈ 2025-11 in GPS seconds

_to_geo = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
_to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


def geodetic(xyz):
    lon, lat, h = _to_geo.transform(xyz[..., 0], xyz[..., 1], xyz[..., 2])
    return np.asarray(lon), np.asarray(lat), np.asarray(h)


def ecef(lon, lat, h):
    x, y, z = _to_ecef.transform(lon, lat, h)
    return np.stack([np.asarray(x), np.asarray(y), np.asarray(z)], -1)


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


class SyntheticPass:
    """Truth orbit/attitude around ``T_GPS0`` passing over (lon0, lat0)."""

    def __init__(self, lon0=5.27, lat0=44.17, alt=694_000.0, inc_deg=98.2, roll=0.0, pitch=0.0):
        self.a = 6_378_137.0 + alt
        self.n = np.sqrt(GM / self.a ** 3)
        inc = np.radians(inc_deg)
        # choose RAAN and argument of latitude so that at T_GPS0 the sub-satellite point is near
        # (lon0, lat0) on a descending pass
        u0 = np.pi - np.arcsin(np.sin(np.radians(lat0)) / np.sin(inc))
        # inertial longitude of the point, with the Earth angle θ(T0) = 0
        lam = np.arctan2(np.cos(inc) * np.sin(u0), np.cos(u0))
        raan = np.radians(lon0) - lam
        self.inc, self.raan, self.u0 = inc, raan, u0
        self.roll, self.pitch = roll, pitch

    def state(self, t):
        t = np.asarray(t, np.float64)
        u = self.u0 + self.n * (t - T_GPS0)
        ci, si, cO, sO = np.cos(self.inc), np.sin(self.inc), np.cos(self.raan), np.sin(self.raan)
        r_orb = self.a * np.stack([np.cos(u), np.sin(u)], -1)
        v_orb = self.a * self.n * np.stack([-np.sin(u), np.cos(u)], -1)
        P = np.array([[cO, -sO * ci], [sO, cO * ci], [0.0, si]])          # orbit plane → inertial
        ri = r_orb @ P.T
        vi = v_orb @ P.T
        th = OMEGA_E * (t - T_GPS0)
        c, s = np.cos(th)[..., None], np.sin(th)[..., None]
        r = np.stack([c[..., 0] * ri[..., 0] + s[..., 0] * ri[..., 1],
                      -s[..., 0] * ri[..., 0] + c[..., 0] * ri[..., 1], ri[..., 2]], -1)
        v_rot = np.stack([c[..., 0] * vi[..., 0] + s[..., 0] * vi[..., 1],
                          -s[..., 0] * vi[..., 0] + c[..., 0] * vi[..., 1], vi[..., 2]], -1)
        w = np.array([0.0, 0.0, OMEGA_E])
        v = v_rot - np.cross(w, r)
        return r, v

    def matrix(self, t):
        """Truth body→ITRF (..., 3, 3)."""
        r, v = self.state(t)
        lon, lat, _ = geodetic(r)
        lo, la = np.radians(lon), np.radians(lat)
        up = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
        z = -up
        x = v - np.sum(v * z, -1, keepdims=True) * z
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        y = np.cross(z, x)
        R = np.stack([x, y, z], -1)
        return R @ (_rx(self.roll) @ _ry(self.pitch))

    def rate(self, t, dt=0.05):
        r0, rm, rp = self.matrix(t), self.matrix(t - dt), self.matrix(t + dt)
        w = np.swapaxes(r0, -1, -2) @ (rp - rm) / (2 * dt)
        return np.stack([0.5 * (w[..., 2, 1] - w[..., 1, 2]), 0.5 * (w[..., 0, 2] - w[..., 2, 0]),
                         0.5 * (w[..., 1, 0] - w[..., 0, 1])], -1)

    def records(self, t0, t1, *, noise_m=0.5, noise_mps=5e-4, noise_rad=2e-6, seed=0,
                eph_hz=1.0, att_hz=16.0):
        """(ephemeris, attitude) Level 0 structured arrays over [t0, t1] (whole sample times)."""
        rng = np.random.default_rng(seed)
        te = np.arange(np.floor(t0 * eph_hz), np.ceil(t1 * eph_hz) + 1) / eph_hz
        p, v = self.state(te)
        eph = np.zeros(te.size, [("gps_time", "f8"), ("position", "f8", (3,)), ("velocity", "f8", (3,)),
                                 ("quality", "u1"), ("satellites", "u1")])
        eph["gps_time"] = te
        eph["position"] = p + noise_m * rng.standard_normal(p.shape)
        eph["velocity"] = v + noise_mps * rng.standard_normal(v.shape)
        ta = np.arange(np.floor(t0 * att_hz), np.ceil(t1 * att_hz) + 1) / att_hz
        R = self.matrix(ta)
        ang = noise_rad * rng.standard_normal((ta.size, 3))
        Rn = R @ np.stack([_rodrigues(a) for a in ang])
        att = np.zeros(ta.size, [("gps_time", "f8"), ("q", "f8", (4,)), ("rate", "f4", (3,)), ("status", "u1")])
        att["gps_time"] = ta
        att["q"] = np.stack([_quat(m) for m in Rn])
        att["rate"] = self.rate(ta)
        return eph, att


def _rodrigues(r):
    th = np.linalg.norm(r)
    if th == 0:
        return np.eye(3)
    k = r / th
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * K @ K


def _quat(m):
    """Rotation matrix → unit quaternion (w ≥ 0), Shepperd's method."""
    tr = np.trace(m)
    if tr > 0:
        s = 2 * np.sqrt(tr + 1)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2 * np.sqrt(1 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0] * 4
        q[0] = (m[k, j] - m[j, k]) / s
        q[i + 1] = 0.25 * s
        q[j + 1] = (m[j, i] + m[i, j]) / s
        q[k + 1] = (m[k, i] + m[i, k]) / s
    q = np.array(q)
    return q if q[0] >= 0 else -q


def ground_truth(sp: SyntheticPass, t, los_body, h):
    """Truth ground point of body-frame unit rays at times t on geodetic height h: bisection
    along the ray on the pyproj height (independent of level1's intersection)."""
    t = np.atleast_1d(np.asarray(t, np.float64))
    r, _ = sp.state(t)
    u = (sp.matrix(t) @ np.asarray(los_body)[..., None])[..., 0]
    lo = np.full(t.shape, 500e3)
    hi = np.full(t.shape, 1500e3)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        _, _, hh = geodetic(r + mid[..., None] * u)
        above = hh > h
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return geodetic(r + (0.5 * (lo + hi))[..., None] * u)
