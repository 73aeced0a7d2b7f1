"""Digital elevation model for level1 geometry (I/O edge): heights above the WGS84 ellipsoid.

Voids (nodata) are filled with the nearest valid height (count in ``Dem.voids``) and outside
the grid the edge heights are extended (as the simulator's terrain does; level1 reports the
fraction of the footprint outside), so every line of sight meets the surface. SRTM-style DEMs give heights above the EGM96 geoid; with a geoid grid (e.g. ``egm96_15.gtx``,
undulation N in metres) the ellipsoidal height is ``h = H + N`` (ignoring it shifts the ground
by ≈ 50 m here, i.e. metres in the image). Any GDAL-readable
north-up raster in geographic WGS84 degrees is accepted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from level1 import sensor_kernels as SK
from srd.errors import GeometryError, ProductError


@dataclass(frozen=True, eq=False)
class Dem:
    """Ellipsoidal heights (m, float64, NaN voids) on a north-up grid; ``gt`` is the GDAL
    geotransform (degrees, pixel corners)."""

    heights: np.ndarray
    gt: np.ndarray
    source: str = ""
    voids: int = 0             # nodata nodes filled with the nearest valid height

    @classmethod
    def constant(cls, h: float, bounds=(-180.0, -90.0, 180.0, 90.0)) -> "Dem":
        """A flat surface ``h`` metres above the ellipsoid over ``bounds`` (lon/lat degrees)."""
        w, s, e, n = bounds
        return cls(np.full((2, 2), float(h)), np.array([w - (e - w), 2 * (e - w), 0.0,
                                                        n + (n - s), 0.0, -2 * (n - s)]),
                   source=f"constant {h} m")

    @classmethod
    def open(cls, path: str | Path, geoid: str | Path | None = None,
             bounds: tuple[float, float, float, float] | None = None) -> "Dem":
        """Read a DEM (optionally only ``bounds`` = (west, south, east, north) degrees plus a
        margin) and add the geoid undulation bilinearly interpolated from ``geoid``."""
        import rasterio
        from rasterio.errors import RasterioIOError
        from rasterio.windows import from_bounds
        path = Path(path)
        try:
            with rasterio.open(path) as ds:
                if ds.crs is None or not ds.crs.is_geographic:
                    raise ProductError("DEM must be in geographic WGS84 degrees", path=path,
                                       field="crs")
                win = None
                if bounds is not None:
                    w, s, e, n = bounds
                    m = 4 * abs(ds.transform.a)
                    win = from_bounds(w - m, s - m, e + m, n + m, ds.transform).round_offsets().round_lengths()
                    win = win.intersection(rasterio.windows.Window(0, 0, ds.width, ds.height))
                a = ds.read(1, window=win, masked=True).astype(np.float64)
                t = ds.window_transform(win) if win is not None else ds.transform
        except RasterioIOError as e:
            raise ProductError(f"cannot read DEM ({e})", path=path) from None
        except rasterio.errors.WindowError:
            raise GeometryError("requested area is outside the DEM", path=path,
                                field="bounds") from None
        h = a.filled(np.nan)
        voids = int(np.count_nonzero(~np.isfinite(h)))
        if voids:
            if voids == h.size:
                raise GeometryError("DEM has no valid height over the area", path=path, field="bounds")
            # SRTM voids: nearest valid node (as the simulator's terrain does), reported in .voids
            from scipy import ndimage
            idx = ndimage.distance_transform_edt(~np.isfinite(h), return_distances=False, return_indices=True)
            h = h[tuple(idx)]
        gt = np.array([t.c, t.a, t.b, t.f, t.d, t.e], np.float64)
        if geoid is not None:
            g = cls.open(geoid)
            ny, nx = h.shape
            lon = gt[0] + (np.arange(nx) + 0.5) * gt[1]
            lat = gt[3] + (np.arange(ny) + 0.5) * gt[5]
            L, P = np.meshgrid(lon, lat)
            n_und = g.height(L, P)
            if not np.all(np.isfinite(n_und)):
                raise ProductError("geoid grid does not cover the DEM", path=geoid)
            h = h + n_und
        return cls(h, gt, source=str(path), voids=voids)

    def inside(self, lon_deg, lat_deg) -> np.ndarray:
        """True where points lie within the DEM grid (elsewhere :meth:`height` extends the
        edge heights)."""
        lon = np.asarray(lon_deg, np.float64)
        lat = np.asarray(lat_deg, np.float64)
        ny, nx = self.heights.shape
        fx = (lon - self.gt[0]) / self.gt[1] - 0.5
        fy = (lat - self.gt[3]) / self.gt[5] - 0.5
        return (fx >= 0) & (fy >= 0) & (fx <= nx - 1) & (fy <= ny - 1)

    def height(self, lon_deg, lat_deg) -> np.ndarray:
        """Bilinear ellipsoidal height (m) at WGS84 degrees; outside the grid the edge heights
        are extended (see :meth:`inside`)."""
        lon, lat = np.broadcast_arrays(np.asarray(lon_deg, np.float64), np.asarray(lat_deg, np.float64))
        out = _heights(self.heights, self.gt, np.ascontiguousarray(lon).ravel(),
                       np.ascontiguousarray(lat).ravel())
        return out.reshape(lon.shape)

    def range_over(self, lon_deg, lat_deg) -> tuple[float, float]:
        """(min, max) height over the points (voids ignored)."""
        h = self.height(lon_deg, lat_deg)
        if not np.any(np.isfinite(h)):
            raise GeometryError("no DEM height over the area", path=self.source, field="bounds")
        return float(np.nanmin(h)), float(np.nanmax(h))


def _heights(dem, gt, lon, lat):
    out = np.empty(lon.size)
    SK.dem_sample(np.ascontiguousarray(dem, np.float64), gt, lon, lat, out)
    return out
