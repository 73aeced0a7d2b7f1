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
T_GPS0 = 1465553718.0             # 2026-06-15T10:15:00Z in GPS seconds (Sun high over Europe)

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


# ---------------------------------------------------------------------------- Level 0 writer

BAND_SCALE = {"PAN": 1.0, "B0": 0.8, "B1": 0.95, "B2": 1.1, "B3": 2.2}


_NOISE = {}


def _value_noise(x, y, cell=18.0, half=30_000.0, seed=7):
    """Band-limited random texture: uniform values on a ``cell``-metre grid over ±``half`` m,
    bilinearly interpolated (gives phase correlation something to lock on)."""
    key = (cell, half, seed)
    if key not in _NOISE:
        n = int(2 * half / cell) + 2
        _NOISE[key] = np.random.default_rng(seed).random((n, n), dtype=np.float32)
    g = _NOISE[key]
    fx = (np.asarray(x) + half) / cell
    fy = (np.asarray(y) + half) / cell
    ix = np.clip(np.floor(fx).astype(np.int64), 0, g.shape[1] - 2)
    iy = np.clip(np.floor(fy).astype(np.int64), 0, g.shape[0] - 2)
    ax, ay = fx - ix, fy - iy
    return ((1 - ay) * ((1 - ax) * g[iy, ix] + ax * g[iy, ix + 1])
            + ay * ((1 - ax) * g[iy + 1, ix] + ax * g[iy + 1, ix + 1]))


def reflectance_field(lon, lat, band, clouds=None, uniform=False):
    """A textured ground (TOA reflectance) in metres around (5.27°E, 44.17°N): a smooth field,
    a 60 m pattern and an 18 m random texture; ``clouds`` = (lon, lat, radius_m) gives a white
    disc; ``uniform`` a flat 0.15 field (for striping measurements)."""
    x = (np.asarray(lon) - 5.27) * 111_195 * np.cos(np.radians(44.17))
    y = (np.asarray(lat) - 44.17) * 111_195
    if uniform:
        return np.full(np.shape(x), 0.15 * BAND_SCALE[band])
    base = (0.10 + 0.04 * np.sin(2 * np.pi * x / 700) * np.cos(2 * np.pi * y / 900)
            + 0.02 * np.sin(2 * np.pi * (x + 0.5 * y) / 60.0) + 0.06 * (_value_noise(x, y) - 0.5))
    rho = base * BAND_SCALE[band]
    if clouds is not None:
        cx = (clouds[0] - 5.27) * 111_195 * np.cos(np.radians(44.17))
        cy = (clouds[1] - 44.17) * 111_195
        inside = (x - cx) ** 2 + (y - cy) ** 2 < clouds[2] ** 2
        rho = np.where(inside, 0.55 + 0.02 * np.sin(2 * np.pi * x / 60.0), rho)
    return rho


