"""Terrain heights above the WGS84 ellipsoid, shared by level1 and ortho (I/O edge): DEM files,
EGM96 geoid, void filling, constant-height fallback.

Heights handed to the geometry are always **metres above the WGS84 ellipsoid** (the RPC00B
height, NITF STDI-0002 App. E). DEMs such as SRTM give heights above the EGM96 geoid
(orthometric, NGA TR8350.2 §6); with a geoid grid (``.gtx``, e.g. ``egm96_15.gtx``, undulation
N in metres) they are converted once, on the DEM's own nodes: ``h = H + N(lon, lat)`` with N
bilinear in the geoid grid (:func:`geoid_undulation`; the geoid is smooth over a DEM cell, so
this equals converting each sampled point, as GDAL's ``RPC_DEM_SRS`` with ``+geoidgrids`` and
OTB's ``elev.geoid`` do, to well under 1 mm; ignoring it shifts the ground by ≈ 50 m here).

**Voids** — one rule for level1, ortho and the simulator's terrain: a nodata node inside the
DEM's coverage takes the height of the **nearest valid node** (Euclidean distance in DEM pixels,
:func:`fill_voids`), counted in ``voids``. Nearest valid is preferred over a mean height: SRTM
voids sit in steep or shadowed terrain where the area mean can be hundreds of metres off.

Two views of the same heights:

* :class:`Dem` (level1 geometry): the same files/tiles (read by the same mosaic reader), in
  geographic WGS84 degrees, as one north-up grid sampled by the sensor kernels
  (:mod:`level1.sensor_kernels`); outside the grid the edge heights are
  extended (as the simulator's terrain does; level1 reports the fraction of the footprint
  outside), so every line of sight meets the surface.
* :class:`Heights` (ortho): one file or a directory (or list) of GDAL-readable DEM tiles — SRTM
  ``.hgt``, GeoTIFF in any CRS (tiles of one CRS are mosaicked over the area of interest) — or a
  constant height. Sampling is bilinear on node values (node = pixel centre), as GDAL
  ``RPC_DEMINTERPOLATION=bilinear`` (its default) and OTB's DEM handler; points off the DEM
  tiles take the fallback height and are counted.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from level1 import resample_kernels as RK
from level1 import sensor_kernels as SK
from srd.errors import GeometryError, ProductError

DEM_SUFFIXES = (".hgt", ".tif", ".tiff", ".dt0", ".dt1", ".dt2", ".vrt")


class HeightWarning(UserWarning):
    """Terrain heights are approximate (no DEM, DEM without geoid, voids filled, points off the
    DEM)."""


@dataclass(frozen=True, eq=False)
class Heights:
    """Ellipsoidal heights for the ortho grid.

    ``dem`` (rows, cols) float64 heights above the WGS84 ellipsoid (voids already filled,
    :func:`fill_voids`; NaN = off the DEM tiles), georeferenced
    by ``crs`` and the GDAL ``transform`` (corner convention); an empty array means "constant
    ``fallback_h``". ``fallback_h`` (m, ellipsoidal) also serves points off the DEM.
    """

    dem: np.ndarray
    crs: object | None
    transform: object | None
    fallback_h: float
    description: str
    geoid: str | None = None
    files: tuple[str, ...] = field(default_factory=tuple)
    voids: int = 0

    @property
    def constant(self) -> bool:
        return self.dem.size == 0

    def positions(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DEM pixel-centre coordinates (col, row) of WGS84 ``lon``/``lat`` (degrees)."""
        lon = np.asarray(lon, np.float64)
        lat = np.asarray(lat, np.float64)
        if self.constant:
            return np.zeros_like(lon), np.zeros_like(lat)
        x, y = _from_lonlat(self.crs, lon, lat)
        inv = ~self.transform
        c = inv.a * x + inv.b * y + inv.c - 0.5
        r = inv.d * x + inv.e * y + inv.f - 0.5
        return c, r

    def at(self, lon, lat) -> np.ndarray:
        """Ellipsoidal height (m) at WGS84 ``lon``/``lat``: bilinear DEM, fallback elsewhere."""
        lon = np.asarray(lon, np.float64)
        if self.constant:
            return np.full(lon.shape, self.fallback_h)
        c, r = self.positions(lon, lat)
        out = np.empty(c.size)
        RK.sample_points(self.dem, np.ascontiguousarray(c).ravel(), np.ascontiguousarray(r).ravel(), out)
        out[~np.isfinite(out)] = self.fallback_h
        return out.reshape(lon.shape)

    def range(self) -> tuple[float, float]:
        """(min, max) ellipsoidal height (m) over the loaded DEM (and the fallback)."""
        if self.constant or not np.isfinite(self.dem).any():
            return self.fallback_h, self.fallback_h
        return (float(min(np.nanmin(self.dem), self.fallback_h)),
                float(max(np.nanmax(self.dem), self.fallback_h)))

    def write_geotiff(self, path: str | Path) -> Path:
        """The ellipsoidal DEM as a Float32 GeoTIFF (nodata −32768), temp name then rename —
        e.g. to hand the very same heights to ``gdalwarp -to RPC_DEM=``."""
        import rasterio
        if self.constant:
            raise ProductError("constant height: there is no DEM raster to write", path=path)
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        a = np.where(np.isfinite(self.dem), self.dem, -32768.0).astype(np.float32)
        with rasterio.open(tmp, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1,
                           dtype="float32", crs=self.crs, transform=self.transform, nodata=-32768.0) as d:
            d.write(a, 1)
        tmp.replace(path)
        return path


