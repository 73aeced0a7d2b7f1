"""level1.run: Level 0 directory → Level-1 scenes, on synthetic Level 0 built from the contracts
(tests/level1/l1_synthetic.py): product files, masks, radiometry, striping, cloud cover, band
registration, geolocation of the product content through its RPC, GDAL reading the product."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import rasterio

from l1_synthetic import T_GPS0, SyntheticPass, reflectance_field, write_level0
from level1 import radiometry_algo as RA
from level1.quality_algo import register
from level1.rpc import read_rpc
from level1.run import Level1Options, run
from srd.errors import ProductError

BLOCKS = 40                      # 1280 PAN lines ≈ 0.42 s, reduced profile
MISSING_BLOCK = 20


@pytest.fixture(scope="module")
def ins(cfg):
    return cfg.instrument("reduced")


@pytest.fixture(scope="module")
def textured(tmp_path_factory, cfg, ins):
    """Textured scene, a cloud disc, one lost PAN/MS block, noisy published ancillary,
    reflectance output."""
    base = tmp_path_factory.mktemp("l1tex")
    sp = SyntheticPass(roll=0.02)
    # cloud disc near the start of the scene footprint
    root, _ = write_level0(base / "l0", sp, ins, T_GPS0 - 0.3, BLOCKS, pass_id="TEX",
                           missing_pan_blocks=(MISSING_BLOCK,), clouds=None, seed=3)
    rep = run(root, base / "l1", cfg, Level1Options(output="reflectance"))
    return rep, base / "l1" / "TEX"


@pytest.fixture(scope="module")
def uniform(tmp_path_factory, cfg, ins):
    base = tmp_path_factory.mktemp("l1uni")
    root, _ = write_level0(base / "l0", SyntheticPass(), ins, T_GPS0 - 0.3, BLOCKS, pass_id="UNI",
                           uniform=True, seed=4, anc_noise=(0.0, 0.0, 0.0))
    return run(root, base / "l1", cfg), base / "l1" / "UNI"


def _files(d, pattern):
    hits = sorted(d.glob(pattern))
    assert len(hits) == 1, (pattern, [p.name for p in d.iterdir()])
    return hits[0]


def test_product_layout_names_cog_and_rpc(textured):
    rep, out = textured
    assert rep.status == "data_loss" and rep.output_dir == str(out)
    assert len(rep.scenes) == 1
    s = rep.scenes[0]
    d = out / s["directory"]
    assert s["name"].startswith("SPOT6_2026061510") and s["id"] == "TEX001-001"
    pan = _files(d, "IMG_SPOT6_P_2026061510*_SEN_TEX001-001.TIF")
    ms = _files(d, "IMG_SPOT6_MS_2026061510*_SEN_TEX001-001.TIF")
    _files(d, "DIM_SPOT6_PMS_*_SEN_TEX001-001.XML")
    saved = json.loads((out / "level1_report.json").read_text())
    assert saved["scenes"][0]["name"] == s["name"] and saved["status"] == "data_loss"
    with rasterio.open(pan) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.count == 1 and ds.dtypes[0] == "float32"
        assert ds.rpcs is not None and ds.height == s["pan"]["rows"] and ds.width == s["pan"]["cols"]
    with rasterio.open(ms) as ds:
        assert ds.count == 4 and ds.descriptions == ("B0", "B1", "B2", "B3")
        assert (ds.height, ds.width) == (s["pan"]["rows"] // 4, s["pan"]["cols"] // 4)
    # every Level 0 band's lines are dated (GPS → UTC) and counted in the report
    ln = rep.datatakes[0]["lines"]
    assert ln["M1_PAN"]["lines"] == BLOCKS * 32 and ln["M1_B0"]["lines"] == BLOCKS * 8
    assert ln["M2_PAN"]["lines_missing"] == 32 and ln["M2_PAN"]["first_line_utc"].startswith("2026-06-15T10:14:59")
    assert ln["M1_B2"]["line_period_s"] == pytest.approx(4 * 0.000325)
    # the PAN product has the 1.5 m perfect-sensor sampling (native 2.2 m)
    dt = rep.datatakes[0]["perfect_sensor"]
    assert dt["gsd_m"] == 1.5 and 2.0 < dt["native_gsd_across_m"] < 2.5
    assert s["rpc_fit"]["check_max_px"] < 0.01
    # MS RPC = PAN RPC rescaled: the same ground point lands on PAN (4i+1.5, 4j+1.5)
    rp, rm = read_rpc(pan), read_rpc(ms)
    lon, lat = rp.localise(np.array([100.0, 800.0]), np.array([50.0, 900.0]), 0.0)
    cm, rmw = rm.project(lon, lat, 0.0)
    np.testing.assert_allclose(4 * cm + 1.5, [100.0, 800.0], atol=1e-6)
    np.testing.assert_allclose(4 * rmw + 1.5, [50.0, 900.0], atol=1e-6)


def test_missing_block_is_masked_not_interpolated(textured):
    rep, out = textured
    s = rep.scenes[0]
    d = out / s["directory"]
    with rasterio.open(_files(d, "IMG_*_P_*.TIF")) as ds:
        img = ds.read(1)
    with rasterio.open(_files(d, "MSK_*_P_*.TIF")) as ds:
        msk = ds.read(1)
    missing_rows = np.flatnonzero(((msk & RA.MISSING) != 0).mean(axis=1) > 0.5)
    # one 32-line block of 2.2 m lines ≈ 47 product rows (1.5 m), plus the cubic kernel support
    assert 40 <= missing_rows.size <= 60
    flagged = (msk & RA.MISSING) != 0
    assert np.all(np.isnan(img[flagged]))            # nodata where a block was lost ...
    assert not np.isnan(img[msk == 0]).any()         # ... and only there
    assert flagged[missing_rows[1:-1]].all()         # whole product rows inside the lost block
    assert 0 < s["missing_pct"] < 10


def test_geolocation_of_product_content_through_its_rpc(textured):
    """Render the ground truth reflectance at the ground positions that the product's RPC gives
    its pixels; phase correlation with the product measures the geolocation error."""
    rep, out = textured
    s = rep.scenes[0]
    d = out / s["directory"]
    pan = _files(d, "IMG_*_P_*.TIF")
    rpc = read_rpc(pan)
    with rasterio.open(pan) as ds:
        img = ds.read(1)
    shifts = []
    for r0, c0 in ((60, 200), (60, 900), (600, 500), (1000, 500), (1000, 1200)):
        tile = img[r0:r0 + 128, c0:c0 + 128].astype(np.float64)
        assert np.isfinite(tile).all()
        R, C = np.mgrid[r0:r0 + 128, c0:c0 + 128].astype(np.float64)
        lon, lat = rpc.localise(C, R, 0.0)
        truth = reflectance_field(lon, lat, "PAN")
        dr, dc, corr = register(truth, tile)
        assert corr > 0.95
        shifts.append(np.hypot(dr, dc))
        # radiometry: TOA reflectance within 2 % of the truth (interpolation, noise)
        assert abs(tile.mean() / truth.mean() - 1) < 0.02
    # published ancillary noise (0.5 m GNSS, 2 µrad attitude per sample): the target,
    # < 0.5 m RMS, is 0.33 px of 1.5 m
    assert np.sqrt(np.mean(np.square(shifts))) * 1.5 < 0.5, shifts


def test_band_registration_residual(textured):
    rep, _ = textured
    mis = rep.scenes[0]["misregistration_ms_px"]
    for b in ("B0", "B1", "B2", "B3"):
        assert mis[b]["tiles"] >= 8
        assert abs(mis[b]["drow"]) < 0.1 and abs(mis[b]["dcol"]) < 0.1, (b, mis[b])


def test_no_striping_on_a_uniform_scene(uniform):
    rep, out = uniform
    assert rep.status == "ok"
    st = rep.datatakes[0]["striping"]
    for b, v in st.items():
        # raw: dark signal (3 DN) and PRNU (1 %) per detector; corrected: within the noise
        assert v["corrected_column_spread_dn"] < 1.5 * v["column_mean_noise_dn"], (b, v)
        assert v["raw_column_spread_dn"] > 5 * v["corrected_column_spread_dn"], (b, v)
    s = rep.scenes[0]
    with rasterio.open(_files(out / s["directory"], "IMG_*_P_*.TIF")) as ds:
        img = ds.read(1).astype(np.float64)
        assert ds.dtypes[0] == "uint16" and ds.nodata == 0
    col = img[img.shape[0] // 4: 3 * img.shape[0] // 4].mean(axis=0)
    # across the whole stitched swath (4 modules, 3 overlaps): no seam, no stripe
    assert np.std(col[1:-1] - 0.5 * (col[:-2] + col[2:])) < 0.3
    assert s["cloud_cover_pct"] == 0.0


def test_cloudy_scene_comes_out_cloudy(tmp_path, cfg, ins):
    sp = SyntheticPass(roll=0.02)
    from l1_synthetic import ground_truth
    # a 1.5 km cloud on the boresight's ground point in the middle of the datatake
    lon, lat, _ = ground_truth(sp, T_GPS0 - 0.17, np.array([0.0, 0.0, 1.0]), 0.0)
    root, _ = write_level0(tmp_path / "l0", sp, ins, T_GPS0 - 0.3, 24, pass_id="CLD",
                           clouds=(float(lon[0]), float(lat[0]), 1500.0), seed=5)
    rep = run(root, tmp_path / "l1", cfg)
    s = rep.scenes[0]
    assert s["cloud_cover_pct"] > 50
    with rasterio.open(_files(tmp_path / "l1" / "CLD" / s["directory"], "MSK_*_MS_*.TIF")) as ds:
        assert ((ds.read(1) & RA.CLOUD) != 0).mean() > 0.5


def test_typed_errors(tmp_path, cfg, ins):
    with pytest.raises(ProductError, match="not found"):
        run(tmp_path / "nope", tmp_path / "out", cfg)
    root, _ = write_level0(tmp_path / "l0", SyntheticPass(), ins, T_GPS0, 12, pass_id="BAD", noise=False)
    # wrong instrument profile: found after the temporary directory exists → removed, nothing final
    with pytest.raises(ProductError, match="columns") as e:
        run(root, tmp_path / "out", cfg, instrument="nominal")
    assert e.value.path.endswith("M1_PAN.npy")
    assert list((tmp_path / "out").iterdir()) == []
    (root / "ancillary" / "ephemeris.npy").unlink()
    with pytest.raises(ProductError) as e:
        run(root, tmp_path / "out", cfg)
    assert "ephemeris.npy" in str(e.value) and isinstance(e.value, ValueError)


@pytest.mark.external
@pytest.mark.skipif(shutil.which("gdalwarp") is None, reason="gdal-bin not installed")
def test_gdalwarp_rpc_reads_our_product(textured, tmp_path):
    """`gdalwarp -rpc` (GDAL's command line) orthorectifies our PAN product; the result,
    compared with the truth rendered on the same map grid, is within half a pixel."""
    rep, out = textured
    s = rep.scenes[0]
    pan = _files(out / s["directory"], "IMG_*_P_*.TIF")
    lon0, lat0 = s["centre"]
    res = 1.5 / 111_195
    w, n = lon0 - 150 * res / np.cos(np.radians(lat0)), lat0 + 150 * res
    dst = tmp_path / "ortho.tif"
    subprocess.run(["gdalwarp", "-q", "-rpc", "-to", "RPC_HEIGHT=0", "-t_srs", "EPSG:4326",
                    "-te", str(w), str(n - 300 * res), str(w + 300 * res / np.cos(np.radians(lat0))), str(n),
                    "-ts", "300", "300", "-r", "cubic", str(pan), str(dst)], check=True)
    with rasterio.open(dst) as ds:
        o = ds.read(1).astype(np.float64)
        t = ds.transform
    assert np.isfinite(o).all() and o.std() > 0
    cols, rows = np.meshgrid(np.arange(300) + 0.5, np.arange(300) + 0.5)
    lon, lat = t.c + t.a * cols + t.b * rows, t.f + t.d * cols + t.e * rows
    truth = reflectance_field(lon, lat, "PAN")
    dr, dc, corr = register(truth, o)
    assert corr > 0.95 and np.hypot(dr, dc) < 0.5, (dr, dc, corr)


def test_cli_json(textured, tmp_path, capsys):
    from srd.cli import main
    rep, out = textured
    code = main(["level1", rep.level0_dir, "--out", str(tmp_path), "--json", "--output", "dn"])
    d = json.loads(capsys.readouterr().out)
    assert code == 10 and d["status"] == "data_loss" and d["scenes"][0]["id"] == "TEX001-001"
    assert {"pass_id", "satellite", "instrument", "output_dir", "datatakes", "scenes", "errors"} <= set(d)


@pytest.mark.external
@pytest.mark.skipif(shutil.which("otbcli_OrthoRectification") is None or shutil.which("gdalwarp") is None,
                    reason="otb-bin / gdal-bin not installed")
def test_otb_and_gdal_orthorectify_our_product_identically(textured, tmp_path):
    """OTB (reading the .geom we ship) and GDAL (reading the TIFF RPC tag) orthorectify the
    PAN product onto the same map grid at a constant height: the images agree to < 0.02 px."""
    rep, out = textured
    s = rep.scenes[0]
    pan = _files(out / s["directory"], "IMG_*_P_*.TIF")
    assert pan.with_suffix(".geom").exists()
    lon0, lat0 = s["centre"]
    res, n = 1.35e-5, 300
    ulx, uly = lon0 - n / 2 * res, lat0 + n / 2 * res
    otb, gw = tmp_path / "otb.tif", tmp_path / "gw.tif"
    # OTB's ulx/uly/lrx/lry are pixel centres, GDAL's -te pixel corners
    subprocess.run(["otbcli_OrthoRectification", "-io.in", str(pan), "-io.out", str(otb), "float",
                    "-map", "epsg", "-map.epsg.code", "4326", "-outputs.mode", "outputroi",
                    "-outputs.ulx", repr(ulx + res / 2), "-outputs.uly", repr(uly - res / 2),
                    "-outputs.lrx", repr(ulx + (n - 0.5) * res), "-outputs.lry", repr(uly - (n - 0.5) * res),
                    "-outputs.spacingx", repr(res), "-outputs.spacingy", repr(-res), "-elev.default", "0",
                    "-interpolator", "bco", "-opt.gridspacing", "0.00004"], check=True, capture_output=True)
    subprocess.run(["gdalwarp", "-q", "-rpc", "-to", "RPC_HEIGHT=0", "-t_srs", "EPSG:4326", "-te", repr(ulx),
                    repr(uly - n * res), repr(ulx + n * res), repr(uly), "-ts", str(n), str(n), "-r", "cubic",
                    str(pan), str(gw)], check=True)
    with rasterio.open(otb) as A, rasterio.open(gw) as B:
        a, b = A.read(1).astype(np.float64), B.read(1).astype(np.float64)
        ta, tb = A.transform, B.transform
    k = min(a.shape[0], b.shape[0], a.shape[1], b.shape[1])
    a, b = a[:k, :k], b[:k, :k]
    assert np.isfinite(a[20:-20, 20:-20]).all() and np.isfinite(b[20:-20, 20:-20]).all()
    dr, dc, cc = register(a[20:-20, 20:-20], b[20:-20, 20:-20])
    # OTB writes its origin in float32: remove the grid offset before comparing the content
    drow = dr + (ta.f - tb.f) / tb.e
    dcol = dc + (ta.c - tb.c) / tb.a
    assert cc > 0.99 and abs(drow) < 0.02 and abs(dcol) < 0.02, (drow, dcol, cc)


def test_scene_cutting_with_overlap(textured, tmp_path, cfg):
    """A datatake longer than the scene length is cut into overlapping scenes, each with its own
    RPC fit; the overlap holds identical pixels in both scenes and names are deterministic."""
    rep, _ = textured
    out = run(rep.level0_dir, tmp_path, cfg, scene_length_m=600.0, scene_overlap_m=150.0)
    sc = out.scenes
    assert len(sc) >= 3
    rows = [s["pan"]["rows"] for s in sc]
    assert all(r == 400 for r in rows)                                   # 600 m / 1.5 m
    starts = [s["first_row"] for s in sc]
    assert starts[0] == 0 and all(b > a for a, b in zip(starts, starts[1:]))
    assert all(b - a <= 400 - 100 for a, b in zip(starts, starts[1:]))   # ≥ 150 m overlap
    assert starts[-1] + rows[-1] == out.datatakes[0]["perfect_sensor"]["rows"]
    assert [s["id"] for s in sc] == [f"TEX001-{k:03d}" for k in range(1, len(sc) + 1)]
    assert [s["time_first_line"] for s in sc] == sorted(s["time_first_line"] for s in sc)
    for s in sc:
        assert s["rpc_fit"]["check_max_px"] < 0.01 and s["rpc_validation_max_px"] < 0.01
    a, b = sc[0], sc[1]
    with rasterio.open(_files(tmp_path / "TEX" / a["directory"], "IMG_*_P_*.TIF")) as A, \
            rasterio.open(_files(tmp_path / "TEX" / b["directory"], "IMG_*_P_*.TIF")) as B:
        ov = a["first_row"] + a["pan"]["rows"] - b["first_row"]
        pa = A.read(1)[-ov:]
        pb = B.read(1)[:ov]
        np.testing.assert_array_equal(pa, pb)
        # and the two RPCs put the same ground point on the same pixel (to their fit accuracy)
        ra, rb = read_rpc(A.name), read_rpc(B.name)
    lon, lat = ra.localise(np.array([100.0, 900.0]), np.array([a["pan"]["rows"] - ov / 2] * 2), 0.0)
    cb, rbw = rb.project(lon, lat, 0.0)
    np.testing.assert_allclose(cb, [100.0, 900.0], atol=0.01)
    np.testing.assert_allclose(rbw, [ov / 2] * 2, atol=0.01)


def test_a_module_lost_entirely_is_masked_not_dropped(tmp_path, cfg, ins):
    root, _ = write_level0(tmp_path / "l0", SyntheticPass(roll=0.02), ins, T_GPS0 - 0.3, 40, pass_id="LOST", seed=6)
    for p in (root / "image").glob("M3_PAN*"):
        p.unlink()                                        # every PAN block of module 3 lost
    rep = run(root, tmp_path / "l1", cfg)
    assert rep.status == "data_loss" and any("module 3 band PAN" in w for w in rep.warnings)
    s = rep.scenes[0]
    with rasterio.open(_files(tmp_path / "l1" / "LOST" / s["directory"], "MSK_*_P_*.TIF")) as ds:
        msk = ds.read(1)
    cols_missing = ((msk & RA.MISSING) != 0).all(axis=0)
    # module 3's own swath (less the overlaps the neighbours cover) is missing, the rest is not
    assert 150 < cols_missing.sum() < 400
    assert not ((msk & RA.MISSING) != 0)[:, :300].any()
    assert 10 < s["missing_pct"] < 30


def test_dimap_metadata_document(textured, ins):
    import xml.etree.ElementTree as ET
    rep, out = textured
    s = rep.scenes[0]
    root = ET.parse(out / s["directory"] / s["metadata"]).getroot()
    assert root.find("Metadata_Identification/METADATA_FORMAT").text == "DIMAP"
    assert root.find("Dataset_Identification/DATASET_NAME").text == s["name"]
    assert float(root.find("Dataset_Content/CLOUD_COVERAGE").text) == pytest.approx(s["cloud_cover_pct"], abs=0.01)
    assert len(root.findall("Dataset_Content/Dataset_Extent/Vertex")) == len(s["footprint"])
    gains = {e.get("band"): float(e.find("GAIN").text) for e in root.findall("Radiometric_Data/Band_Radiance")}
    assert gains == {b: ins.band(b).absolute_gain for b in ins.band_names}
    ua = root.find("Geometric_Data/Use_Area")
    assert ua.find("TIME_CENTER").text == s["time_center"]
    assert float(ua.find("SUN_ZENITH").text) == pytest.approx(s["sun_zenith_deg"], abs=1e-3)
    assert float(root.find("Geometric_Data/Refined_Model/RPC_FIT_MAX_RESIDUAL").text) < 0.01
    files = {e.get("kind"): e.find("DATA_FILE_PATH").get("href") for e in root.findall("Raster_Data/Data_Access")}
    assert files == {"P": s["pan"]["file"], "MS": s["ms"]["file"]}


def test_two_datatakes_in_one_pass(tmp_path, cfg, ins):
    """Level 0 with two datatakes (image files suffixed _DT<n>, docs/formats.md): one set of
    scenes per datatake, each dated and named by its own datatake."""
    sp = SyntheticPass(roll=0.02)
    a, _ = write_level0(tmp_path / "a", sp, ins, T_GPS0 - 0.6, 24, pass_id="TWO", seed=7)
    b, _ = write_level0(tmp_path / "b", sp, ins, T_GPS0 + 0.2, 24, pass_id="TWO", seed=8)
    for p in sorted((a / "image").glob("*.json")):
        meta = json.loads(p.read_text())
        for src, dt_id in ((a, 1), (b, 2)):
            m = json.loads((src / "image" / p.name).read_text())
            m["datatake"] = dt_id
            stem = p.stem
            (a / "image" / f"{stem}_DT{dt_id}.json").write_text(json.dumps(m))
            for suffix in (".npy", "_mask.npy"):
                (src / "image" / f"{stem}{suffix}").rename(a / "image" / f"{stem}_DT{dt_id}{suffix}")
        p.unlink()
    for name in ("ephemeris.npy", "attitude.npy", "housekeeping.npy"):
        x, y = np.load(a / "ancillary" / name), np.load(b / "ancillary" / name)
        z = np.concatenate([x, y])
        _, keep = np.unique(z["gps_time"], return_index=True)
        np.save(a / "ancillary" / name, z[keep])
    dts = json.loads((a / "ancillary" / "datatakes.json").read_text())
    dts.append(dict(dts[0], datatake=2, start_gps=T_GPS0 + 0.2))
    (a / "ancillary" / "datatakes.json").write_text(json.dumps(dts))
    rep = run(a, tmp_path / "l1", cfg)
    assert [d["datatake"] for d in rep.datatakes] == [1, 2]
    ids = [s["id"] for s in rep.scenes]
    assert ids == ["TWO001-001", "TWO002-001"]
    t1, t2 = (s["time_first_line"] for s in rep.scenes)
    assert t1 < t2
    for s in rep.scenes:
        assert s["rpc_fit"]["check_max_px"] < 0.01 and s["missing_pct"] == 0.0


def test_long_ancillary_is_windowed_around_the_datatake(tmp_path, cfg, ins):
    """A real pass carries ancillary for minutes around a short datatake: the models use the
    records near the datatake, so geolocation stays at the noise-limited level."""
    from l1_synthetic import ground_truth
    from level1.run import load_geometry
    from level1.sensor_model import los_instrument
    sp = SyntheticPass(roll=0.02)
    root, _ = write_level0(tmp_path / "l0", sp, ins, T_GPS0 - 0.3, 24, pass_id="LONG", margin_s=200.0,
                           noise=False, seed=9)
    l0, sat, _, eph, att, models = load_geometry(root, cfg)
    assert len(l0.ephemeris) > 400 and len(eph.t) < 40          # 1 Hz over ±200 s, windowed to ±15 s
    model = models[1][(2, "PAN")]
    L = np.array([0.0, 300.0, 700.0])
    D = np.array([10.0, 128.0, 250.0])
    px, py = model.detectors.angles(D)
    truth = ground_truth(sp, model.time(L), los_instrument(px, py), 0.0)
    lon, lat, _ = model.direct(L, D, 0.0)
    err = np.hypot((lon - truth[0]) * 111_195 * np.cos(np.radians(lat)), (lat - truth[1]) * 111_195)
    assert err.max() < 0.6, err