def write_level0(root, sp: SyntheticPass, ins, t_start: float, pan_blocks: int, *, pass_id="SYNTH",
                 satellite="SPOT-6", scid=166, block_lines=32, margin_s=5.0, missing_pan_blocks=(),
                 clouds=None, uniform=False, seed=0, noise=True, anc_noise=(0.5, 5e-4, 2e-6)):
    """Write a Level 0 directory (docs/formats.md) of a synthetic datatake. Image DN follow the
    ICD §5 calibration law with the profile's dark/relative gains; the image geometry uses
    the exact (noise-free) orbit and attitude, the published ancillary is noisy."""
    import json
    from pathlib import Path

    from level1.angles import sun_angles
    from level1.sensor_model import Attitude, DetectorArray, Ephemeris, PushbroomModel

    root = Path(root) / pass_id
    (root / "ancillary").mkdir(parents=True)
    (root / "image").mkdir()
    (root / "packets").mkdir()
    T = ins.pan_line_period_s
    r = ins.ms_ratio
    t_end = t_start + pan_blocks * block_lines * T
    eph_c, att_c = sp.records(t_start - margin_s, t_end + margin_s, noise_m=0, noise_mps=0, noise_rad=0)
    eph_n, att_n = sp.records(t_start - margin_s, t_end + margin_s, noise_m=anc_noise[0],
                              noise_mps=anc_noise[1], noise_rad=anc_noise[2], seed=seed + 100)
    np.save(root / "ancillary" / "ephemeris.npy", eph_n)
    np.save(root / "ancillary" / "attitude.npy", att_n)
    hk = np.zeros(int(t_end - t_start) + 3, [("gps_time", "f8"), ("line_period_ns", "u4"), ("tdi", "u1"),
                                             ("fp_temp_c", "f4"), ("gain_code", "u1", (20,))])
    hk["gps_time"] = np.floor(t_start) + np.arange(hk.size)
    hk["line_period_ns"] = int(round(T * 1e9))
    np.save(root / "ancillary" / "housekeeping.npy", hk)
    (root / "ancillary" / "datatakes.json").write_text(json.dumps([{
        "datatake": 1, "mode": "mono", "start_gps": t_start, "stop_gps": t_end, "target": "SYNTH",
        "key_id": 0, "kcv_ok": None, "error": None}]))
    (root / "decode_report.json").write_text(json.dumps({"pass_id": pass_id, "satellite": satellite,
                                                         "scid": scid, "status": "ok"}))
    e = Ephemeris.from_records(eph_c, method="hermite")
    a = Attitude.from_records(att_c, method="slerp")
    rng = np.random.default_rng(seed)
    sun_z, _, dist = sun_angles(t_start, 5.27, 44.17)
    cz = np.cos(np.radians(float(np.ravel(sun_z)[0])))
    truth = {}
    for m in range(1, ins.modules + 1):
        for b in ins.band_names:
            band = ins.band(b)
            per = T * (1 if b == "PAN" else r)
            bl = block_lines if b == "PAN" else block_lines // r
            nl = pan_blocks * bl
            det = DetectorArray.from_instrument(ins, b, m)
            model = PushbroomModel(e, a, det, t_start, per)
            lon, lat, h = model.direct_grid(np.arange(nl), np.arange(det.n), 0.0)
            rho = reflectance_field(lon, lat, b, clouds, uniform)
            L = rho * band.solar_irradiance * cz / (np.pi * float(np.ravel(dist)[0]) ** 2)
            dark, gain = ins.detector_calibration(b, m)
            dn = dark[None, :] + gain[None, :] * (L - band.bias) * band.absolute_gain
            if noise:
                dn = dn + rng.normal(0.0, 1.0, dn.shape) * np.sqrt(ins.read_noise_dn ** 2 + np.maximum(dn, 0) / 15.0)
            dn = np.clip(np.rint(dn), 0, (1 << ins.bits) - 1).astype(np.uint16)
            status = np.zeros(nl, np.uint8)
            for k in missing_pan_blocks:
                status[k * bl:(k + 1) * bl] = 1
                dn[k * bl:(k + 1) * bl] = 0
            stem = f"M{m}_{b}"
            np.save(root / "image" / f"{stem}.npy", dn)
            np.save(root / "image" / f"{stem}_mask.npy", status)
            bt = [[k * bl, t_start + k * bl * per] for k in range(pan_blocks) if k not in missing_pan_blocks]
            (root / "image" / f"{stem}.json").write_text(json.dumps({
                "apid": 0x100 + 0x10 * (m - 1) + ins.band_names.index(b), "module": m, "band": b,
                "first_line": 0, "lines": nl, "columns": det.n, "block_lines": bl, "datatake": 1,
                "compression": 0, "key_id": 0, "compressed_bytes": int(dn.size * 1.5),
                "block_times": bt}))
            truth[(m, b)] = (lon, lat)
    return root, truth
