"""Pansharpening of co-gridded map rasters (I/O edge): PAN GeoTIFF + MS GeoTIFF → PMS GeoTIFF.

For PAN and MS that are already on one map grid family (the MS pixel ``ratio`` times the PAN
pixel, same corner — what :func:`ortho.stage.run` writes, or any ortho pair such as delivered
ortho products), tile by tile with Dask: each tile reads its PAN window with the MTF-GLP halo
and the MS window it needs, interpolates the MS onto the PAN grid (Keys cubic,
:func:`ortho.pansharpen_algo.upsample`), fuses with parameters estimated once on a central
window (:func:`ortho.pansharpen_algo.estimate`) and is written as it completes.
"""
from __future__ import annotations

import math
import uuid
from pathlib import Path

import numpy as np

from srd.errors import ProductError


def _window(path, y0, x0, ny, nx, bands=None):
    """Window (bands, ny, nx) float64 with mirrored borders outside the raster."""
    import rasterio
    from rasterio.windows import Window
    with rasterio.open(path) as ds:
        H, W = ds.height, ds.width
        ya, yb, xa, xb = max(0, y0), min(H, y0 + ny), max(0, x0), min(W, x0 + nx)
        b = [bands] if isinstance(bands, int) else bands          # always (bands, h, w)
        a = ds.read(b, window=Window(xa, ya, xb - xa, yb - ya)).astype(np.float64)
    pad = ((0, 0), (ya - y0, y0 + ny - yb), (xa - x0, x0 + nx - xb))
    return np.pad(a, pad, mode="symmetric") if any(p for q in pad[1:] for p in q) else a


def pansharpen_files(pan: str | Path, ms: str | Path, out: str | Path, method: str = "mtf-glp-hpm", *,
                     mtf_ms=None, mtf_pan: float | None = None, tile: int = 1024, workers: int = 1,
                     client=None, estimate_side: int = 2048) -> dict:
    """Fuse ``pan`` (1 band) and ``ms`` into ``out`` (tiled GeoTIFF, MS dtype, temp name then
    rename); returns the fusion parameters. Raises :class:`ProductError` when the grids do not
    nest (same CRS and corner, MS pixel an integer multiple of the PAN pixel)."""
    import dask.array as da
    import rasterio
    from ortho import pansharpen_algo as PS
    from ortho.cog import TiledSink
    from ortho.grid_algo import OutputGrid
    from ortho.tiling import _split, dtype_range, stream_to
    with rasterio.open(pan) as p, rasterio.open(ms) as m:
        ratio = m.transform.a / p.transform.a
        if (p.crs != m.crs or abs(ratio - round(ratio)) > 1e-6 or abs(p.transform.c - m.transform.c) > 1e-6 * abs(p.transform.a)
                or abs(p.transform.f - m.transform.f) > 1e-6 * abs(p.transform.a)):
            raise ProductError("PAN and MS grids do not nest (CRS, corner, integer pixel ratio)",
                               path=ms, field="transform")
        ratio = int(round(ratio))
        grid = OutputGrid(p.crs, p.transform, min(p.width, m.width * ratio) // ratio * ratio,
                          min(p.height, m.height * ratio) // ratio * ratio)
        nb, dtype, names = m.count, np.dtype(m.dtypes[0]), m.descriptions
    g_ms = np.full(nb, PS.GENERIC_MTF_MS) if mtf_ms is None else np.broadcast_to(np.asarray(mtf_ms, float), (nb,))
    g_pan = PS.GENERIC_MTF_PAN if mtf_pan is None else float(mtf_pan)
    # parameters on a central window
    n = min(estimate_side, grid.height, grid.width) // ratio * ratio
    y0 = (grid.height - n) // 2 // ratio * ratio
    x0 = (grid.width - n) // 2 // ratio * ratio
    P = _window(pan, y0, x0, n, n, 1)[0]
    M = _window(ms, y0 // ratio, x0 // ratio, n // ratio, n // ratio)
    params = PS.estimate(method, P, PS.upsample(M, ratio, P.shape), ratio, mtf_ms=g_ms, mtf_pan=g_pan)
    halo = PS.halo(ratio, g_ms) if method == "mtf-glp-hpm" else 0
    tile = max(ratio, tile // ratio * ratio)
    lo, hi, rnd = dtype_range(dtype)
    hm = halo // ratio + 2                       # MS pixels of context for the cubic interpolation

    def fn(block_info=None):
        (ya, yb), (xa, xb) = block_info[None]["array-location"][1:]
        ny, nx = yb - ya, xb - xa
        Pw = _window(pan, ya - halo, xa - halo, ny + 2 * halo, nx + 2 * halo, 1)[0]
        my0, mx0 = ya // ratio - hm, xa // ratio - hm
        Mw = _window(ms, my0, mx0, ny // ratio + 2 * hm, nx // ratio + 2 * hm)
        up = PS.upsample(Mw, ratio, (Mw.shape[1] * ratio, Mw.shape[2] * ratio))
        off = (hm * ratio - halo)
        up = up[:, off:off + ny + 2 * halo, off:off + nx + 2 * halo]
        f = PS.apply(params, Pw, up, halo)
        if rnd:
            f = np.floor(f + 0.5)
        o = np.empty((nb + 1, ny, nx), dtype)
        o[:nb] = np.clip(f, lo, hi)
        o[nb] = 255
        return o

    chunks = ((nb + 1,), _split(grid.height, tile), _split(grid.width, tile))
    arr = da.map_blocks(fn, dtype=dtype, chunks=chunks, meta=np.empty((0, 0, 0), dtype),
                        name=f"fusion-{uuid.uuid4().hex}")
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    sink = TiledSink(tmp, grid, nb, dtype, [d or f"b{i + 1}" for i, d in enumerate(names)])
    try:
        stream_to(arr, sink.write, workers=workers, client=client)
        sink.close()
        tmp.replace(out)
    except BaseException:
        sink.close()
        tmp.unlink(missing_ok=True)
        raise
    return params.to_dict()
