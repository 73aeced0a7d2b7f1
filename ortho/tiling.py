"""Dask tiling of the ortho stage: output tiles as lazy blocks, streamed to disk.

Every output tile is one Dask block computed by :func:`ortho_block`: locate its pixels through
the inverse-location grid, read the bounding source window (plus the kernel radius) and
resample. Memory per tile is bounded by the tile size (a few arrays of ``tile²`` values plus the
matching source window), never by the image size. Blocks are written as they complete
(:func:`stream_to`), so nothing holds the whole product.

Schedulers: the local threaded scheduler by default (the Numba kernels release the GIL, so
``workers`` threads run tiles in parallel); a ``dask.distributed`` :class:`~distributed.Client`
when an address is configured (``station_config`` ``[ortho] dask_scheduler``): tiles are then
computed on the cluster — sources are read there by path — and written here as they arrive.
"""
from __future__ import annotations

import math
import threading
import uuid
from dataclasses import dataclass, field

import numpy as np

from level1 import resample_kernels as K


@dataclass
class TileStats:
    """Counters accumulated over tiles (thread-safe)."""

    tiles: int = 0
    fallback_height_pixels: int = 0
    valid_pixels: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __getstate__(self):             # shipped to distributed workers: counts stay there
        return {"tiles": 0, "fallback_height_pixels": 0, "valid_pixels": 0}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def add(self, fallback: int, valid: int) -> None:
        with self._lock:
            self.tiles += 1
            self.fallback_height_pixels += fallback
            self.valid_pixels += valid


def dtype_range(dtype) -> tuple[float, float, bool]:
    """(lo, hi, round) of an output dtype."""
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        ii = np.iinfo(dt)
        return float(ii.min), float(ii.max), True
    return -np.inf, np.inf, False


def ortho_block(y0: int, x0: int, ny: int, nx: int, source, loc, heights, method: str,
                out_dtype, stats: TileStats | None = None, shift=(0.0, 0.0)) -> np.ndarray:
    """One output tile: (bands + 1, ny, nx) of ``out_dtype``, the last plane the validity
    (0 / 255). ``source``: :class:`ortho.source.FileSource` or ``ArraySource``; ``loc``:
    :class:`ortho.grid_algo.LocationGrid`; ``heights``: :class:`level1.dem.Heights`;
    ``shift`` (dy, dx) output pixels: the source is sampled where the output pixel
    (y + dy, x + dx) falls (co-registration correction)."""
    code, radius = K.METHODS[method]
    nb, H, W, _ = source.info()
    col, row, _, nfall = loc.locate(y0 + shift[0], x0 + shift[1], ny, nx, heights)
    out = np.zeros((nb + 1, ny, nx), dtype=out_dtype)
    bb = loc.source_bounds(y0 + shift[0], x0 + shift[1], ny, nx)
    if bb is None:                                   # tile beyond the grid: scan the positions
        ok = np.isfinite(col) & np.isfinite(row)
        if not ok.any():
            return out
        bb = (np.min(col[ok]), np.max(col[ok]), np.min(row[ok]), np.max(row[ok]))
    c0 = max(0, int(math.floor(bb[0])) - radius - 1)
    c1 = min(W, int(math.ceil(bb[1])) + radius + 2)
    r0 = max(0, int(math.floor(bb[2])) - radius - 1)
    r1 = min(H, int(math.ceil(bb[3])) + radius + 2)
    if c1 <= c0 or r1 <= r0:
        if stats is not None:
            stats.add(nfall, 0)
        return out
    data, valid = source.read(r0, r1, c0, c1)
    lo, hi, rnd = dtype_range(out_dtype)
    ov = np.empty((ny, nx), np.uint8)
    col -= c0                                        # our own arrays: shift in place
    row -= r0
    K.resample(np.ascontiguousarray(data), valid, not bool(valid.all()), col, row,
               code, lo, hi, rnd, out[:nb], ov)
    out[nb] = ov * 255
    if stats is not None:
        stats.add(nfall, int(ov.sum()))
    return out


