"""Acquisition: the streaming API of the simulated datatake and its truth sidecar."""
from __future__ import annotations

import json

import numpy as np
import pytest

from decode.formats import ATTITUDE, EPHEMERIS
from srd.errors import ConfigError
from telemetry.acquisition import (ATTITUDE_RECORD, EPHEMERIS_RECORD, HOUSEKEEPING_RECORD,
                                   Acquisition, Pointing, benchmark)
from telemetry.attitude import quaternion_multiply

START = "2026-11-29T10:03:26Z"


@pytest.fixture(scope="module")
def dem(shared_dir):
    d = shared_dir / "data" / "dem"
    return {"dem": d / "N44E005.hgt", "geoid": d / "egm96_15.gtx"}


@pytest.fixture(scope="module")
def short(cfg, dem):
    """0.2 s reduced-profile datatake over Mont Ventoux, blocks generated once."""
    acq = Acquisition(cfg, "SPOT-6", "reduced", START, 0.2, dem=dem["dem"], geoid=dem["geoid"],
                      pointing=Pointing.target(5.27, 44.17, "VENTOUX"), seed=11)
    return acq, list(acq.iter_blocks())


def test_datatake_and_line_times(short, cfg):
    acq, blocks = short
    dtk = acq.datatake
    pk = cfg.satellite("SPOT-6").packets
    unit = pk.pan_block_lines * pk.ccsds122_block_scale
    assert dtk.pan_lines % unit == 0 and dtk.pan_lines * 325e-6 >= 0.2
    assert dtk.ms_lines * 4 == dtk.pan_lines
    assert dtk.stop_gps - dtk.start_gps == pytest.approx(dtk.pan_lines * 325e-6)
    assert dtk.target == "VENTOUX" and dtk.mode == 0
    assert acq.line_time("B2", 3) - acq.line_time("PAN", 12) == pytest.approx(0.0)


def test_blocks_in_time_order_with_profile_sizes(short, cfg):
    acq, blocks = short
    inst = cfg.instrument("reduced")
    per_time = inst.modules * len(inst.bands)
    assert len(blocks) == acq.n_blocks() * per_time
    times = [b.gps_time for b in blocks]
    assert times == sorted(times)
    for i, b in enumerate(blocks):
        k, r = divmod(i, per_time)
        m, bi = divmod(r, len(inst.bands))
        assert (b.module, b.band) == (m + 1, inst.bands[bi].name)
        assert b.dn.dtype == np.uint16 and b.dn.shape == (acq.block_lines(b.band), inst.band(b.band).detectors)
        assert b.first_line == k * acq.block_lines(b.band)
        assert b.gps_time == pytest.approx(float(acq.line_time(b.band, b.first_line)))
        assert b.dn.max() < 4096


def test_dn_statistics_are_plausible(short, cfg):
    """Winter morning (Sun ≈ 68° from zenith) over Ventoux: no saturation, DN well above
    the dark level, NIR brighter than red over vegetation, dark/gain visible per column."""
    acq, blocks = short
    inst = cfg.instrument("reduced")
    pan = np.concatenate([b.dn for b in blocks if b.band == "PAN" and b.module == 2]).astype(float)
    assert np.mean(pan == 4095) < 1e-3
    assert 100 < pan.mean() < 2000 and pan.std() > 10
    for band in ("B0", "B1", "B2", "B3"):
        ms = np.concatenate([b.dn for b in blocks if b.band == band]).astype(float)
        assert ms.mean() > inst.dark_mean_dn + 20 and np.mean(ms == 4095) < 1e-3


def test_raw_columns_carry_dark_and_gain(cfg, tmp_path):
    """On a uniform scene the raw column means follow the calibration tables."""
    import rasterio
    from rasterio.transform import from_origin
    p = tmp_path / "flat.tif"
    with rasterio.open(p, "w", driver="GTiff", width=4, height=4, count=4, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(4.0, 46.0, 1.0, 1.0)) as ds:
        ds.write(np.full((4, 4, 4), 0.2, np.float32))
    acq = Acquisition(cfg, "SPOT-6", "reduced", START, 0.1, texture=p)
    pan = np.concatenate([b.dn for b in acq.iter_blocks() if b.band == "PAN" and b.module == 1])
    dark, gain = cfg.instrument("reduced").detector_calibration("PAN", 1)
    col = pan.astype(float).mean(0)
    signal = np.median(col - dark)
    pred = dark + gain * signal
    assert np.corrcoef(col, pred)[0, 1] > 0.9
    assert np.abs(col - pred).max() < 3.0


