"""Numba kernels of pushbroom imaging: DEM sampling, ECEF→geodetic, line of sight ∩ DEM.

Frames and units: ITRF (ECEF) metres; WGS84 ellipsoid; angles radians; heights metres
above the ellipsoid. A line of sight is a unit ITRF vector from the satellite position.
The intersection is *the first crossing of the terrain surface along the ray* (bilinear
DEM): sphere tracing from above the highest terrain with a slope bound brackets it
without tunnelling through relief, regula falsi (Illinois) refines it to 0.1 mm in
height. Rays between anchor rays (every ``anchor_step`` detectors) start from their
anchors' interpolated distance and are refined by secant iterations to the same
tolerance — a shortcut that relies on the DEM being smooth over ``anchor_step``
detectors (true for a bilinear DEM coarser than that), checked where it matters: a
refined point must be where the ray *enters* the terrain, within 20 m of its start,
else the ray is traced from the top. Light time and aberration are neglected
(documented simplification).

Numba's on-disk cache keys a function on *its own* source file only: a kernel calling a
kernel of another module keeps running the stale inlined callee after that module
changes. So every kernel here calls only kernels of this file (and scene sampling lives
in :mod:`telemetry.scene_kernels` with the scene).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_EP2 = WGS84_E2 / (1.0 - WGS84_E2)


@njit(cache=True)
def dem_height(dem: np.ndarray, lat0: float, lon0: float, dlat: float, dlon: float,
               lat_rad: float, lon_rad: float) -> float:
    """Bilinear height (m above the ellipsoid) of a regular lon/lat grid (radians; node
    (i, j) at ``lat0 + i·dlat``, ``lon0 + j·dlon``), clamped to the grid's edge outside."""
    fi = (lat_rad - lat0) / dlat
    fj = (lon_rad - lon0) / dlon
    ni = dem.shape[0]
    nj = dem.shape[1]
    fi = min(max(fi, 0.0), ni - 1.0)
    fj = min(max(fj, 0.0), nj - 1.0)
    i0 = min(np.int64(fi), ni - 2) if ni > 1 else 0
    j0 = min(np.int64(fj), nj - 2) if nj > 1 else 0
    ti = fi - i0 if ni > 1 else 0.0
    tj = fj - j0 if nj > 1 else 0.0
    i1 = i0 + 1 if ni > 1 else 0
    j1 = j0 + 1 if nj > 1 else 0
    return ((dem[i0, j0] * (1 - tj) + dem[i0, j1] * tj) * (1 - ti)
            + (dem[i1, j0] * (1 - tj) + dem[i1, j1] * tj) * ti)


@njit(cache=True)
def dem_heights(dem: np.ndarray, lat0: float, lon0: float, dlat: float, dlon: float,
                lat_rad: np.ndarray, lon_rad: np.ndarray) -> np.ndarray:
    """:func:`dem_height` at every point of 1-D arrays (radians) → metres."""
    out = np.empty(lat_rad.shape[0])
    for k in range(lat_rad.shape[0]):
        out[k] = dem_height(dem, lat0, lon0, dlat, dlon, lat_rad[k], lon_rad[k])
    return out


@njit(cache=True)
def ecef_to_geodetic(x: float, y: float, z: float) -> tuple:
    """ECEF metres → (lon rad, lat rad, h m) on WGS84, Heikkinen's closed form (Zhu 1993),
    exact to < 1 µm for near-Earth points."""
    a = WGS84_A
    b = WGS84_B
    e2 = WGS84_E2
    p2 = x * x + y * y
    p = np.sqrt(p2)
    f = 54.0 * b * b * z * z
    g = p2 + (1.0 - e2) * z * z - e2 * (a * a - b * b)
    c = e2 * e2 * f * p2 / (g * g * g)
    s = np.cbrt(1.0 + c + np.sqrt(c * c + 2.0 * c))
    k = s + 1.0 + 1.0 / s
    pp = f / (3.0 * k * k * g * g)
    q = np.sqrt(1.0 + 2.0 * e2 * e2 * pp)
    r0 = -(pp * e2 * p) / (1.0 + q) + np.sqrt(
        max(0.0, 0.5 * a * a * (1.0 + 1.0 / q) - pp * (1.0 - e2) * z * z / (q * (1.0 + q)) - 0.5 * pp * p2))
    t = p - e2 * r0
    u = np.sqrt(t * t + z * z)
    v = np.sqrt(t * t + (1.0 - e2) * z * z)
    z0 = b * b * z / (a * v)
    h = u * (1.0 - b * b / (a * v))
    lat = np.arctan2(z + WGS84_EP2 * z0, p)
    lon = np.arctan2(y, x)
    return lon, lat, h