def ortho_dask(source, grid, loc, heights, method: str, out_dtype, tile: int = 1024,
               stats: TileStats | None = None, band_names=None, as_xarray: bool = True):
    """Lazy ortho image: an ``xarray.DataArray`` (band, y, x) over a Dask array chunked
    ``tile`` × ``tile``, bands + a trailing ``"valid"`` plane, with map coordinates of pixel
    centres (``attrs``: crs WKT, transform); the bare Dask array with ``as_xarray=False``."""
    import dask.array as da
    nb = source.info()[0]
    shape = (nb + 1, grid.height, grid.width)
    chunks = ((nb + 1,), _split(grid.height, tile), _split(grid.width, tile))

    def fn(block_info=None):
        loc_ = block_info[None]["array-location"]
        (y0, y1), (x0, x1) = loc_[1], loc_[2]
        return ortho_block(y0, x0, y1 - y0, x1 - x0, source, loc, heights, method, out_dtype, stats)

    # an explicit name: dask would otherwise tokenise (pickle) the closure and its arrays
    arr = da.map_blocks(fn, dtype=np.dtype(out_dtype), chunks=chunks, meta=np.empty((0, 0, 0), out_dtype),
                        name=f"ortho-{uuid.uuid4().hex}")
    assert arr.shape == shape
    if not as_xarray:
        return arr
    import xarray as xr
    x, _ = grid.xy(np.zeros(grid.width), np.arange(grid.width))
    _, y = grid.xy(np.arange(grid.height), np.zeros(grid.height))
    names = list(band_names or [f"b{i + 1}" for i in range(nb)]) + ["valid"]
    return xr.DataArray(arr, dims=("band", "y", "x"), coords={"band": names, "y": y, "x": x},
                        attrs={"crs": grid.crs.to_wkt(), "transform": tuple(grid.transform)[:6]})


def _split(n: int, t: int) -> tuple[int, ...]:
    return tuple([t] * (n // t) + ([n % t] if n % t else []))


def stream_to(arr, write, *, workers: int | None = None, client=None) -> None:
    """Compute every block of the Dask array ``arr`` (band, y, x) and call
    ``write(y0, x0, block)`` for each as it completes (calls are serialised).

    Threaded scheduler (``dask.array.store``, ``workers`` threads): each block is written and
    released as soon as it is computed, so memory stays at a few blocks per worker.
    ``client`` (``dask.distributed.Client``): blocks are submitted in windows of 2 × the
    cluster's threads and written here as they arrive (sources are read on the workers).
    """
    import dask.array
    if client is not None:
        _stream_distributed(arr, write, client)
        return
    import threading as _th

    import dask.threaded

    class _Target:                       # da.store calls __setitem__ per block, under ``lock``
        def __setitem__(self, key, value):
            write(key[1].start or 0, key[2].start or 0, value)

    # the scheduler function itself: a name ("threads") makes dask probe for (import)
    # distributed on every call, ~1 CPU-second
    dask.array.store(arr, _Target(), lock=_th.Lock(), scheduler=dask.threaded.get,
                     num_workers=workers or 1)


def _stream_distributed(arr, write, client) -> None:
    from distributed import as_completed
    blocks = arr.to_delayed().ravel()
    yoff = np.cumsum((0,) + arr.chunks[1])[:-1]
    xoff = np.cumsum((0,) + arr.chunks[2])[:-1]
    nbx = len(arr.chunks[2])
    pos = [(int(yoff[i // nbx]), int(xoff[i % nbx])) for i in range(len(blocks))]
    window = 2 * max(1, sum(client.nthreads().values()))
    it = iter(range(len(blocks)))
    futs = {}
    for i in it:
        futs[client.compute(blocks[i])] = i
        if len(futs) >= window:
            break
    ac = as_completed(list(futs))
    for f in ac:
        i = futs.pop(f)
        write(*pos[i], f.result())
        f.release()
        nxt = next(it, None)
        if nxt is not None:
            nf = client.compute(blocks[nxt])
            futs[nf] = nxt
            ac.add(nf)
