"""Pushbroom imaging: line-of-sight ∩ DEM geometry truth, Sun, radiometry."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from telemetry import imaging_kernels as ik
from telemetry.acquisition import Acquisition, Pointing
from telemetry.attitude import AttitudeLaw
from telemetry.imaging import (digitise, electrons_per_dn, halo_lines, line_of_sight,
                               psf_sigma, sun_angles, sun_position)
from telemetry.scene import Terrain

START = "2026-11-29T10:03:26Z"


@pytest.fixture(scope="module")
def dem_files(shared_dir):
    d = shared_dir / "data" / "dem"
    return d / "N44E005.hgt", d / "egm96_15.gtx"


@pytest.fixture(scope="module")
def oblique(cfg, dem_files):
    """A rolled (target-pointed) view over the relief of Mont Ventoux, nominal instrument
    (its 60 km swath and module overlaps, up to ≈ 3.5° off nadir) on the SRTM tile, no image
    generated. Strongly oblique rays: :func:`test_occlusion_behind_a_ridge`."""
    acq = Acquisition(cfg, "SPOT-6", "nominal", START, 4.0,
                      pointing=Pointing.target(5.45, 44.2), dem=dem_files[0], geoid=dem_files[1])
    assert acq.outside_dem_fraction == 0.0 and acq.roll_rad > 0.01
    return acq


def test_geodetic_kernel_against_pyproj():
    from pyproj import Transformer
    tr = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    rng = np.random.default_rng(0)
    for fn in (ik.ecef_to_geodetic, ik.ecef_to_geodetic.py_func):
        for _ in range(50):
            lon, lat, h = rng.uniform(-3, 3), rng.uniform(-1.5, 1.5), rng.uniform(-500, 9000)
            n = ik.WGS84_A / np.sqrt(1 - ik.WGS84_E2 * np.sin(lat) ** 2)
            x = (n + h) * np.cos(lat) * np.cos(lon)
            y = (n + h) * np.cos(lat) * np.sin(lon)
            z = (n * (1 - ik.WGS84_E2) + h) * np.sin(lat)
            lo, la, hh = fn(x, y, z)
            rlo, rla, rh = tr.transform(x, y, z)
            assert abs(np.degrees(lo) - rlo) < 1e-10 and abs(np.degrees(la) - rla) < 1e-10
            assert abs(hh - rh) < 1e-6


def test_intersection_with_the_bare_ellipsoid_is_analytic():
    t = Terrain.flat(0.0)
    p = np.array([7.0e6, 1.0e5, 2.0e5])
    u = -p / np.linalg.norm(p) + np.array([0.0, 0.05, 0.02])
    u /= np.linalg.norm(u)
    slope = t.slope_map()
    for fn in (ik.intersect, ik.intersect.py_func):
        s, lon, lat, h = fn(*p, *u, t.heights, t.lat0, t.lon0, t.dlat, t.dlon, 0.0, 0.0, slope, 16, 1e5)
        q = p + s * u
        assert abs(h) < 1e-4
        assert (q[0] ** 2 + q[1] ** 2) / ik.WGS84_A ** 2 + q[2] ** 2 / ik.WGS84_B ** 2 == pytest.approx(1.0, abs=1e-11)
    # a ray looking away from the Earth misses
    assert ik.intersect(*p, *(-u), t.heights, t.lat0, t.lon0, t.dlat, t.dlon, 0.0, 0.0, slope, 16, 1e5)[0] == -1.0


def _los_itrf(acq, band, module, lines, dets):
    """Independent numpy line of sight: attitude law × instrument rotation × ψ angles."""
    times = acq.line_time(band, lines)
    pos, _ = acq.orbit.state(times)             # SGP4 itself, not the interpolation table
    rot = AttitudeLaw(acq.orbit_table, acq.roll_rad, acq.pitch_rad).matrix(times) @ acq.inst_to_body
    px, py = acq.instrument.viewing_angles(band, module)
    v = np.stack([np.tan(px[dets]), np.tan(py[dets]), np.ones(len(dets))], -1)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return pos, np.einsum("lij,dj->ldi", rot, v)


@pytest.mark.parametrize("band,module", [("PAN", 1), ("B3", 4), ("B0", 2)])
def test_ground_point_reprojects_to_its_line_of_sight_within_1cm(oblique, band, module):
    """The geometry truth: a detector's simulated ground point lies on that detector's line
    of sight (< 1 cm) and on the terrain surface (< 1 cm), in strong relief, off nadir."""
    from pyproj import Transformer
    acq = oblique
    nd = acq.instrument.band(band).detectors
    rng = np.random.default_rng(7)
    lines = np.sort(rng.integers(0, acq.n_lines(band), 6))
    dets = np.sort(rng.choice(nd, 25, replace=False))
    lon, lat, h = acq.imager.locate(band, module, acq.line_time(band, lines), dets)
    lon, lat = np.degrees(lon), np.degrees(lat)
    assert np.ptp(h) > 50.0                        # really in relief
    tr = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    g = np.stack(tr.transform(lon, lat, h), -1)
    pos, u = _los_itrf(acq, band, module, lines, dets)
    d = g - pos[:, None, :]
    perp = np.linalg.norm(d - np.sum(d * u, -1, keepdims=True) * u, axis=-1)
    # SGP4 vs its smooth truth table differ by ≈ 1–2 mm (see test_orbit)
    assert perp.max() < 0.01, f"max distance to the line of sight {perp.max() * 100:.2f} cm"
    assert np.all(np.sum(d * u, -1) > 6e5)          # in front of the instrument
    surf = acq.terrain.height(lon, lat)
    assert np.abs(h - surf).max() < 0.01


def test_first_crossing_in_relief(oblique):
    """No earlier crossing of the terrain along the ray (dense 2 m march, independent)."""
    acq = oblique
    band, module = "PAN", 3
    dets = np.array([0, 3003, 6998])              # an anchor and two refined rays
    lines = np.array([100, 9000])
    lon, lat, h = acq.imager.locate(band, module, acq.line_time(band, lines), dets)
    pos, u = _los_itrf(acq, band, module, lines, dets)
    from telemetry.orbit import ecef_to_geodetic, geodetic_to_ecef
    g = geodetic_to_ecef(np.degrees(lon), np.degrees(lat), h)
    for i in range(len(lines)):
        for j in range(len(dets)):
            s_star = np.linalg.norm(g[i, j] - pos[i])
            s = np.arange(s_star - 4000.0, s_star - 1.0, 2.0)
            pts = pos[i] + s[:, None] * u[i, j]
            lo, la, hh = ecef_to_geodetic(pts)
            assert np.all(hh > acq.terrain.height(lo, la))


def test_refined_rays_equal_fully_traced_rays(oblique):
    """Rays refined from their anchors land where a full trace from the top lands."""
    acq = oblique
    t = acq.terrain
    im = acq.imager
    times = acq.line_time("PAN", np.array([0, 5000, 12000]))
    pos, vel = acq.orbit_table.state(times)
    rot = np.ascontiguousarray(acq.attitude.matrix(times, pos, vel) @ acq.inst_to_body)
    los = np.ascontiguousarray(im.los("PAN", 2)[::7])
    out = {}
    for step in (1, 8):
        o = [np.empty((3, len(los))) for _ in range(3)]
        assert ik.locate_lines(pos, rot, los, t.heights, t.lat0, t.lon0, t.dlat, t.dlon,
                               im._hmin, im._hmax, im._slope, t.SLOPE_BLOCK, im._reach, step, *o) == 0
        out[step] = o
    assert np.abs(out[1][2] - out[8][2]).max() < 1e-3                      # height, m
    assert np.abs(out[1][0] - out[8][0]).max() * 6.4e6 < 1e-2              # ≈ metres
    assert np.abs(out[1][1] - out[8][1]).max() * 6.4e6 < 1e-2
    # the Python version of the kernel agrees (one line)
    o = [np.empty((1, 20)) for _ in range(3)]
    ik.locate_lines.py_func(pos[:1], rot[:1], los[:20], t.heights, t.lat0, t.lon0, t.dlat, t.dlon,
                            im._hmin, im._hmax, im._slope, t.SLOPE_BLOCK, im._reach, 8, *o)
    assert np.allclose(o[2], out[8][2][:1, :20], atol=1e-6)


def test_lines_are_perpendicular_to_the_ground_track(cfg, dem_files):
    acq = Acquisition(cfg, "SPOT-6", "reduced", START, 1.0, dem=dem_files[0], geoid=dem_files[1])
    from telemetry.orbit import geodetic_to_ecef
    lines = np.array([0, 1000])
    lon, lat, h = acq.imager.locate("PAN", 2, acq.line_time("PAN", lines), [0, 255])
    g = geodetic_to_ecef(np.degrees(lon), np.degrees(lat), 0 * h)
    across = g[0, 1] - g[0, 0]
    along = g[1, 0] - g[0, 0]
    cosang = across @ along / np.linalg.norm(across) / np.linalg.norm(along)
    assert abs(cosang) < 5e-3
    # PAN sampling ≈ 2.2 m across and along track at nadir (ICD §5)
    assert np.linalg.norm(across) / 255 == pytest.approx(2.2, abs=0.15)
    assert np.linalg.norm(along) / 1000 == pytest.approx(2.2, abs=0.2)


def test_ms_bands_see_a_ground_point_at_different_times(cfg, dem_files):
    """The MS along-track offsets: B3 (ψx = 1.4 mrad) sees the ground ≈ 1 km ahead of PAN."""
    acq = Acquisition(cfg, "SPOT-6", "reduced", START, 0.5, dem=dem_files[0], geoid=dem_files[1])
    from telemetry.orbit import geodetic_to_ecef
    t = acq.line_time("PAN", [0])
    a = acq.imager.locate("PAN", 1, t, [128])
    b = acq.imager.locate("B3", 1, t, [32])
    pa = geodetic_to_ecef(np.degrees(a[0]), np.degrees(a[1]), a[2])
    pb = geodetic_to_ecef(np.degrees(b[0]), np.degrees(b[1]), b[2])
    assert np.linalg.norm(pb - pa) == pytest.approx(0.0014 * 705e3, rel=0.05)


def test_sun_against_pyorbital():
    from pyorbital.astronomy import get_alt_az, sun_zenith_angle
    from srd.timescale import utc_to_gps
    for when, lon, lat in [(dt.datetime(2026, 11, 29, 10, 3, 30), 5.27, 44.17),
                           (dt.datetime(2026, 6, 21, 12, 0), -70.0, -30.0),
                           (dt.datetime(2025, 3, 1, 3, 0), 120.0, 10.0)]:
        g = utc_to_gps(when.replace(tzinfo=dt.timezone.utc))
        zen, az = sun_angles(g, lon, lat)
        assert zen == pytest.approx(float(sun_zenith_angle(when, lon, lat)), abs=0.05)
        _, ref_az = get_alt_az(when, lon, lat)
        assert az == pytest.approx(np.degrees(ref_az) % 360.0, abs=0.1)
    # winter morning over Provence: low Sun in the south-south-east
    zen, az = sun_angles(utc_to_gps(dt.datetime(2026, 11, 29, 10, 3, 30, tzinfo=dt.timezone.utc)), 5.27, 44.17)
    assert 60 < zen < 75 and 140 < az < 180
    _, d = sun_position(np.array([0.0]))
    assert 0.98 < d[0] < 1.02


def test_mtf_of_the_blur_matches_the_profile():
    from scipy import ndimage
    for mtf in (0.15, 0.3):
        s = psf_sigma(mtf)
        impulse = np.zeros(64)
        impulse[32] = 1.0
        k = ndimage.gaussian_filter1d(impulse, s, mode="nearest", truncate=3.0)
        # MTF at Nyquist of the sampled kernel: |Σ k_n (−1)^n|
        assert abs(np.sum(k * (-1.0) ** np.arange(64))) == pytest.approx(mtf, abs=0.02)
        assert halo_lines(mtf) >= int(3.0 * s + 0.5)


def test_digitise_dark_gain_noise_saturation(cfg):
    inst = cfg.instrument("reduced")
    band = inst.band("PAN")
    dark, gain = inst.detector_calibration("PAN", 1)
    rng = np.random.default_rng(0)
    n = 4000
    # no light: the dark signal per detector
    dn = digitise(np.zeros((n, 256)), band, inst, dark, gain, rng).astype(float)
    assert np.allclose(dn.mean(0), dark, atol=0.15)
    # uniform radiance: DN − dark ∝ relative gain; noise = shot + read
    L = 60.0
    dn = digitise(np.full((n, 256), L), band, inst, dark, gain, rng).astype(float)
    sig = L * band.absolute_gain
    assert np.allclose(dn.mean(0) - dark, sig * gain, rtol=2e-3)
    want = np.sqrt((sig * gain + dark) / electrons_per_dn(inst) + inst.read_noise_dn ** 2)
    assert np.allclose(dn.std(0), want, rtol=0.08)
    # saturation at 2^bits − 1, never wraps
    dn = digitise(np.full((4, 256), 1e4), band, inst, dark, gain, rng)
    assert dn.dtype == np.uint16 and np.all(dn == 4095)


def test_line_of_sight_unit_and_module_overlap(cfg):
    inst = cfg.instrument("reduced")
    a = line_of_sight(inst, "PAN", 1)
    b = line_of_sight(inst, "PAN", 2)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    # the last detectors of module 1 look where the first of module 2 do (overlap)
    ov = inst.module_overlap_pan
    assert np.allclose(a[-ov:, 1], b[:ov, 1], atol=0.2 * inst.band("PAN").ifov_rad)


def test_occlusion_behind_a_ridge():
    """Oblique rays over an 800 m, 300 m wide ridge (synthetic DEM): every ray stops at its
    first crossing (dense 0.5 m march), with anchored refinement as with full traces."""
    from telemetry.orbit import ecef_to_geodetic, geodetic_to_ecef
    lat = np.radians(44.2 - 0.001 * np.arange(201))
    lon = np.radians(5.0 + 0.001 * np.arange(201))
    H = np.zeros((201, 201))
    H[:, 100:103] = 800.0
    H[:, 103] = 400.0
    t = Terrain(H, lat[0], lon[0], lat[1] - lat[0], lon[1] - lon[0], "ridge")
    slope = t.slope_map()
    reach = t.SLOPE_BLOCK * np.radians(0.001) * 6371000 * np.cos(np.radians(44.2))
    sat = geodetic_to_ecef(2.0, 44.1, 700e3)                 # ≈ 20° off nadir, looking east
    n = 160
    tg = geodetic_to_ecef(np.linspace(5.085, 5.115, n), np.full(n, 44.1), np.zeros(n))
    u = tg - sat
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    heights = {}
    for step in (8, 1):
        o = [np.empty((1, n)) for _ in range(3)]
        assert ik.locate_lines(sat[None].copy(), np.eye(3)[None].copy(), np.ascontiguousarray(u),
                               t.heights, t.lat0, t.lon0, t.dlat, t.dlon, t.min_height, t.max_height,
                               slope, t.SLOPE_BLOCK, reach, step, *o) == 0
        g = geodetic_to_ecef(np.degrees(o[0][0]), np.degrees(o[1][0]), o[2][0])
        s_star = np.linalg.norm(g - sat, axis=1)
        for j in range(n):
            s = np.arange(s_star[j] - 3000.0, s_star[j] - 0.5, 0.5)
            lo, la, hh = ecef_to_geodetic(sat + s[:, None] * u[j])
            assert np.all(hh > t.height(lo, la)), f"ray {j} crosses the terrain before its ground point"
        heights[step] = o[2][0]
    assert np.allclose(heights[1], heights[8], atol=1e-3)
    # the ridge hides the ground behind it (800 m · tan 20° ≈ 290 m east of its crest at
    # 5.102°E): rays aimed there end on the ridge
    aim = np.linspace(5.085, 5.115, n)
    hidden = (aim > 5.1025) & (aim < 5.105)
    assert hidden.sum() >= 8 and np.all(heights[8][hidden] > 100.0)
