"""Attitude truth of a datatake: yaw-steered geodetic nadir frame, roll/pitch offsets,
target pointing; quaternions body→ITRF, scalar first (ICD §4.2).

Frames (all right-handed):

* **yaw-steered nadir frame** (the body frame at zero roll/pitch): Z towards the
  geodetic nadir (minus the WGS84 ellipsoid normal at the sub-satellite point), X along
  the satellite's ITRF velocity projected perpendicular to Z — ITRF velocity is relative
  to the rotating Earth, so this *is* yaw steering: the instrument's lines stay
  perpendicular to the ground track — and Y = Z × X (to the right of the flight direction).
* **body frame**: ``R_body→ITRF = R_nadir · Rx(roll) · Ry(pitch)``. Positive pitch turns
  the line of sight forward; positive roll turns it towards −Y (the left of the track).
* **instrument frame** (station_config.models): ``v_body = Rz(yaw)·Ry(pitch)·Rx(roll)·v_inst``
  with ``instrument_to_body_rad = (roll, pitch, yaw)`` (roll applied first).

Quaternions ``q = (w, x, y, z)`` rotate body vectors into ITRF:
``v_itrf = q ⊗ v_body ⊗ q*``. Angular rate is the body-frame angular velocity w.r.t.
ITRF (rad/s).
"""
from __future__ import annotations

import numpy as np

from srd.errors import GeometryError
from telemetry.orbit import ecef_to_geodetic


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def instrument_to_body(angles_rad) -> np.ndarray:
    """3×3 rotation instrument→body from ``instrument_to_body_rad`` (roll, pitch, yaw), radians."""
    r, p, y = (float(a) for a in angles_rad)
    return rot_z(y) @ rot_y(p) @ rot_x(r)