def _to_crs(crs):
    from rasterio.crs import CRS
    return crs if isinstance(crs, CRS) else CRS.from_user_input(crs)


def _from_lonlat(crs, lon, lat):
    if crs is None or _to_crs(crs).is_geographic and _to_crs(crs).to_epsg() == 4326:
        return lon, lat
    from pyproj import Transformer
    t = Transformer.from_crs("EPSG:4326", _to_crs(crs).to_wkt(), always_xy=True)
    return t.transform(lon, lat)


def _to_lonlat(crs, x, y):
    if crs is None or _to_crs(crs).is_geographic and _to_crs(crs).to_epsg() == 4326:
        return x, y
    from pyproj import Transformer
    t = Transformer.from_crs(_to_crs(crs).to_wkt(), "EPSG:4326", always_xy=True)
    return t.transform(x, y)


def dem_files(dem: str | Path | Sequence[str | Path]) -> list[Path]:
    """The DEM tiles named by ``dem``: a file, a directory (its DEM-looking files) or a list."""
    items = [dem] if isinstance(dem, (str, Path)) else list(dem)
    out: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in DEM_SUFFIXES)
            if not found:
                raise ProductError("DEM directory holds no DEM file (.hgt, .tif, .dt1...)", path=p)
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ProductError("DEM file not found", path=p)
    return out


def geoid_undulation(geoid: str | Path, lon, lat) -> np.ndarray:
    """Geoid height N (m above the WGS84 ellipsoid) at WGS84 ``lon``/``lat`` (degrees),
    bilinear in the geoid grid (any GDAL-readable grid: ``.gtx``, GeoTIFF) with longitude
    wrap-around. Raises :class:`ProductError` naming the file on a hole or unreadable grid."""
    import rasterio
    from rasterio.errors import RasterioIOError
    geoid = Path(geoid)
    try:
        with rasterio.open(geoid) as ds:
            g = ds.read(1).astype(np.float64)
            t = ds.transform
            nod = ds.nodata
    except RasterioIOError as e:
        raise ProductError(f"cannot read geoid grid ({e})", path=geoid) from None
    if nod is not None:
        g[g == nod] = np.nan
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    # node (pixel centre) coordinates
    c = (lon - t.c) / t.a - 0.5
    r = (lat - t.f) / t.e - 0.5
    span = 360.0 / abs(t.a)
    if abs(span - round(span)) < 1e-6 and round(span) == g.shape[1]:
        # global grid: wrap longitude and append the first column for the seam
        c = np.mod(c, g.shape[1])
        g = np.concatenate([g, g[:, :1]], axis=1)
    out = np.empty(c.size)
    RK.sample_points(g, np.ascontiguousarray(c).ravel(), np.ascontiguousarray(r).ravel(), out)
    if not np.all(np.isfinite(out)):
        i = int(np.flatnonzero(~np.isfinite(out))[0])
        raise ProductError(f"geoid grid has no value at lon {lon.ravel()[i]:.5f}, "
                           f"lat {lat.ravel()[i]:.5f}", path=geoid, field="N")
    return out.reshape(lon.shape)


