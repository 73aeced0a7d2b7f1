"""Output grid and inverse-location grid (ortho/grid_algo.py) on the real Pléiades RPC + SRTM."""
from __future__ import annotations

import numpy as np
import pytest

from level1.dem import load_heights
from ortho.grid_algo import OutputGrid, build_location_grid, utm_crs
from ortho.source import find_rpc
from srd.errors import GeometryError


@pytest.fixture(scope="module")
def scene(ventoux):
    rpc, _ = find_rpc(ventoux["pan"])
    grid = OutputGrid.from_bounds("EPSG:32631", (675238.0, 4897074.0, 675506.0, 4897334.0), 0.5)
    hs = load_heights(ventoux["hgt"], geoid=ventoux["geoid"], bounds_lonlat=(5.18, 44.19, 5.21, 44.22))
    return rpc, grid, hs


def _exact(rpc, grid, hs, rows, cols):
    lon, lat = grid.lonlat(rows, cols)
    return rpc.project(lon, lat, hs.at(lon, lat))


def test_grid_error_is_measured_and_holds_everywhere(scene):
    rpc, grid, hs = scene
    lg = build_location_grid(rpc.project, grid, hs, tol_px=0.01)
    assert lg.max_error_px <= 0.01 and lg.check_pixels > 10000
    # independent of the check tiles: every 3rd pixel of the whole grid
    rows, cols = np.mgrid[0:grid.height:3, 0:grid.width:3]
    ec, er = _exact(rpc, grid, hs, rows, cols)
    c, r, _, nf = lg.locate(0, 0, grid.height, grid.width, hs)
    e = np.hypot(c[::3, ::3] - ec, r[::3, ::3] - er)
    assert nf == 0 and e.max() <= 0.01


def test_tighter_tolerance_refines_the_grid(scene):
    rpc, grid, hs = scene
    coarse = build_location_grid(rpc.project, grid, hs, tol_px=0.01)
    fine = build_location_grid(rpc.project, grid, hs, tol_px=2e-4)
    assert fine.step < coarse.step or fine.levels.size > coarse.levels.size
    assert fine.max_error_px <= 2e-4 < coarse.max_error_px


def test_3d_grid_beats_a_2d_terrain_grid(scene):
    """OTB-style 2-D grid (terrain sampled only at nodes) vs ours (DEM at every pixel), same
    spacing (32 px = 16 m) on the Ventoux relief."""
    rpc, grid, hs = scene
    step = 32
    ours = build_location_grid(rpc.project, grid, hs, step=step)
    gy = np.arange(0, grid.height + step, step)
    gx = np.arange(0, grid.width + step, step)
    R, C = np.meshgrid(gy, gx, indexing="ij")
    nc, nr = _exact(rpc, grid, hs, R, C)
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    from scipy.interpolate import RegularGridInterpolator
    pts = np.stack([rows.ravel(), cols.ravel()], 1)
    c2 = RegularGridInterpolator((gy, gx), nc)(pts).reshape(rows.shape)
    r2 = RegularGridInterpolator((gy, gx), nr)(pts).reshape(rows.shape)
    ec, er = _exact(rpc, grid, hs, rows, cols)
    e2 = np.hypot(c2 - ec, r2 - er).max()
    c3, r3, _, _ = ours.locate(0, 0, grid.height, grid.width, hs)
    e3 = np.hypot(c3 - ec, r3 - er).max()
    print(f"max error at 16 m spacing: 2-D grid {e2:.4f} px, 3-D grid {e3:.4f} px")
    assert e3 <= 0.01 and e2 > 10 * e3


def test_constant_height_grid_has_one_layer_pair(scene):
    rpc, grid, _ = scene
    hs = load_heights(None, height=800.0)
    lg = build_location_grid(rpc.project, grid, hs)
    lon, lat = grid.lonlat(np.array([10.0]), np.array([20.0]))
    ec, er = rpc.project(lon, lat, np.array([800.0]))
    c, r, h, _ = lg.locate(10, 20, 1, 1, hs)
    assert h[0, 0] == 800.0 and abs(c[0, 0] - ec[0]) < 0.01 and abs(r[0, 0] - er[0]) < 0.01


def test_model_outside_its_domain_is_a_geometry_error(scene):
    _, grid, hs = scene

    def broken(lon, lat, h):
        c = np.asarray(lon) * 0.0
        c.flat[3] = np.nan
        return c, c.copy()
    with pytest.raises(GeometryError, match="undefined at grid node"):
        build_location_grid(broken, grid, hs)


def test_output_grid_helpers():
    g = OutputGrid.from_bounds("EPSG:32631", (100.2, 200.7, 110.1, 210.3), 0.5)
    assert g.bounds == (100.0, 200.5, 110.5, 210.5) and (g.width, g.height) == (21, 20)
    ms = g.scaled(4)
    assert ms.resolution == (2.0, 2.0) and (ms.width, ms.height) == (6, 5) and ms.bounds[0] == 100.0
    x, y = g.xy(np.array([0]), np.array([0]))
    assert (x[0], y[0]) == (100.25, 210.25)
    assert utm_crs(5.28, 44.1).to_epsg() == 32631 and utm_crs(-70.0, -33.0).to_epsg() == 32719
    with pytest.raises(GeometryError):
        OutputGrid.from_bounds("EPSG:32631", (0, 0, 1, 1), 0.0)
