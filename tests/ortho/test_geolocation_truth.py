"""Ortho geolocation of a simulated pass against the simulator's truth, at full PAN resolution.

Issue 6, "done when": on simulated passes, ortho geolocation vs truth < 1 PAN pixel RMS.

Chain: ``telemetry.simulate.run`` (reduced SPOT-6 profile over Mont Ventoux, SRTM N44E005 +
EGM96 geoid, clean channel) → ``decode.run.run`` → ``level1.run.run`` → ``ortho.stage.run``.

Truth: the PAN ortho product's own grid (1.5 m, UTM) is rendered directly from the
simulator's deterministic scene model — for every output pixel centre (x, y in the product
CRS) → (lon, lat) (pyproj) → terrain height h above the WGS84 ellipsoid (the simulator's own
``Terrain``: same DEM + geoid) → ``Scene.reflectance("PAN", lon, lat, h)``, the function the
imager samples. The acquisition is rebuilt from the truth sidecar (``Truth.acquisition``) so
seed, texture and terrain are exactly the simulator's. Nothing from the image chain enters the
truth image.

Measurement: sub-pixel shifts (phase correlation + least-squares refinement,
``level1.quality_algo.windowed_shifts``) of the ortho PAN against the rendered truth in 64²
windows fully inside the product's valid mask; windows without 2-D texture (the simulator's
MTF blur and noise leave flat fields unmatchable) are skipped by the structure-tensor test of
``phase_shift``. Reported: number of windows, mean shift vector, RMS and max of |shift| in PAN
pixels; asserted RMS < 1 PAN px.

Slow: simulate + decode + level1 + ortho of a 1 s reduced datatake ≈ 25 s, truth rendering
≈ 6 s, ~1100 window matches ≈ 20 s (idle machine).
"""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

pytestmark = pytest.mark.slow

START = "2026-11-29T10:03:26Z"          # SPOT-6 demo pass over Mont Ventoux (SRTM tile N44E005)
WINDOW = 64                             # PAN px per correlation window (96 m)
# textured windows only: truth reflectance std > 0.005 over the window. Below that the
# simulator's noise (and MTF blur) dominates the procedural texture and a window measures
# noise against noise (the matcher rejects those by its peak ratio and post-alignment
# correlation); above it the windows match with correlation > 0.9 after alignment.
MIN_TEXTURE = 0.005


@pytest.fixture(scope="module")
def chain(tmp_path_factory, cfg, shared_dir):
    from decode.run import run as decode
    from level1.run import run as level1
    from ortho.stage import run as ortho
    from telemetry.simulate import run as simulate
    from telemetry.truth import Truth
    base = tmp_path_factory.mktemp("geotruth")
    dem = shared_dir / "data" / "dem" / "N44E005.hgt"
    geoid = shared_dir / "data" / "dem" / "egm96_15.gtx"
    srep = simulate(cfg, base / "landing", "SPOT-6", START, 1.0, "reduced", dem=dem, geoid=geoid, seed=1)
    drep = decode(base / "landing" / f"{srep.pass_id}.json", base / "l0", cfg)
    l1 = level1(drep.level0_dir, base / "l1", cfg, dem=dem, geoid=geoid)
    orep = ortho(base / "l1" / l1.pass_id, base / "ortho", cfg, dem=dem, geoid=geoid, pansharpen="none")
    truth = Truth(base / "landing" / f"{srep.pass_id}.truth")
    return {"ortho": orep, "truth": truth, "acq": truth.acquisition(cfg)}


def _render_truth(acq, crs, transform, width, height, rows=512):
    """Truth PAN reflectance at the centre of every pixel of the grid (crs, transform), float64.

    Rendered in row strips (bounded memory). The footprint passed to the scene model is the
    product's pixel size: it low-passes the procedural texture the way a 1.5 m sample would."""
    to_geo = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    px = abs(transform.a)
    out = np.empty((height, width), np.float64)
    cols = np.arange(width) + 0.5
    for r0 in range(0, height, rows):
        rr = np.arange(r0, min(height, r0 + rows)) + 0.5
        C, R = np.meshgrid(cols, rr)
        x = transform.c + transform.a * C + transform.b * R
        y = transform.f + transform.d * C + transform.e * R
        lon, lat = to_geo.transform(x, y)
        h = acq.terrain.height(lon, lat)
        out[r0:r0 + len(rr)] = acq.scene.reflectance("PAN", lon, lat, h, footprint_m=px)
    return out


