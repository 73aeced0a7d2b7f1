"""level1/cloud_algo.py: the VNIR spectral cloud test.

* one synthetic pixel per spectral class, TOA reflectance factors from the literature;
* each of the five tests, on its own, rejects a cloud-like spectrum that fails only it;
* the clear simulated SPOT-6 pass over Mont Ventoux (limestone scree above ≈ 1500 m, low
  November sun) comes out < 2 % cloud, and a simulated 40 % cloudy pass keeps its detection
  against the simulator's truth cloud mask (mapped through the product RPC).

The two passes are short (0.8 s, reduced profile; ≈ 15 s each to simulate, decode and process).
"""
from __future__ import annotations

import numpy as np
import pytest
import rasterio

from cloud_pass import cloud_pass

from level1 import cloud_algo as CA
from level1 import radiometry_algo as RA
from srd.errors import ProductError

# TOA reflectance factors (B0 blue, B1 green, B2 red, B3 NIR) per class. Surface spectra from the
# USGS splib07 / ASTER (JHU) spectral libraries resampled to the SPOT 6 bands, with the
# blue-weighted Rayleigh path reflectance of a clear mid-latitude atmosphere added (≈ +0.03
# blue, +0.015 green, +0.007 red); cloud tops from Landsat/SPOT TOA statistics (Irish 2000,
# ACCA; Zhu & Woodcock 2012).
SPECTRA = {
    "vegetation (meadow, crops)": ((0.065, 0.090, 0.055, 0.400), False),
    "forest (conifer)": ((0.055, 0.060, 0.035, 0.250), False),
    "water (clear lake)": ((0.075, 0.060, 0.035, 0.020), False),
    "turbid water": ((0.095, 0.100, 0.080, 0.050), False),
    "bright limestone / scree": ((0.330, 0.370, 0.410, 0.450), False),
    "white carbonate rock": ((0.420, 0.470, 0.510, 0.540), False),
    "bare soil (dry, bright)": ((0.150, 0.200, 0.260, 0.310), False),
    "sand / dune": ((0.250, 0.330, 0.420, 0.470), False),
    "urban (roofs + streets)": ((0.140, 0.150, 0.170, 0.220), False),
    "urban (concrete, bright roofs)": ((0.280, 0.310, 0.340, 0.370), False),
    "asphalt": ((0.100, 0.095, 0.095, 0.110), False),
    "thick cloud (stratocumulus)": ((0.750, 0.740, 0.730, 0.720), True),
    "thick cloud, low sun (> 1)": ((1.050, 1.040, 1.030, 1.000), True),
    "thin cloud over vegetation (30 % / 70 %)": ((0.270, 0.285, 0.260, 0.500), True),
    "thin cloud over soil (50 %)": ((0.450, 0.470, 0.490, 0.510), True),
    "thin cloud over water": ((0.300, 0.280, 0.260, 0.240), True),
}


def _px(values, shape=(3, 4)):
    return [np.full(shape, v, np.float32) for v in values]


@pytest.mark.parametrize("name", list(SPECTRA))
def test_spectral_classes(name):
    values, cloud = SPECTRA[name]
    m = CA.cloud_mask(*_px(values))
    assert m.dtype == bool and m.shape == (3, 4)
    assert bool(m.all()) is cloud and bool(m.any()) is cloud, (name, CA.spectral_indices(*_px(values, (1,))))


@pytest.mark.parametrize("values, failing", [
    ((0.190, 0.185, 0.180, 0.180), "brightness"),     # dim, flat, bluish: shadowed snow-free haze
    ((0.170, 0.260, 0.185, 0.200), "hot"),            # blue barely above half the red
    ((0.300, 0.050, 0.260, 0.300), "whiteness"),      # magenta: not flat
    ((0.300, 0.320, 0.340, 0.360), "red_blue"),       # reddened (ρR/ρB = 1.13)
    ((0.300, 0.300, 0.280, 0.900), "ndvi"),           # bright but vegetated
])
def test_each_test_alone_rejects(values, failing):
    """A spectrum failing exactly one of the five tests is not cloud."""
    x = {k: float(v[0]) for k, v in CA.spectral_indices(*_px(values, (1,))).items()}
    passes = {"brightness": x["brightness"] >= CA.BRIGHTNESS_MIN, "hot": x["hot"] > CA.HOT_MIN,
              "whiteness": x["whiteness"] < CA.WHITENESS_MAX, "red_blue": x["red_blue"] <= CA.RED_BLUE_MAX,
              "ndvi": x["ndvi"] < CA.NDVI_MAX}
    assert [k for k, ok in passes.items() if not ok] == [failing], x
    assert not CA.cloud_mask(*_px(values)).any()


