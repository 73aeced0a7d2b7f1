"""Attitude truth: yaw-steered nadir frame, roll/pitch, target pointing, quaternions."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from srd.timescale import utc_to_gps
from telemetry.attitude import (AttitudeLaw, instrument_to_body, matrix_to_quaternion,
                                nadir_frame, published_attitude, quaternion_multiply,
                                quaternion_to_matrix, rot_x, rot_y, rotation_angle, target_angles)
from telemetry.orbit import Orbit, OrbitTable, ecef_to_geodetic, geodetic_to_ecef

DEMO = utc_to_gps(dt.datetime(2026, 11, 29, 10, 3, 26, tzinfo=dt.timezone.utc))


@pytest.fixture(scope="module")
def table(cfg):
    return OrbitTable(Orbit(cfg.satellite("SPOT-6")), DEMO - 5, DEMO + 30, 0.1)


def _random_rotations(n, seed=0):
    q = np.random.default_rng(seed).standard_normal((n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quaternion_matrix_round_trip_and_product():
    q = _random_rotations(200)
    m = quaternion_to_matrix(q)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1.0)
    q2 = matrix_to_quaternion(m)
    assert np.allclose(np.abs(np.sum(q * q2, axis=1)), 1.0, atol=1e-12)
    assert np.all(q2[:, 0] >= 0)
    # Hamilton product ⇔ matrix product
    a, b = q[:100], q[100:]
    assert np.allclose(quaternion_to_matrix(quaternion_multiply(a, b)),
                       quaternion_to_matrix(a) @ quaternion_to_matrix(b), atol=1e-12)
    # scipy (independent): scalar-last convention
    from scipy.spatial.transform import Rotation
    assert np.allclose(Rotation.from_quat(np.roll(q, -1, axis=1)).as_matrix(), m, atol=1e-12)


def test_instrument_to_body_order():
    r, p, y = 0.01, -0.02, 0.03
    m = instrument_to_body((r, p, y))
    from scipy.spatial.transform import Rotation
    # roll first (about X), then pitch (Y), then yaw (Z), extrinsic axes
    assert np.allclose(m, Rotation.from_euler("xyz", [r, p, y]).as_matrix(), atol=1e-14)


def test_nadir_frame_is_yaw_steered(table):
    t = DEMO + np.arange(0, 20, 1.0)
    p, v = table.state(t)
    m = nadir_frame(p, v)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(m), 1.0)
    lon, lat, _ = ecef_to_geodetic(p)
    up = geodetic_to_ecef(lon, lat, 1.0) - geodetic_to_ecef(lon, lat, 0.0)
    assert np.allclose(m[..., 2], -up, atol=1e-9)             # Z = geodetic nadir
    # X follows the ground track of the sub-satellite point (Earth rotation included)
    pa, _ = table.state(t + 0.5)
    pb, _ = table.state(t - 0.5)
    la, lb = ecef_to_geodetic(pa), ecef_to_geodetic(pb)
    track = geodetic_to_ecef(*la[:2], 0.0) - geodetic_to_ecef(*lb[:2], 0.0)
    track -= np.sum(track * m[..., 2], axis=1, keepdims=True) * m[..., 2]
    track /= np.linalg.norm(track, axis=1, keepdims=True)
    ang = np.arccos(np.clip(np.sum(track * m[..., 0], axis=1), -1, 1))
    assert np.max(ang) < 2e-3
    # the yaw steering angle (vs the inertial velocity direction) is ≈ 3–4° at 44°N
    omega = np.array([0, 0, 7.2921159e-5])
    v_in = v + np.cross(omega, p)
    x_in = v_in - np.sum(v_in * m[..., 2], axis=1, keepdims=True) * m[..., 2]
    x_in /= np.linalg.norm(x_in, axis=1, keepdims=True)
    yaw = np.degrees(np.arccos(np.sum(x_in * m[..., 0], axis=1)))
    assert np.all((yaw > 2.0) & (yaw < 5.0))


def test_roll_and_pitch_directions(table):
    t = np.array([DEMO + 3.0])
    p, v = table.state(t)
    base = nadir_frame(p, v)[0]
    law = AttitudeLaw(table, roll_rad=0.1, pitch_rad=0.0)
    los = law.matrix(t)[0] @ np.array([0, 0, 1.0])
    # positive roll looks to the left (−Y of the nadir frame), by 0.1 rad
    assert np.isclose(los @ base[:, 1], -np.sin(0.1))
    law = AttitudeLaw(table, roll_rad=0.0, pitch_rad=0.05)
    los = law.matrix(t)[0] @ np.array([0, 0, 1.0])
    assert np.isclose(los @ base[:, 0], np.sin(0.05))         # forward


def test_target_pointing_hits_the_target(table):
    t = DEMO + 4.0
    p, v = table.state(t)
    tgt = geodetic_to_ecef(5.4, 44.1, 600.0)
    bore = instrument_to_body((1e-3, -2e-3, 5e-3)) @ np.array([0, 0, 1.0])
    roll, pitch = target_angles(p, v, tgt, bore)
    law = AttitudeLaw(table, roll, pitch)
    d = law.matrix(np.array([t]))[0] @ bore
    want = (tgt - p) / np.linalg.norm(tgt - p)
    assert np.arccos(min(1.0, d @ want)) < 1e-9
    from srd.errors import GeometryError
    with pytest.raises(GeometryError):
        target_angles(p, v, geodetic_to_ecef(60.0, 10.0, 0.0))


def test_rate_matches_quaternion_derivative(table):
    law = AttitudeLaw(table, 0.05, 0.02)
    t = DEMO + np.array([2.0, 7.0])
    w = law.rate(t)
    # body-frame rate from q(t±h): q(t+h) ≈ q(t) ⊗ [1, ω·h/2]
    h = 1e-3
    qa, qb = law.quaternion(t - h), law.quaternion(t + h)
    dq = quaternion_multiply(qa * np.array([1, -1, -1, -1]), qb)
    w2 = 2 * dq[:, 1:] / (2 * h)
    assert np.allclose(w, w2, atol=1e-7)
    # mostly a pitch-axis rotation at the orbital rate (≈ 1.05e-3 rad/s)
    assert np.all(np.abs(np.linalg.norm(w, axis=1) - 1.05e-3) < 0.1e-3)


def test_published_attitude_noise_statistics():
    rng = np.random.default_rng(4)
    q = np.tile(_random_rotations(1, 5), (20000, 1))
    qn = published_attitude(q, 2e-6, rng)
    assert np.allclose(np.linalg.norm(qn, axis=1), 1.0)
    dq = quaternion_multiply(q * np.array([1, -1, -1, -1]), qn)
    ang = 2 * dq[:, 1:] * np.sign(dq[:, :1])
    assert np.allclose(ang.std(axis=0) / 2e-6, 1.0, atol=0.04)
    assert np.sqrt(np.mean(rotation_angle(q, qn) ** 2)) == pytest.approx(2e-6 * np.sqrt(3), rel=0.04)


def test_kernel_free_rotations():
    assert np.allclose(rot_x(0.3) @ rot_x(-0.3), np.eye(3))
    assert np.allclose(rot_y(0.2) @ np.array([0, 0, 1.0]), [np.sin(0.2), 0, np.cos(0.2)])
