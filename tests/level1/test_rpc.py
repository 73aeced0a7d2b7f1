"""level1/rpc.py: RPC00B read/evaluate/invert/write/fit, against GDAL and the real Pléiades RPC."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.transform import RPCTransformer

from level1 import rpc_kernels as K
from level1.rpc import RPC, fit_rpc, from_gdal, read_dimap, read_geom, read_rpc, read_rpc_txt
from srd.errors import GeometryError, ProductError

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

DIMAP = "RPC_PHR1B_P_201308051042194_SEN_690908101-001.XML"
CROP_PAN = (5000, 5000)          # ../shared/data/README.md: crop offsets in the full image


@pytest.fixture(scope="module")
def ventoux(shared_dir):
    return shared_dir / "data" / "pleiades_ventoux"


@pytest.fixture(scope="module")
def dimap(ventoux) -> RPC:
    return read_dimap(ventoux / DIMAP)


@pytest.fixture(scope="module")
def ground_pts(dimap):
    """Random ground points inside the DIMAP inverse-model validity domain, 200–1900 m."""
    rng = np.random.default_rng(5)
    n = 2000
    return (rng.uniform(*dimap.valid_lon, n), rng.uniform(*dimap.valid_lat, n),
            rng.uniform(200.0, 1900.0, n))


def _gdal_rowcol(rpc: RPC, lon, lat, h):
    """GDAL's RPC transformer (via rasterio), ground → GDAL pixel/line (corner convention)."""
    with RPCTransformer(rpc.to_rasterio()) as t:
        r, c = t.rowcol(lon, lat, h, op=lambda a: a)
    return np.asarray(c, float), np.asarray(r, float)


def test_dimap_and_geom_readers_agree(ventoux, dimap):
    g = read_geom(ventoux / "left_image.geom")          # the crop's OTB RPC, 0-based, full-image offsets
    # DIMAP is 1-based: our 0-based offsets must equal OSSIM's exactly, coefficients too.
    assert dimap.samp_off == pytest.approx(g.samp_off, abs=1e-9)
    assert dimap.line_off == pytest.approx(g.line_off, abs=1e-6)
    np.testing.assert_allclose(dimap.coef, g.coef, rtol=0, atol=1e-15)
    assert dimap.long_off == pytest.approx(5.284646559284846)
    assert dimap.valid_lat == pytest.approx((44.03623628656081, 44.23809570090814))


def test_projection_matches_gdal_transformer(dimap, ground_pts):
    lon, lat, h = ground_pts
    col, row = dimap.project(lon, lat, h)
    gc, gr = _gdal_rowcol(dimap, lon, lat, h)
    # GDAL pixel/line have the first pixel's corner at 0: ours (centre = 0) + 0.5.
    assert np.abs(gc - (col + 0.5)).max() < 1e-3
    assert np.abs(gr - (row + 0.5)).max() < 1e-3
    # sanity: the points really spread over the 39182 × 41801 image
    assert col.min() < 2000 and col.max() > 37000 and row.min() < 2000 and row.max() > 39000


def test_numba_kernel_and_py_func_match_numpy(dimap, ground_pts):
    lon, lat, h = (a[:300] for a in ground_pts)
    col, row = dimap.project(lon, lat, h)
    jc, jr = dimap.project(lon, lat, h, engine="numba")
    pc, pr = np.empty(300), np.empty(300)
    K.rpc_project.py_func(lon, lat, h, dimap.coef, dimap.norm, pc, pr)
    for a, b in ((col, jc), (row, jr), (col, pc), (row, pr)):
        assert np.abs(a - b).max() < 1e-8
    lo1, la1 = dimap.localise(col, row, h, engine="numba")
    lo2, la2 = dimap.localise(col, row, h, engine="python")
    np.testing.assert_allclose(lo1, lo2, atol=1e-12)
    np.testing.assert_allclose(la1, la2, atol=1e-12)


def test_localisation_inverts_projection_and_matches_dimap_direct_model(dimap, ground_pts):
    lon, lat, h = ground_pts
    col, row = dimap.project(lon, lat, h)
    lo, la = dimap.localise(col, row, h)
    assert np.abs(lo - lon).max() < 1e-10 and np.abs(la - lat).max() < 1e-10
    # The DIMAP direct model is an independent fit by the producer: agreement to its stated
    # accuracy (well under a 0.5 m pixel) shows our axes, order and 1-based shift are right.
    dl, dt = dimap.direct.localise(col, row, h)
    m_per_deg = 111_195.0
    assert np.abs(dl - lon).max() * m_per_deg * np.cos(np.radians(44.1)) < 0.05
    assert np.abs(dt - lat).max() * m_per_deg < 0.05


