"""Pushbroom imaging: detector lines of sight, ground intersection, radiometry → 12-bit DN.

Geometry (per line time t, per detector):
    ``u_ITRF = R_body→ITRF(t) · R_inst→body · normalize([tan ψx, tan ψy, 1])`` with the
    viewing angles of :meth:`station_config.models.Instrument.viewing_angles` (instrument
    frame of station_config/models.py), intersected with the terrain
    (:func:`telemetry.imaging_kernels.intersect`).

Radiometry (ICD §5; units W·m⁻²·sr⁻¹·µm⁻¹):
    TOA radiance ``L = ρ·E_sun·cos θs / (π·d²)`` (Lambertian ground, no atmosphere; θs the
    solar zenith angle on the ellipsoid normal, d the Sun distance in AU);
    MTF: a Gaussian PSF whose (discrete) response at Nyquist equals the band's
    ``mtf_nyquist`` (:func:`psf_sigma`), separable, across and along track;
    ``DN = dark + g_rel·(L − bias)·G`` plus shot noise (electrons: full well ↔ 2^bits − 1 DN),
    read noise, rounded and clipped to [0, 2^bits − 1] (saturation). G is the band's
    absolute gain for the configured TDI stages (so radiance = DN'/G + bias after dark and
    relative-gain correction, the ICD's calibration law).

Sun position: the Astronomical Almanac's low-precision formulae (≈ 0.01°, valid
1950–2050), Greenwich mean sidereal time from UTC as UT1 — no ephemeris file, no network.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from srd.timescale import gps_to_utc, leap_seconds_at_utc
from telemetry import imaging_kernels as ik
from telemetry import scene_kernels as sk

# ---------------------------------------------------------------------------- Sun


def sun_position(gps_s) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector towards the Sun in ITRF (..., 3) and Sun distance (AU) at GPS times.

    Astronomical Almanac low-precision solar coordinates (C5), accuracy ≈ 0.01° in
    1950–2050; rotation to the Earth-fixed frame by GMST (IAU 1982, UT1 ≈ UTC).
    """
    g = np.asarray(gps_s, np.float64)
    leap = leap_seconds_at_utc(gps_to_utc(float(np.ravel(g)[0])))
    # Julian date UTC: GPS epoch 1980-01-06 = JD 2444244.5
    n = (g - leap) / 86400.0 + 2444244.5 - 2451545.0
    lmean = np.radians((280.460 + 0.9856474 * n) % 360.0)
    gmean = np.radians((357.528 + 0.9856003 * n) % 360.0)
    lam = lmean + np.radians(1.915) * np.sin(gmean) + np.radians(0.020) * np.sin(2 * gmean)
    eps = np.radians(23.439 - 4e-7 * n)
    dist = 1.00014 - 0.01671 * np.cos(gmean) - 0.00014 * np.cos(2 * gmean)
    eci = np.stack([np.cos(lam), np.cos(eps) * np.sin(lam), np.sin(eps) * np.sin(lam)], axis=-1)
    gmst = np.radians((280.46061837 + 360.98564736629 * n) % 360.0)
    c, s = np.cos(gmst), np.sin(gmst)
    ecef = np.stack([c * eci[..., 0] + s * eci[..., 1], -s * eci[..., 0] + c * eci[..., 1],
                     eci[..., 2]], axis=-1)
    return ecef, dist