@dataclass(frozen=True, eq=False)
class Dem:
    """Ellipsoidal heights (m, float64, voids filled by :func:`fill_voids`) on a north-up grid
    in geographic WGS84 degrees; ``gt`` is the GDAL geotransform (degrees, pixel corners)."""

    heights: np.ndarray
    gt: np.ndarray
    source: str = ""
    voids: int = 0             # nodata nodes filled with the nearest valid height (fill_voids)

    @classmethod
    def constant(cls, h: float, bounds=(-180.0, -90.0, 180.0, 90.0)) -> "Dem":
        """A flat surface ``h`` metres above the ellipsoid over ``bounds`` (lon/lat degrees)."""
        w, s, e, n = bounds
        return cls(np.full((2, 2), float(h)), np.array([w - (e - w), 2 * (e - w), 0.0,
                                                        n + (n - s), 0.0, -2 * (n - s)]),
                   source=f"constant {h} m")

    @classmethod
    def open(cls, path, geoid: str | Path | None = None,
             bounds: tuple[float, float, float, float] | None = None) -> "Dem":
        """Read a DEM in geographic WGS84 degrees — a file, a directory of tiles or a list
        (:func:`dem_files`, mosaicked as :func:`load_heights` does) — optionally only over
        ``bounds`` = (west, south, east, north) degrees plus 4 DEM nodes, clipped to the tiles;
        fill voids (:func:`fill_voids`) and add the geoid undulation of ``geoid``
        (:func:`geoid_undulation`)."""
        import rasterio
        from rasterio.errors import RasterioIOError
        files = dem_files(path)
        try:
            with rasterio.open(files[0]) as ds:
                m = 4 * abs(ds.transform.a)
        except RasterioIOError as e:
            raise ProductError(f"cannot read DEM ({e})", path=files[0]) from None
        a, crs, t, cover = _read_mosaic(files, bounds, m, outside=GeometryError)
        if not _to_crs(crs).is_geographic:
            raise ProductError("DEM must be in geographic WGS84 degrees", path=files[0], field="crs")
        rows = np.flatnonzero(cover.any(axis=1))
        cols = np.flatnonzero(cover.any(axis=0))
        if rows.size == 0 or cols.size == 0:
            raise GeometryError("requested area is outside the DEM", path=files[0], field="bounds")
        h = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        t = t * t.translation(cols[0], rows[0])
        if not np.isfinite(h).any():
            raise GeometryError("DEM has no valid height over the area", path=files[0], field="bounds")
        h, voids = fill_voids(h)             # gaps between tiles too: every ray must meet ground
        gt = np.array([t.c, t.a, t.b, t.f, t.d, t.e], np.float64)
        if geoid is not None:
            ny, nx = h.shape
            lon = gt[0] + (np.arange(nx) + 0.5) * gt[1]
            lat = gt[3] + (np.arange(ny) + 0.5) * gt[5]
            L, P = np.meshgrid(lon, lat)
            h = h + geoid_undulation(geoid, L, P)
        return cls(h, gt, source=", ".join(str(f) for f in files), voids=voids)

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