def test_localisation_nan_and_nonconvergence(dimap):
    lo, la = dimap.localise([np.nan, 100.0], [0.0, 100.0], [500.0, np.nan])
    assert np.isnan(lo).all() and np.isnan(la).all()
    with pytest.raises(GeometryError, match="did not converge"):
        dimap.localise([1e12], [1e12], [500.0], max_iter=3)


def test_crop_rpc_written_to_geotiff_is_read_by_gdal(tmp_path, ventoux, dimap, ground_pts):
    """Crop convention of the shared README: .geom offsets minus the crop offset. We write the
    crop RPC into a GeoTIFF and an _RPC.TXT; GDAL reads both and agrees with our projection."""
    crop = read_geom(ventoux / "left_image.geom").shifted(*CROP_PAN)
    tif = tmp_path / "crop.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=500, height=500, count=1, dtype="uint16") as ds:
        ds.rpcs = crop.to_rasterio()
        ds.write(np.zeros((1, 500, 500), np.uint16))
    back = read_rpc(tif)
    np.testing.assert_array_equal(back.coef, crop.coef)
    assert back.samp_off == crop.samp_off and back.line_off == crop.line_off
    txt = crop.write_rpc_txt(tmp_path / "crop_RPC.TXT")
    again = read_rpc_txt(txt)
    np.testing.assert_array_equal(again.norm, crop.norm)
    np.testing.assert_array_equal(again.coef, crop.coef)
    # crop RPC = full DIMAP RPC shifted by the crop offset, < 1e-4 px (README)
    lon, lat, h = ground_pts
    fc, fr = dimap.project(lon, lat, h)
    cc, cr = crop.project(lon, lat, h)
    assert np.abs((fc - CROP_PAN[0]) - cc).max() < 1e-4
    assert np.abs((fr - CROP_PAN[1]) - cr).max() < 1e-4


@pytest.mark.external
@pytest.mark.skipif(shutil.which("gdaltransform") is None, reason="gdal-bin not installed")
def test_gdaltransform_cli_on_our_geotiff(tmp_path, ventoux):
    """`gdaltransform -rpc` (GDAL's command line, outside Python) on a GeoTIFF we wrote:
    image → ground at a height with a tight iteration threshold, and ground → image."""
    crop = read_geom(ventoux / "left_image.geom").shifted(*CROP_PAN)
    tif = tmp_path / "crop.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=500, height=500, count=1, dtype="uint16") as ds:
        ds.rpcs = crop.to_rasterio()
        ds.write(np.zeros((1, 500, 500), np.uint16))
    rng = np.random.default_rng(2)
    pix = np.column_stack([rng.uniform(0, 500, 50), rng.uniform(0, 500, 50), rng.uniform(300, 1500, 50)])
    text = "\n".join(f"{a:.6f} {b:.6f} {c:.3f}" for a, b, c in pix)
    out = subprocess.run(["gdaltransform", "-rpc", "-to", "RPC_PIXEL_ERROR_THRESHOLD=1e-9",
                          "-output_xy", str(tif)], input=text, capture_output=True, text=True, check=True)
    lonlat = np.array([[float(v) for v in ln.split()] for ln in out.stdout.strip().splitlines()])
    col, row = crop.project(lonlat[:, 0], lonlat[:, 1], pix[:, 2])
    assert np.abs(col + 0.5 - pix[:, 0]).max() < 1e-3
    assert np.abs(row + 0.5 - pix[:, 1]).max() < 1e-3
    lo, la = crop.localise(pix[:, 0] - 0.5, pix[:, 1] - 0.5, pix[:, 2])
    assert np.abs(lo - lonlat[:, 0]).max() < 1e-8 and np.abs(la - lonlat[:, 1]).max() < 1e-8
    text = "\n".join(f"{a:.12f} {b:.12f} {c:.6f}" for a, b, c in zip(lonlat[:, 0], lonlat[:, 1], pix[:, 2]))
    out = subprocess.run(["gdaltransform", "-rpc", "-i", "-output_xy", str(tif)], input=text,
                         capture_output=True, text=True, check=True)
    pl = np.array([[float(v) for v in ln.split()] for ln in out.stdout.strip().splitlines()])
    assert np.abs(pl - pix[:, :2]).max() < 1e-3