@njit(cache=True)
def _ellipsoid_distance(px: float, py: float, pz: float, ux: float, uy: float, uz: float,
                        h: float) -> float:
    """Distance along the ray to the ellipsoid with semi-axes (a+h, a+h, b+h) (−1: missed)."""
    ae = WGS84_A + h
    be = WGS84_B + h
    qa = (ux * ux + uy * uy) / (ae * ae) + uz * uz / (be * be)
    qb = 2.0 * ((px * ux + py * uy) / (ae * ae) + pz * uz / (be * be))
    qc = (px * px + py * py) / (ae * ae) + pz * pz / (be * be) - 1.0
    disc = qb * qb - 4.0 * qa * qc
    if disc < 0.0:
        return -1.0
    return (-qb - np.sqrt(disc)) / (2.0 * qa)


@njit(cache=True)
def intersect(px: float, py: float, pz: float, ux: float, uy: float, uz: float,
              dem: np.ndarray, lat0: float, lon0: float, dlat: float, dlon: float,
              hmin: float, hmax: float, slope: np.ndarray, slope_block: int,
              reach: float) -> tuple:
    """(distance m, lon rad, lat rad, h m) of the first crossing of the terrain along the
    unit ray from P; distance −1 if the ray misses the Earth.

    ``hmin``/``hmax``: terrain height bounds (m). ``slope``: coarse map of slope bounds
    (m/m), cell (I, J) covering DEM cells [I·slope_block, (I+1)·slope_block) × (same for
    J) and valid within ``reach`` metres (horizontally) of any point of the cell.
    Sphere tracing: at a height f above the terrain the ray can advance
    f / (cos θ + slope·sin θ) without crossing it (θ: nadir angle of the ray), so the march
    never tunnels through relief and needs only a few steps; regula falsi (Illinois)
    then refines the bracket to 0.1 mm in height.
    """
    # the inflated ellipsoid (a+h, b+h) departs from the geodetic height h by up to ≈ h·f
    # (f = 1/298): pad the bounds by 1 % of |h| plus 10 m, then make sure of it below
    s_top = _ellipsoid_distance(px, py, pz, ux, uy, uz, hmax + 10.0 + 0.01 * abs(hmax))
    if s_top < 0.0:
        return -1.0, 0.0, 0.0, 0.0
    s_bot = _ellipsoid_distance(px, py, pz, ux, uy, uz, hmin - 10.0 - 0.01 * abs(hmin))
    if s_bot < 0.0:
        return -1.0, 0.0, 0.0, 0.0     # grazing ray beyond the limb of the lowest surface
    lon, lat, _h = ecef_to_geodetic(px + s_top * ux, py + s_top * uy, pz + s_top * uz)
    cl = np.cos(lat)
    c = -(cl * np.cos(lon) * ux + cl * np.sin(lon) * uy + np.sin(lat) * uz)
    if c < 0.05:
        c = 0.05
    sn = np.sqrt(max(0.0, 1.0 - c * c))
    a = s_top
    lon, lat, h = ecef_to_geodetic(px + a * ux, py + a * uy, pz + a * uz)
    fa = h - dem_height(dem, lat0, lon0, dlat, dlon, lat, lon)
    for _ in range(100):
        if fa > 0.0:
            break
        a -= 100.0                     # start above every terrain point (never inside)
        lon, lat, h = ecef_to_geodetic(px + a * ux, py + a * uy, pz + a * uz)
        fa = h - dem_height(dem, lat0, lon0, dlat, dlon, lat, lon)
    b = -1.0
    fb = 0.0
    ni = slope.shape[0]
    nj = slope.shape[1]
    for _ in range(100000):
        ci = np.int64(min(max((lat - lat0) / dlat, 0.0), dem.shape[0] - 1.0)) // slope_block
        cj = np.int64(min(max((lon - lon0) / dlon, 0.0), dem.shape[1] - 1.0)) // slope_block
        sl = slope[min(ci, ni - 1), min(cj, nj - 1)]
        # 1.02: margin for the Earth's curvature over a step (the ray's height is not
        # exactly linear in distance)
        d = fa / (1.02 * (c + sl * sn))
        if d * sn > reach:
            d = reach / sn
        if d < 0.02:
            d = 0.02
        s2 = a + d
        lon, lat, h = ecef_to_geodetic(px + s2 * ux, py + s2 * uy, pz + s2 * uz)
        f = h - dem_height(dem, lat0, lon0, dlat, dlon, lat, lon)
        if 0.0 <= f < 1e-4:
            return s2, lon, lat, h     # converged from above (the usual case on gentle terrain)
        if f <= 0.0:
            b = s2
            fb = f
            break
        a = s2
        fa = f
        if a > s_bot + 10.0:
            return -1.0, 0.0, 0.0, 0.0
    if b < 0.0:
        return -1.0, 0.0, 0.0, 0.0
    if fb == 0.0:
        return b, lon, lat, h
    # Illinois regula falsi on [a (above), b (at/below)]
    side = 0
    for _ in range(100):
        cc = (a * fb - b * fa) / (fb - fa)
        lon, lat, h = ecef_to_geodetic(px + cc * ux, py + cc * uy, pz + cc * uz)
        fc = h - dem_height(dem, lat0, lon0, dlat, dlon, lat, lon)
        if abs(fc) < 1e-4 or (b - a) < 1e-5:
            return cc, lon, lat, h
        if fc > 0.0:
            a = cc
            fa = fc
            if side == 1:
                fb *= 0.5
            side = 1
        else:
            b = cc
            fb = fc
            if side == -1:
                fa *= 0.5
            side = -1
    cc = 0.5 * (a + b)
    lon, lat, h = ecef_to_geodetic(px + cc * ux, py + cc * uy, pz + cc * uz)
    return cc, lon, lat, h