def fill_voids(h: np.ndarray, where: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The project's void rule: NaN nodes of ``h`` (m) take the height of the nearest valid node
    (Euclidean distance in pixels). ``where`` (bool, as ``h``) limits filling to those nodes
    (e.g. the DEM tiles' coverage in a mosaic; others stay NaN). Returns (filled copy, number of
    filled nodes); ``h`` unchanged when it has no valid node."""
    bad = ~np.isfinite(h)
    if where is not None:
        bad &= where
    n = int(np.count_nonzero(bad))
    if n == 0 or not np.isfinite(h).any():
        return h, 0
    from scipy import ndimage
    idx = ndimage.distance_transform_edt(~np.isfinite(h), return_distances=False, return_indices=True)
    out = h.copy()
    out[bad] = h[tuple(i[bad] for i in idx)]
    return out, n


def _read_mosaic(files: list[Path], bounds_lonlat, margin_deg: float, outside=ProductError):
    """DEM tiles mosaicked on the first tile's node lattice over ``bounds_lonlat`` (+
    ``margin_deg``; everything without bounds): (heights float64 with NaN nodata, crs,
    transform, cover) — ``cover`` marks the nodes inside some tile (nodata there is a void).
    No tile near the bounds raises ``outside`` (an :mod:`srd.errors` class)."""
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.merge import merge
    from rasterio.warp import transform_bounds

    datasets = []
    try:
        for f in files:
            try:
                ds = rasterio.open(f)
            except RasterioIOError as e:
                raise ProductError(f"cannot read DEM ({e})", path=f) from None
            if ds.crs is None:
                ds.close()
                raise ProductError("DEM has no CRS", path=f, field="crs")
            if bounds_lonlat is not None:
                w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
                bw, bs, be, bn = bounds_lonlat
                if e < bw - margin_deg or w > be + margin_deg or n < bs - margin_deg or s > bn + margin_deg:
                    ds.close()
                    continue
            datasets.append(ds)
        if not datasets:
            raise outside(f"no DEM tile covers the scene {bounds_lonlat}", path=files[0].parent,
                          field="bounds")
        crs = datasets[0].crs
        for ds in datasets[1:]:
            if ds.crs != crs:
                raise ProductError(f"DEM tiles mix CRSs ({crs} and {ds.crs})", path=ds.name, field="crs")
        kw = {}
        if bounds_lonlat is not None:
            bw, bs, be, bn = bounds_lonlat
            l, b, r, t = transform_bounds("EPSG:4326", crs, bw - margin_deg, bs - margin_deg,
                                          be + margin_deg, bn + margin_deg)
            # snap to the first tile's node lattice: merge() must not resample the DEM
            g = datasets[0].transform
            l = g.c + np.floor((l - g.c) / g.a) * g.a
            r = g.c + np.ceil((r - g.c) / g.a) * g.a
            t = g.f + np.floor((t - g.f) / g.e) * g.e
            b = g.f + np.ceil((b - g.f) / g.e) * g.e
            kw["bounds"] = (l, b, r, t)
        nod = datasets[0].nodata
        arr, transform = merge(datasets, nodata=nod if nod is not None else -32768, dtype="float64", **kw)
        nod = nod if nod is not None else -32768
        # nodes inside some tile's extent: nodata there is a void, elsewhere "off the DEM"
        cover = np.zeros(arr.shape[1:], bool)
        for ds in datasets:
            w = rasterio.windows.from_bounds(*ds.bounds, transform=transform)
            w = w.round_offsets().round_lengths()
            cover[max(0, w.row_off):max(0, w.row_off + w.height),
                  max(0, w.col_off):max(0, w.col_off + w.width)] = True
    finally:
        for ds in datasets:
            ds.close()
    a = arr[0].astype(np.float64)
    a[a == nod] = np.nan
    return a, crs, transform, cover


def load_heights(dem=None, *, geoid: str | Path | None = None, height: float | None = None,
                 bounds_lonlat: tuple[float, float, float, float] | None = None,
                 default_height: float = 0.0, margin_deg: float = 0.01) -> Heights:
    """Heights for the area ``bounds_lonlat`` (west, south, east, north, degrees).

    * ``dem`` (file / directory / list): DEM tiles mosaicked over the bounds (+``margin_deg``);
      with ``geoid`` their heights are taken as orthometric and converted to ellipsoidal.
      An SRTM ``.hgt`` without ``geoid`` warns (SRTM is EGM96-referenced: the ortho would be
      shifted by N·tan(incidence)). Voids inside the tiles take the nearest valid height
      (:func:`fill_voids`, counted in ``voids``, :class:`HeightWarning`); ``height`` (default:
      the mean DEM height of the area) serves points off the DEM tiles.
    * no ``dem``: constant ``height`` (ellipsoidal); without ``height`` either, the constant
      ``default_height`` with a :class:`HeightWarning`.
    """
    if dem is None:
        if height is None:
            warnings.warn(f"no DEM and no height given: using a constant {default_height:.1f} m "
                          "above the ellipsoid (terrain relief will displace the ortho)",
                          HeightWarning, stacklevel=2)
            h = float(default_height)
            return Heights(np.empty((0, 0)), None, None, h, f"constant {h:.1f} m (default)")
        h = float(height)
        return Heights(np.empty((0, 0)), None, None, h, f"constant {h:.1f} m")
    files = dem_files(dem)
    a, crs, transform, cover = _read_mosaic(files, bounds_lonlat, margin_deg)
    a, voids = fill_voids(a, cover)
    fallback = float(height) if height is not None else None
    if geoid is not None:
        rows, cols = np.mgrid[0:a.shape[0], 0:a.shape[1]]
        x = transform.c + (cols + 0.5) * transform.a + (rows + 0.5) * transform.b
        y = transform.f + (cols + 0.5) * transform.d + (rows + 0.5) * transform.e
        lon, lat = _to_lonlat(crs, x, y)
        a = a + geoid_undulation(geoid, lon, lat)
        desc = f"DEM {', '.join(f.name for f in files)} + geoid {Path(geoid).name}"
    else:
        if any(f.suffix.lower() == ".hgt" for f in files):
            warnings.warn("SRTM .hgt heights are above the EGM96 geoid but no geoid grid was "
                          "given: heights are used as ellipsoidal (the ortho shifts by about "
                          "N·tan(incidence))", HeightWarning, stacklevel=2)
        desc = f"DEM {', '.join(f.name for f in files)} (ellipsoidal)"
    if fallback is None:            # points off the DEM tiles: the mean terrain height of the area
        fallback = float(np.nanmean(a)) if np.isfinite(a).any() else float(default_height)
    if voids:
        warnings.warn(f"DEM has {voids} void nodes in the area: filled with the nearest valid "
                      "height", HeightWarning, stacklevel=2)
    return Heights(a, crs, transform, fallback, desc, str(geoid) if geoid else None,
                   tuple(str(f) for f in files), voids)
