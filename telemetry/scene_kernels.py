"""Numba kernels of the ground-truth scene: DEM sampling and a procedural land cover.

The land cover is a deterministic function of (longitude, latitude, ellipsoidal height,
seed): no state, no tables beyond the class spectra, so any part of the Earth can be
rendered in any order (streaming) and the truth can be re-evaluated anywhere.

Local metric coordinates: ``x = R·cos(lat)·(lon − lon0)``, ``y = R·lat`` (metres,
R = 6 371 km, lat/lon in radians), with ``lon0`` the nearest meridian of the series
5°, 15°, 25°… — so the map is nearly conformal within ±5° of longitude of lon0 (shear
< 0.1 rad); the texture is discontinuous on the meridians 0°, ±10°, ±20°….

Components (scales in metres): mountains above ≈ 700 m (noisy contour): natural cover
without parcels, forest with clearings, limestone scree above ≈ 1500 m (like Mont
Ventoux); below, regional zones (≈ 6 km noise: farmland, woods, urban, lakes), parcels (jittered Voronoi cells ≈ 220 m, each a class, a brightness and a
row direction), hedges/tracks on parcel edges, a road grid (≈ 1.3 km, 7 m wide), urban
blocks (≈ 35 m buildings with streets and varied roofs), crop rows (3–12 m),
forest crowns (≈ 4 m), multi-octave value noise, clouds (≈ 2 km noise above a
threshold). Everything finer than twice the sampling footprint is averaged out
(``footprint_m``), so coarse bands and overview rasters are not aliased.

Reflectances are top-of-atmosphere reflectance factors (unitless, 0..1) per band
index 0 PAN, 1 B0 blue, 2 B1 green, 3 B2 red, 4 B3 NIR. PAN is the weighted sum
``PAN_WEIGHTS`` of B0..B3 (its 450–745 nm response), so PAN and MS are consistent.

Numba's on-disk cache keys a function on its own source file only, so the kernels that
sample the scene live here with it (never call them from another kernel module).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

EARTH_RADIUS_M = 6371000.0

# class indices
WATER, CROP, SOIL, STUBBLE, FOREST, URBAN, ROCK, VINEYARD, ROAD, CLOUD = range(10)
#: B0, B1, B2, B3 reflectance per class (vegetation: red edge between B2 and B3).
CLASS_SPECTRA = np.array([
    [0.060, 0.050, 0.030, 0.015],   # water
    [0.040, 0.085, 0.050, 0.420],   # green crop / meadow
    [0.095, 0.135, 0.175, 0.235],   # bare soil
    [0.090, 0.130, 0.165, 0.270],   # stubble, dry grass
    [0.030, 0.050, 0.030, 0.280],   # forest (pine/oak)
    [0.150, 0.165, 0.190, 0.220],   # urban roofs (mean)
    [0.300, 0.340, 0.370, 0.400],   # limestone scree
    [0.070, 0.110, 0.120, 0.300],   # vineyard / orchard (rows)
    [0.070, 0.080, 0.085, 0.100],   # asphalt
    [0.760, 0.760, 0.750, 0.720],   # cloud top
], dtype=np.float64)
PAN_WEIGHTS = np.array([0.10, 0.35, 0.40, 0.15])


@njit(cache=True)
def _hash(ix: np.int64, iy: np.int64, seed: np.int64, salt: np.int64) -> np.float64:
    """Uniform [0, 1) from integer lattice coordinates (splitmix64 finaliser)."""
    h = np.uint64((ix * np.int64(0x1F1F1F1F) + iy * np.int64(0x5851F42D) + seed * np.int64(0x9E3779B1)
                   + salt * np.int64(0x632BE5AB)) & np.int64(0x7FFFFFFFFFFFFFFF))
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return np.float64(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def value_noise(x: float, y: float, wavelength: float, seed: np.int64, salt: np.int64) -> float:
    """Smooth value noise in [0, 1] with lattice spacing ``wavelength`` (metres)."""
    u = x / wavelength
    v = y / wavelength
    i = np.floor(u)
    j = np.floor(v)
    fu = u - i
    fv = v - j
    su = fu * fu * (3.0 - 2.0 * fu)
    sv = fv * fv * (3.0 - 2.0 * fv)
    ii = np.int64(i)
    jj = np.int64(j)
    a = _hash(ii, jj, seed, salt)
    b = _hash(ii + 1, jj, seed, salt)
    c = _hash(ii, jj + 1, seed, salt)
    d = _hash(ii + 1, jj + 1, seed, salt)
    return (a * (1 - su) + b * su) * (1 - sv) + (c * (1 - su) + d * su) * sv


@njit(cache=True)
def fbm(x: float, y: float, wavelength: float, octaves: int, footprint: float,
        seed: np.int64, salt: np.int64) -> float:
    """Fractal noise, zero mean, ≈ ±0.5: octaves halve the wavelength and the amplitude;
    octaves finer than 2×``footprint`` (metres) are faded out (anti-aliasing)."""
    s = 0.0
    amp = 0.5
    wl = wavelength
    for k in range(octaves):
        w = 1.0
        if wl < 4.0 * footprint:
            w = max(0.0, (wl - 2.0 * footprint) / (2.0 * footprint))
        if w <= 0.0:
            break
        s += w * amp * (value_noise(x, y, wl, seed, salt + k) - 0.5)
        amp *= 0.5
        wl *= 0.5
    return s


@njit(cache=True)
def _coverage(dist: float, half_width: float, footprint: float) -> float:
    """Fraction of a footprint-wide sample covered by a band of ``half_width`` at ``dist``."""
    f = max(footprint, 0.25)
    return min(1.0, max(0.0, (half_width - dist) / f + 0.5))


@njit(cache=True)
def local_xy(lon_rad: float, lat_rad: float) -> tuple:
    """Local metric coordinates (metres) of the texture (see module docstring)."""
    lon0 = (np.floor((np.degrees(lon_rad) - 5.0) / 10.0 + 0.5) * 10.0 + 5.0) * np.pi / 180.0
    return EARTH_RADIUS_M * np.cos(lat_rad) * (lon_rad - lon0), EARTH_RADIUS_M * lat_rad


@njit(cache=True)
def cloud_field(x: float, y: float, seed: np.int64) -> float:
    """Cloud noise (the cloud mask is ``cloud_field > threshold``), ≈ [-0.5, 0.5]."""
    return fbm(x, y, 2400.0, 5, 50.0, seed, 900)


@njit(cache=True)
def land_reflectance(x: float, y: float, h: float, footprint: float, seed: np.int64,
                     out: np.ndarray) -> None:
    """B0..B3 reflectance of the synthetic land cover at local (x, y) metres and ellipsoidal
    height ``h`` (m) into ``out[0:4]``."""
    # ---- mountains (above ≈ 700 m): natural cover, no parcels — forest with clearings,
    # limestone scree above ≈ 1500 m (Mont Ventoux), boundaries following the contours
    hn = h
    if h > 580.0:                  # the noise below moves the contour by at most ±110 m
        hn = h + 160.0 * (value_noise(x, y, 600.0, seed, 80) - 0.5) + 60.0 * (value_noise(x, y, 150.0, seed, 81) - 0.5)
    if hn > 700.0:
        wild = min(1.0, (hn - 700.0) / 60.0)            # soft transition from farmland
        crowns = fbm(x, y, 8.0, 2, footprint, seed, 30)
        fb = 1.0 + 1.1 * crowns + 0.5 * fbm(x, y, 120.0, 4, footprint, seed, 31)
        clear = min(1.0, max(0.0, (value_noise(x, y, 350.0, seed, 82) - 0.72) / 0.05))
        rock = min(1.0, max(0.0, (hn - 1450.0) / 150.0))
        rb = 1.0 + 0.6 * fbm(x, y, 40.0, 6, footprint, seed, 40)
        gb = 1.0 + 0.4 * fbm(x, y, 30.0, 4, footprint, seed, 83)
        for b in range(4):
            veg = (1.0 - clear) * CLASS_SPECTRA[FOREST, b] * fb + clear * CLASS_SPECTRA[STUBBLE, b] * gb
            out[b] = (1.0 - rock) * veg + rock * CLASS_SPECTRA[ROCK, b] * rb
        if wild >= 1.0:
            for b in range(4):
                out[b] = min(max(out[b], 0.005), 0.95)
            return
        w0 = out[0]
        w1 = out[1]
        w2 = out[2]
        w3 = out[3]
        land_reflectance(x, y, 0.0, footprint, seed, out)      # the farmland below
        out[0] = wild * w0 + (1.0 - wild) * out[0]
        out[1] = wild * w1 + (1.0 - wild) * out[1]
        out[2] = wild * w2 + (1.0 - wild) * out[2]
        out[3] = wild * w3 + (1.0 - wild) * out[3]
        return
    # ---- parcels: jittered Voronoi, cells ≈ 220 × 140 m, axes rotated by a constant
    # angle per seed (a spatially varying angle would shear the lattice over the
    # thousands of km between the points and the coordinate origin)
    ang = 0.2 + 0.9 * _hash(seed, 0, 0, 5)
    ca = np.cos(ang)
    sa = np.sin(ang)
    u = (ca * x + sa * y) / 220.0
    v = (-sa * x + ca * y) / 140.0
    iu = np.int64(np.floor(u))
    iv = np.int64(np.floor(v))
    d1 = 1e9
    d2 = 1e9
    cid_u = iu
    cid_v = iv
    cpx = 0.0
    cpy = 0.0
    for du in range(-1, 2):
        for dv in range(-1, 2):
            cu = iu + du
            cv = iv + dv
            px = cu + 0.1 + 0.8 * _hash(cu, cv, seed, 10)
            py = cv + 0.1 + 0.8 * _hash(cu, cv, seed, 11)
            ddx = (u - px) * 220.0
            ddy = (v - py) * 140.0
            d = np.sqrt(ddx * ddx + ddy * ddy)
            if d < d1:
                d2 = d1
                d1 = d
                cid_u = cu
                cid_v = cv
                cpx = px
                cpy = py
            elif d < d2:
                d2 = d
    edge = 0.5 * (d2 - d1)          # ≈ distance to the parcel boundary (m)
    r1 = _hash(cid_u, cid_v, seed, 12)
    r2 = _hash(cid_u, cid_v, seed, 13)
    r3 = _hash(cid_u, cid_v, seed, 14)
    # ---- regional zones, evaluated at the parcel's centre so a parcel has one class
    zx = ca * cpx * 220.0 - sa * cpy * 140.0
    zy = sa * cpx * 220.0 + ca * cpy * 140.0
    zone = value_noise(zx, zy, 6000.0, seed, 1) + 0.35 * (value_noise(zx, zy, 1700.0, seed, 2) - 0.5)
    lake = value_noise(x, y, 3000.0, seed, 3) + 0.3 * (value_noise(x, y, 700.0, seed, 4) - 0.5)
    woods = value_noise(zx, zy, 1200.0, seed, 6)
    # ---- class of the parcel
    cls = CROP
    if lake > 0.80:
        cls = WATER
    elif zone > 0.78:
        cls = URBAN
    elif zone < 0.22:
        cls = FOREST if r2 < 0.75 else STUBBLE
    elif woods < 0.3 + 0.15 * r2:
        cls = FOREST          # copses and woods clustered at the kilometre scale
    else:
        if r2 < 0.35:
            cls = CROP
        elif r2 < 0.6:
            cls = SOIL
        elif r2 < 0.8:
            cls = STUBBLE
        else:
            cls = VINEYARD
    for b in range(4):
        out[b] = CLASS_SPECTRA[cls, b]
    bright = 0.85 + 0.3 * r3
    # ---- texture inside the parcel
    if cls == CROP or cls == SOIL or cls == VINEYARD or cls == STUBBLE:
        period = 3.0 + 9.0 * r1
        if cls == VINEYARD:
            period = 2.5 + 1.0 * r1
        if period > 2.0 * footprint:
            th = np.pi * r2
            s = np.cos(th) * x + np.sin(th) * y
            amp = 0.12 if cls != VINEYARD else 0.35
            amp *= min(1.0, (period - 2.0 * footprint) / period)
            bright *= 1.0 + amp * np.sin(2.0 * np.pi * s / period)
        bright *= 1.0 + 0.5 * fbm(x, y, 60.0, 5, footprint, seed, 20)
    elif cls == FOREST:
        crowns = fbm(x, y, 8.0, 2, footprint, seed, 30)
        bright *= 1.0 + 1.1 * crowns + 0.5 * fbm(x, y, 120.0, 4, footprint, seed, 31)
    elif cls == ROCK:
        bright *= 1.0 + 0.6 * fbm(x, y, 40.0, 6, footprint, seed, 40)
    elif cls == WATER:
        bright *= 1.0 + 0.2 * fbm(x, y, 200.0, 3, footprint, seed, 50)
    elif cls == URBAN:
        # buildings on a 35 m grid, streets 8 m, courtyards, varied roofs
        bx = x / 35.0
        by = y / 35.0
        ib = np.int64(np.floor(bx))
        jb = np.int64(np.floor(by))
        fx = (bx - ib) * 35.0
        fy = (by - jb) * 35.0
        dstreet = min(min(fx, 35.0 - fx), min(fy, 35.0 - fy))
        street = _coverage(dstreet, 4.0, footprint)
        roof = 0.55 + 0.9 * _hash(ib, jb, seed, 60)
        green = 1.0 if _hash(ib, jb, seed, 61) < 0.2 else 0.0
        for b in range(4):
            rb = (1.0 - green) * CLASS_SPECTRA[URBAN, b] * roof + green * CLASS_SPECTRA[CROP, b]
            out[b] = (1.0 - street) * rb + street * CLASS_SPECTRA[ROAD, b]
        bright = 1.0 + 0.2 * fbm(x, y, 15.0, 3, footprint, seed, 62)
    for b in range(4):
        out[b] *= bright
    # ---- hedges / tracks on parcel boundaries (not in water or urban)
    if cls != WATER and cls != URBAN:
        hedge = _coverage(edge, 2.0, footprint)
        if hedge > 0.0:
            kind = FOREST if r3 < 0.6 else SOIL
            for b in range(4):
                out[b] = (1.0 - hedge) * out[b] + hedge * CLASS_SPECTRA[kind, b]
    # ---- road grid, 1.3 km, 7 m wide, with slight wiggle
    gx = x + 40.0 * (value_noise(x, y, 900.0, seed, 70) - 0.5)
    gy = y + 40.0 * (value_noise(x, y, 900.0, seed, 71) - 0.5)
    rx = gx - 1300.0 * np.floor(gx / 1300.0 + 0.5)
    ry = gy - 1300.0 * np.floor(gy / 1300.0 + 0.5)
    road = max(_coverage(abs(rx), 3.5, footprint), _coverage(abs(ry), 3.5, footprint))
    if road > 0.0 and cls != WATER and cls != ROCK:
        for b in range(4):
            out[b] = (1.0 - road) * out[b] + road * CLASS_SPECTRA[ROAD, b]
    for b in range(4):
        out[b] = min(max(out[b], 0.005), 0.95)


@njit(cache=True)
def reflectance_at(lon_rad: float, lat_rad: float, h: float, band: int, footprint: float,
                   seed: np.int64, cloud_threshold: float, texture: np.ndarray,
                   tex_lon0: float, tex_lat0: float, tex_dlon: float, tex_dlat: float,
                   work: np.ndarray) -> float:
    """TOA reflectance of ``band`` (0 PAN, 1..4 = B0..B3) at a ground point.

    ``texture``: (4, rows, cols) B0..B3 reflectance on a regular lon/lat grid (radians,
    pixel centres at ``tex_lon0 + j·tex_dlon``, ``tex_lat0 + i·tex_dlat``) replacing the
    synthetic land cover inside its extent; shape (4, 0, 0) for none.
    ``cloud_threshold`` > 0.5: no clouds. ``work``: float64 scratch of length ≥ 4.
    """
    x, y = local_xy(lon_rad, lat_rad)
    inside = False
    if texture.shape[1] > 1 and texture.shape[2] > 1:
        fi = (lat_rad - tex_lat0) / tex_dlat
        fj = (lon_rad - tex_lon0) / tex_dlon
        if fi >= 0.0 and fj >= 0.0 and fi <= texture.shape[1] - 1 and fj <= texture.shape[2] - 1:
            inside = True
            i0 = min(np.int64(fi), texture.shape[1] - 2)
            j0 = min(np.int64(fj), texture.shape[2] - 2)
            ti = fi - i0
            tj = fj - j0
            for b in range(4):
                work[b] = ((texture[b, i0, j0] * (1 - tj) + texture[b, i0, j0 + 1] * tj) * (1 - ti)
                           + (texture[b, i0 + 1, j0] * (1 - tj) + texture[b, i0 + 1, j0 + 1] * tj) * ti)
    if not inside:
        land_reflectance(x, y, h, footprint, seed, work)
    if cloud_threshold < 0.5:
        c = cloud_field(x, y, seed)
        a = min(1.0, max(0.0, (c - cloud_threshold) / 0.03))
        if a > 0.0:
            t = 1.0 + 0.25 * fbm(x, y, 300.0, 4, footprint, seed, 901)
            for b in range(4):
                work[b] = (1.0 - a) * work[b] + a * min(0.95, CLASS_SPECTRA[CLOUD, b] * t)
    if band == 0:
        return (PAN_WEIGHTS[0] * work[0] + PAN_WEIGHTS[1] * work[1] + PAN_WEIGHTS[2] * work[2]
                + PAN_WEIGHTS[3] * work[3])
    return work[band - 1]


@njit(cache=True)
def render_grid(lon_rad: np.ndarray, lat_rad: np.ndarray, h: np.ndarray, band: int,
                footprint: float, seed: np.int64, cloud_threshold: float, texture: np.ndarray,
                tex_lon0: float, tex_lat0: float, tex_dlon: float, tex_dlat: float) -> np.ndarray:
    """Reflectance of ``band`` at every point of equally shaped 2-D arrays (float32)."""
    out = np.empty(lon_rad.shape, np.float32)
    work = np.empty(4)
    for i in range(lon_rad.shape[0]):
        for j in range(lon_rad.shape[1]):
            out[i, j] = reflectance_at(lon_rad[i, j], lat_rad[i, j], h[i, j], band, footprint,
                                       seed, cloud_threshold, texture, tex_lon0, tex_lat0,
                                       tex_dlon, tex_dlat, work)
    return out


@njit(cache=True)
def cloud_grid(lon_rad: np.ndarray, lat_rad: np.ndarray, seed: np.int64) -> np.ndarray:
    """Cloud noise at points (1-D), for choosing the threshold of a cloud fraction."""
    out = np.empty(lon_rad.shape[0])
    for k in range(lon_rad.shape[0]):
        x, y = local_xy(lon_rad[k], lat_rad[k])
        out[k] = cloud_field(x, y, seed)
    return out


@njit(cache=True, parallel=True)
def sample_scene(lon: np.ndarray, lat: np.ndarray, h: np.ndarray, sun: np.ndarray, band: int,
                 footprint: float, seed: np.int64, cloud_threshold: float, texture: np.ndarray,
                 tex_lon0: float, tex_lat0: float, tex_dlon: float, tex_dlat: float,
                 refl_out: np.ndarray, cos_sun_out: np.ndarray) -> None:
    """Reflectance of ``band`` and cosine of the solar zenith angle (ellipsoid normal) at
    ground points (nl, nd) radians/m; ``sun`` (nl, 3) unit ITRF vectors towards the Sun."""
    for i in prange(lon.shape[0]):
        work = np.empty(4)
        for j in range(lon.shape[1]):
            lo = lon[i, j]
            la = lat[i, j]
            if not np.isfinite(lo):
                refl_out[i, j] = 0.0
                cos_sun_out[i, j] = 0.0
                continue
            cl = np.cos(la)
            cos_sun_out[i, j] = (cl * np.cos(lo) * sun[i, 0] + cl * np.sin(lo) * sun[i, 1]
                                 + np.sin(la) * sun[i, 2])
            refl_out[i, j] = reflectance_at(lo, la, h[i, j], band, footprint, seed, cloud_threshold,
                                            texture, tex_lon0, tex_lat0, tex_dlon, tex_dlat, work)
