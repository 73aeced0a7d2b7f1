"""Level-1 product writers (I/O edge): Cloud-Optimised GeoTIFFs in sensor geometry with RPCs
as GDAL RPC metadata, mask rasters, and the DIMAP-V2-inspired metadata document.

Naming (deterministic, DIMAP spirit)::

    <scene>/IMG_<SAT>_P_<YYYYMMDDhhmmssd>_SEN_<id>.TIF      PAN
    <scene>/IMG_<SAT>_MS_<YYYYMMDDhhmmssd>_SEN_<id>.TIF     MS (B0 blue, B1 green, B2 red, B3 NIR)
    <scene>/MSK_<SAT>_P_..._SEN_<id>.TIF / MSK_<SAT>_MS_...  uint8 flags (1 missing, 2 saturated,
                                                            4 cloud, 8 outside coverage)
    <scene>/DIM_<SAT>_PMS_<YYYYMMDDhhmmssd>_SEN_<id>.XML    metadata
    <scene>/RPC_<SAT>_P_..._SEN_<id>_RPC.TXT / RPC_..._MS_…  the RPCs as text (also in the TIFFs)
    <scene>/IMG_<SAT>_P_..._SEN_<id>.geom / IMG_..._MS_…     the RPCs for OTB (ossimRpcModel keywords)

``d`` is tenths of a second of the scene's first line (UTC).
"""
from __future__ import annotations

import datetime as dt
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from srd.errors import StorageError


