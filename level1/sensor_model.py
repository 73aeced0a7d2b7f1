"""Physical sensor model of a pushbroom instrument (NAOMI-class, ICD §5).

Chain for an image point (line ``L``, detector ``d`` of one module and band):

1. time ``t = t0 + L·T`` (GPS s; ``T`` the band's line period, ICD §4.1 clarification);
2. satellite position ``P(t)`` (ITRF m) from the published ephemeris (:class:`Ephemeris`:
   cubic Hermite on position+velocity, or a weighted least-squares Chebyshev fit of
   position *and* velocity that averages down the GNSS noise);
3. body→ITRF rotation ``R(t)`` from the published attitude (:class:`Attitude`: quaternion
   slerp, a polynomial fit of rotation vectors, or "gyro" — the published body rates
   integrated between samples and the published quaternions averaged onto that shape, the
   way a gyro-stellar estimator combines a star tracker and gyros);
4. line of sight in the instrument frame ``u = normalize([tan ψx(d), tan ψy(d), 1])``
   (:class:`DetectorArray`, station_config.models conventions), to body by
   ``Rz(yaw)·Ry(pitch)·Rx(roll)`` (``instrument_to_body_rad``), to ITRF by ``R(t)``;
5. intersection with the surface of given ellipsoidal height or with a DEM
   (:mod:`level1.sensor_kernels`).

Inverse location (ground → image) solves for the time at which the ground point lies in the
plane of the detector array (Newton on time), then the detector from the across-track angle.

Neglected, as by the simulator's formulation: light time (≈ 2.3 ms × 7 km/s → the ground
point is seen where it was; both sides use the instantaneous ITRF geometry), aberration
and atmospheric refraction (sub-metre near nadir; a real station would add them here).

This module is independent of ``telemetry/`` (ARCHITECTURE): the simulator's orbit,
attitude and line-of-sight computation is the truth we are tested against.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from level1 import sensor_kernels as SK
from srd.errors import GeometryError

# ---------------------------------------------------------------------------- rotations


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def instrument_to_body(angles_rad: Sequence[float]) -> np.ndarray:
    """Rotation instrument → body from (roll, pitch, yaw) radians, roll applied first:
    ``Rz(yaw)·Ry(pitch)·Rx(roll)`` (station_config.models.Instrument)."""
    roll, pitch, yaw = (float(a) for a in angles_rad)
    return rot_z(yaw) @ rot_y(pitch) @ rot_x(roll)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) scalar first → rotation matrices (..., 3, 3) with
    ``v' = q ⊗ v ⊗ q*`` (active rotation; body→ITRF for ICD §4.2 attitude)."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def rotvec_to_matrix(r: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) radians → matrices (Rodrigues; series near zero)."""
    r = np.asarray(r, np.float64)
    th = np.linalg.norm(r, axis=-1)[..., None, None]
    small = th < 1e-8
    ths = np.where(small, 1.0, th)
    a = np.where(small, 1.0 - th ** 2 / 6.0, np.sin(ths) / ths)
    b = np.where(small, 0.5 - th ** 2 / 24.0, (1.0 - np.cos(ths)) / ths ** 2)
    K = np.zeros(r.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2] = -r[..., 2], r[..., 1]
    K[..., 1, 0], K[..., 1, 2] = r[..., 2], -r[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -r[..., 1], r[..., 0]
    return np.eye(3) + a * K + b * (K @ K)


def matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → rotation vectors (..., 3) (angles < π)."""
    R = np.asarray(R, np.float64)
    v = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0],
                  R[..., 1, 0] - R[..., 0, 1]], -1)          # 2 sin θ · axis
    tr = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    s = 0.5 * np.linalg.norm(v, axis=-1)
    th = np.arctan2(s, tr)
    f = np.where(th < 1e-8, 0.5 + th ** 2 / 12.0, th / (2.0 * np.where(s == 0, 1.0, s)))
    return v * f[..., None]


# ---------------------------------------------------------------------------- ephemeris


def _cheb(tau: np.ndarray, deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev T_k(τ) and dT_k/dτ, k = 0..deg, for τ in [−1, 1] → (n, deg+1) each."""
    n = tau.size
    T = np.zeros((n, deg + 1))
    D = np.zeros((n, deg + 1))
    T[:, 0] = 1.0
    if deg >= 1:
        T[:, 1] = tau
        D[:, 1] = 1.0
    for k in range(2, deg + 1):
        T[:, k] = 2 * tau * T[:, k - 1] - T[:, k - 2]
        D[:, k] = 2 * T[:, k - 1] + 2 * tau * D[:, k - 1] - D[:, k - 2]
    return T, D


@dataclass(frozen=True, eq=False)
class _ChebSegment:
    t0: float
    t1: float
    coef: np.ndarray          # (deg+1, 3)

    def eval(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = 0.5 * (self.t1 - self.t0)
        tau = (t - 0.5 * (self.t0 + self.t1)) / half
        T, D = _cheb(tau, self.coef.shape[0] - 1)
        return T @ self.coef, (D @ self.coef) / half


class Ephemeris:
    """Satellite ITRF position (m) and velocity (m/s, w.r.t. the rotating Earth) versus GPS
    time, from published samples.

    ``method="hermite"``: cubic Hermite between the two bracketing samples (position and
    velocity): exact to ~1e-7 m at 1 Hz for a LEO orbit, but passes the GNSS noise through.
    ``method="fit"``: per segment (≤ ``window_s``), one Chebyshev polynomial per axis fitted
    by weighted least squares to positions (σ ``sigma_pos_m``) *and* velocities
    (σ ``sigma_vel_mps``): the precise velocities fix the shape, the positions only the
    offset, which averages over all samples (noise / √n).
    """

    def __init__(self, t, position, velocity, *, method: str = "fit", sigma_pos_m: float = 0.5,
                 sigma_vel_mps: float = 5e-4, window_s: float = 60.0) -> None:
        t = np.asarray(t, np.float64)
        p = np.asarray(position, np.float64).reshape(-1, 3)
        v = np.asarray(velocity, np.float64).reshape(-1, 3)
        if t.ndim != 1 or len(t) < 2 or p.shape[0] != len(t) or v.shape[0] != len(t):
            raise GeometryError(f"ephemeris needs ≥ 2 samples of time/position/velocity "
                                f"(got {t.shape}, {p.shape}, {v.shape})", field="ephemeris")
        order = np.argsort(t, kind="stable")
        t, p, v = t[order], p[order], v[order]
        keep = np.concatenate([[True], np.diff(t) > 0])       # duplicates from both channels
        t, p, v = t[keep], p[keep], v[keep]
        ok = np.all(np.isfinite(p), axis=1) & np.all(np.isfinite(v), axis=1) & np.isfinite(t)
        if ok.sum() < 2:
            raise GeometryError("fewer than 2 finite ephemeris samples", field="ephemeris")
        self.t, self.p, self.v = t[ok], p[ok], v[ok]
        if method not in ("fit", "hermite"):
            raise ValueError(f"method must be 'fit' or 'hermite', got {method!r}")
        if method == "fit" and (sigma_pos_m <= 0 or sigma_vel_mps <= 0):
            method = "hermite"          # noise-free data: interpolate
        self.method = method
        self.segments: list[_ChebSegment] = []
        self.residual_pos_m = 0.0
        if method == "fit":
            self._fit(sigma_pos_m, sigma_vel_mps, window_s)

    @classmethod
    def from_records(cls, rec: np.ndarray, **kw) -> "Ephemeris":
        """From a Level 0 ``ancillary/ephemeris.npy`` structured array (gps_time, position,
        velocity, quality, satellites)."""
        return cls(rec["gps_time"], rec["position"], rec["velocity"], **kw)

    @staticmethod
    def _degree(span: float, n: int) -> int:
        d = 3 if span <= 12 else 5 if span <= 40 else 7
        return int(max(1, min(d, 2 * n - 2)))

    def _fit(self, sp: float, sv: float, window: float) -> None:
        t = self.t
        span = t[-1] - t[0]
        if span <= window:
            bounds = [(t[0], t[-1])]
        else:
            starts = np.arange(t[0], t[-1] - window / 2, window / 2)
            bounds = [(s, min(s + window, t[-1])) for s in starts]
        res = []
        for a, b in bounds:
            sel = (t >= a - 1e-9) & (t <= b + 1e-9)
            ts = t[sel]
            deg = self._degree(b - a, int(sel.sum()))
            half = 0.5 * (b - a)
            tau = (ts - 0.5 * (a + b)) / half
            T, D = _cheb(tau, deg)
            A = np.vstack([T / sp, D / half / sv])
            Y = np.vstack([self.p[sel] / sp, self.v[sel] / sv])
            coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
            seg = _ChebSegment(float(a), float(b), coef)
            self.segments.append(seg)
            res.append(seg.eval(ts)[0] - self.p[sel])
        self.residual_pos_m = float(np.sqrt(np.mean(np.concatenate(res) ** 2)))

    def _check_range(self, t: np.ndarray) -> None:
        margin = 2.0 * float(np.median(np.diff(self.t)))
        if np.any(t < self.t[0] - margin) or np.any(t > self.t[-1] + margin):
            bad = t[(t < self.t[0] - margin) | (t > self.t[-1] + margin)][0]
            raise GeometryError(f"time {bad:.6f} GPS s is outside the ephemeris "
                                f"[{self.t[0]:.3f}, {self.t[-1]:.3f}]", field="ephemeris")

    def state(self, t) -> tuple[np.ndarray, np.ndarray]:
        """Position (..., 3) m and velocity (..., 3) m/s, ITRF, at GPS times ``t``."""
        t = np.asarray(t, np.float64)
        shape = t.shape
        tf = t.ravel()
        self._check_range(tf)
        if self.method == "hermite":
            i = np.clip(np.searchsorted(self.t, tf, side="right") - 1, 0, len(self.t) - 2)
            h = (self.t[i + 1] - self.t[i])[:, None]
            s = ((tf - self.t[i])[:, None]) / h
            p0, p1, v0, v1 = self.p[i], self.p[i + 1], self.v[i] * h, self.v[i + 1] * h
            h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
            pos = h00 * p0 + h10 * v0 + h01 * p1 + h11 * v1
            d00, d10, d01, d11 = 6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s
            vel = (d00 * p0 + d10 * v0 + d01 * p1 + d11 * v1) / h
        else:
            centres = np.array([0.5 * (s.t0 + s.t1) for s in self.segments])
            which = np.argmin(np.abs(tf[:, None] - centres[None, :]), axis=1)
            pos = np.empty((tf.size, 3))
            vel = np.empty((tf.size, 3))
            for k, seg in enumerate(self.segments):
                m = which == k
                if m.any():
                    pos[m], vel[m] = seg.eval(tf[m])
        return pos.reshape(shape + (3,)), vel.reshape(shape + (3,))


# ---------------------------------------------------------------------------- attitude


class Attitude:
    """Body→ITRF rotation versus GPS time from published quaternions (scalar first) and,
    optionally, body angular rates w.r.t. ITRF (rad/s, body frame; ICD §4.2).

    * ``slerp``: spherical linear interpolation between bracketing samples;
    * ``fit``: rotation vectors relative to the middle sample, a polynomial of degree
      ``degree`` per axis (least squares) — averages star-tracker noise;
    * ``gyro``: the rates integrated between samples give the shape ``Δ(t)``
      (``Ṙ = R·[ω×]``, midpoint exponential steps); the quaternions then fix the
      constant (plus, with ``drift_degree`` 1, a linear drift absorbing a gyro bias) offset
      by least squares over all samples — noise averages as 1/√n;
    * ``auto`` (default): ``gyro`` when rates are present and consistent with the
      quaternions (residual not worse than ``fit``'s by 50 %), else ``fit``.

    ``residual_rad`` is the RMS angle between the model and the published samples.
    """

    def __init__(self, t, q, rate=None, *, method: str = "auto", degree: int = 3,
                 drift_degree: int = 1) -> None:
        t = np.asarray(t, np.float64)
        q = np.asarray(q, np.float64).reshape(-1, 4)
        if t.ndim != 1 or len(t) < 2 or q.shape[0] != len(t):
            raise GeometryError(f"attitude needs ≥ 2 samples (got {t.shape}, {q.shape})",
                                field="attitude")
        order = np.argsort(t, kind="stable")
        t, q = t[order], q[order]
        rate = None if rate is None else np.asarray(rate, np.float64).reshape(-1, 3)[order]
        keep = np.concatenate([[True], np.diff(t) > 0])
        t, q = t[keep], q[keep]
        rate = None if rate is None else rate[keep]
        nq = np.linalg.norm(q, axis=1)
        ok = np.isfinite(t) & np.all(np.isfinite(q), axis=1) & (np.abs(nq - 1.0) < 1e-3)
        if rate is not None:
            ok &= np.all(np.isfinite(rate), axis=1)
        if ok.sum() < 2:
            raise GeometryError("fewer than 2 valid (unit, finite) attitude samples", field="attitude")
        self.t = t[ok]
        self.R = quat_to_matrix(q[ok])
        self.rate = None if rate is None else rate[ok]
        if method not in ("auto", "slerp", "fit", "gyro"):
            raise ValueError(f"unknown attitude method {method!r}")
        if method in ("gyro", "auto") and (self.rate is None or not np.any(self.rate)):
            if method == "gyro":
                raise GeometryError("attitude method 'gyro' needs body rates", field="attitude")
            method = "fit"
        self.degree = int(degree)
        self.drift_degree = int(drift_degree)
        if method in ("fit", "auto"):
            self._setup_fit()
        if method in ("gyro", "auto"):
            self._setup_gyro()
        if method == "auto":
            self.method = "gyro"
            r_gyro = self._residual()
            self.method = "fit"
            r_fit = self._residual()
            self.method = "gyro" if r_gyro <= 1.5 * r_fit else "fit"
        else:
            self.method = method
        self.residual_rad = self._residual()

    @classmethod
    def from_records(cls, rec: np.ndarray, **kw) -> "Attitude":
        """From a Level 0 ``ancillary/attitude.npy`` (gps_time, q, rate, status); samples with
        a non-zero status are excluded."""
        ok = rec["status"] == 0 if "status" in rec.dtype.names else np.ones(len(rec), bool)
        return cls(rec["gps_time"][ok], rec["q"][ok], rec["rate"][ok] if "rate" in rec.dtype.names else None, **kw)

    # --- fit
    def _tau(self, t):
        a, b = self.t[0], self.t[-1]
        return (np.asarray(t, np.float64) - 0.5 * (a + b)) / max(0.5 * (b - a), 1e-9)

    def _setup_fit(self) -> None:
        mid = len(self.t) // 2
        self._Rm = self.R[mid]
        r = matrix_to_rotvec(np.swapaxes(self._Rm, -1, -2)[None] @ self.R)
        deg = int(min(self.degree, len(self.t) - 1))
        T, _ = _cheb(self._tau(self.t), deg)
        self._fit_coef, *_ = np.linalg.lstsq(T, r, rcond=None)

    # --- gyro
    def _setup_gyro(self) -> None:
        t, w = self.t, self.rate
        h = np.diff(t)
        wm = 0.5 * (w[1:] + w[:-1])
        steps = rotvec_to_matrix(wm * h[:, None])
        D = np.empty((len(t), 3, 3))
        D[0] = np.eye(3)
        for i in range(len(h)):
            D[i + 1] = D[i] @ steps[i]
        self._D = D
        E = self.R @ np.swapaxes(D, -1, -2)            # = R_ref (+ noise) for every sample
        self._E0 = E[0]
        e = matrix_to_rotvec(np.swapaxes(self._E0, -1, -2)[None] @ E)
        deg = int(min(self.drift_degree, len(t) - 1))
        T, _ = _cheb(self._tau(t), deg)
        self._gyro_coef, *_ = np.linalg.lstsq(T, e, rcond=None)

    def _delta(self, tf: np.ndarray) -> np.ndarray:
        t, w = self.t, self.rate
        i = np.clip(np.searchsorted(t, tf, side="right") - 1, 0, len(t) - 2)
        s = (tf - t[i])[:, None]
        h = (t[i + 1] - t[i])[:, None]
        wavg = w[i] + (w[i + 1] - w[i]) * s / (2.0 * h)     # mean rate over [t_i, t]
        return self._D[i] @ rotvec_to_matrix(wavg * s)

    def _residual(self) -> float:
        dR = np.swapaxes(self._matrix(self.t), -1, -2) @ self.R
        return float(np.sqrt(np.mean(np.sum(matrix_to_rotvec(dR) ** 2, axis=-1))))

    def _matrix(self, tf: np.ndarray) -> np.ndarray:
        if self.method == "slerp":
            i = np.clip(np.searchsorted(self.t, tf, side="right") - 1, 0, len(self.t) - 2)
            s = ((tf - self.t[i]) / (self.t[i + 1] - self.t[i]))[:, None]
            rel = matrix_to_rotvec(np.swapaxes(self.R[i], -1, -2) @ self.R[i + 1])
            return self.R[i] @ rotvec_to_matrix(rel * s)
        if self.method == "fit":
            T, _ = _cheb(self._tau(tf), self._fit_coef.shape[0] - 1)
            return self._Rm[None] @ rotvec_to_matrix(T @ self._fit_coef)
        T, _ = _cheb(self._tau(tf), self._gyro_coef.shape[0] - 1)
        return self._E0[None] @ rotvec_to_matrix(T @ self._gyro_coef) @ self._delta(tf)

    def matrix(self, t) -> np.ndarray:
        """Body→ITRF rotation matrices (..., 3, 3) at GPS times ``t``."""
        t = np.asarray(t, np.float64)
        tf = t.ravel()
        margin = 2.0 * float(np.median(np.diff(self.t)))
        if np.any(tf < self.t[0] - margin) or np.any(tf > self.t[-1] + margin):
            bad = tf[(tf < self.t[0] - margin) | (tf > self.t[-1] + margin)][0]
            raise GeometryError(f"time {bad:.6f} GPS s is outside the attitude "
                                f"[{self.t[0]:.3f}, {self.t[-1]:.3f}]", field="attitude")
        return self._matrix(tf).reshape(t.shape + (3, 3))


# ---------------------------------------------------------------------------- detectors


@dataclass(frozen=True, eq=False)
class DetectorArray:
    """Viewing angles of a linear array in the instrument frame (radians): along-track ψx and
    across-track ψy per detector (index 0..n−1, centres). Fractional detector positions are
    interpolated linearly (and extrapolated from the end pairs): the angle tables are smooth
    (quadratic bow, cubic distortion), so the error is < 1e-13 rad."""

    psi_x: np.ndarray
    psi_y: np.ndarray

    def __post_init__(self) -> None:
        px = np.asarray(self.psi_x, np.float64).ravel()
        py = np.asarray(self.psi_y, np.float64).ravel()
        if px.shape != py.shape or px.size < 2 or not np.all(np.diff(py) > 0):
            raise GeometryError("detector angles must be two tables of one length (≥ 2) with "
                                "ψy strictly increasing", field="viewing_angles")
        object.__setattr__(self, "psi_x", px)
        object.__setattr__(self, "psi_y", py)

    @classmethod
    def from_instrument(cls, instrument, band: str, module: int) -> "DetectorArray":
        """From ``Instrument.viewing_angles(band, module)`` (station_config profile)."""
        px, py = instrument.viewing_angles(band, module)
        return cls(px, py)

    @property
    def n(self) -> int:
        return self.psi_x.size

    @staticmethod
    def _lin(x: np.ndarray, table: np.ndarray) -> np.ndarray:
        n = table.size
        i = np.clip(np.floor(x).astype(np.int64), 0, n - 2)
        f = x - i
        return table[i] * (1.0 - f) + table[i + 1] * f

    def angles(self, det) -> tuple[np.ndarray, np.ndarray]:
        """(ψx, ψy) radians at (fractional) detector positions."""
        d = np.asarray(det, np.float64)
        return self._lin(d, self.psi_x), self._lin(d, self.psi_y)

    def detector_of_tan_psi_y(self, ty: np.ndarray) -> np.ndarray:
        """Fractional detector whose tan ψy is ``ty`` (inverse of :meth:`angles`)."""
        tab = np.tan(self.psi_y)
        ty = np.asarray(ty, np.float64)
        i = np.clip(np.searchsorted(tab, ty) - 1, 0, tab.size - 2)
        # interpolate in ψ (what the table is linear in), not in tan ψ
        psi = np.arctan(ty)
        return i + (psi - self.psi_y[i]) / (self.psi_y[i + 1] - self.psi_y[i])


def los_instrument(psi_x, psi_y) -> np.ndarray:
    """Unit lines of sight (..., 3) in the instrument frame: normalize([tan ψx, tan ψy, 1])."""
    v = np.stack([np.tan(psi_x), np.tan(psi_y), np.ones_like(np.asarray(psi_x, np.float64))], -1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def geodetic_to_ecef(lon_deg, lat_deg, h) -> np.ndarray:
    """WGS84 degrees/metres → ITRF metres (..., 3)."""
    lon = np.radians(np.asarray(lon_deg, np.float64))
    lat = np.radians(np.asarray(lat_deg, np.float64))
    h = np.asarray(h, np.float64)
    n = SK.WGS84_A / np.sqrt(1.0 - SK.WGS84_E2 * np.sin(lat) ** 2)
    return np.stack([(n + h) * np.cos(lat) * np.cos(lon), (n + h) * np.cos(lat) * np.sin(lon),
                     (n * (1.0 - SK.WGS84_E2) + h) * np.sin(lat)], -1)


def ecef_to_geodetic(xyz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ITRF metres (..., 3) → (lon°, lat°, h m) WGS84."""
    xyz = np.asarray(xyz, np.float64)
    flat = xyz.reshape(-1, 3)
    out = np.empty((flat.shape[0], 3))
    SK.geodetic_from_ecef_array(np.ascontiguousarray(flat), out)
    shp = xyz.shape[:-1]
    return np.degrees(out[:, 0]).reshape(shp), np.degrees(out[:, 1]).reshape(shp), out[:, 2].reshape(shp)


# ---------------------------------------------------------------------------- the model


@dataclass(frozen=True, eq=False)
class PushbroomModel:
    """Physical model of one linear array (one module and band, or the virtual "perfect
    sensor"): image coordinates (line, detector), 0 = centre of the first line/detector.

    ``t0``: GPS time of line 0 (mid-exposure); ``line_period`` s; ``instrument_to_body``
    (3, 3); ``dem``: :class:`level1.dem.Dem` used when no height is given.
    """

    ephemeris: Ephemeris
    attitude: Attitude
    detectors: DetectorArray
    t0: float
    line_period: float
    instrument_to_body: np.ndarray = dataclasses.field(default_factory=lambda: np.eye(3))
    dem: object = None

    def time(self, line) -> np.ndarray:
        return self.t0 + np.asarray(line, np.float64) * self.line_period

    def rays(self, line, det) -> tuple[np.ndarray, np.ndarray]:
        """Satellite position (n, 3) and unit line of sight (n, 3), ITRF, for 1-D arrays."""
        t = self.time(line)
        pos, _ = self.ephemeris.state(t)
        R = self.attitude.matrix(t)
        px, py = self.detectors.angles(det)
        u = (R @ self.instrument_to_body) @ los_instrument(px, py)[..., None]
        return pos, u[..., 0]

    def direct_grid(self, lines, dets, h=None, *, strict: bool = True):
        """:meth:`direct` on the grid ``lines`` (nl,) × ``dets`` (nd,) → arrays (nl, nd); the
        orbit and attitude are evaluated once per line (the pushbroom structure), so dense
        grids are cheap. ``h``: scalar or (nl, nd) heights, or None for the DEM."""
        lines = np.asarray(lines, np.float64).ravel()
        dets = np.asarray(dets, np.float64).ravel()
        t = self.time(lines)
        pos, _ = self.ephemeris.state(t)
        R = self.attitude.matrix(t) @ self.instrument_to_body
        px, py = self.detectors.angles(dets)
        u = np.einsum("lij,dj->ldi", R, los_instrument(px, py))
        P = np.broadcast_to(pos[:, None, :], u.shape)
        return self._intersect(np.ascontiguousarray(P.reshape(-1, 3)), np.ascontiguousarray(u.reshape(-1, 3)),
                               None if h is None else np.broadcast_to(np.asarray(h, np.float64), (lines.size, dets.size)),
                               np.repeat(lines, dets.size), np.tile(dets, lines.size), strict,
                               (lines.size, dets.size))

    def _intersect(self, pos, u, h, lf, df, strict, shape):
        out = np.empty((pos.shape[0], 3))
        if h is not None:
            hh = np.ascontiguousarray(np.asarray(h, np.float64).ravel())
            SK.intersect_height(pos, u, hh, out)
            bad = ~np.isfinite(out[:, 0]) & np.isfinite(hh)
        else:
            if self.dem is None:
                raise GeometryError("direct location without a height needs a DEM", field="dem")
            iters = np.empty(pos.shape[0], np.int64)
            hs = float(np.nanmean(self.dem.heights)) if np.any(np.isfinite(self.dem.heights)) else 0.0
            SK.intersect_dem(pos, u, np.ascontiguousarray(self.dem.heights, np.float64), self.dem.gt,
                             hs, 1e-3, 60, out, iters)
            bad = iters < 0
        if strict and bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise GeometryError(f"line of sight of line {lf[i]:.2f}, detector {df[i]:.2f} does not "
                                f"reach the {'surface' if h is not None else 'DEM'} "
                                f"({int(bad.sum())} points)", field="direct")
        return (np.degrees(out[:, 0]).reshape(shape), np.degrees(out[:, 1]).reshape(shape),
                out[:, 2].reshape(shape))

    def direct(self, line, det, h=None, *, strict: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image → ground: (lon°, lat°, h m above the ellipsoid) of (line, det) (broadcast).
        With ``h`` the intersection is with that ellipsoidal height; otherwise with the DEM.
        ``strict``: a point that misses the Earth or the DEM raises :class:`GeometryError`."""
        line, det = np.broadcast_arrays(np.asarray(line, np.float64), np.asarray(det, np.float64))
        shape = line.shape
        lf, df = line.ravel(), det.ravel()
        pos, u = self.rays(lf, df)
        hh = None if h is None else np.broadcast_to(np.asarray(h, np.float64), shape)
        return self._intersect(np.ascontiguousarray(pos), np.ascontiguousarray(u), hh, lf, df, strict, shape)

    def _plane_residual(self, t: np.ndarray, X: np.ndarray):
        pos, _ = self.ephemeris.state(t)
        R = self.attitude.matrix(t) @ self.instrument_to_body
        v = (np.swapaxes(R, -1, -2) @ (X - pos)[..., None])[..., 0]
        tx, ty = v[:, 0] / v[:, 2], v[:, 1] / v[:, 2]
        det = self.detectors.detector_of_tan_psi_y(ty)
        px, _ = self.detectors.angles(det)
        return tx - np.tan(px), det

    def inverse(self, lon, lat, h, *, tol_lines: float = 1e-7, max_iter: int = 30,
                strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Ground → image: (line, det) of WGS84 (lon°, lat°, h m ellipsoidal) points. Newton
        on the exposure time that brings the point into the array's plane (along-track
        angle = ψx of the detector it falls on)."""
        lon, lat, h = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64),
                                          np.asarray(h, np.float64))
        shape = lon.shape
        X = geodetic_to_ecef(lon.ravel(), lat.ravel(), h.ravel())
        n = X.shape[0]
        tmid = 0.5 * (max(self.ephemeris.t[0], self.attitude.t[0]) + min(self.ephemeris.t[-1], self.attitude.t[-1]))
        t = np.full(n, tmid)
        dt = self.line_period
        done = np.zeros(n, bool)
        det = np.full(n, np.nan)
        tlo = max(self.ephemeris.t[0], self.attitude.t[0])
        thi = min(self.ephemeris.t[-1], self.attitude.t[-1])
        for _ in range(max_iter):
            act = ~done
            if not act.any():
                break
            ta = t[act]
            g0, d0 = self._plane_residual(ta, X[act])
            g1, _ = self._plane_residual(ta + dt, X[act])
            step = g0 / ((g1 - g0) / dt)
            tn = np.clip(ta - step, tlo, thi)
            t[act] = tn
            det[act] = d0
            # absolute GPS times carry ~2.4e-7 s of float64 resolution: converged at that level
            conv = np.abs(step) < np.maximum(tol_lines * dt, 4.0 * np.spacing(np.abs(ta)))
            idx = np.flatnonzero(act)
            done[idx[conv]] = True
        # final detector at the converged time
        _, det = self._plane_residual(t, X)
        line = (t - self.t0) / self.line_period
        if strict and not done.all():
            i = int(np.flatnonzero(~done)[0])
            raise GeometryError(f"inverse location did not converge for lon {lon.ravel()[i]:.6f}, "
                                f"lat {lat.ravel()[i]:.6f}, h {h.ravel()[i]:.1f} "
                                f"({int((~done).sum())} points)", field="inverse")
        line[~done] = np.nan
        det[~done] = np.nan
        return line.reshape(shape), det.reshape(shape)

    def direct_function(self):
        """``(col, row, h) -> (lon, lat)`` with col = detector, row = line: the form
        :func:`level1.rpc.fit_rpc` samples."""
        def fn(col, row, h):
            lo, la, _ = self.direct(row, col, h)
            return lo, la
        return fn