@njit(cache=True)
def _entry_or_reject(px: float, py: float, pz: float, ux: float, uy: float, uz: float,
                     dem: np.ndarray, lat0: float, lon0: float, dlat: float, dlon: float,
                     s: float, lon: float, lat: float, h: float, s_prev: float,
                     f_prev: float) -> tuple:
    """Keep a crossing only if the ray *enters* the terrain there: an exit (the back face of
    a ridge the ray went through) is rejected (distance −1). A previous iterate within 2 m
    that was above the terrain before (or below it after) the crossing proves the entry;
    otherwise the ray is probed 5 cm before the crossing."""
    if abs(s - s_prev) < 2.0 and (s - s_prev) * f_prev > 0.0:
        return s, lon, lat, h
    lo, la, hh = ecef_to_geodetic(px + (s - 0.05) * ux, py + (s - 0.05) * uy, pz + (s - 0.05) * uz)
    if hh - dem_height(dem, lat0, lon0, dlat, dlon, la, lo) <= 0.0:
        return -1.0, 0.0, 0.0, 0.0
    return s, lon, lat, h


@njit(cache=True)
def refine(px: float, py: float, pz: float, ux: float, uy: float, uz: float,
           dem: np.ndarray, lat0: float, lon0: float, dlat: float, dlon: float,
           s_guess: float, max_move: float) -> tuple:
    """(distance, lon, lat, h) of the terrain crossing near ``s_guess`` along the ray by
    secant iterations (0.1 mm in height); distance −1 when it does not converge within 8
    iterations, moves more than ``max_move`` metres from the guess, or finds a point where
    the ray leaves the terrain (the caller then traces the ray from the top)."""
    lon, lat, h = ecef_to_geodetic(px + s_guess * ux, py + s_guess * uy, pz + s_guess * uz)
    f0 = h - dem_height(dem, lat0, lon0, dlat, dlon, lat, lon)
    if abs(f0) < 1e-4:
        return _entry_or_reject(px, py, pz, ux, uy, uz, dem, lat0, lon0, dlat, dlon,
                                s_guess, lon, lat, h, s_guess, 0.0)
    cl = np.cos(lat)
    c = -(cl * np.cos(lon) * ux + cl * np.sin(lon) * uy + np.sin(lat) * uz)
    if c < 0.05:
        return -1.0, 0.0, 0.0, 0.0
    s0 = s_guess
    s1 = s_guess + f0 / c          # exact on a horizontal plane
    for _ in range(8):
        if abs(s1 - s_guess) > max_move:
            return -1.0, 0.0, 0.0, 0.0
        lon, lat, h = ecef_to_geodetic(px + s1 * ux, py + s1 * uy, pz + s1 * uz)
        f1 = h - dem_height(dem, lat0, lon0, dlat, dlon, lat, lon)
        if abs(f1) < 1e-4:
            return _entry_or_reject(px, py, pz, ux, uy, uz, dem, lat0, lon0, dlat, dlon,
                                    s1, lon, lat, h, s0, f0)
        if f1 == f0:
            return -1.0, 0.0, 0.0, 0.0
        s2 = s1 - f1 * (s1 - s0) / (f1 - f0)
        s0 = s1
        f0 = f1
        s1 = s2
    return -1.0, 0.0, 0.0, 0.0


