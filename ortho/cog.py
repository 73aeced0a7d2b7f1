"""Product writers of the ortho stage (I/O edge): Cloud-Optimized GeoTIFFs, quicklook, thumbnail.

A product raster is streamed tile by tile into a tiled temporary GeoTIFF with an internal mask
(:class:`TiledSink`), then :func:`to_cog` rewrites it with GDAL's COG driver (tiles, internal
overviews computed with ``average``, the mask as an internal mask, DEFLATE + predictor) to a
temporary name that is renamed into place — an interrupted write leaves nothing that looks
finished. The validity mask is the product's nodata: no value is reserved in the data.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from srd.errors import StorageError

COG_BLOCK = 512


class TiledSink:
    """A temporary tiled GeoTIFF (+ internal mask) accepting blocks ``(bands + 1, ny, nx)``
    whose last plane is the validity (0 / 255)."""

    def __init__(self, path: str | Path, grid, nbands: int, dtype, band_names=None, tags=None):
        import rasterio
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
                self.ds = rasterio.open(self.path, "w", driver="GTiff", width=grid.width,
                                        height=grid.height, count=nbands, dtype=np.dtype(dtype).name,
                                        crs=grid.crs, transform=grid.transform, tiled=True,
                                        blockxsize=COG_BLOCK, blockysize=COG_BLOCK, BIGTIFF="IF_SAFER")
        except Exception as e:  # rasterio raises several types; name the file
            raise StorageError(f"cannot create GeoTIFF ({e})", path=self.path) from None
        if band_names:
            for i, n in enumerate(band_names, 1):
                self.ds.set_band_description(i, str(n))
        if tags:
            self.ds.update_tags(**{k: str(v) for k, v in tags.items()})
        self.nbands = nbands

    def write(self, y0: int, x0: int, block: np.ndarray) -> None:
        from rasterio.windows import Window
        ny, nx = block.shape[1:]
        w = Window(x0, y0, nx, ny)
        with self._lock:
            self.ds.write(block[:self.nbands], window=w)
            self.ds.write_mask(np.ascontiguousarray(block[self.nbands]).astype(np.uint8), window=w)

    def close(self) -> None:
        self.ds.close()


def to_cog(src: str | Path, dst: str | Path, *, compress: str = "DEFLATE",
           overview_resampling: str = "average") -> Path:
    """Rewrite ``src`` as a COG at ``dst`` (temp name, then rename); ``src`` is removed."""
    from rasterio.shutil import copy as rio_copy
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        import rasterio
        with rasterio.open(src) as s:
            pred = "2" if np.dtype(s.dtypes[0]).kind in "ui" else "3"
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True, GDAL_NUM_THREADS="ALL_CPUS"):
            rio_copy(src, tmp, driver="COG", COMPRESS=compress, PREDICTOR=pred,
                     BLOCKSIZE=str(COG_BLOCK), OVERVIEWS="IGNORE_EXISTING",
                     OVERVIEW_RESAMPLING=overview_resampling.upper(), BIGTIFF="IF_SAFER")
        tmp.replace(dst)
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write COG ({e})", path=dst) from None
    src.unlink(missing_ok=True)
    return dst


def stretch_rgb(rgb: np.ndarray, valid: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> np.ndarray:
    """(3, h, w) → uint8 (3, h, w): per-band linear stretch between the ``lo_pct`` and
    ``hi_pct`` percentiles of valid pixels; invalid pixels black."""
    out = np.zeros(rgb.shape, np.uint8)
    v = valid != 0
    if not v.any():
        return out
    for b in range(rgb.shape[0]):
        x = rgb[b].astype(np.float64)
        lo, hi = np.percentile(x[v], [lo_pct, hi_pct])
        s = np.clip((x - lo) / max(hi - lo, 1e-12) * 254.0 + 1.0, 1, 255)
        out[b] = np.where(v, s, 0).astype(np.uint8)
    return out


def write_quicklooks(cog: str | Path, out_dir: str | Path, stem: str, rgb_bands=(1, 2, 3), *,
                     quicklook_px: int = 1024, thumbnail_px: int = 256) -> dict[str, str]:
    """RGB quicklook (≤ ``quicklook_px`` on the long side) and thumbnail (≤ ``thumbnail_px``)
    PNGs of a product COG, read from its overviews; alpha from the mask. Returns file names."""
    import warnings

    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning
    out_dir = Path(out_dir)
    names = {}
    with rasterio.open(cog) as ds:
        bands = list(rgb_bands) if ds.count >= 3 else [1, 1, 1]
        for kind, px in (("quicklook", quicklook_px), ("thumbnail", thumbnail_px)):
            f = min(1.0, px / max(ds.width, ds.height))
            h, w = max(1, int(round(ds.height * f))), max(1, int(round(ds.width * f)))
            a = ds.read(bands, out_shape=(3, h, w), resampling=Resampling.average)
            m = ds.dataset_mask(out_shape=(h, w), resampling=Resampling.nearest)
            rgb = stretch_rgb(a, m)
            name = f"{stem}_{kind}.png"
            tmp = out_dir / f".{name}.tmp"
            with warnings.catch_warnings():     # a PNG carries no georeferencing, on purpose
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(tmp, "w", driver="PNG", width=w, height=h, count=4,
                                   dtype="uint8") as d:
                    d.write(rgb, [1, 2, 3])
                    d.write((m != 0).astype(np.uint8) * 255, 4)
            tmp.replace(out_dir / name)
            for aux in out_dir.glob(f".{name}.tmp*.aux.xml"):
                aux.unlink()
            names[kind] = name
    return names
