"""Terrain heights (level1/dem.py, shared by level1 and ortho): the one void rule — nearest
valid node — applied alike by :class:`Dem` (level1) and :func:`load_heights` (ortho)."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from level1.dem import Dem, HeightWarning, fill_voids, load_heights

W, N, RES = 5.0, 44.2, 0.001          # degrees: a 20 × 20 node DEM north-west corner / spacing


@pytest.fixture()
def void_dem(tmp_path):
    """Heights 100 + 10·row m (constant along each row); columns 10–11 are a void strip over
    the full height, so every void node's nearest valid nodes (columns 9 and 12, 1 px away)
    carry its own row's height — the nearest-valid fill is unambiguous, a mean fill is not."""
    z = (100.0 + 10.0 * np.arange(20))[:, None].repeat(20, axis=1).astype(np.float32)
    z[:, 10:12] = -32768
    p = tmp_path / "void.tif"
    with rasterio.open(p, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(W, N, RES, RES), nodata=-32768) as d:
        d.write(z, 1)
    return p


def test_voids_take_the_nearest_valid_height_in_level1_and_ortho(void_dem):
    expect = (100.0 + 10.0 * np.arange(20))[:, None].repeat(20, axis=1)
    dem = Dem.open(void_dem)
    assert dem.voids == 40
    np.testing.assert_array_equal(dem.heights, expect)
    with pytest.warns(HeightWarning, match="nearest valid"):
        hs = load_heights(void_dem)
    assert hs.voids == 40
    np.testing.assert_array_equal(hs.dem, expect)
    # sampled at the void nodes' centres, both views give the row height (not the 195 m mean)
    lon = W + (10 + 0.5) * RES + np.zeros(5)
    lat = N - (np.arange(0, 20, 4) + 0.5) * RES
    np.testing.assert_allclose(dem.height(lon, lat), 100 + 10 * np.arange(0, 20, 4), atol=1e-9)
    np.testing.assert_allclose(hs.at(lon, lat), 100 + 10 * np.arange(0, 20, 4), atol=1e-9)


def test_area_beyond_the_dem_is_not_a_void(void_dem):
    """A mosaic window reaching past the tile: the nodes off the tile are not filled (ortho's
    fallback height serves them and is counted by the location kernel); level1 extends edges."""
    east = W + 20 * RES
    with pytest.warns(HeightWarning, match="void nodes"):
        hs = load_heights(void_dem, bounds_lonlat=(W + 0.002, N - 0.018, east + 0.01, N - 0.002),
                          margin_deg=0.0)
    assert hs.dem.shape[0] <= 20 and hs.voids == 2 * hs.dem.shape[0]    # the strip only
    off = hs.dem[:, -5:]                                  # columns east of the tile: left NaN
    assert np.isnan(off).all() and np.isfinite(hs.dem[:, :-12]).all()
    assert hs.at(east + 0.005, N - 0.01) == pytest.approx(hs.fallback_h)
    assert hs.fallback_h == pytest.approx(float(np.nanmean(hs.dem)))
    dem = Dem.open(void_dem)
    assert not dem.inside(east + 0.005, N - 0.0105)
    assert dem.height(east + 0.005, N - 0.0105) == pytest.approx(100 + 10 * 10, abs=1e-9)


def test_fill_voids_limits_and_reports():
    h = np.array([[1.0, np.nan, np.nan, 4.0]])
    out, n = fill_voids(h, where=np.array([[True, True, False, True]]))
    assert n == 1 and out[0, 1] == 1.0 and np.isnan(out[0, 2])
    assert np.isnan(h[0, 1])                              # input untouched
    out, n = fill_voids(np.full((2, 2), np.nan))
    assert n == 0 and np.isnan(out).all()


def test_level1_dem_reads_tiles_like_ortho(void_dem, tmp_path):
    """Dem.open shares load_heights' reader: a directory of two tiles (west/east halves of the
    void DEM) gives the same grid and heights as the single file; outside → GeometryError."""
    from srd.errors import GeometryError
    with rasterio.open(void_dem) as ds:
        z = ds.read(1)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for name, c0 in (("west.tif", 0), ("east.tif", 10)):
        with rasterio.open(tiles / name, "w", driver="GTiff", width=10, height=20, count=1,
                           dtype="float32", crs="EPSG:4326", nodata=-32768,
                           transform=from_origin(W + c0 * RES, N, RES, RES)) as d:
            d.write(z[:, c0:c0 + 10], 1)
    one, two = Dem.open(void_dem), Dem.open(tiles)
    np.testing.assert_array_equal(two.gt, one.gt)
    np.testing.assert_array_equal(two.heights, one.heights)
    assert two.voids == one.voids == 40
    sub = Dem.open(tiles, bounds=(W + 0.0123, N - 0.0077, W + 0.0151, N - 0.0052))
    assert 4 <= sub.heights.shape[1] < 20 and sub.heights.shape[0] < 20
    np.testing.assert_allclose(sub.height([W + 0.0137], [N - 0.0061]),
                               one.height([W + 0.0137], [N - 0.0061]), atol=1e-9)
    with pytest.raises(GeometryError, match="covers"):
        Dem.open(tiles, bounds=(10.0, 10.0, 10.1, 10.1))