@njit(cache=True, parallel=True)
def locate_lines(pos: np.ndarray, rot: np.ndarray, los: np.ndarray, dem: np.ndarray,
                 lat0: float, lon0: float, dlat: float, dlon: float, hmin: float, hmax: float,
                 slope: np.ndarray, slope_block: int, reach: float, anchor_step: int,
                 lon_out: np.ndarray, lat_out: np.ndarray, h_out: np.ndarray) -> int:
    """Ground points of ``los`` (nd, 3) instrument-frame unit vectors for every line.

    ``pos`` (nl, 3) satellite ITRF (m); ``rot`` (nl, 3, 3) instrument→ITRF rotations;
    ``slope``/``slope_block``/``reach``: terrain slope bounds, see :func:`intersect`.
    Every ``anchor_step``-th ray of a line (and the last) is traced from the top
    (:func:`intersect`, first crossing guaranteed); the rays between anchors start from
    the linear interpolation of their anchors' distances and are refined by
    :func:`refine` (the same 0.1 mm crossing; if it moves more than 20 m from the guess,
    does not converge, or lands where the ray leaves the terrain — occlusion, a cliff —
    the ray is traced from the top too). Outputs
    (nl, nd): lon, lat (rad), h (m). Returns the number of rays that missed the Earth
    (their outputs are NaN). Parallel over lines (Numba threads; TBB/OpenMP layers are
    thread-safe).
    """
    nd = los.shape[0]
    missed = 0
    for i in prange(pos.shape[0]):          # lines are independent
        dist = np.empty(nd)
        u = np.empty((nd, 3))
        px = pos[i, 0]
        py = pos[i, 1]
        pz = pos[i, 2]
        for j in range(nd):
            ux = rot[i, 0, 0] * los[j, 0] + rot[i, 0, 1] * los[j, 1] + rot[i, 0, 2] * los[j, 2]
            uy = rot[i, 1, 0] * los[j, 0] + rot[i, 1, 1] * los[j, 1] + rot[i, 1, 2] * los[j, 2]
            uz = rot[i, 2, 0] * los[j, 0] + rot[i, 2, 1] * los[j, 1] + rot[i, 2, 2] * los[j, 2]
            n = np.sqrt(ux * ux + uy * uy + uz * uz)
            u[j, 0] = ux / n
            u[j, 1] = uy / n
            u[j, 2] = uz / n
            dist[j] = -2.0
        # anchors
        for j in range(nd):
            if j % anchor_step == 0 or j == nd - 1:
                dist[j], lon_out[i, j], lat_out[i, j], h_out[i, j] = intersect(
                    px, py, pz, u[j, 0], u[j, 1], u[j, 2], dem, lat0, lon0, dlat, dlon, hmin,
                    hmax, slope, slope_block, reach)
        # between anchors
        for j in range(nd):
            if dist[j] != -2.0:
                continue
            ja = (j // anchor_step) * anchor_step
            jb = min(ja + anchor_step, nd - 1)
            sa = dist[ja]
            sb = dist[jb]
            s = -1.0
            lon = 0.0
            lat = 0.0
            h = 0.0
            if sa > 0.0 and sb > 0.0:
                w = (j - ja) / (jb - ja)
                s, lon, lat, h = refine(px, py, pz, u[j, 0], u[j, 1], u[j, 2], dem, lat0, lon0,
                                        dlat, dlon, (1.0 - w) * sa + w * sb, 20.0)
            if s < 0.0:
                s, lon, lat, h = intersect(px, py, pz, u[j, 0], u[j, 1], u[j, 2], dem, lat0, lon0,
                                           dlat, dlon, hmin, hmax, slope, slope_block, reach)
            dist[j] = s
            lon_out[i, j] = lon
            lat_out[i, j] = lat
            h_out[i, j] = h
        for j in range(nd):
            if dist[j] < 0.0:
                missed += 1
                lon_out[i, j] = np.nan
                lat_out[i, j] = np.nan
                h_out[i, j] = np.nan
    return missed