def test_compression_scale_does_not_change_the_image(cfg, dem):
    kw = dict(dem=dem["dem"], geoid=dem["geoid"], seed=2)
    a = Acquisition(cfg, "SPOT-6", "reduced", START, 0.05, **kw)
    small = [b for b in a.iter_blocks(1) if b.module == 3]
    big = [b for b in a.iter_blocks(4) if b.module == 3]
    for band in ("PAN", "B1"):
        s = np.concatenate([b.dn for b in small if b.band == band])
        g = np.concatenate([b.dn for b in big if b.band == band])
        assert np.array_equal(s, g)
    assert big[0].dn.shape[0] == 4 * small[0].dn.shape[0]
    with pytest.raises(ConfigError):
        next(a.iter_blocks(3))


def test_published_ephemeris_and_attitude_noise(cfg, dem):
    """Published values carry the profile's noise (none on the truth)."""
    acq = Acquisition(cfg, "SPOT-6", "reduced", START, 60.0)     # no image is generated
    sat = cfg.satellite("SPOT-6")
    eph = acq.ephemeris_records()
    assert eph.dtype == EPHEMERIS_RECORD and set(EPHEMERIS.names) <= set(eph.dtype.names)
    assert np.all(np.diff(eph["gps_time"]) == 1.0) and np.all(eph["gps_time"] % 1 == 0)
    assert eph["gps_time"][0] <= acq.datatake.start_gps - 4 and eph["gps_time"][-1] >= acq.datatake.stop_gps + 4
    p, v = acq.orbit_table.state(eph["gps_time"])
    dp, dv = eph["position"] - p, eph["velocity"] - v
    assert dp.std() == pytest.approx(sat.ephemeris_noise_m, rel=0.2)
    assert dv.std() == pytest.approx(sat.velocity_noise_mps, rel=0.2)
    # ICD record round trip
    icd = np.zeros(len(eph), EPHEMERIS)
    for n in EPHEMERIS.names:
        icd[n] = eph[n]
    assert np.array_equal(icd["position"], eph["position"])

    att = acq.attitude_records()
    assert att.dtype == ATTITUDE_RECORD and set(ATTITUDE.names) <= set(att.dtype.names)
    assert np.allclose(np.diff(att["gps_time"]), 1 / 16)
    q = acq.attitude.quaternion(att["gps_time"])
    dq = quaternion_multiply(q * np.array([1, -1, -1, -1]), att["q"])
    ang = 2 * dq[:, 1:] * np.sign(dq[:, :1])
    assert ang.std() == pytest.approx(sat.attitude_noise_rad, rel=0.1)
    assert np.allclose(np.linalg.norm(att["q"], axis=1), 1.0)
    assert np.all(np.abs(np.linalg.norm(att["rate"], axis=1) - 1.05e-3) < 1e-4)

    hk = acq.housekeeping_records()
    assert hk.dtype == HOUSEKEEPING_RECORD
    assert np.all(hk["line_period_ns"] == 325000) and np.all(hk["tdi"] == 13)