def test_readers_reject_bad_input(tmp_path, dimap):
    md = dimap.to_gdal()
    del md["LAT_SCALE"]
    with pytest.raises(ProductError, match="LAT_SCALE"):
        from_gdal(md, source="x")
    md = dimap.to_gdal()
    md["LINE_NUM_COEFF"] = " ".join(md["LINE_NUM_COEFF"].split()[:19])
    with pytest.raises(ProductError, match="20 coefficients"):
        from_gdal(md)
    bad = tmp_path / "bad_RPC.TXT"
    bad.write_text("LINE_OFF: abc pixels\n")
    with pytest.raises(ProductError) as e:
        read_rpc_txt(bad)
    assert e.value.field == "LINE_OFF" and str(bad) in str(e.value)
    x = tmp_path / "x.XML"
    x.write_text("<Dimap_Document/>")
    with pytest.raises(ProductError, match="Global_RFM"):
        read_rpc(x)
    assert isinstance(e.value, ValueError)


def test_fit_reproduces_dimap_direct_model(dimap):
    """Fit an RPC to the producer's image → ground model (an independent rational function
    whose inverse is *not* an RPC00B): < 0.01 px on the independent check grid."""
    fitted, rep = fit_rpc(dimap.direct.localise, 39182, 41801, 200.0, 1900.0)
    assert rep.check_max_px < 0.01 and rep.fit_max_px < 0.01
    assert rep.check_points > 1000
    # and the fitted model projects like the producer's own inverse model, within ~its error
    rng = np.random.default_rng(9)
    c, r, h = rng.uniform(0, 39181, 500), rng.uniform(0, 41800, 500), rng.uniform(200, 1900, 500)
    lon, lat = dimap.direct.localise(c, r, h)
    fc, fr = fitted.project(lon, lat, h)
    assert np.abs(fc - c).max() < 0.01 and np.abs(fr - r).max() < 0.01
    dc, dr = dimap.project(lon, lat, h)
    assert np.abs(dc - fc).max() < 0.05 and np.abs(dr - fr).max() < 0.05


def test_fit_detects_bad_direct_function():
    with pytest.raises(GeometryError, match="direct location failed"):
        fit_rpc(lambda c, r, h: (np.full_like(c, np.nan), r), 100, 100, 0.0, 10.0)


def test_geom_writer_round_trip_and_otb_reads_it(tmp_path, ventoux):
    """Our .geom (ossimRpcModel) is read back by our reader and by OTB (0.5 m Pléiades pixels)."""
    crop = read_geom(ventoux / "left_image.geom").shifted(*CROP_PAN)
    g = crop.write_geom(tmp_path / "crop.geom")
    back = read_geom(g)
    np.testing.assert_array_equal(back.coef, crop.coef)
    np.testing.assert_array_equal(back.norm, crop.norm)
    if shutil.which("otbcli_ReadImageInfo") is None:
        return
    with rasterio.open(tmp_path / "crop.tif", "w", driver="GTiff", width=500, height=500, count=1,
                       dtype="uint16") as ds:
        ds.write(np.ones((1, 500, 500), np.uint16))
    out = subprocess.run(["otbcli_ReadImageInfo", "-in", str(tmp_path / "crop.tif")], capture_output=True,
                         text=True, check=True).stdout
    sx = float(out.split("estimatedgroundspacingx:")[1].split()[0])
    sy = float(out.split("estimatedgroundspacingy:")[1].split()[0])
    assert sx == pytest.approx(0.505, abs=0.01) and sy == pytest.approx(0.504, abs=0.01)


def test_rpb_written_by_gdal_is_read(tmp_path, ventoux):
    """GDAL writes an .RPB side file (GTiff creation option RPB=YES); our reader gets the same model."""
    crop = read_geom(ventoux / "left_image.geom").shifted(*CROP_PAN)
    tif = tmp_path / "rpb.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8", RPB="YES") as ds:
        ds.rpcs = crop.to_rasterio()
        ds.write(np.zeros((1, 10, 10), np.uint8))
    rpb = tmp_path / "rpb.RPB"
    assert rpb.exists()
    back = read_rpc(rpb)
    np.testing.assert_allclose(back.coef, crop.coef, rtol=1e-14, atol=0)
    np.testing.assert_allclose(back.norm, crop.norm, rtol=1e-14, atol=0)
    bad = tmp_path / "bad.RPB"
    bad.write_text("lineOffset = 1;\n")
    with pytest.raises(ProductError, match="SAMP_OFF|LAT_OFF|LONG_OFF|LINE_SCALE"):
        read_rpc(bad)
