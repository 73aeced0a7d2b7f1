"""Ground truth scene of the simulator: terrain (DEM + geoid) and per-band reflectance.

Terrain
    :class:`Terrain` holds a regular longitude/latitude grid of heights **above the WGS84
    ellipsoid** (metres). :meth:`Terrain.load` reads any GDAL raster (SRTM ``.hgt``,
    GeoTIFF; other CRSs are warped to EPSG:4326 bilinearly); when a geoid grid (``.gtx``, e.g. EGM96) is
    given, the DEM is taken as heights above the geoid and the geoid undulation N is added
    (h = H + N, bilinear N at each DEM node). Voids (the raster's nodata) are filled with
    the nearest valid height. Without a DEM the ground is the ellipsoid (h = 0), or the
    geoid surface (h = N) when only a geoid is given. Outside the DEM grid, heights are
    clamped to the grid edge (``truth.json`` reports the share of the footprint outside).

Reflectance
    :class:`Scene` wraps the procedural land cover of :mod:`telemetry.scene_kernels`
    (deterministic from the seed), an optional user GeoTIFF texture and clouds. Values
    are TOA reflectance factors; clouds lie on the ground surface (no parallax, no
    shadows — a documented simplification).

Nothing here reads ``../shared``: the paths are options of the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srd.errors import ConfigError, ProductError
from telemetry import scene_kernels as sk

BAND_INDEX = {"PAN": 0, "B0": 1, "B1": 2, "B2": 3, "B3": 4}


@dataclass(frozen=True)
class Terrain:
    """Heights above the WGS84 ellipsoid on a regular grid (radians, metres).

    Node (i, j) is at latitude ``lat0 + i·dlat``, longitude ``lon0 + j·dlon``.
    """

    heights: np.ndarray          # float64 (rows, cols), m above the ellipsoid
    lat0: float
    lon0: float
    dlat: float
    dlon: float
    source: str = "ellipsoid"

    @classmethod
    def flat(cls, height_m: float = 0.0) -> "Terrain":
        """Constant ellipsoidal height everywhere."""
        return cls(np.full((2, 2), float(height_m)), np.radians(-90.0), np.radians(-180.0),
                   np.radians(180.0), np.radians(360.0), source=f"ellipsoid{height_m:+g} m")

    @classmethod
    def load(cls, dem: str | Path | None = None, geoid: str | Path | None = None) -> "Terrain":
        """Read ``dem`` (heights above the geoid if ``geoid`` is given, else ellipsoidal)
        and the ``geoid`` grid; see the module docstring for the defaults."""
        if dem is None:
            if geoid is None:
                return cls.flat(0.0)
            # the geoid surface itself, on the geoid's own grid
            n, lat0, lon0, dlat, dlon = _read_grid(geoid, "geoid")
            return cls(n, lat0, lon0, dlat, dlon, source=f"geoid {Path(geoid).name}")
        h, lat0, lon0, dlat, dlon = _read_grid(dem, "dem")
        src = f"{Path(dem).name} (ellipsoidal)"
        if geoid is not None:
            n, glat0, glon0, gdlat, gdlon = _read_grid(geoid, "geoid")
            lats = lat0 + dlat * np.arange(h.shape[0])
            lons = lon0 + dlon * np.arange(h.shape[1])
            h = h + _bilinear_periodic(n, glat0, glon0, gdlat, gdlon, lats[:, None], lons[None, :])
            src = f"{Path(dem).name} + {Path(geoid).name}"
        return cls(h, lat0, lon0, dlat, dlon, source=src)

    def height(self, lon_deg, lat_deg) -> np.ndarray:
        """Ellipsoidal height (m) at points (degrees), bilinear, clamped at the edges."""
        from telemetry import imaging_kernels as ik
        lon, lat = np.broadcast_arrays(np.radians(np.asarray(lon_deg, np.float64)),
                                       np.radians(np.asarray(lat_deg, np.float64)))
        out = ik.dem_heights(self.heights, self.lat0, self.lon0, self.dlat, self.dlon,
                             np.ascontiguousarray(lat.ravel()), np.ascontiguousarray(lon.ravel()))
        return out.reshape(lon.shape) if lon.ndim else float(out[0])

    def contains(self, lon_deg, lat_deg) -> np.ndarray:
        """True where the point lies inside the grid (not clamped)."""
        lon = np.radians(np.asarray(lon_deg, np.float64))
        lat = np.radians(np.asarray(lat_deg, np.float64))
        fi = (lat - self.lat0) / self.dlat
        fj = (lon - self.lon0) / self.dlon
        return (fi >= 0) & (fi <= self.heights.shape[0] - 1) & (fj >= 0) & (fj <= self.heights.shape[1] - 1)

    #: side (DEM cells) of the coarse cells of :meth:`slope_map`
    SLOPE_BLOCK = 16

    def slope_map(self) -> np.ndarray:
        """Coarse map (cells of :data:`SLOPE_BLOCK`² DEM cells) of an upper bound of the
        terrain slope (m/m) within each coarse cell *and its 8 neighbours* — so the bound
        holds within one coarse cell's size of any point of the cell (for ray marching)."""
        from scipy import ndimage
        h = self.heights
        B = self.SLOPE_BLOCK
        if h.shape[0] < 2 or h.shape[1] < 2 or np.ptp(h) == 0:
            return np.zeros((1, 1))
        r = 6371000.0
        lat = self.lat0 + self.dlat * np.arange(h.shape[0])
        dx = np.abs(self.dlon) * r * np.maximum(np.cos(lat), 1e-3)[:, None]
        gx = np.abs(np.diff(h, axis=1)) / dx[:, :1]
        gy = np.abs(np.diff(h, axis=0)) / (abs(self.dlat) * r)
        # per DEM cell (i, j) (nodes i..i+1, j..j+1): the bilinear gradient is bounded by
        # the largest edge differences of the cell
        cx = np.maximum(gx[:-1], gx[1:])
        cy = np.maximum(gy[:, :-1], gy[:, 1:])
        cell = np.hypot(cx, cy)
        ni, nj = -(-cell.shape[0] // B), -(-cell.shape[1] // B)
        pad = np.zeros((ni * B, nj * B))
        pad[:cell.shape[0], :cell.shape[1]] = cell
        coarse = pad.reshape(ni, B, nj, B).max(axis=(1, 3))
        return np.ascontiguousarray(ndimage.maximum_filter(coarse, size=3, mode="nearest"))

    @property
    def max_slope(self) -> float:
        """Upper bound of the terrain slope (m/m) of the bilinear surface (for ray marching)."""
        h = self.heights
        if h.shape[0] < 2 or h.shape[1] < 2 or np.ptp(h) == 0:
            return 0.0
        r = 6371000.0
        lat = self.lat0 + self.dlat * np.arange(h.shape[0])
        dx = np.abs(self.dlon) * r * np.maximum(np.cos(lat), 1e-3)[:, None]
        gx = np.abs(np.diff(h, axis=1)) / dx
        gy = np.abs(np.diff(h, axis=0)) / (abs(self.dlat) * r)
        return float(np.hypot(gx.max(), gy.max()))

    @property
    def max_height(self) -> float:
        return float(self.heights.max())

    @property
    def min_height(self) -> float:
        return float(self.heights.min())


def _read_geographic(path: Path, what: str, all_bands: bool):
    """(array (bands, rows, cols) float64, affine transform, nodata, integer dtype?) of a
    GDAL raster in geographic lon/lat (EPSG:4326); a raster in another CRS is warped to
    EPSG:4326 on the fly (bilinear, GDAL WarpedVRT). No CRS or a rotated grid: error."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    if not path.exists():
        raise ConfigError(f"{what} file not found", path=path, field=what)
    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise ConfigError(f"{what} raster has no coordinate reference system",
                                  path=path, field=what)
            integer = np.issubdtype(np.dtype(ds.dtypes[0]), np.integer)
            if ds.crs.is_geographic:
                if ds.transform.b != 0 or ds.transform.d != 0:
                    raise ConfigError(f"{what} grid is rotated; warp it to north-up first",
                                      path=path, field=what)
                a = ds.read() if all_bands else ds.read(1)[None]
                return a.astype(np.float64), ds.transform, ds.nodata, integer
            with WarpedVRT(ds, crs="EPSG:4326", resampling=Resampling.bilinear) as vrt:
                a = vrt.read() if all_bands else vrt.read(1)[None]
                return a.astype(np.float64), vrt.transform, vrt.nodata, integer
    except rasterio.errors.RasterioIOError as e:
        raise ConfigError(f"cannot read {what} raster ({e})", path=path, field=what) from None


def _read_grid(path: str | Path, what: str):
    """(float64 values, lat0, lon0, dlat, dlon) of pixel centres, radians, from a GDAL
    raster (warped to geographic lon/lat if needed); nodata filled with the nearest
    valid value."""
    from scipy import ndimage
    path = Path(path)
    a, t, nodata, _ = _read_geographic(path, what, all_bands=False)
    a = a[0]
    bad = ~np.isfinite(a)
    if nodata is not None:
        bad |= a == nodata
    if bad.all():
        raise ProductError(f"{what} raster holds no valid value", path=path, field=what)
    if bad.any():
        idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
        a = a[tuple(idx)]
    lon0 = np.radians(t.c + 0.5 * t.a)
    lat0 = np.radians(t.f + 0.5 * t.e)
    return a, lat0, lon0, np.radians(t.e), np.radians(t.a)


def _bilinear_periodic(grid, lat0, lon0, dlat, dlon, lat, lon):
    """Bilinear sample of a (global, longitude-periodic) grid at radians."""
    n_i, n_j = grid.shape
    fi = np.clip((lat - lat0) / dlat, 0, n_i - 1)
    period = round(2 * np.pi / abs(dlon))
    fj = ((lon - lon0) / dlon) % period if period <= n_j + 1 else np.clip((lon - lon0) / dlon, 0, n_j - 1)
    i0 = np.minimum(np.floor(fi).astype(int), n_i - 2)
    j0 = np.floor(fj).astype(int)
    ti, tj = fi - i0, fj - j0
    j0c = np.clip(j0, 0, n_j - 1)
    j1c = np.where(j0 + 1 >= n_j, (j0 + 1) % period if period <= n_j else n_j - 1, j0 + 1)
    j1c = np.clip(j1c, 0, n_j - 1)
    return ((grid[i0, j0c] * (1 - tj) + grid[i0, j1c] * tj) * (1 - ti)
            + (grid[i0 + 1, j0c] * (1 - tj) + grid[i0 + 1, j1c] * tj) * ti)


class Scene:
    """Per-band TOA reflectance of the ground truth.

    ``seed``: land-cover and cloud seed. ``clouds``: target cloud fraction over the area
    given to :meth:`set_cloud_area` (the threshold is the matching quantile of the cloud
    noise there). ``texture``: optional GeoTIFF (any CRS, warped to EPSG:4326): 1 band (used for every
    MS band) or ≥ 4 bands (B0 blue, B1 green, B2 red, B3 NIR); float values are
    reflectance, integer values reflectance × 10 000.
    """

    def __init__(self, seed: int = 1, clouds: float = 0.0, texture: str | Path | None = None) -> None:
        if not 0.0 <= clouds <= 1.0:
            raise ConfigError(f"clouds must be a fraction 0..1, got {clouds}", field="clouds")
        self.seed = int(seed)
        self.clouds = float(clouds)
        self.cloud_threshold = 1.0         # > 0.5: none
        self.texture_path = str(texture) if texture else None
        if texture is not None:
            self.texture, self.tex_geo = _read_texture(texture)
        else:
            self.texture, self.tex_geo = np.zeros((4, 0, 0)), (0.0, 0.0, 1.0, 1.0)

    def set_cloud_area(self, lon_deg: np.ndarray, lat_deg: np.ndarray) -> None:
        """Choose the cloud threshold so that ``clouds`` of these sample points are cloud."""
        if self.clouds <= 0.0:
            self.cloud_threshold = 1.0
            return
        c = sk.cloud_grid(np.radians(np.ravel(lon_deg)), np.radians(np.ravel(lat_deg)), self.seed)
        self.cloud_threshold = float(np.quantile(c, 1.0 - self.clouds)) if self.clouds < 1 else -1.0

    def cloud_mask(self, lon_deg, lat_deg) -> np.ndarray:
        """True where the truth has cloud (alpha > 0.5)."""
        lon = np.radians(np.ravel(np.asarray(lon_deg, np.float64)))
        lat = np.radians(np.ravel(np.asarray(lat_deg, np.float64)))
        c = sk.cloud_grid(lon, lat, self.seed)
        return (c > self.cloud_threshold + 0.015).reshape(np.shape(lon_deg))

    @property
    def kernel_args(self) -> tuple:
        """Trailing arguments of :func:`scene_kernels.reflectance_at` after ``footprint``."""
        return (np.int64(self.seed), self.cloud_threshold, self.texture, *self.tex_geo)

    def reflectance(self, band: str, lon_deg, lat_deg, h_m, footprint_m: float = 1.0) -> np.ndarray:
        """TOA reflectance of ``band`` at points (degrees, m above ellipsoid), float32."""
        lon = np.atleast_2d(np.radians(np.asarray(lon_deg, np.float64)))
        lat = np.atleast_2d(np.radians(np.asarray(lat_deg, np.float64)))
        h = np.atleast_2d(np.asarray(h_m, np.float64))
        lon, lat, h = np.broadcast_arrays(lon, lat, h)
        out = sk.render_grid(np.ascontiguousarray(lon), np.ascontiguousarray(lat),
                             np.ascontiguousarray(h), BAND_INDEX[band], float(footprint_m),
                             *self.kernel_args)
        return out.reshape(np.shape(lon_deg)) if np.ndim(lon_deg) else out[0, 0]

    def describe(self) -> dict:
        return {"model": "procedural land cover v1", "seed": self.seed, "clouds": self.clouds,
                "cloud_threshold": self.cloud_threshold, "texture": self.texture_path}


def _read_texture(path: str | Path):
    path = Path(path)
    a, t, nodata, integer = _read_geographic(path, "texture", all_bands=True)
    if nodata is not None:
        a = np.where(a == nodata, np.nan, a)
    if a.shape[0] not in (1,) and a.shape[0] < 4:
        raise ConfigError(f"texture has {a.shape[0]} bands; need 1 or ≥ 4 (B0, B1, B2, B3)",
                          path=path, field="texture")
    if min(a.shape[1:]) < 2:
        raise ConfigError("texture must be at least 2×2 pixels", path=path, field="texture")
    if integer:
        a = a / 10000.0
    tex = np.repeat(a[:1], 4, axis=0) if a.shape[0] == 1 else a[:4]
    if not np.isfinite(tex).any():
        raise ProductError("texture raster holds no valid value", path=path, field="texture")
    # nodata (e.g. outside a warped raster) → the texture's mean reflectance per band
    tex = np.where(np.isfinite(tex), tex, np.nanmean(tex, axis=(1, 2), keepdims=True))
    tex = np.ascontiguousarray(np.clip(tex, 0.0, 1.0))
    geo = (float(np.radians(t.c + 0.5 * t.a)), float(np.radians(t.f + 0.5 * t.e)),
           float(np.radians(t.a)), float(np.radians(t.e)))
    return tex, geo