def sun_angles(gps_s: float, lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """(solar zenith, solar azimuth from north, clockwise) in degrees at a ground point."""
    s, _ = sun_position(gps_s)
    lo, la = np.radians(lon_deg), np.radians(lat_deg)
    up = np.array([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
    east = np.array([-np.sin(lo), np.cos(lo), 0.0])
    north = np.cross(up, east)
    zen = np.degrees(np.arccos(np.clip(s @ up, -1, 1)))
    az = np.degrees(np.arctan2(s @ east, s @ north)) % 360.0
    return float(zen), float(az)


# ---------------------------------------------------------------------------- detectors


def line_of_sight(instrument, band: str, module: int) -> np.ndarray:
    """Instrument-frame unit lines of sight (detectors, 3) of ``band`` in ``module``."""
    px, py = instrument.viewing_angles(band, module)
    v = np.stack([np.tan(px), np.tan(py), np.ones_like(px)], axis=-1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _nyquist_response(sigma: float) -> float:
    """|Σ kₙ (−1)ⁿ| of the normalised sampled Gaussian that :func:`blur` applies."""
    r = int(3.0 * sigma + 0.5)
    n = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (n / sigma) ** 2)
    return float(abs(np.sum(k * (-1.0) ** n) / k.sum()))


@functools.lru_cache(maxsize=64)
def psf_sigma(mtf_nyquist: float) -> float:
    """σ (pixels) of the sampled Gaussian PSF whose response at Nyquist (0.5 cycle/pixel)
    is ``mtf_nyquist``. The scene is sampled at pixel centres, so the PSF is applied as a
    discrete filter and its *discrete* response is matched (the continuous formula
    σ = √(−2 ln MTF)/π would give twice the MTF, aliases included)."""
    lo, hi = 0.2, 5.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _nyquist_response(mid) > mtf_nyquist:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def electrons_per_dn(instrument) -> float:
    """Conversion gain: the full well fills the 2^bits − 1 DN range."""
    return instrument.full_well_e / (2 ** instrument.bits - 1)


def digitise(radiance: np.ndarray, band, instrument, dark: np.ndarray, rel_gain: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """Radiance (lines, detectors) W·m⁻²·sr⁻¹·µm⁻¹ → raw DN uint16 with dark signal, relative
    gain, shot and read noise, rounding and saturation (see module docstring)."""
    signal = np.maximum((radiance - band.bias) * band.absolute_gain, 0.0) * rel_gain[None, :]
    mean = signal + dark[None, :]
    k = electrons_per_dn(instrument)
    sigma = np.sqrt(np.maximum(mean, 0.0) / k + instrument.read_noise_dn ** 2)
    dn = np.rint(mean + sigma * rng.standard_normal(mean.shape))
    return np.clip(dn, 0, 2 ** instrument.bits - 1).astype(np.uint16)


#: rays traced from the top every this many detectors (the others refined from them)
ANCHOR_STEP = 8


class Imager:
    """Renders lines of one (module, band) of an instrument over a terrain and a scene.

    ``attitude``: :class:`telemetry.attitude.AttitudeLaw` (its ``orbit`` gives positions).
    """

    def __init__(self, instrument, terrain, scene, attitude, inst_to_body: np.ndarray) -> None:
        self.instrument = instrument
        self.terrain = terrain
        self.scene = scene
        self.attitude = attitude
        self.inst_to_body = inst_to_body
        self._los: dict = {}
        self._footprint: dict = {}
        self._slope = terrain.slope_map()
        # a slope bound holds within one coarse cell of its cell (see Terrain.slope_map)
        self._reach = terrain.SLOPE_BLOCK * min(abs(terrain.dlat), abs(terrain.dlon) * np.cos(
            min(np.pi / 2 - 1e-3, max(abs(terrain.lat0), abs(terrain.lat0 + terrain.dlat * (
                terrain.heights.shape[0] - 1)))))) * 6371000.0
        self._hmin, self._hmax = terrain.min_height, terrain.max_height

    def los(self, band: str, module: int) -> np.ndarray:
        key = (band, module)
        if key not in self._los:
            self._los[key] = np.ascontiguousarray(line_of_sight(self.instrument, band, module))
        return self._los[key]

    def locate(self, band: str, module: int, times: np.ndarray,
               detectors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground points (lon rad, lat rad, h m; shape (lines, detectors)) of the detectors
        of ``band``/``module`` at line times ``times`` (GPS s)."""
        los = self.los(band, module)
        if detectors is not None:
            los = np.ascontiguousarray(los[np.asarray(detectors)])
        return self.locate_los(los, times, f"{band} module {module}")

    def locate_los(self, los: np.ndarray, times, what: str = "instrument") -> tuple:
        """Ground points (lon rad, lat rad, h m; (lines, n)) of instrument-frame unit lines
        of sight ``los`` (n, 3) at line times ``times`` (GPS s)."""
        times = np.atleast_1d(np.asarray(times, np.float64))
        los = np.ascontiguousarray(los, dtype=np.float64)
        pos, vel = self.attitude.orbit.state(times)
        rot = np.ascontiguousarray(self.attitude.matrix(times, pos, vel) @ self.inst_to_body)
        shape = (len(times), len(los))
        lon, lat, h = np.empty(shape), np.empty(shape), np.empty(shape)
        t = self.terrain
        missed = ik.locate_lines(np.ascontiguousarray(pos), rot, los, t.heights, t.lat0, t.lon0,
                                 t.dlat, t.dlon, self._hmin, self._hmax, self._slope,
                                 t.SLOPE_BLOCK, self._reach, ANCHOR_STEP,
                                 lon, lat, h)
        if missed:
            from srd.errors import GeometryError
            raise GeometryError(f"{missed} line(s) of sight of {what} miss the "
                                "Earth (pointing too far off nadir)", field="pointing")
        return lon, lat, h

    def footprint_m(self, band: str, times=None) -> float:
        """Approximate ground sample distance (m) of ``band`` at nadir: IFOV × altitude at
        the middle of the orbit table — one value per datatake, so the scene's
        anti-aliasing does not depend on how lines are grouped into calls."""
        if band not in self._footprint:
            orb = self.attitude.orbit
            tm = 0.5 * (orb.times[0] + orb.times[-1]) if hasattr(orb, "times") else np.atleast_1d(times)[0]
            pos, _ = orb.state(np.array([tm]))
            alt = np.linalg.norm(pos[0]) - 6371000.0
            self._footprint[band] = float(self.instrument.band(band).ifov_rad * alt)
        return self._footprint[band]

    def radiance(self, band: str, module, times: np.ndarray) -> tuple[np.ndarray, ...]:
        """TOA radiance (lines, detectors) before the optics' MTF, with the ground points.
        ``module``: one module, or a sequence of modules whose detectors are concatenated
        (one geometry computation per line for all of them)."""
        from telemetry.scene import BAND_INDEX
        if np.ndim(module):
            los = np.concatenate([self.los(band, m) for m in module])
            lon, lat, h = self.locate_los(los, times, f"{band} modules {list(module)}")
        else:
            lon, lat, h = self.locate(band, module, times)
        sun, dist = sun_position(times)
        refl = np.empty(lon.shape)
        cos_sun = np.empty(lon.shape)
        sk.sample_scene(lon, lat, h, np.ascontiguousarray(sun), BAND_INDEX[band],
                        self.footprint_m(band, times), *self.scene.kernel_args, refl, cos_sun)
        b = self.instrument.band(band)
        rad = refl * b.solar_irradiance * np.maximum(cos_sun, 0.0) / (np.pi * dist[:, None] ** 2)
        return rad, lon, lat, h


def blur(radiance: np.ndarray, mtf_nyquist: float, axis: int) -> np.ndarray:
    """Gaussian MTF blur along ``axis`` (edges: nearest), radius 2σ+1 pixels."""
    s = psf_sigma(mtf_nyquist)
    return ndimage.gaussian_filter1d(radiance, s, axis=axis, mode="nearest", truncate=3.0)


def halo_lines(mtf_nyquist: float) -> int:
    """Extra lines needed each side of a block for the along-track blur."""
    return int(np.ceil(3.0 * psf_sigma(mtf_nyquist) + 0.5))