def datetime_code(t: dt.datetime) -> str:
    """UTC datetime → ``YYYYMMDDhhmmssd`` (d = tenths of a second, truncated)."""
    return t.strftime("%Y%m%d%H%M%S") + str(t.microsecond // 100000)


def write_cog(path: Path, data, *, nodata, rpc=None, descriptions=None,
              tags: dict | None = None, band_tags: list[dict] | None = None,
              shape: tuple[int, int, int] | None = None, dtype=None, block_rows: int = 1024) -> Path:
    """Write a COG (DEFLATE, internal overviews, 512 blocks) with GDAL RPC metadata.

    ``data``: an array (bands, rows, cols), or a function ``rows(r0, r1) -> (bands, r1−r0,
    cols)`` with ``shape`` and ``dtype`` given — then the image is written ``block_rows`` at a
    time, so a scene larger than memory streams from memory-mapped strips. Written through a
    temporary tiled GTiff beside the target, converted, and renamed into place."""
    import warnings

    import rasterio
    import rasterio.shutil
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
    from rasterio.windows import Window
    path = Path(path)
    if callable(data):
        read = data
        b, h, w = shape
        dt = np.dtype(dtype)
    else:
        arr = data
        b, h, w = arr.shape
        dt = arr.dtype

        def read(r0, r1):
            return arr[:, r0:r1]
    tmp = path.with_name(f".{path.name}.src-{os.getpid()}.tif")
    tmp_cog = path.with_name(f".{path.name}.cog-{os.getpid()}.tif")
    prof = dict(driver="GTiff", width=w, height=h, count=b, dtype=dt.name, tiled=True,
                blockxsize=256, blockysize=256, nodata=nodata, BIGTIFF="IF_SAFER")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(tmp, "w", **prof) as ds:
                for r0 in range(0, h, block_rows):
                    r1 = min(h, r0 + block_rows)
                    blk = np.asarray(read(r0, r1), dtype=dt)
                    ds.write(blk, window=Window(0, r0, w, r1 - r0))
                if rpc is not None:
                    ds.rpcs = rpc.to_rasterio()
                if tags:
                    ds.update_tags(**{k: str(v) for k, v in tags.items()})
                for k in range(b):
                    if descriptions:
                        ds.set_band_description(k + 1, descriptions[k])
                    if band_tags:
                        ds.update_tags(k + 1, **{a: str(v) for a, v in band_tags[k].items()})
            rasterio.shutil.copy(tmp, tmp_cog, driver="COG", compress="DEFLATE",
                                 predictor=2 if dt.kind in "ui" else 3,
                                 overview_resampling="nearest" if dt == np.uint8 else "average",
                                 blocksize=512, BIGTIFF="IF_SAFER")
        os.replace(tmp_cog, path)
    except (RasterioIOError, OSError) as e:
        raise StorageError(f"cannot write COG ({e})", path=path) from None
    finally:
        for p in (tmp, tmp_cog):
            if p.exists():
                p.unlink()
    return path


def _sub(parent, tag, text=None, **attrs):
    e = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        e.text = str(text)
    return e


def write_dimap(path: Path, md: dict) -> Path:
    """Write the DIMAP-V2-inspired metadata document from the scene dictionary ``md``
    (keys documented in :func:`level1.run._scene_metadata`)."""
    root = ET.Element("Dimap_Document")
    mi = _sub(root, "Metadata_Identification")
    _sub(mi, "METADATA_FORMAT", "DIMAP", version="2.0")
    _sub(mi, "METADATA_PROFILE", f"{md['satellite']}_SENSOR")
    _sub(mi, "METADATA_SUBPROFILE", "PRODUCT")
    _sub(mi, "METADATA_LANGUAGE", "en")
    di = _sub(root, "Dataset_Identification")
    _sub(di, "DATASET_NAME", md["name"])
    _sub(di, "DATASET_ID", md["id"])
    _sub(di, "DATASET_QL_PATH", "")
    dc = _sub(root, "Dataset_Content")
    _sub(dc, "SURFACE_AREA", f"{md['area_km2']:.3f}", unit="square km")
    _sub(dc, "CLOUD_COVERAGE", f"{md['cloud_cover_pct']:.2f}", unit="percent")
    _sub(dc, "CLOUD_METHOD", md["cloud_method"])
    va = _sub(dc, "Dataset_Extent")
    for lon, lat in md["footprint"]:
        v = _sub(va, "Vertex")
        _sub(v, "LON", f"{lon:.8f}")
        _sub(v, "LAT", f"{lat:.8f}")
    c = _sub(va, "Center")
    _sub(c, "LON", f"{md['centre'][0]:.8f}")
    _sub(c, "LAT", f"{md['centre'][1]:.8f}")
    pi = _sub(root, "Product_Information")
    _sub(pi, "PRODUCT_TYPE", "SENSOR")
    _sub(pi, "PROCESSING_LEVEL", "SENSOR")
    _sub(pi, "SPECTRAL_PROCESSING", "PMS-bundle")
    _sub(pi, "PRODUCTION_DATE", md["production_date"])
    _sub(pi, "PASS_ID", md["pass_id"])
    _sub(pi, "DATATAKE_ID", md["datatake"])
    _sub(pi, "RADIOMETRIC_PROCESSING", md["radiometric_processing"])
    rd = _sub(root, "Raster_Data")
    for kind in ("P", "MS"):
        img = md["images"][kind]
        dd = _sub(rd, "Data_Access", kind=kind)
        _sub(dd, "DATA_FILE_PATH", href=img["file"])
        _sub(dd, "MASK_FILE_PATH", href=img["mask"])
        _sub(dd, "RPC_FILE_PATH", href=img["rpc_file"])
        dim = _sub(dd, "Raster_Dimensions")
        _sub(dim, "NROWS", img["rows"])
        _sub(dim, "NCOLS", img["cols"])
        _sub(dim, "NBANDS", len(img["bands"]))
        _sub(dd, "DATA_TYPE", img["dtype"])
        _sub(dd, "NODATA", img["nodata"])
        _sub(dd, "GSD", f"{img['gsd_m']:.3f}", unit="m")
        _sub(dd, "BAND_ORDER", " ".join(img["bands"]))
    rad = _sub(root, "Radiometric_Data")
    _sub(rad, "RADIOMETRIC_FORMULA", "L = DN / GAIN + BIAS (W.m-2.sr-1.um-1); "
         "reflectance = pi * L * d^2 / (E_SUN * cos(SUN_ZENITH))")
    for b in md["bands"]:
        e = _sub(rad, "Band_Radiance", band=b["name"])
        _sub(e, "GAIN", repr(b["gain"]))
        _sub(e, "BIAS", repr(b["bias"]))
        _sub(e, "SOLAR_IRRADIANCE", repr(b["solar_irradiance"]), unit="W.m-2.um-1")
        _sub(e, "CENTRE_WAVELENGTH", b["centre_nm"], unit="nm")
    _sub(rad, "SUN_EARTH_DISTANCE", f"{md['sun_distance_au']:.6f}", unit="AU")
    geo = _sub(root, "Geometric_Data")
    uc = _sub(geo, "Use_Area")
    for tag in ("TIME_FIRST_LINE", "TIME_CENTER", "TIME_LAST_LINE"):
        _sub(uc, tag, md[tag.lower()])
    _sub(uc, "INCIDENCE_ANGLE", f"{md['incidence_deg']:.4f}", unit="deg")
    _sub(uc, "VIEWING_AZIMUTH", f"{md['view_azimuth_deg']:.4f}", unit="deg")
    _sub(uc, "SUN_ZENITH", f"{md['sun_zenith_deg']:.4f}", unit="deg")
    _sub(uc, "SUN_ELEVATION", f"{90.0 - md['sun_zenith_deg']:.4f}", unit="deg")
    _sub(uc, "SUN_AZIMUTH", f"{md['sun_azimuth_deg']:.4f}", unit="deg")
    _sub(uc, "LINE_PERIOD", f"{md['line_period_s']:.9f}", unit="s")
    gm = _sub(geo, "Refined_Model")
    _sub(gm, "EPHEMERIS_METHOD", md["ephemeris_method"])
    _sub(gm, "EPHEMERIS_RESIDUAL", f"{md['ephemeris_residual_m']:.4f}", unit="m")
    _sub(gm, "ATTITUDE_METHOD", md["attitude_method"])
    _sub(gm, "ATTITUDE_RESIDUAL", f"{md['attitude_residual_urad']:.4f}", unit="urad")
    _sub(gm, "DEM", md["dem"])
    _sub(gm, "RPC_FIT_MAX_RESIDUAL", f"{md['rpc_check_max_px']:.6f}", unit="pixel")
    _sub(gm, "RPC_FIT_RMS_RESIDUAL", f"{md['rpc_check_rms_px']:.6f}", unit="pixel")
    qa = _sub(root, "Quality_Assessment")
    _sub(qa, "MISSING_PIXELS", f"{md['missing_pct']:.4f}", unit="percent")
    _sub(qa, "SATURATED_PIXELS", f"{md['saturated_pct']:.4f}", unit="percent")
    for b, s in md["misregistration"].items():
        e = _sub(qa, "Band_Misregistration", band=b)
        for k, v in s.items():
            _sub(e, k.upper(), "" if v is None else (f"{v:.4f}" if isinstance(v, float) else v))
    for b, s in md["striping"].items():
        e = _sub(qa, "Striping", band=b)
        for k, v in s.items():
            _sub(e, k.upper(), f"{v:.4f}")
    ET.indent(root)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    ET.ElementTree(root).write(tmp, encoding="UTF-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
