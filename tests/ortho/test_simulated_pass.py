"""End to end on a simulated pass: simulate → decode → level1 → ortho, geolocation vs truth.

The truth is the simulator's own TOA-reflectance rendering of the scene on a geographic grid
(``<pass>.truth/reflectance/PAN.tif``, ~14.6 m pixels), made from its scene model — not from
the image chain. Our PAN ortho is area-averaged onto that grid and matched window by window;
the mean offset over the windows is the geolocation error of the whole chain (decoder
timing, level1 sensor model and RPC, ortho). Its precision at this truth resolution is
≈ 0.2 PAN px (per-window noise ≈ 2 PAN px / √windows), enough to assert < 0.5 PAN px.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject
from scipy.ndimage import binary_erosion

from ortho import quality_algo as Q
from ortho.stage import run
from srd.cli import main

pytestmark = pytest.mark.slow


def test_simulated_pass_geolocation_vs_truth(ventoux, cfg, tmp_path, capsys):
    dem, geoid = str(ventoux["hgt"]), str(ventoux["geoid"])
    assert main(["simulate", "--satellite", "SPOT-6", "--start", "2026-11-29T10:03:26Z", "--duration", "2s",
                 "--profile", "reduced", "--dem", dem, "--geoid", geoid, "--seed", "1",
                 "--out", str(tmp_path / "landing"), "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    pass_id = sim["pass_id"]
    assert main(["decode", str(tmp_path / "landing" / f"{pass_id}.json"), "--out", str(tmp_path / "l0"),
                 "--json", "--quiet"]) == 0
    capsys.readouterr()
    rc = main(["level1", str(tmp_path / "l0" / pass_id), "--out", str(tmp_path / "l1"), "--dem", dem,
               "--geoid", geoid, "--json", "--quiet"])
    assert rc in (0, 10)
    capsys.readouterr()
    rep = run(tmp_path / "l1" / pass_id, tmp_path / "ortho", cfg, dem=dem, geoid=geoid)
    assert rep.pass_id == pass_id and len(rep.scenes) >= 1
    sc = rep.scenes[0]
    assert {"PAN", "MS", "PMS", "quicklook", "thumbnail"} <= set(sc.products)
    assert sc.location_grids["PAN"]["max_error_px"] <= 0.01 and sc.resolution_m["PAN"] == 1.5
    truth = tmp_path / "landing" / f"{pass_id}.truth" / "reflectance" / "PAN.tif"
    with rasterio.open(truth) as t, rasterio.open(f"{sc.product_dir}/{sc.products['PAN']}") as p:
        ref = t.read(1).astype(np.float64)
        src = p.read(1).astype(np.float64)
        src[p.dataset_mask() == 0] = np.nan
        ours = np.full(ref.shape, np.nan)
        reproject(src, ours, src_transform=p.transform, src_crs=p.crs, dst_transform=t.transform,
                  dst_crs=t.crs, resampling=Resampling.average, src_nodata=np.nan, dst_nodata=np.nan)
        truth_px_m = abs(t.transform.a) * 111320 * np.cos(np.radians(44.3)), abs(t.transform.e) * 111320
    v = binary_erosion(np.isfinite(ours) & np.isfinite(ref), iterations=3)
    assert np.corrcoef(ours[v], ref[v])[0, 1] > 0.5          # the same scene, radiometrically
    s = Q.windowed_shifts(ref, np.where(v, ours, 0.0), v, window=32, step=16)
    dy_m, dx_m = s.median_dy * truth_px_m[1], s.median_dx * truth_px_m[0]
    err_px = np.hypot(dy_m, dx_m) / 1.5
    print(f"ortho vs truth: {s.windows} windows, median offset ({dy_m:.2f}, {dx_m:.2f}) m = {err_px:.2f} PAN px "
          f"(± {np.hypot(s.se_dy * truth_px_m[1], s.se_dx * truth_px_m[0]) / 1.5:.2f})")
    assert s.windows >= 30
    assert err_px < 0.5
