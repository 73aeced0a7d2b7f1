"""Terrain heights for orthorectification: DEM files, geoid, constant-height fallback (I/O edge).

Heights handed to the geometry are always **metres above the WGS84 ellipsoid** (the RPC00B
height, NITF STDI-0002 App. E). DEMs such as SRTM give heights above the EGM96 geoid
(orthometric, NGA TR8350.2 §6); with a geoid grid (``.gtx``, e.g. ``egm96_15.gtx``) they are
converted once, on the DEM's own nodes: ``h = H + N(lon, lat)`` with N bilinear in the geoid
grid (the geoid is smooth over a DEM cell, so this equals converting each sampled point, as
GDAL's ``RPC_DEM_SRS`` with ``+geoidgrids`` and OTB's ``elev.geoid`` do, to well under 1 mm).

DEM sampling is bilinear on node values (node = pixel centre), as GDAL ``RPC_DEMINTERPOLATION
=bilinear`` (its default) and OTB's DEM handler. Voids (nodata) are NaN; points on a void or
outside the DEM take the fallback height and are counted.

Inputs accepted: one file or a directory (or list) of GDAL-readable DEM tiles — SRTM ``.hgt``,
GeoTIFF in any CRS (tiles of one CRS are mosaicked over the area of interest).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ortho import resample_kernels as K
from srd.errors import ProductError

DEM_SUFFIXES = (".hgt", ".tif", ".tiff", ".dt0", ".dt1", ".dt2", ".vrt")


class HeightWarning(UserWarning):
    """Terrain heights are approximate (no DEM, DEM without geoid, points off the DEM)."""


@dataclass(frozen=True, eq=False)
class Heights:
    """Ellipsoidal heights for the ortho grid.

    ``dem`` (rows, cols) float64 heights above the WGS84 ellipsoid (NaN = void), georeferenced
    by ``crs`` and the GDAL ``transform`` (corner convention); an empty array means "constant
    ``fallback_h``". ``fallback_h`` (m, ellipsoidal) also serves voids and points off the DEM.
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
        K.sample_points(self.dem, np.ascontiguousarray(c).ravel(), np.ascontiguousarray(r).ravel(), out)
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
    K.sample_points(g, np.ascontiguousarray(c).ravel(), np.ascontiguousarray(r).ravel(), out)
    if not np.all(np.isfinite(out)):
        i = int(np.flatnonzero(~np.isfinite(out))[0])
        raise ProductError(f"geoid grid has no value at lon {lon.ravel()[i]:.5f}, "
                           f"lat {lat.ravel()[i]:.5f}", path=geoid, field="N")
    return out.reshape(lon.shape)


def load_heights(dem=None, *, geoid: str | Path | None = None, height: float | None = None,
                 bounds_lonlat: tuple[float, float, float, float] | None = None,
                 default_height: float = 0.0, margin_deg: float = 0.01) -> Heights:
    """Heights for the area ``bounds_lonlat`` (west, south, east, north, degrees).

    * ``dem`` (file / directory / list): DEM tiles mosaicked over the bounds (+``margin_deg``);
      with ``geoid`` their heights are taken as orthometric and converted to ellipsoidal.
      An SRTM ``.hgt`` without ``geoid`` warns (SRTM is EGM96-referenced: the ortho would be
      shifted by N·tan(incidence)). ``height`` (default: the mean DEM height of the area) fills voids.
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
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.merge import merge
    from rasterio.warp import transform_bounds

    files = dem_files(dem)
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
            raise ProductError(f"no DEM tile covers the scene {bounds_lonlat}", path=files[0].parent)
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
    finally:
        for ds in datasets:
            ds.close()
    a = arr[0].astype(np.float64)
    a[a == nod] = np.nan
    voids = int((~np.isfinite(a)).sum())
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
    if fallback is None:            # voids / off-DEM points: the mean terrain height of the area
        fallback = float(np.nanmean(a)) if np.isfinite(a).any() else float(default_height)
    if voids:
        warnings.warn(f"DEM has {voids} void nodes in the area: filled with {fallback:.1f} m",
                      HeightWarning, stacklevel=2)
    return Heights(a, crs, transform, fallback, desc, str(geoid) if geoid else None,
                   tuple(str(f) for f in files), voids)
