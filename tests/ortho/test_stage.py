"""The ortho stage end to end (ortho/stage.py, ortho/tiling.py, ortho/cog.py, srd ortho)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio

from ortho.stage import run
from srd.cli import main
from srd.errors import ProductError, StorageError


@pytest.fixture(scope="module")
def full(ventoux, cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    rep = run(ventoux["pan"], out, cfg, ms=ventoux["ms"], dem=ventoux["hgt"], geoid=ventoux["geoid"],
              tile=256)
    return rep, out / "left_image"


def _read(p):
    with rasterio.open(p) as ds:
        return ds.read(), ds.dataset_mask()


def test_products_are_valid_cogs_with_masks_and_overviews(full):
    rep, d = full
    assert set(rep.products) == {"PAN", "MS", "PMS", "quicklook", "thumbnail"}
    assert sorted(p.name for p in d.parent.iterdir()) == ["left_image"]       # no temp left
    for kind in ("PAN", "MS", "PMS"):
        with rasterio.open(d / rep.products[kind]) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ds.compression.name.upper() == "DEFLATE"
            assert ds.block_shapes[0] == (512, 512)
            assert ds.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
            assert ds.crs.to_epsg() == 32631
            if max(ds.width, ds.height) > 512:
                assert ds.overviews(1)
            m = ds.dataset_mask()
            assert 0.5 < (m > 0).mean() <= 1.0
            if kind != "MS":                 # the MS crop is larger than the PAN footprint
                assert (m > 0).mean() < 1.0  # rotated footprint: masked corners
    with rasterio.open(d / rep.products["PAN"]) as p, rasterio.open(d / rep.products["MS"]) as m, \
            rasterio.open(d / rep.products["PMS"]) as f:
        assert p.dtypes[0] == "uint16" and m.dtypes[0] == "float32" and f.count == 4
        assert f.transform == p.transform and m.transform.a == 4 * p.transform.a
        assert (m.transform.c, m.transform.f) == (p.transform.c, p.transform.f)
    for kind, lim in (("quicklook", 1024), ("thumbnail", 256)):
        with rasterio.open(d / rep.products[kind]) as q:
            assert q.count == 4 and max(q.width, q.height) <= lim and q.read(4).any()
    saved = json.loads((d / "ortho_report.json").read_text())
    assert saved == json.loads(json.dumps(rep.to_dict(), default=str))
    assert rep.location_grids["PAN"]["max_error_px"] <= 0.01
    assert rep.coregistration["after_correction_mean_px"] < rep.coregistration["mean_px"]
    assert rep.fallback_height_pixels == 0


def test_pansharpened_product_is_sharper_than_ms_and_consistent(full):
    rep, d = full
    (pan,), pm = _read(d / rep.products["PAN"])
    pms, fm = _read(d / rep.products["PMS"])
    from ortho import quality_algo as Q
    from scipy.ndimage import binary_erosion, laplace
    v = binary_erosion((pm > 0) & (fm > 0), iterations=8)
    # every PMS band carries the PAN's high frequencies, and is registered to it
    for k in range(4):
        c = np.corrcoef(laplace(pms[k].astype(float))[v], laplace(pan.astype(float))[v])[0, 1]
        assert c > 0.95, k
    inten = pms.astype(float).mean(0)
    s = Q.windowed_shifts(pan.astype(float), inten, v, window=64)
    assert s.mean_px < 0.1


def test_tiling_does_not_change_the_result(ventoux, cfg, tmp_path, full):
    rep_big, d_big = full
    rep = run(ventoux["pan"], tmp_path, cfg, ms=ventoux["ms"], dem=ventoux["hgt"], geoid=ventoux["geoid"],
              tile=64, workers=2)
    d = tmp_path / "left_image"
    assert rep.tiles > rep_big.tiles
    a, am = _read(d / rep.products["PAN"])
    b, bm = _read(d_big / rep_big.products["PAN"])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(am, bm)
    a, _ = _read(d / rep.products["PMS"])
    b, _ = _read(d_big / rep_big.products["PMS"])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)


def test_lazy_xarray_tiles_compute_only_what_is_asked(ventoux, full):
    """ortho_dask is lazy: a window via xarray computes only its blocks and equals the product."""
    from level1.dem import load_heights
    from ortho.grid_algo import OutputGrid, build_location_grid
    from ortho.source import FileSource, find_rpc
    from ortho.tiling import TileStats, ortho_dask
    rep, d = full
    with rasterio.open(d / rep.products["PAN"]) as ds:
        grid = OutputGrid(ds.crs, ds.transform, ds.width, ds.height)
        ref = ds.read(1)
    rpc, _ = find_rpc(ventoux["pan"])
    hs = load_heights(ventoux["hgt"], geoid=ventoux["geoid"], bounds_lonlat=(5.18, 44.19, 5.21, 44.22))
    lg = build_location_grid(rpc.project, grid, hs)
    stats = TileStats()
    xa = ortho_dask(FileSource(str(ventoux["pan"])), grid, lg, hs, "cubic", np.uint16, 128, stats)
    assert xa.dims == ("band", "y", "x") and list(xa.band.values) == ["b1", "valid"]
    win = xa.isel(y=slice(130, 250), x=slice(100, 200)).sel(band="b1").values
    assert stats.tiles == 2                                   # 1 row of blocks × 2 columns
    # same geometry up to the grid's 0.01 px bound (the run() DEM crop, hence layers, differ)
    diff = np.abs(win.astype(int) - ref[130:250, 100:200].astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.2
    assert float(xa.x[0]) == grid.transform.c + 0.25


def test_dimap_rpc_gives_the_same_ortho(ventoux, cfg, tmp_path):
    """The full-image DIMAP RPC (shifted by the crop offset) vs the crop's .geom."""
    kw = dict(height=900.0, pansharpen="none", resolution=0.5, crs="EPSG:32631",
              bounds=(675300.0, 4897100.0, 675400.0, 4897200.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r1 = run(ventoux["pan"], tmp_path / "a", cfg, **kw)
        r2 = run(ventoux["pan"], tmp_path / "b", cfg, rpc=ventoux["dimap"], **kw)
    assert "RPC_PHR1B" in r2.rpc["ORTHO"] and "shifted" in r2.rpc["ORTHO"]
    a, _ = _read(tmp_path / "a" / "left_image" / r1.products["ORTHO"])
    b, _ = _read(tmp_path / "b" / "left_image" / r2.products["ORTHO"])
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2      # < 1e-3 px apart


def test_rerun_replaces_and_failure_leaves_nothing(ventoux, cfg, tmp_path, monkeypatch):
    kw = dict(height=900.0, pansharpen="none", resolution=2.0)
    run(ventoux["pan"], tmp_path, cfg, **kw)
    run(ventoux["pan"], tmp_path, cfg, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["left_image"]
    from ortho import cog

    def boom(*a, **k):
        raise StorageError("disk full", path="x")
    monkeypatch.setattr(cog, "to_cog", boom)
    with pytest.raises(StorageError):
        run(ventoux["pan"], tmp_path / "new", cfg, **kw)
    assert list((tmp_path / "new").iterdir()) == []


def test_image_without_rpc_is_a_product_error(tmp_path, cfg):
    p = tmp_path / "plain.tif"
    with rasterio.open(p, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16") as d:
        d.write(np.ones((1, 8, 8), np.uint16))
    with pytest.raises(ProductError, match="no RPC") as e:
        run(p, tmp_path / "o", cfg)
    assert str(p) in str(e.value)


def test_cli_json_and_exit_codes(ventoux, tmp_path, capsys):
    rc = main(["ortho", str(ventoux["pan"]), "--out", str(tmp_path), "--height", "900",
               "--resolution", "2", "--resampling", "lanczos", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["resampling"] == "lanczos" and out["resolution_m"] == {"ORTHO": 2.0}
    assert out["products"]["ORTHO"] == "left_image_ORTHO.tif" and out["heights"] == "constant 900.0 m"
    assert main(["ortho", str(tmp_path / "missing.tif"), "--out", str(tmp_path), "--json"]) == 7
    assert json.loads(capsys.readouterr().out)["error"] == "ProductError"
    with pytest.raises(SystemExit) as e:
        main(["ortho", str(ventoux["pan"]), "--out", str(tmp_path), "--resampling", "spline"])
    assert e.value.code == 2


def test_cli_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["ortho", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--pansharpen" in text and "--dem" in text


@pytest.mark.slow
def test_distributed_cluster_gives_the_same_product(ventoux, cfg, tmp_path, full):
    from distributed import Client, LocalCluster
    rep_local, d_local = full
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as client:
        rep = run(ventoux["pan"], tmp_path, cfg, ms=ventoux["ms"], dem=ventoux["hgt"],
                  geoid=ventoux["geoid"], tile=256, client=client)
    assert rep.scheduler.startswith("distributed") and rep.fallback_height_pixels is None
    for kind in ("PAN", "PMS"):
        a, _ = _read(tmp_path / "left_image" / rep.products[kind])
        b, _ = _read(d_local / rep_local.products[kind])
        np.testing.assert_array_equal(a, b)
