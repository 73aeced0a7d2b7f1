"""Numba kernels of the physical sensor model: WGS84 conversions and line-of-sight
intersection with the ellipsoid and with a DEM.

Frames and units: ITRF (ECEF) metres; WGS84 geodetic longitude/latitude in **radians** here
(the facade converts to degrees), heights in metres above the WGS84 ellipsoid. No I/O, no
configuration objects, no ``fastmath`` (DEM voids are NaN and must stay NaN).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


@njit(cache=True)
def geodetic_from_ecef(x: float, y: float, z: float) -> tuple:
    """ECEF (m) → (lon rad, lat rad, h m), WGS84. Bowring's formula iterated to < 1e-12 rad
    (NIMA TR8350.2 §4; about 3 passes for terrestrial and LEO heights)."""
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1.0 - WGS84_E2))
    h = 0.0
    for _ in range(8):
        s = math.sin(lat)
        n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
        c = math.cos(lat)
        # near the poles p/cos(lat) is ill-conditioned: use the z form instead
        if abs(c) > 1e-3:
            h = p / c - n
        else:
            h = z / s - n * (1.0 - WGS84_E2)
        new = math.atan2(z, p * (1.0 - WGS84_E2 * n / (n + h)))
        if abs(new - lat) < 1e-13:
            lat = new
            break
        lat = new
    s = math.sin(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
    c = math.cos(lat)
    h = p / c - n if abs(c) > 1e-3 else z / s - n * (1.0 - WGS84_E2)
    return math.atan2(y, x), lat, h


@njit(cache=True)
def ecef_from_geodetic(lon: float, lat: float, h: float) -> tuple:
    """(lon rad, lat rad, h m) WGS84 → ECEF metres."""
    s = math.sin(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
    c = math.cos(lat)
    return ((n + h) * c * math.cos(lon), (n + h) * c * math.sin(lon), (n * (1.0 - WGS84_E2) + h) * s)


@njit(cache=True)
def _ray_ellipsoid(px: float, py: float, pz: float, ux: float, uy: float, uz: float,
                   h: float) -> float:
    """Distance along the unit ray (p, u) to the first crossing of the ellipsoid with semi-axes
    (a + h, b + h) — the surface at geodetic height h to O(h²e²/a) ≈ 1 mm at 1 km; the caller
    corrects the remainder iteratively. NaN when the ray misses."""
    a = WGS84_A + h
    b = WGS84_B + h
    ia = 1.0 / (a * a)
    ib = 1.0 / (b * b)
    qa = (ux * ux + uy * uy) * ia + uz * uz * ib
    qb = 2.0 * ((px * ux + py * uy) * ia + pz * uz * ib)
    qc = (px * px + py * py) * ia + pz * pz * ib - 1.0
    disc = qb * qb - 4.0 * qa * qc
    if disc < 0.0:
        return np.nan
    # numerically stable smaller root
    sq = math.sqrt(disc)
    if qb < 0.0:
        q = -0.5 * (qb - sq)
    else:
        q = -0.5 * (qb + sq)
    r1 = q / qa
    r2 = qc / q if q != 0.0 else np.nan
    lo = min(r1, r2)
    return lo if lo > 0.0 else max(r1, r2)


@njit(cache=True)
def intersect_height(pos: np.ndarray, los: np.ndarray, h: np.ndarray,
                     out: np.ndarray) -> None:
    """Rays (n, 3) from ``pos`` along unit ``los`` (ITRF) intersected with the surface of
    geodetic height ``h`` (n,) metres → ``out`` (n, 3) = lon rad, lat rad, h m. The inflated
    ellipsoid gives a first point; a few Newton steps along the ray remove its residual
    height error to < 0.1 mm. NaN when the ray misses or h is NaN."""
    for i in range(pos.shape[0]):
        px, py, pz = pos[i, 0], pos[i, 1], pos[i, 2]
        ux, uy, uz = los[i, 0], los[i, 1], los[i, 2]
        hi = h[i]
        out[i, 0] = np.nan
        out[i, 1] = np.nan
        out[i, 2] = np.nan
        if not math.isfinite(hi):
            continue
        d = _ray_ellipsoid(px, py, pz, ux, uy, uz, hi)
        if not math.isfinite(d):
            continue
        for _ in range(5):
            lon, lat, hh = geodetic_from_ecef(px + d * ux, py + d * uy, pz + d * uz)
            # dh/dd = u · (ellipsoid normal) = −cos(incidence)
            nx = math.cos(lat) * math.cos(lon)
            ny = math.cos(lat) * math.sin(lon)
            nz = math.sin(lat)
            dhdd = ux * nx + uy * ny + uz * nz
            if dhdd == 0.0:
                break
            step = (hh - hi) / dhdd
            d -= step
            if abs(step) < 1e-5:
                break
        lon, lat, hh = geodetic_from_ecef(px + d * ux, py + d * uy, pz + d * uz)
        out[i, 0] = lon
        out[i, 1] = lat
        out[i, 2] = hh


@njit(cache=True)
def dem_bilinear(dem: np.ndarray, gt: np.ndarray, lon_deg: float, lat_deg: float) -> float:
    """Bilinear height of a north-up DEM (heights above the ellipsoid) with GDAL geotransform
    ``gt`` (pixel-corner convention, degrees) at a point. Outside the grid the edge heights
    are extended (clamped), as the simulator's terrain does; callers report the fraction of
    points outside with :func:`dem_inside`. NaN only for NaN heights or coordinates."""
    fx = (lon_deg - gt[0]) / gt[1] - 0.5
    fy = (lat_deg - gt[3]) / gt[5] - 0.5
    ny, nx = dem.shape
    if not (math.isfinite(fx) and math.isfinite(fy)):
        return np.nan
    fx = min(max(fx, 0.0), nx - 1.0)
    fy = min(max(fy, 0.0), ny - 1.0)
    ix = min(int(fx), nx - 2)
    iy = min(int(fy), ny - 2)
    ax = fx - ix
    ay = fy - iy
    return ((1 - ay) * ((1 - ax) * dem[iy, ix] + ax * dem[iy, ix + 1])
            + ay * ((1 - ax) * dem[iy + 1, ix] + ax * dem[iy + 1, ix + 1]))


@njit(cache=True)
def dem_inside(gt: np.ndarray, ny: int, nx: int, lon_deg: float, lat_deg: float) -> bool:
    """True when the point lies within the DEM grid's node extent (no clamping)."""
    fx = (lon_deg - gt[0]) / gt[1] - 0.5
    fy = (lat_deg - gt[3]) / gt[5] - 0.5
    return fx >= 0.0 and fy >= 0.0 and fx <= nx - 1 and fy <= ny - 1


