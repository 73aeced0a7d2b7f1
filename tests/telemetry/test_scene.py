"""Ground truth scene: terrain (SRTM + EGM96) and the procedural land cover."""
from __future__ import annotations

import numpy as np
import pytest

from srd.errors import ConfigError
from telemetry import imaging_kernels as ik
from telemetry import scene_kernels as sk
from telemetry.scene import Scene, Terrain

SUMMIT = (5.2789, 44.1741)          # Mont Ventoux, 1909 m above the geoid


@pytest.fixture(scope="module")
def dem_files(shared_dir):
    d = shared_dir / "data" / "dem"
    return d / "N44E005.hgt", d / "egm96_15.gtx"


@pytest.fixture(scope="module")
def terrain(dem_files):
    return Terrain.load(*dem_files)


def test_srtm_plus_geoid_is_ellipsoidal(terrain, dem_files):
    ortho = Terrain.load(dem_files[0])            # heights above the geoid, taken as is
    n = terrain.height(*SUMMIT) - ortho.height(*SUMMIT)
    assert 48.0 < n < 54.0                        # EGM96 undulation here ≈ 51 m
    # the summit on a 90 m grid: within a few tens of metres of 1909 m
    assert 1850.0 < ortho.height(*SUMMIT) < 1915.0
    # geoid alone: the geoid surface
    g = Terrain.load(None, dem_files[1])
    assert g.height(*SUMMIT) == pytest.approx(n, abs=0.5)
    assert Terrain.load().height(*SUMMIT) == 0.0
    assert terrain.contains(*SUMMIT) and not terrain.contains(7.0, 44.5)
    # independent reader: GDAL's own bilinear sample of the geoid grid
    import rasterio
    with rasterio.open(dem_files[1]) as ds:
        r, c = ds.index(*SUMMIT)
        assert abs(ds.read(1)[r, c] - n) < 1.0


def test_dem_kernel_jitted_equals_python(terrain):
    for lon, lat in [(5.1, 44.2), (5.9, 44.9), (4.0, 43.0)]:
        a = ik.dem_height(terrain.heights, terrain.lat0, terrain.lon0, terrain.dlat, terrain.dlon,
                          np.radians(lat), np.radians(lon))
        b = ik.dem_height.py_func(terrain.heights, terrain.lat0, terrain.lon0, terrain.dlat,
                                  terrain.dlon, np.radians(lat), np.radians(lon))
        assert a == b


def test_voids_filled_and_bad_inputs(tmp_path):
    import rasterio
    from rasterio.transform import from_origin
    a = np.arange(100, dtype=np.int16).reshape(10, 10)
    a[4:6, 4:6] = -32768
    p = tmp_path / "dem.tif"
    with rasterio.open(p, "w", driver="GTiff", width=10, height=10, count=1, dtype="int16",
                       crs="EPSG:4326", transform=from_origin(5, 45, 0.1, 0.1), nodata=-32768) as ds:
        ds.write(a, 1)
    t = Terrain.load(p)
    assert t.heights.min() >= 0 and t.heights.max() <= 99
    with pytest.raises(ConfigError) as e:
        Terrain.load(tmp_path / "missing.tif")
    assert "missing.tif" in str(e.value)
    # a projected DEM (UTM 31N) is warped to lon/lat: heights at the same place agree
    q = tmp_path / "utm.tif"
    ramp = (np.arange(20)[None, :] * 10.0 + np.zeros((20, 1))).astype(np.float32)   # 10 m per 90 m east
    with rasterio.open(q, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32",
                       crs="EPSG:32631", transform=from_origin(6.5e5, 4.9e6, 90, 90)) as ds:
        ds.write(ramp, 1)
    from pyproj import Transformer
    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(
        6.5e5 + 90 * 10.5, 4.9e6 - 90 * 10.5)
    assert Terrain.load(q).height(lon, lat) == pytest.approx(100.0, abs=3.0)
    r = tmp_path / "nocrs.tif"
    with rasterio.open(r, "w", driver="GTiff", width=10, height=10, count=1, dtype="int16") as ds:
        ds.write(a, 1)
    with pytest.raises(ConfigError, match="coordinate reference"):
        Terrain.load(r)


def test_slope_map_bounds_the_terrain(terrain):
    m = terrain.slope_map()
    assert m.max() > 0.5                           # Ventoux's north face is steep
    # every DEM-cell gradient is bounded by its coarse cell's value
    r = 6371000.0
    lat = terrain.lat0 + terrain.dlat * np.arange(terrain.heights.shape[0])
    gx = np.abs(np.diff(terrain.heights, axis=1)) / (abs(terrain.dlon) * r * np.cos(lat)[:, None])
    B = terrain.SLOPE_BLOCK
    assert np.all(gx[:-1] <= np.repeat(np.repeat(m, B, 0), B, 1)[:gx.shape[0] - 1, :gx.shape[1]] + 1e-12)


def _grid(lon0, lat0, n, step_m):
    lons = lon0 + np.arange(n) * step_m / (111320 * np.cos(np.radians(lat0)))
    lats = lat0 - np.arange(n) * step_m / 110574
    return np.meshgrid(lons, lats)