def nadir_frame(position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Yaw-steered geodetic nadir frame: (..., 3, 3) matrices whose columns are the body
    X, Y, Z axes in ITRF (i.e. body→ITRF rotations at zero roll/pitch)."""
    lon, lat, _ = ecef_to_geodetic(position)
    lo, la = np.radians(lon), np.radians(lat)
    z = -np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)
    x = velocity - np.sum(velocity * z, axis=-1, keepdims=True) * z
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → unit quaternions (..., 4) scalar first, w ≥ 0
    (Shepperd's method: numerically stable for every rotation)."""
    m = np.asarray(m, np.float64)
    flat = m.reshape(-1, 3, 3)
    q = np.empty((flat.shape[0], 4))
    tr = np.trace(flat, axis1=1, axis2=2)
    for i, r in enumerate(flat):
        t = tr[i]
        if t > 0:
            s = 2.0 * np.sqrt(1.0 + t)
            q[i] = (0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s)
        elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
            s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
            q[i] = ((r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s)
        elif r[1, 1] > r[2, 2]:
            s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
            q[i] = ((r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s)
        else:
            s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
            q[i] = ((r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q.reshape(m.shape[:-2] + (4,))


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) scalar first → rotation matrices (..., 3, 3)."""
    q = np.asarray(q, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b (scalar first), broadcasting."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def published_attitude(q: np.ndarray, noise_rad: float, rng: np.random.Generator) -> np.ndarray:
    """Truth quaternions perturbed by a small body-frame rotation with independent
    Gaussian angles (1σ ``noise_rad`` per axis), as a star-tracker/gyro estimator reports."""
    ang = noise_rad * rng.standard_normal(q.shape[:-1] + (3,))
    dq = np.concatenate([np.ones(q.shape[:-1] + (1,)), 0.5 * ang], axis=-1)
    out = quaternion_multiply(q, dq)
    out /= np.linalg.norm(out, axis=-1, keepdims=True)
    return out * np.where(out[..., :1] < 0, -1.0, 1.0)


def rotation_angle(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Angle (rad) of the rotation between two attitude quaternion sets."""
    d = np.abs(np.sum(np.asarray(qa) * np.asarray(qb), axis=-1))
    return 2.0 * np.arccos(np.clip(d, -1.0, 1.0))


class AttitudeLaw:
    """body→ITRF attitude of a datatake as a function of time.

    ``orbit``: :class:`telemetry.orbit.Orbit`; ``roll_rad``/``pitch_rad``: fixed offsets
    from the yaw-steered nadir frame (see module docstring).
    """

    def __init__(self, orbit, roll_rad: float = 0.0, pitch_rad: float = 0.0) -> None:
        self.orbit = orbit
        self.roll_rad = float(roll_rad)
        self.pitch_rad = float(pitch_rad)
        self._offset = rot_x(self.roll_rad) @ rot_y(self.pitch_rad)

    def matrix(self, gps_s, position=None, velocity=None) -> np.ndarray:
        """body→ITRF rotation matrices (..., 3, 3) at GPS times (orbit state optional)."""
        if position is None:
            position, velocity = self.orbit.state(gps_s)
        return nadir_frame(position, velocity) @ self._offset

    def quaternion(self, gps_s) -> np.ndarray:
        """body→ITRF quaternions (..., 4), scalar first, sign-continuous (w ≥ 0)."""
        return matrix_to_quaternion(self.matrix(gps_s))

    def rate(self, gps_s, dt: float = 0.05) -> np.ndarray:
        """Body-frame angular velocity w.r.t. ITRF (rad/s), central differences over ±dt
        (the law is smooth at orbital time scales: error ~ (ω·dt)²·ω ≪ 1e-9 rad/s)."""
        g = np.asarray(gps_s, np.float64)
        rm, rp = self.matrix(g - dt), self.matrix(g + dt)
        r0 = self.matrix(g)
        # R(t+dt) ≈ R(t)·(I + [ω×]·dt) → [ω×] ≈ R0ᵀ·(Rp − Rm)/(2dt)
        w = np.swapaxes(r0, -1, -2) @ (rp - rm) / (2.0 * dt)
        return np.stack([0.5 * (w[..., 2, 1] - w[..., 1, 2]), 0.5 * (w[..., 0, 2] - w[..., 2, 0]),
                         0.5 * (w[..., 1, 0] - w[..., 0, 1])], axis=-1)


#: agility limit of target pointing (SPOT 6/7 and Pléiades: ±30° routinely, 45°+ possible)
MAX_OFF_NADIR_DEG = 50.0


def target_angles(position: np.ndarray, velocity: np.ndarray, target_ecef: np.ndarray,
                  boresight_body: np.ndarray = np.array([0.0, 0.0, 1.0])) -> tuple[float, float]:
    """(roll, pitch) in radians so that ``boresight_body`` (the swath centre's line of
    sight in the body frame) points from ``position`` at ``target_ecef`` (ITRF metres).

    Exact for any boresight: solved by Gauss–Newton on the two angles.
    """
    n = nadir_frame(position, velocity)
    d = n.T @ (target_ecef - position)
    d = d / np.linalg.norm(d)
    if d[2] <= np.cos(np.radians(MAX_OFF_NADIR_DEG)):
        raise GeometryError(f"target is {np.degrees(np.arccos(np.clip(d[2], -1, 1))):.1f}° off "
                            "nadir: beyond any agile-pointing range", field="pointing")
    b = np.asarray(boresight_body, np.float64)
    roll = float(np.arctan2(-d[1], d[2]))
    pitch = float(np.arcsin(np.clip(d[0], -1, 1)))
    for _ in range(20):
        f = rot_x(roll) @ rot_y(pitch) @ b
        res = np.cross(f, d)
        if np.linalg.norm(res) < 1e-14:
            break
        eps = 1e-7
        jr = (np.cross(rot_x(roll + eps) @ rot_y(pitch) @ b, d) - res) / eps
        jp = (np.cross(rot_x(roll) @ rot_y(pitch + eps) @ b, d) - res) / eps
        step, *_ = np.linalg.lstsq(np.stack([jr, jp], axis=1), -res, rcond=None)
        roll, pitch = roll + step[0], pitch + step[1]
    return roll, pitch


__all__ = ["AttitudeLaw", "instrument_to_body", "matrix_to_quaternion", "quaternion_to_matrix",
           "quaternion_multiply", "published_attitude", "rotation_angle", "target_angles",
           "nadir_frame", "rot_x", "rot_y", "rot_z", "MAX_OFF_NADIR_DEG"]