@njit(cache=True)
def intersect_dem(pos: np.ndarray, los: np.ndarray, dem: np.ndarray, gt: np.ndarray,
                  h_start: float, tol_m: float, max_iter: int, out: np.ndarray,
                  iters: np.ndarray) -> None:
    """Rays (n, 3) intersected with a DEM (ellipsoidal heights, north-up, geotransform ``gt``
    in degrees) → ``out`` (n, 3) lon rad, lat rad, h m.

    Iteration h_{k+1} = DEM(ground(h_k)) from ``h_start``; it converges when the terrain slope
    seen along the ray (tan(slope)·tan(incidence)) is < 1, which holds for near-nadir
    pushbroom viewing; when it oscillates the step is halved (secant fallback). ``iters`` is
    the number of iterations, or −1 if not converged to ``tol_m`` (point left NaN) or off DEM.
    """
    one = np.empty((1, 3))
    p1 = np.empty((1, 3))
    u1 = np.empty((1, 3))
    hh = np.empty(1)
    for i in range(pos.shape[0]):
        for k in range(3):
            p1[0, k] = pos[i, k]
            u1[0, k] = los[i, k]
            out[i, k] = np.nan
        iters[i] = -1
        h = h_start
        prev_diff = np.nan
        relax = 1.0
        for it in range(max_iter):
            hh[0] = h
            intersect_height(p1, u1, hh, one)
            if not math.isfinite(one[0, 0]):
                break
            ht = dem_bilinear(dem, gt, math.degrees(one[0, 0]), math.degrees(one[0, 1]))
            if not math.isfinite(ht):
                break
            diff = ht - h
            if abs(diff) < tol_m:
                out[i, 0] = one[0, 0]
                out[i, 1] = one[0, 1]
                out[i, 2] = one[0, 2]
                iters[i] = it
                break
            if math.isfinite(prev_diff) and diff * prev_diff < 0.0 and abs(diff) > 0.5 * abs(prev_diff):
                relax *= 0.5
            prev_diff = diff
            h = h + relax * diff


@njit(cache=True)
def dem_sample(dem: np.ndarray, gt: np.ndarray, lon_deg: np.ndarray, lat_deg: np.ndarray,
               out: np.ndarray) -> None:
    """:func:`dem_bilinear` over 1-D arrays of points (degrees) → ``out`` (m)."""
    for i in range(lon_deg.shape[0]):
        out[i] = dem_bilinear(dem, gt, lon_deg[i], lat_deg[i])


@njit(cache=True)
def geodetic_from_ecef_array(xyz: np.ndarray, out: np.ndarray) -> None:
    """:func:`geodetic_from_ecef` over (n, 3) metres → ``out`` (n, 3) lon rad, lat rad, h m."""
    for i in range(xyz.shape[0]):
        lon, lat, h = geodetic_from_ecef(xyz[i, 0], xyz[i, 1], xyz[i, 2])
        out[i, 0] = lon
        out[i, 1] = lat
        out[i, 2] = h