def test_truth_sidecar(short, cfg, tmp_path):
    acq, blocks = short
    out = tmp_path / "pass.truth"
    got = {}
    for b in acq.iter_blocks(truth_dir=out):
        got.setdefault((b.module, b.band), []).append(b.dn)
    acq.write_truth(out, extra={"impairments": []})
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    info = json.loads((out / "truth.json").read_text())
    assert info["datatake"]["target"] == "VENTOUX" and info["impairments"] == []
    assert 60 < info["sun"]["zenith_deg"] < 75
    assert info["terrain"]["outside_dem_fraction"] == 0.0
    # image as sent, identical to the stream (and to the first generation: deterministic)
    for (m, b), parts in got.items():
        img = np.load(out / "image" / f"M{m}_{b}.npy")
        assert np.array_equal(img, np.concatenate(parts))
    first = np.concatenate([x.dn for x in blocks if x.module == 1 and x.band == "PAN"])
    assert np.array_equal(np.load(out / "image" / "M1_PAN.npy"), first)
    orb = np.load(out / "orbit.npy")
    assert np.all(np.diff(orb["gps_time"]) > 0) and orb["gps_time"][0] < acq.datatake.start_gps
    att = np.load(out / "attitude.npy")
    assert np.allclose(np.linalg.norm(att["q"], axis=1), 1.0)
    g = np.load(out / "geoloc" / "M2_B3.npz")
    assert g["lon"].shape == (len(g["line"]), len(g["detector"]))
    assert g["detector"][-1] == cfg.instrument("reduced").band("B3").detectors - 1
    # the truth grid agrees with an independent re-location of the same detectors
    lo, la, h = acq.imager.locate("B3", 2, acq.line_time("B3", g["line"][:2]), g["detector"][:3])
    assert np.allclose(np.degrees(lo), g["lon"][:2, :3]) and np.allclose(h, g["h"][:2, :3])
    # the footprint lies on the SRTM tile N44E005, around the target
    assert np.all((g["lon"] > 5) & (g["lon"] < 6) & (g["lat"] > 44) & (g["lat"] < 45))
    import rasterio
    with rasterio.open(out / "reflectance" / "PAN.tif") as ds:
        r = ds.read(1)
        assert ds.crs.to_epsg() == 4326 and 0 < r.min() and r.max() < 1
        assert ds.bounds.left <= g["lon"].min() and ds.bounds.right >= g["lon"].max() - 1e-4


DEMO_START = "2026-11-29T10:03:24Z"


