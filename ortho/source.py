"""Sensor-geometry input images and their RPCs (I/O edge of the ortho stage).

An input is any GDAL-readable raster whose geometry is an RPC00B model found, in order:

1. an explicit ``rpc=`` file (DIMAP ``RPC_*.XML``, OTB ``.geom``, ``_RPC.TXT``);
2. the raster's own GDAL RPC metadata (TIFF RPC tag, ``.RPB``, ``_RPC.TXT`` side files);
3. a side file next to it: ``<stem>.geom``, ``<stem>_RPC.TXT``, ``RPC_*.XML`` in the folder.

Crop convention (OTB / shareloc): a raster without a CRS whose geotransform is a pure pixel
translation (scale ±1, no rotation) is a crop of the image the side-file RPC describes, its
origin the crop offset — the RPC is shifted by that offset (``RPC.shifted``). GDAL RPC metadata
inside the raster always describe the raster itself and are never shifted.

Readers are picklable (path + parameters) so Dask workers of a distributed cluster can open
the file themselves; :class:`ArraySource` wraps in-memory numpy arrays for the threaded
scheduler and tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srd.errors import ProductError


def find_rpc(image: str | Path, rpc: str | Path | None = None):
    """The :class:`level1.rpc.RPC` of ``image`` (see module doc) and a note of where it came from."""
    from level1.rpc import from_gdal, read_rpc
    import rasterio
    from rasterio.errors import RasterioIOError
    image = Path(image)
    try:
        with rasterio.open(image) as ds:
            tags = ds.tags(ns="RPC")
            crs = ds.crs
            t = ds.transform
    except RasterioIOError as e:
        raise ProductError(f"cannot open image ({e})", path=image) from None
    side = None
    if rpc is not None:
        side = Path(rpc)
        model = read_rpc(side)
    elif tags:
        return from_gdal(tags, source=str(image)), f"GDAL RPC metadata of {image.name}"
    else:
        cands = [image.with_suffix(".geom"), image.with_name(image.stem + "_RPC.TXT"),
                 image.with_name(image.stem + "_rpc.txt")]
        cands += sorted(image.parent.glob("RPC_*.XML"))
        side = next((c for c in cands if c.is_file()), None)
        if side is None:
            raise ProductError("no RPC found: neither GDAL RPC metadata nor a .geom / _RPC.TXT "
                               "/ RPC_*.XML side file", path=image, field="RPC")
        model = read_rpc(side)
    note = f"{side.name}"
    if crs is None and abs(abs(t.a) - 1) < 1e-12 and abs(abs(t.e) - 1) < 1e-12 and t.b == 0 and t.d == 0 \
            and (t.c != 0 or t.f != 0):
        model = model.shifted(t.c, t.f)
        note += f" shifted by the crop offset ({t.c:g}, {t.f:g})"
    return model, note


@dataclass(frozen=True)
class FileSource:
    """A raster on disk read by windows; ``bands`` 1-based band list (None = all)."""

    path: str
    bands: tuple[int, ...] | None = None

    def info(self) -> tuple[int, int, int, np.dtype]:
        import rasterio
        with rasterio.open(self.path) as ds:
            n = len(self.bands) if self.bands else ds.count
            return n, ds.height, ds.width, np.dtype(ds.dtypes[(self.bands or (1,))[0] - 1])

    def read(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """(data (bands, r1−r0, c1−c0), valid uint8 (r1−r0, c1−c0)) of the window."""
        import rasterio
        from rasterio.windows import Window
        w = Window(c0, r0, c1 - c0, r1 - r0)
        with rasterio.open(self.path) as ds:
            data = ds.read(list(self.bands) if self.bands else None, window=w)
            mask = ds.dataset_mask(window=w)
        return data, (mask != 0).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class ArraySource:
    """In-memory image (bands, H, W) with an optional valid mask (H, W) (nonzero = valid)."""

    data: np.ndarray
    valid: np.ndarray | None = None

    def info(self) -> tuple[int, int, int, np.dtype]:
        b, h, w = self.data.shape
        return b, h, w, self.data.dtype

    def read(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        d = self.data[:, r0:r1, c0:c1]
        v = (np.ones(d.shape[1:], np.uint8) if self.valid is None
             else (self.valid[r0:r1, c0:c1] != 0).astype(np.uint8))
        return d, v