def test_ortho_pan_geolocation_vs_rendered_truth_below_one_pixel_rms(chain):
    from level1.quality_algo import windowed_shifts
    sc = chain["ortho"].scenes[0]
    assert sc.resolution_m["PAN"] == 1.5
    with rasterio.open(f"{sc.product_dir}/{sc.products['PAN']}") as ds:
        ours = ds.read(1).astype(np.float64)
        valid = ds.dataset_mask() > 0
        crs, transform = ds.crs, ds.transform
    assert abs(transform.a) == 1.5 and abs(transform.e) == 1.5
    truth = _render_truth(chain["acq"], crs, transform, ours.shape[1], ours.shape[0])
    assert valid.mean() > 0.3, "the product should be mostly valid"
    # same ground, radiometrically: the correlation over the whole valid area is high
    # (a misplaced product of this texture would decorrelate within a few pixels)
    cc = np.corrcoef(ours[valid], truth[valid])[0, 1]
    s = windowed_shifts(truth, np.where(valid, ours, 0.0), valid, window=WINDOW, step=WINDOW,
                        min_std=MIN_TEXTURE)
    mag = s.rms_px
    print(f"\northo PAN vs rendered truth ({ours.shape[1]}x{ours.shape[0]} px, cc {cc:.3f}): "
          f"{s.windows} windows ({s.rejected} rejected), mean shift (dy, dx) = "
          f"({s.mean_dy:+.3f}, {s.mean_dx:+.3f}) px, median ({s.median_dy:+.3f}, {s.median_dx:+.3f}), "
          f"mean |d| {s.mean_px:.3f}, RMS {mag:.3f}, max {s.max_px:.3f} PAN px")
    assert cc > 0.8, cc
    assert s.windows >= 50, s
    # windows with texture but no 2-D structure (straight field edges) have no defined shift
    assert s.rejected <= 0.5 * (s.windows + s.rejected), s
    assert s.rms_px < 1.0, s
    # the systematic part is what the chain's geometry owns: much smaller than the window noise
    assert np.hypot(s.mean_dy, s.mean_dx) < 0.5, s


def test_rendered_truth_detects_a_known_shift(chain):
    """The measurement can fail: the same ortho product shifted by one PAN pixel (row) and
    half a pixel (column) is measured as such (±0.1 px) against the rendered truth."""
    from scipy.ndimage import shift as nd_shift

    from level1.quality_algo import windowed_shifts
    sc = chain["ortho"].scenes[0]
    with rasterio.open(f"{sc.product_dir}/{sc.products['PAN']}") as ds:
        win = rasterio.windows.Window(ds.width // 4, ds.height // 4, min(512, ds.width // 2),
                                      min(512, ds.height // 2))
        ours = ds.read(1, window=win).astype(np.float64)
        valid = ds.dataset_mask(window=win) > 0
        crs, transform = ds.crs, ds.window_transform(win)
    truth = _render_truth(chain["acq"], crs, transform, ours.shape[1], ours.shape[0])
    base = windowed_shifts(truth, np.where(valid, ours, 0.0), valid, window=WINDOW, step=WINDOW, min_std=MIN_TEXTURE)
    moved = nd_shift(np.where(valid, ours, 0.0), (1.0, 0.5), order=3, mode="nearest")
    v2 = valid & (nd_shift(valid.astype(float), (1.0, 0.5), order=0, mode="constant") > 0.5)
    s = windowed_shifts(truth, moved, v2, window=WINDOW, step=WINDOW, min_std=MIN_TEXTURE)
    assert s.windows >= 10
    assert abs(s.median_dy - base.median_dy - 1.0) < 0.1, (s, base)
    assert abs(s.median_dx - base.median_dx - 0.5) < 0.1, (s, base)