def test_demo_pass_images_mont_ventoux(cfg, dem):
    """The demo (SPOT-6, 2026-11-29T10:03:24Z, 8 s, reduced profile, nadir) images Mont
    Ventoux, and its whole footprint lies on the SRTM tile N44E005 (geometry only)."""
    acq = Acquisition(cfg, "SPOT-6", "reduced", DEMO_START, 8.0, dem=dem["dem"], geoid=dem["geoid"])
    inst = cfg.instrument("reduced")
    n = inst.band("PAN").detectors
    lines = np.r_[np.arange(0, acq.n_lines("PAN"), 500), acq.n_lines("PAN") - 1]
    pts = [acq.imager.locate("PAN", m, acq.line_time("PAN", lines), [0, n // 2, n - 1])
           for m in range(1, inst.modules + 1)]
    lon = np.degrees(np.concatenate([p[0].ravel() for p in pts]))
    lat = np.degrees(np.concatenate([p[1].ravel() for p in pts]))
    assert np.all((lon > 5) & (lon < 6) & (lat > 44) & (lat < 45))
    assert lon.min() < 5.27 < lon.max() and lat.min() < 44.17 < lat.max()
    assert acq.truth_dict()["terrain"]["outside_dem_fraction"] == 0.0
    # starting two seconds later, the footprint leaves the tile: reported, not hidden
    late = Acquisition(cfg, "SPOT-6", "reduced", START, 8.0, dem=dem["dem"], geoid=dem["geoid"])
    assert late.truth_dict()["terrain"]["outside_dem_fraction"] > 0.0


def test_centred_start_images_the_summit(cfg, dem):
    """A 2 s reduced datatake centred by ``centred_start`` contains the Ventoux summit
    (the 2026-11-29T10:03:26Z + 2 s window ends 12 km north of it)."""
    from telemetry.acquisition import VENTOUX, centred_start
    from telemetry.orbit import geodetic_to_ecef
    start = centred_start(cfg, "SPOT-6", *VENTOUX, START, 2.0)
    assert start.isoformat().startswith("2026-11-29T10:03:28.9")
    acq = Acquisition(cfg, "SPOT-6", "reduced", start, 2.0, dem=dem["dem"], geoid=dem["geoid"])
    summit = geodetic_to_ecef(*VENTOUX, float(acq.terrain.height(*VENTOUX)))
    best = np.inf
    for m in range(1, 5):
        lo, la, h = acq.imager.locate("PAN", m, acq.line_time("PAN", np.arange(0, acq.n_lines("PAN"), 8)),
                                      np.arange(0, 256, 4))
        best = min(best, np.linalg.norm(geodetic_to_ecef(np.degrees(lo), np.degrees(la), h) - summit,
                                        axis=-1).min())
    assert best < 15.0                       # metres: the summit is inside the image


def test_clouds_in_the_image_and_truth(cfg, tmp_path):
    acq = Acquisition(cfg, "SPOT-6", "reduced", START, 0.1, clouds=0.5, seed=3)
    clear = Acquisition(cfg, "SPOT-6", "reduced", START, 0.1, clouds=0.0, seed=3)
    a = np.concatenate([b.dn for b in acq.iter_blocks() if b.band == "B1"]).astype(float)
    c = np.concatenate([b.dn for b in clear.iter_blocks() if b.band == "B1"]).astype(float)
    assert a.mean() > 1.5 * c.mean()
    # the truth says where: cloudy grid points are bright in the image, clear ones are not
    out = acq.write_truth(tmp_path / "c.truth")
    g = np.load(out / "geoloc" / "M2_PAN.npz")
    img = np.load(out / "image" / "M2_PAN.npy")
    dn = img[g["line"][:, None], g["detector"][None, :]].astype(float)
    assert 0.2 < g["cloud"].mean() < 0.8
    assert np.median(dn[g["cloud"]]) > 2 * np.median(dn[~g["cloud"]])
    import rasterio
    with rasterio.open(out / "reflectance" / "cloud_mask.tif") as ds:
        assert 0.2 < ds.read(1).mean() < 0.8


def test_target_pointing_from_a_neighbouring_track(cfg, dem):
    """Target mode: roll/pitch from geometry put the swath centre on the target."""
    acq = Acquisition(cfg, "SPOT-6", "reduced", START, 1.0, dem=dem["dem"], geoid=dem["geoid"],
                      pointing=Pointing.target(5.6, 44.3, "EAST"))
    c = acq.truth_dict()["swath_centre"]
    assert abs(acq.roll_rad) > 0.02                     # ≈ 25 km off track
    assert c["lon_deg"] == pytest.approx(5.6, abs=1e-7) and c["lat_deg"] == pytest.approx(44.3, abs=1e-7)


def test_bad_arguments(cfg):
    with pytest.raises(ConfigError):
        Acquisition(cfg, "SPOT-6", "reduced", START, 0.0)
    with pytest.raises(ConfigError):
        Acquisition(cfg, "SPOT-6", "reduced", "2026-11-29 10:03:26+02:00", 1.0)
    with pytest.raises(ConfigError):
        Acquisition(cfg, "SPOT-6", "nope", START, 1.0)
    with pytest.raises(ConfigError):
        Acquisition(cfg, "SPOT-6", "reduced", START, 1.0, pointing=Pointing("sideways"))


def test_dem_that_misses_the_footprint_is_an_error(cfg, dem):
    with pytest.raises(ConfigError, match="does not cover") as e:
        Acquisition(cfg, "SPOT-6", "reduced", "2026-11-29T10:05:26Z", 0.1, dem=dem["dem"],
                    geoid=dem["geoid"])
    assert "N44E005" in str(e.value)


def test_benchmark_function(cfg):
    r = benchmark(cfg, "reduced", 0.05)
    assert r["pixels"] > 0 and r["mpixel_per_s"] > 0


def test_truth_reader_reproduces_the_geometry(short, cfg, tmp_path):
    """telemetry.truth: interpolated orbit/attitude = the imaging's; rebuilt acquisition
    relocates the sparse grid exactly."""
    from telemetry.truth import Truth
    acq, _ = short
    out = acq.write_truth(tmp_path / "x.truth")
    tr = Truth(out)
    t = acq.datatake.start_gps + np.array([0.013, 0.1, 0.19])
    p, v = tr.state(t)
    p0, v0 = acq.orbit_table.state(t)
    assert np.abs(p - p0).max() < 1e-6 and np.abs(v - v0).max() < 1e-6
    q = tr.quaternion(t)
    from telemetry.attitude import rotation_angle
    assert rotation_angle(q, acq.attitude.quaternion(t)).max() < 1e-9
    again = tr.acquisition(cfg)
    g = tr.geoloc(4, "PAN")
    lo, la, h = again.imager.locate("PAN", 4, tr.line_time("PAN", g["line"]), g["detector"])
    assert np.abs(np.degrees(lo) - g["lon"]).max() < 1e-9 and np.abs(h - g["h"]).max() < 1e-4
    assert np.array_equal(tr.image(1, "B2"), np.load(out / "image" / "M1_B2.npy"))
