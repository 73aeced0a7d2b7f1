"""Pansharpening (ortho/pansharpen_algo.py): algebra, tiling, and Wald's protocol on the real
Pléiades PAN+MS crop against gdal_pansharpen.py and OTB BundleToPerfectSensor."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy.ndimage import gaussian_filter

from ortho import pansharpen_algo as PS
from ortho import quality_algo as Q
from ortho_refs import need, run_tool


def _synthetic(n=96, seed=4):
    """Four correlated bands (a common scene texture + a weaker band-specific one), as real MS."""
    rng = np.random.default_rng(seed)
    common = gaussian_filter(rng.normal(size=(n, n)), 1.5)
    return np.stack([(0.8 + 0.1 * k) * common * 80 + gaussian_filter(rng.normal(size=(n, n)), 1.5) * 15
                     + 400 + 50 * k for k in range(4)])


def test_decimate_upsample_geometry_reproduces_a_ramp():
    """MS pixel i is centred on PAN coordinate 4i + 1.5: a linear ramp survives the round trip."""
    rows, cols = np.mgrid[0:64, 0:64].astype(np.float64)
    ramp = 2.0 * cols + 5.0 * rows
    low = PS.decimate(ramp, 4)
    i = np.arange(16)
    np.testing.assert_allclose(low[0], 2.0 * (4 * i + 1.5) + 5.0 * 1.5)
    up = PS.upsample(low, 4, (64, 64))
    np.testing.assert_allclose(up[8:-8, 8:-8], ramp[8:-8, 8:-8], atol=1e-9)   # all 4 cubic taps inside


def test_mtf_sigma_gives_the_nyquist_gain():
    s = PS.mtf_sigma(0.3, 4)
    f = 1.0 / 8.0                                  # Nyquist of the 4× coarser grid, cycles/px
    assert np.exp(-2 * np.pi ** 2 * s ** 2 * f ** 2) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        PS.mtf_sigma(1.2, 4)


def test_gsa_recovers_the_spectral_weights_of_a_synthetic_pan():
    hr = _synthetic()
    w_true = np.array([0.1, 0.2, 0.3, 0.4])
    pan = np.tensordot(w_true, hr, axes=1)
    ms_up = PS.upsample(PS.degrade(hr, 4, 0.3), 4, pan.shape)
    p = PS.estimate("gsa", pan, ms_up, 4, mtf_pan=0.3)
    np.testing.assert_allclose(p.weights, w_true, atol=0.03)
    fused = PS.apply(p, pan, ms_up)
    assert Q.ergas(hr, fused, 4) < 0.6 * Q.ergas(hr, ms_up, 4)


@pytest.mark.parametrize("method", PS.METHODS)
def test_tiles_with_halo_equal_the_whole_image(method):
    hr = _synthetic(128)
    pan = hr.mean(0) * 1.1
    ms_up = PS.upsample(PS.degrade(hr, 4, 0.3), 4, pan.shape)
    p = PS.estimate(method, pan, ms_up, 4)
    whole = PS.apply(p, np.pad(pan, 40, mode="symmetric"),
                     np.pad(ms_up, ((0, 0), (40, 40), (40, 40)), mode="symmetric"), 40)
    m = PS.halo(4, p.mtf_ms) if method == "mtf-glp-hpm" else 0
    y0, x0, n = 32, 64, 32                     # an interior tile, origin on the MS lattice
    t = PS.apply(p, pan[y0 - m:y0 + n + m, x0 - m:x0 + n + m], ms_up[:, y0 - m:y0 + n + m, x0 - m:x0 + n + m], m)
    np.testing.assert_allclose(t, whole[:, y0:y0 + n, x0:x0 + n], rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------- Wald's protocol

@pytest.fixture(scope="module")
def ortho_pair(ventoux, cfg, tmp_path_factory):
    """Our PAN (0.5 m) and MS (2 m) orthos of the crop, central fully valid window."""
    from ortho.stage import run
    out = tmp_path_factory.mktemp("pair")
    rep = run(ventoux["pan"], out, cfg, ms=ventoux["ms"], dem=ventoux["hgt"], geoid=ventoux["geoid"],
              pansharpen="none")
    d = out / "left_image"
    with rasterio.open(d / rep.products["PAN"]) as a, rasterio.open(d / rep.products["MS"]) as b:
        pan, pv, pt = a.read(1).astype(np.float64), a.dataset_mask() > 0, a.transform
        ms, mv, crs = b.read().astype(np.float64), b.dataset_mask() > 0, b.crs
    n = 384
    y0 = (pan.shape[0] - n) // 2 // 16 * 16
    x0 = (pan.shape[1] - n) // 2 // 16 * 16
    pan, pv = pan[y0:y0 + n, x0:x0 + n], pv[y0:y0 + n, x0:x0 + n]
    ms, mv = ms[:, y0 // 4:(y0 + n) // 4, x0 // 4:(x0 + n) // 4], mv[y0 // 4:(y0 + n) // 4, x0 // 4:(x0 + n) // 4]
    assert pv.all() and mv.all()
    origin = Affine(0.5, 0, pt.c + x0 * 0.5, 0, -0.5, pt.f - y0 * 0.5)
    return pan, ms, origin, crs


def _write(path, a, transform, crs):
    a = a if a.ndim == 3 else a[None]
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[2], height=a.shape[1], count=a.shape[0],
                       dtype="float32", crs=crs, transform=transform) as d:
        d.write(a.astype(np.float32))
    return path


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read().astype(np.float64)


@pytest.mark.external
def test_wald_protocol_default_beats_gdal_and_otb(ortho_pair, tmp_path):
    pan, ms, t, crs = ortho_pair
    # reduced resolution (Wald 2002): PAN 2 m, MS 8 m; the 2 m MS is the reference
    pan_r = PS.degrade(pan, 4, PS.GENERIC_MTF_PAN)
    ms_r = PS.degrade(ms, 4, PS.GENERIC_MTF_MS)
    tr = Affine(2.0, 0, t.c, 0, -2.0, t.f)
    p_pan = _write(tmp_path / "pan_r.tif", pan_r, tr, crs)
    p_ms = _write(tmp_path / "ms_r.tif", ms_r, Affine(8.0, 0, t.c, 0, -8.0, t.f), crs)
    results = {}
    ms_up = PS.upsample(ms_r, 4, pan_r.shape)
    for m in PS.METHODS:
        results[f"srd {m}"] = PS.pansharpen(m, pan_r, ms_up, 4)
    results["srd brovey (equal w)"] = PS.pansharpen("brovey", pan_r, ms_up, 4, weights=np.full(4, 0.25))
    run_tool([need("gdal_pansharpen.py"), "-q", "-of", "GTiff", "-r", "cubic", p_pan, p_ms, tmp_path / "gdal.tif"])
    results["gdal_pansharpen"] = _read(tmp_path / "gdal.tif")
    for m in ("rcs", "lmvm", "bayes"):
        run_tool([need("otbcli_BundleToPerfectSensor"), "-inp", p_pan, "-inxs", p_ms, "-out",
                  tmp_path / f"otb_{m}.tif", "float", "-method", m])
        results[f"otb {m}"] = _read(tmp_path / f"otb_{m}.tif")
    scores = {k: (Q.ergas(ms, f, 4), Q.sam(ms, f), Q.q4(ms, f)) for k, f in results.items()}
    for k, (e, s, q) in scores.items():
        print(f"{k:22s} ERGAS {e:6.3f}  SAM {s:6.3f}°  Q4 {q:.4f}")
    # our Brovey with GDAL's (equal) weights is GDAL's algorithm: same numbers
    assert scores["srd brovey (equal w)"][0] == pytest.approx(scores["gdal_pansharpen"][0], rel=0.02)
    ours = scores["srd mtf-glp-hpm"]
    for ref in ("gdal_pansharpen", "otb rcs", "otb lmvm", "otb bayes"):
        assert ours[0] < scores[ref][0] and ours[2] > scores[ref][2], ref


@pytest.mark.external
def test_qnr_full_resolution_side_by_side(ortho_pair, tmp_path):
    pan, ms, t, crs = ortho_pair
    p_pan = _write(tmp_path / "pan.tif", pan, t, crs)
    p_ms = _write(tmp_path / "ms.tif", ms, Affine(2.0, 0, t.c, 0, -2.0, t.f), crs)
    ms_up = PS.upsample(ms, 4, pan.shape)
    pan_lr = PS.degrade(pan, 4, PS.GENERIC_MTF_PAN)
    fused = {"srd mtf-glp-hpm": PS.pansharpen("mtf-glp-hpm", pan, ms_up, 4)}
    run_tool([need("gdal_pansharpen.py"), "-q", "-of", "GTiff", "-r", "cubic", p_pan, p_ms, tmp_path / "g.tif"])
    fused["gdal_pansharpen"] = _read(tmp_path / "g.tif")
    run_tool([need("otbcli_BundleToPerfectSensor"), "-inp", p_pan, "-inxs", p_ms, "-out", tmp_path / "o.tif", "float"])
    fused["otb rcs"] = _read(tmp_path / "o.tif")
    q = {k: Q.qnr(f, ms, pan, pan_lr) for k, f in fused.items()}
    for k, v in q.items():
        print(f"{k:18s} D_lambda {v['D_lambda']:.4f}  D_s {v['D_s']:.4f}  QNR {v['QNR']:.4f}")
    for v in q.values():
        assert 0.0 <= v["D_lambda"] < 1 and 0.0 <= v["D_s"] < 1
    assert q["srd mtf-glp-hpm"]["D_lambda"] < q["gdal_pansharpen"]["D_lambda"]


def test_tiled_file_fusion_equals_whole_image(tmp_path):
    """ortho.fusion.pansharpen_files (Dask tiles, windows read with halos) vs whole arrays."""
    from ortho.fusion import pansharpen_files
    hr = _synthetic(256, seed=9)
    pan = np.tensordot([0.2, 0.3, 0.3, 0.2], hr, axes=1)
    ms = PS.degrade(hr, 4, 0.3)
    t = Affine(0.5, 0, 600000.0, 0, -0.5, 5000000.0)
    p = _write(tmp_path / "pan.tif", pan, t, "EPSG:32631")
    m = _write(tmp_path / "ms.tif", ms, Affine(2.0, 0, 600000.0, 0, -2.0, 5000000.0), "EPSG:32631")
    whole = PS.pansharpen("mtf-glp-hpm", pan, PS.upsample(ms, 4, pan.shape), 4)
    pansharpen_files(p, m, tmp_path / "pms.tif", tile=64, workers=2)
    got = _read(tmp_path / "pms.tif")
    assert got.shape == whole.shape
    inner = (slice(None), slice(24, -24), slice(24, -24))     # away from the image border
    np.testing.assert_allclose(got[inner], whole[inner], rtol=1e-5)
    from srd.errors import ProductError
    bad = _write(tmp_path / "ms_bad.tif", ms, Affine(2.0, 0, 600001.0, 0, -2.0, 5000000.0), "EPSG:32631")
    with pytest.raises(ProductError, match="nest"):
        pansharpen_files(p, bad, tmp_path / "x.tif")


@pytest.mark.parametrize("fn", ["jit", "py"])
def test_hpm_combine_kernel(fn):
    from ortho import pansharpen_kernels as PK
    k = PK.hpm_combine if fn == "jit" else PK.hpm_combine.py_func
    rng = np.random.default_rng(5)
    ms, pan, low = (rng.uniform(100, 200, (6, 7)) for _ in range(3))
    low[0, 0] = -1e6                 # non-positive low-pass: falls back to the MS value
    low[1, 1] = np.nan
    out = np.empty((6, 7))
    k(ms, pan, low, 0.5, 3.0, out)
    exp = ms * (0.5 * pan + 3.0) / (0.5 * low + 3.0)
    exp[0, 0], exp[1, 1] = ms[0, 0], ms[1, 1]
    np.testing.assert_allclose(out, exp, rtol=1e-12)


@pytest.mark.parametrize("fn", ["jit", "py"])
def test_polyphase_kernel_equals_the_numpy_statement(fn, monkeypatch):
    from ortho import pansharpen_kernels as PK
    if fn == "py":
        monkeypatch.setattr(PK, "upsample_polyphase", PK.upsample_polyphase.py_func)
    a = np.random.default_rng(6).normal(size=(2, 9, 7))
    got = PS.upsample(a, 4, (37, 29))
    ref = PS._upsample_axis(np.swapaxes(PS._upsample_axis(a, 4, 29), -1, -2), 4, 37).swapaxes(-1, -2)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
