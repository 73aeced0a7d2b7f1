"""Band registration and module stitching by geometric resampling (numpy driver of
:mod:`level1.resample_kernels`).

For one output band on the perfect-sensor grid:

1. node grid every ``step`` output pixels; each node is located on the ground with the
   perfect sensor's model (on the DEM: parallax between the real arrays' along-track angles
   and the perfect one is terrain-dependent, so image shifting alone cannot register them);
2. each module's physical model inverse-locates the nodes → (line, detector) in that
   module's raw image;
3. row tiles: the needed raw lines of each module are read, radiometrically equalised
   (``load(module, l0, l1)``) and cubic-resampled; modules overlapping across track are
   feathered (linear weights over the overlap) so no seam appears.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from level1 import resample_kernels as RK


def node_axis(n: int, step: int) -> np.ndarray:
    """Node positions 0, step, … covering 0..n−1 (the last node at or beyond n − 1)."""
    k = int(np.ceil((n - 1) / step)) + 1
    return np.arange(k, dtype=np.float64) * step


def ground_nodes(model, rows: int, cols: int, step: int, height=None):
    """(lon, lat, h) arrays (ny, nx) of the node grid of an output band located with
    ``model`` (perfect sensor of that band) on the DEM (``height`` None) or a height."""
    r = node_axis(rows, step)
    c = node_axis(cols, step)
    return model.direct_grid(r, c, height)


def module_nodes(model, lon, lat, h, node_psi_y: np.ndarray | None = None,
                 margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(line, det) node grids of one module's raw image for the ground nodes.

    ``node_psi_y`` (nx,): across-track angle of each node column in the perfect sensor; when
    given, only the node columns within this module's ψy range (plus ``margin`` node columns
    each side, so every interpolation cell touching the module is complete) are located —
    the others are NaN (not covered by this module). This divides the work by the number of
    modules."""
    ny, nx = lon.shape
    cols = np.arange(nx)
    if node_psi_y is not None:
        psi = model.detectors.psi_y
        inside = np.flatnonzero((node_psi_y >= psi[0]) & (node_psi_y <= psi[-1]))
        if inside.size == 0:
            nan = np.full(lon.shape, np.nan)
            return nan, nan.copy()
        cols = np.arange(max(0, inside[0] - margin), min(nx, inside[-1] + margin + 1))
    line = np.full(lon.shape, np.nan)
    det = np.full(lon.shape, np.nan)
    li, de = model.inverse(lon[:, cols], lat[:, cols], h[:, cols], strict=False)
    line[:, cols] = li
    det[:, cols] = de
    return np.ascontiguousarray(line), np.ascontiguousarray(det)


def resample_band(shape: tuple[int, int], step: int, row_offset: int,
                  modules: list[tuple[np.ndarray, np.ndarray, int, int]],
                  load: Callable[[int, int, int], tuple[np.ndarray, np.ndarray]],
                  ramp: float, tile_rows: int, out: np.ndarray, flags: np.ndarray) -> None:
    """Resample every module onto output rows ``row_offset .. row_offset + rows − 1`` of the
    node grids, writing ``out`` (float32, NaN where flagged) and ``flags`` (uint8) of ``shape``.

    ``modules``: per module ``(grid_line, grid_det, raw_lines, module_index)`` node grids;
    ``load(module_index, l0, l1)`` → (equalised float32 (l1−l0, dets) NaN-masked, flags uint8)
    — only the raw lines a row tile needs are loaded, so memory is bounded by the tile.
    """
    rows, cols = shape
    for r0 in range(0, rows, tile_rows):
        r1 = min(rows, r0 + tile_rows)
        g0, g1 = row_offset + r0, row_offset + r1
        acc = np.zeros((r1 - r0, cols))
        wsum = np.zeros((r1 - r0, cols))
        bad = np.zeros((r1 - r0, cols), np.uint8)
        k0 = max(0, int(np.floor(g0 / step)))
        k1 = int(np.ceil((g1 - 1) / step)) + 1
        for gl, gd, raw_lines, m in modules:
            sub = gl[k0:k1 + 1]
            sel = np.isfinite(sub) & np.isfinite(gd[k0:k1 + 1])
            if not sel.any():
                continue
            a = max(0, int(np.floor(np.min(sub[sel]))) - 3)
            z = min(raw_lines, int(np.ceil(np.max(sub[sel]))) + 4)
            if z - a < 4:
                continue
            src, sfl = load(m, a, z)
            RK.resample_module(np.ascontiguousarray(src), np.ascontiguousarray(sfl),
                               np.ascontiguousarray(gl - a), np.ascontiguousarray(gd), float(step),
                               g0, 0, float(ramp), acc, wsum, bad)
        o = np.empty((r1 - r0, cols), np.float32)
        f = np.empty((r1 - r0, cols), np.uint8)
        RK.finish_tile(acc, wsum, bad, o, f)
        out[r0:r1] = o
        flags[r0:r1] = f