def test_land_cover_is_deterministic_plausible_and_textured():
    sc = Scene(seed=3)
    lon, lat = _grid(5.0, 44.05, 400, 2.2)          # 880 m, PAN sampling
    h = np.full(lon.shape, 300.0)
    pan = sc.reflectance("PAN", lon, lat, h, 2.2)
    assert np.array_equal(pan, Scene(seed=3).reflectance("PAN", lon, lat, h, 2.2))
    assert not np.array_equal(pan, Scene(seed=4).reflectance("PAN", lon, lat, h, 2.2))
    assert 0.0 < pan.min() and pan.max() < 1.0
    # texture: not flat, edges (fields, roads) — rich enough for matching and compression
    assert pan.std() > 0.02
    gx = np.abs(np.diff(pan, axis=1))
    assert np.mean(gx > 0.01) > 0.04
    # 8-bit entropy of the quantised image (a proxy of the compression ratio)
    q = np.clip(pan * 1000, 0, 1023).astype(int)
    p = np.bincount(q.ravel()) / q.size
    ent = -np.sum(p[p > 0] * np.log2(p[p > 0]))
    assert ent > 5.0


def test_spectra_have_a_red_edge_and_pan_is_consistent():
    sc = Scene(seed=1)
    lon, lat = _grid(5.0, 44.1, 300, 30.0)          # 9 km
    h = np.full(lon.shape, 200.0)
    r = {b: sc.reflectance(b, lon, lat, h, 30.0) for b in ("PAN", "B0", "B1", "B2", "B3")}
    ndvi = (r["B3"] - r["B2"]) / (r["B3"] + r["B2"])
    assert np.mean(ndvi > 0.5) > 0.15              # vegetation
    assert np.mean(ndvi < 0.25) > 0.10             # soil, urban, roads, water
    pan = sum(w * r[b] for w, b in zip(sk.PAN_WEIGHTS, ("B0", "B1", "B2", "B3")))
    assert np.allclose(r["PAN"], pan, atol=1e-6)
    # altitude: limestone scree above 1500 m (Ventoux's bright summit)
    high = sc.reflectance("B2", lon, lat, np.full(lon.shape, 1800.0), 30.0)
    assert np.median(high) > 0.25


def test_footprint_averages_fine_detail():
    """Sampling with a coarse footprint ≈ the mean of fine samples (anti-aliasing)."""
    sc = Scene(seed=2)
    lon, lat = _grid(5.1, 44.3, 240, 1.1)
    h = np.full(lon.shape, 200.0)
    fine = sc.reflectance("B1", lon, lat, h, 1.1)
    coarse_mean = fine.reshape(30, 8, 30, 8).mean(axis=(1, 3))
    c_lon, c_lat = lon[4::8, 4::8], lat[4::8, 4::8]
    coarse = sc.reflectance("B1", c_lon, c_lat, h[4::8, 4::8], 8.8)
    # the band-limited sample is closer to the local mean than a point sample is
    point = fine[4::8, 4::8]
    assert np.mean(np.abs(coarse - coarse_mean)) < np.mean(np.abs(point - coarse_mean))


def test_kernel_jitted_equals_python():
    sc = Scene(seed=5, clouds=0.0)
    work = np.empty(4)
    for lon, lat, h, band in [(5.1, 44.2, 100.0, 0), (5.3, 44.1, 1700.0, 4), (5.5, 44.4, 800.0, 2)]:
        a = sk.reflectance_at(np.radians(lon), np.radians(lat), h, band, 2.2, *sc.kernel_args, work)
        b = sk.reflectance_at.py_func(np.radians(lon), np.radians(lat), h, band, 2.2,
                                      *sc.kernel_args, work)
        assert a == pytest.approx(b, abs=1e-12)


def test_clouds_cover_the_requested_fraction():
    sc = Scene(seed=1, clouds=0.3)
    lon, lat = _grid(5.0, 44.3, 200, 100.0)
    sc.set_cloud_area(lon, lat)
    mask = sc.cloud_mask(lon, lat)
    assert mask.mean() == pytest.approx(0.3, abs=0.05)
    r = sc.reflectance("B1", lon, lat, np.zeros(lon.shape), 100.0)
    assert np.median(r[mask]) > 0.6 and np.median(r[~mask]) < 0.3
    with pytest.raises(ConfigError):
        Scene(clouds=1.5)


def test_user_texture_geotiff(tmp_path):
    import rasterio
    from rasterio.transform import from_origin
    tex = np.stack([np.full((20, 20), v, np.float32) for v in (0.05, 0.1, 0.2, 0.4)])
    p = tmp_path / "tex.tif"
    with rasterio.open(p, "w", driver="GTiff", width=20, height=20, count=4, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(5.0, 44.2, 0.001, 0.001)) as ds:
        ds.write(tex)
    sc = Scene(texture=p)
    lon, lat = np.array([[5.01]]), np.array([[44.19]])
    h = np.zeros((1, 1))
    assert sc.reflectance("B2", lon, lat, h)[0, 0] == pytest.approx(0.2, abs=1e-6)
    assert sc.reflectance("PAN", lon, lat, h)[0, 0] == pytest.approx(
        float(np.dot(sk.PAN_WEIGHTS, [0.05, 0.1, 0.2, 0.4])), abs=1e-6)
    # outside the texture: the synthetic land cover
    out = sc.reflectance("B2", np.array([[5.5]]), np.array([[44.5]]), h)[0, 0]
    assert out == Scene().reflectance("B2", np.array([[5.5]]), np.array([[44.5]]), h)[0, 0]