def test_mixed_image_nan_and_errors():
    b, g, r, n = _px(SPECTRA["vegetation (meadow, crops)"][0], (5, 6))
    cloud = SPECTRA["thick cloud (stratocumulus)"][0]
    for a, v in zip((b, g, r, n), cloud):
        a[1:3, 2:4] = v
    g[2, 3] = np.nan                                   # no data in one band: never cloud
    m = CA.cloud_mask(b, g, r, n)
    assert m.sum() == 3 and m[1, 2] and m[1, 3] and m[2, 2] and not m[2, 3]
    assert CA.cloud_cover(m) == pytest.approx(100 * 3 / 30)
    valid = np.isfinite(g)
    assert CA.cloud_cover(m, valid) == pytest.approx(100 * 3 / 29)
    assert CA.cloud_cover(m, np.zeros_like(valid)) == 0.0
    with pytest.raises(ProductError, match="nir"):
        CA.cloud_mask(b, g, r, n[:4])
    with pytest.raises(ProductError, match="red.*not DN"):
        CA.cloud_mask(b, g, r * 1000, n)              # DN given instead of reflectance
    with pytest.raises(ProductError, match="valid"):
        CA.cloud_cover(m, valid[:2])


# ------------------------------------------------------------------ simulated passes

def test_clear_ventoux_pass_is_clear(tmp_path, cfg, shared_dir):
    """The clear demo pass (Mont Ventoux, sun zenith ≈ 68°): the bright limestone scree of the
    summit is in the scene, and the cloud cover is < 2 % (the previous 4-band whiteness test
    gave 13 % on the 2 s demo pass, all of it scree above 1500 m). The product's cloud bits are
    exactly :func:`cloud_algo.cloud_mask` of its own TOA reflectance bands."""
    s, d, msk, truth, valid, h = cloud_pass(tmp_path, cfg, shared_dir, clouds=0.0, seed=1, output="reflectance")
    assert not truth.any()
    with rasterio.open(d / s["ms"]["file"]) as ds:
        refl = ds.read().astype(np.float64)
        assert [ds.descriptions[i] for i in range(4)] == ["B0", "B1", "B2", "B3"]
    x = CA.spectral_indices(*refl)
    scree = valid & (h > 1500) & (x["brightness"] > 0.3)
    assert scree.mean() > 0.05                            # the hard case is really there
    assert s["sun_zenith_deg"] > 60
    ours = (msk & RA.CLOUD) != 0
    assert s["cloud_cover_pct"] < 2.0
    assert 100 * ours[valid].mean() == pytest.approx(s["cloud_cover_pct"], abs=1e-6)
    assert np.array_equal(ours, CA.cloud_mask(*refl))
    import xml.etree.ElementTree as ET
    dim = ET.parse(next(d.glob("DIM_*.XML"))).getroot()
    assert dim.find(".//CLOUD_METHOD").text == CA.METHOD
    assert float(dim.find(".//CLOUD_COVERAGE").text) == pytest.approx(s["cloud_cover_pct"], abs=0.005)


def test_cloudy_pass_detection(tmp_path, cfg, shared_dir):
    """40 % cloud asked of the simulator over the same area (seed 3): ≥ 95 % of the truth's
    cloud pixels are detected, ≥ 95 % pixel agreement, cover within ±5 points of the truth."""
    s, d, msk, truth, valid, h = cloud_pass(tmp_path, cfg, shared_dir, clouds=0.4, seed=3)
    ours = (msk & RA.CLOUD) != 0
    t = truth[valid]
    assert 10 < 100 * t.mean() < 70                      # the scene really is cloudy
    assert ours[valid][t].mean() >= 0.95                  # detection
    assert (ours == truth)[valid].mean() >= 0.95          # agreement
    assert s["cloud_cover_pct"] == pytest.approx(100 * t.mean(), abs=5)
    assert (ours[valid & ~truth & (h > 1500)]).mean() < 0.02   # no scree false positives
