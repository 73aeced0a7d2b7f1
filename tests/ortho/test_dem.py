"""Heights (level1/dem.py, used by ortho): SRTM + EGM96 against PROJ's own geoid-grid transformation."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio

from level1.dem import HeightWarning, geoid_undulation, load_heights
from srd.errors import ProductError

BOUNDS = (5.17, 44.19, 5.22, 44.24)


def test_geoid_undulation_matches_proj(ventoux):
    """N from our bilinear read of the .gtx vs PROJ applying the same grid (+geoidgrids)."""
    from pyproj import Transformer
    rng = np.random.default_rng(1)
    lon = rng.uniform(-179.9, 179.9, 200)
    lat = rng.uniform(-80, 80, 200)
    t = Transformer.from_crs(f"+proj=longlat +datum=WGS84 +geoidgrids={ventoux['geoid']} +vunits=m",
                             "EPSG:4979", always_xy=True)
    _, _, h = t.transform(lon, lat, np.zeros_like(lon))     # orthometric 0 → ellipsoidal = N
    np.testing.assert_allclose(geoid_undulation(ventoux["geoid"], lon, lat), h, atol=1e-3)
    # Mont Ventoux: N ≈ 51 m (../shared/data/README.md)
    assert 49 < geoid_undulation(ventoux["geoid"], 5.28, 44.17) < 53


def test_srtm_plus_geoid_on_nodes(ventoux):
    hs = load_heights(ventoux["hgt"], geoid=ventoux["geoid"], bounds_lonlat=BOUNDS)
    with rasterio.open(ventoux["hgt"]) as ds:
        raw = ds.read(1)
        t = ds.transform
    # DEM nodes (pixel centres) of the raw tile: value = H + N exactly at the node
    rows = np.array([940, 960, 980])          # inside BOUNDS
    cols = np.array([220, 228, 250])
    lon = t.c + (cols + 0.5) * t.a
    lat = t.f + (rows + 0.5) * t.e
    np.testing.assert_allclose(hs.at(lon, lat), raw[rows, cols] + geoid_undulation(ventoux["geoid"], lon, lat),
                               atol=1e-6)
    # midway between nodes: bilinear
    lm = lon[0] + t.a / 2
    b = raw[rows[0], cols[0]:cols[0] + 2].astype(float).mean()
    assert abs(hs.at(lm, lat[0]) - (b + geoid_undulation(ventoux["geoid"], lm, lat[0]))) < 1e-3
    lo, hi = hs.range()
    assert 300 < lo < hi < 2000 and "geoid" in hs.description


def test_directory_of_tiles_and_geotiff(ventoux, tmp_path):
    hs = load_heights(ventoux["dem_dir"], geoid=ventoux["geoid"], bounds_lonlat=BOUNDS)
    assert hs.files == (str(ventoux["hgt"]),)
    # the ellipsoidal DEM written as GeoTIFF and read back as a user DEM gives the same heights
    p = hs.write_geotiff(tmp_path / "ell.tif")
    hs2 = load_heights(p, bounds_lonlat=BOUNDS)
    lon = np.linspace(5.18, 5.21, 7)
    lat = np.linspace(44.20, 44.23, 7)
    np.testing.assert_allclose(hs2.at(lon, lat), hs.at(lon, lat), atol=1e-3)


def test_srtm_without_geoid_warns(ventoux):
    with pytest.warns(HeightWarning, match="geoid"):
        load_heights(ventoux["hgt"], bounds_lonlat=BOUNDS)


def test_constant_height_and_default_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hs = load_heights(None, height=321.0)
    assert hs.constant and np.all(hs.at([1.0, 2.0], [3.0, 4.0]) == 321.0)
    with pytest.warns(HeightWarning, match="no DEM"):
        hs = load_heights(None, default_height=12.5)
    assert hs.range() == (12.5, 12.5)


def test_bad_dem_inputs(tmp_path, ventoux):
    with pytest.raises(ProductError, match="not found"):
        load_heights(tmp_path / "nope.hgt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProductError, match="no DEM file"):
        load_heights(tmp_path / "empty")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(ProductError) as e:
        load_heights(bad)
    assert str(bad) in str(e.value)
    with pytest.raises(ProductError, match="covers"):
        load_heights(ventoux["hgt"], bounds_lonlat=(10.0, 10.0, 10.1, 10.1))
