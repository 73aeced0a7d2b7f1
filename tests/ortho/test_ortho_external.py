"""Orthorectification of the real Pléiades crop against gdalwarp -rpc and OTB OrthoRectification.

Done-criterion of issue 6: ≤ 0.05 px mean, ≤ 0.1 px max sub-pixel shift between our ortho and
each reference tool's on the same grid, DEM (SRTM + EGM96) and kernel. Positions are also
compared directly: warping a coordinate ramp (pixel value = its own column/row) with bilinear
interpolation makes each tool output the exact source position it used for every pixel.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio
from scipy.ndimage import binary_erosion

from ortho import quality_algo as Q
from ortho.stage import run
from ortho_refs import gdalwarp_rpc, need, run_tool, write_rpc_copy

pytestmark = pytest.mark.external


def _our_ortho(ventoux, ref_grid, out, cfg, resampling="cubic", tile=128):
    rep = run(ventoux["pan"], out, cfg, dem=ventoux["hgt"], geoid=ventoux["geoid"],
              crs="EPSG:32631", resolution=0.5, bounds=ref_grid.bounds, resampling=resampling,
              tile=tile, pansharpen="none")
    path = out / "left_image" / rep.products["ORTHO"]
    with rasterio.open(path) as ds:
        assert (ds.width, ds.height) == (ref_grid.width, ref_grid.height)
        assert ds.transform.almost_equals(ref_grid.transform)
        return ds.read(1).astype(np.float64), ds.dataset_mask() > 0, rep


def _compare(ours, ours_valid, ref, ref_valid):
    v = binary_erosion(ours_valid & ref_valid, iterations=4)
    s = Q.windowed_shifts(ref, ours, v, window=64, step=32)
    return s, np.abs(ours - ref)[v]


def test_ortho_matches_gdalwarp(ventoux, gdal_pan, ref_grid, cfg, tmp_path):
    ours, ov, rep = _our_ortho(ventoux, ref_grid, tmp_path, cfg)
    with rasterio.open(gdal_pan) as ds:
        ref = ds.read(1).astype(np.float64)
    s, diff = _compare(ours, ov, ref, ref > 0)
    print("vs gdalwarp:", s, "mean |ΔDN|", diff.mean())
    assert s.windows >= 20
    assert s.mean_px <= 0.05 and s.max_px <= 0.1
    # same kernel, same geometry: radiometric agreement to a fraction of a DN
    assert diff.mean() < 0.5
    assert rep.location_grids["ORTHO"]["max_error_px"] <= 0.01


def test_ortho_matches_otb(ventoux, gdal_pan, ref_grid, cfg, tmp_path):
    otb = tmp_path / "otb_pan.tif"
    run_tool([need("otbcli_OrthoRectification"), "-io.in", ventoux["pan"], "-io.out", otb, "uint16",
              "-map", "epsg", "-map.epsg.code", "32631", "-outputs.mode", "orthofit",
              "-outputs.ortho", gdal_pan, "-elev.dem", ventoux["dem_dir"], "-elev.geoid", ventoux["geoid"],
              "-interpolator", "bco", "-opt.gridspacing", "2"])
    ours, ov, _ = _our_ortho(ventoux, ref_grid, tmp_path / "o", cfg)
    with rasterio.open(otb) as ds:
        ref = ds.read(1).astype(np.float64)
        assert ds.transform.almost_equals(ref_grid.transform)
    s, diff = _compare(ours, ov, ref, ref > 0)
    print("vs OTB:", s, "mean |ΔDN|", diff.mean())
    assert s.windows >= 20
    assert s.mean_px <= 0.05 and s.max_px <= 0.1


def _ramp(shape):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    return np.stack([cols, rows])


def _our_positions(ventoux, ref_grid):
    """Source (col, row) of every pixel of ``ref_grid`` through our RPC + DEM + geoid grid."""
    from level1.dem import load_heights
    from ortho.grid_algo import build_location_grid
    from ortho.source import find_rpc
    rpc, _ = find_rpc(ventoux["pan"])
    lon, lat = ref_grid.lonlat(np.array([0, ref_grid.height]), np.array([0, ref_grid.width]))
    hs = load_heights(ventoux["hgt"], geoid=ventoux["geoid"],
                      bounds_lonlat=(lon.min(), lat.min(), lon.max(), lat.max()))
    lg = build_location_grid(rpc.project, ref_grid, hs)
    col, row, _, _ = lg.locate(0, 0, ref_grid.height, ref_grid.width, hs)
    return col, row


def test_positions_match_gdal_transformer_exactly(ventoux, ref_grid, cfg, tmp_path):
    """Every output pixel's source position vs GDAL's exact RPC+DEM+geoid transformer."""
    ramp_src = write_rpc_copy(ventoux["pan"], ventoux["pan_geom"], tmp_path / "ramp.tif", _ramp((500, 500)))
    ref = gdalwarp_rpc(ramp_src, tmp_path / "ramp_gdal.tif", ventoux, "bilinear",
                       ["-dstnodata", "-1", "-te", *map(str, ref_grid.bounds)])
    with rasterio.open(ref) as ds:
        gc, gr = ds.read().astype(np.float64)
    col, row = _our_positions(ventoux, ref_grid)
    inside = (gc >= 1) & (gr >= 1) & (gc <= 498) & (gr <= 498)
    e = np.hypot(col - gc, row - gr)[inside]
    print(f"positions vs GDAL: mean {e.mean():.5f} px, max {e.max():.5f} px over {e.size} pixels")
    assert e.size > 200000
    assert e.max() < 0.01


def test_positions_match_otb(ventoux, gdal_pan, ref_grid, tmp_path):
    """Same with OTB (its own displacement grid at 1 output pixel, linear interpolator)."""
    import rasterio
    with rasterio.open(ventoux["pan"]) as s:
        prof = s.profile
    prof.update(dtype="float32", count=2, driver="GTiff")
    prof.pop("blockysize", None)
    ramp = tmp_path / "ramp.tif"
    with rasterio.open(ramp, "w", **prof) as d:
        d.write(_ramp((500, 500)))
    shutil.copy(ventoux["pan_geom"], tmp_path / "ramp.geom")
    out = tmp_path / "ramp_otb.tif"
    run_tool([need("otbcli_OrthoRectification"), "-io.in", ramp, "-io.out", out, "double",
              "-map", "epsg", "-map.epsg.code", "32631", "-outputs.mode", "orthofit",
              "-outputs.ortho", gdal_pan, "-elev.dem", ventoux["dem_dir"], "-elev.geoid", ventoux["geoid"],
              "-interpolator", "linear", "-opt.gridspacing", "0.5", "-outputs.default", "-1"])
    with rasterio.open(out) as ds:
        oc, orr = ds.read()
    col, row = _our_positions(ventoux, ref_grid)
    inside = (oc >= 1) & (orr >= 1) & (oc <= 498) & (orr <= 498)
    e = np.hypot(col - oc, row - orr)[inside]
    print(f"positions vs OTB: mean {e.mean():.5f} px, max {e.max():.5f} px over {e.size} pixels")
    assert e.size > 200000
    assert e.mean() < 0.02 and e.max() < 0.05
