"""One simulated datatake: orbit, attitude and pushbroom image, streamed block by block.

This is the API the on-board formatting half of the simulator (packets, frames, RS,
channel files, ``srd simulate``) builds on. Everything here is *truth plus published
values*: the truth (exact orbit, attitude, line times, ground points, reflectance) goes to
the sidecar written by :meth:`Acquisition.write_truth`; the published ancillary records
carry the profile's noise (``ephemeris_noise_m``, ``velocity_noise_mps``,
``attitude_noise_rad``) like a real on-board GNSS receiver and star tracker would.

Conventions (docs/developing.md, "Inter-stage contracts"):

* Times are GPS seconds since 1980-01-06 (:mod:`srd.timescale`).
* PAN line ``L`` (counted from 0 at the datatake start) is exposed (mid-exposure) at
  ``start_gps + L·T`` with ``T`` the PAN line period; MS line ``n`` at
  ``start_gps + n·ms_ratio·T``. MS line ``n`` and PAN line ``ms_ratio·n`` start at the same
  instant; the MS along-track offset is geometry (a different viewing angle ψx), not timing.
* The number of lines is rounded **up** so the datatake holds a whole number of the
  tallest blocks (``pan_block_lines × ccsds122_block_scale`` PAN lines), so the image is
  the same whatever compression (block scale) the formatter picks.
* An :class:`ImageBlock`'s ``gps_time`` is the mid-exposure time of its first line: the
  CUC time of every segment of its image packet (ICD §4.1 clarification).
* Quaternions are body→ITRF, scalar first (ICD §4.2).

Usage::

    acq = Acquisition(cfg, "SPOT-6", "reduced", "2026-11-29T10:03:25Z", 2.0,
                      pointing=Pointing.target(5.27, 44.17, "VENTOUX"),
                      dem="../shared/data/dem/N44E005.hgt",
                      geoid="../shared/data/dem/egm96_15.gtx")
    eph = acq.ephemeris_records()          # structured, gps_time + decode.formats.EPHEMERIS fields
    for blk in acq.iter_blocks(compression_scale=1):
        ...                                  # blk.module, blk.band, blk.first_line, blk.gps_time, blk.dn
    acq.write_truth(out / f"{pass_id}.truth")
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from decode.formats import ATTITUDE, EPHEMERIS, HOUSEKEEPING
from srd.errors import ConfigError
from srd.timescale import gps_to_utc, iso_utc, parse_utc, utc_to_gps

#: margins of published ancillary data around the datatake (s): enough samples on each
#: side for 8-point Lagrange interpolation of 1 Hz ephemeris.
EPHEMERIS_MARGIN_S = 5.0
ATTITUDE_MARGIN_S = 1.0
#: truth sampling steps (s)
ORBIT_TRUTH_STEP_S = 0.1
ATTITUDE_TRUTH_STEP_S = 0.02
#: sparse truth geolocation grid: every this many detectors (and the last)
GEOLOC_DETECTOR_STEP = 16
#: largest side of the truth reflectance GeoTIFFs (pixels)
REFLECTANCE_MAX_SIDE = 1024
TRUTH_VERSION = 1


def with_gps_time(fmt: np.dtype) -> np.dtype:
    """Native-byte-order record dtype ``gps_time f8`` + the fields of ICD record ``fmt``.

    This is the Level 0 ``ancillary/*.npy`` layout; ``rec[list(fmt.names)].astype(fmt)``
    (or field-by-field assignment) gives the big-endian ICD record to put in a packet.
    """
    fields = [("gps_time", "f8")]
    for name in fmt.names:
        sub, _ = fmt.fields[name]
        base = sub.base.newbyteorder("=") if sub.base.byteorder in "<>" else sub.base
        fields.append((name, base, sub.shape) if sub.shape else (name, base))
    return np.dtype(fields)


EPHEMERIS_RECORD = with_gps_time(EPHEMERIS)
ATTITUDE_RECORD = with_gps_time(ATTITUDE)
HOUSEKEEPING_RECORD = with_gps_time(HOUSEKEEPING)


@dataclass(frozen=True)
class Pointing:
    """How the datatake is pointed.

    * ``nadir``: body Z on the geodetic nadir, yaw-steered (body X along the ground-track
      velocity in ITRF, so image lines stay perpendicular to the ground track).
    * ``angles``: the nadir frame rotated by ``roll_rad`` (about X) then ``pitch_rad``
      (about Y); positive pitch looks forward, positive roll rotates the line of sight
      towards −Y (right-hand rule about the flight direction).
    * ``target``: fixed roll/pitch computed so the centre of the swath at the datatake's
      mid time looks at (``lon_deg``, ``lat_deg``) on the DEM surface.
    """

    mode: str = "nadir"
    roll_rad: float = 0.0
    pitch_rad: float = 0.0
    lon_deg: float | None = None
    lat_deg: float | None = None
    target_name: str = ""

    @classmethod
    def nadir(cls, name: str = "") -> "Pointing":
        return cls("nadir", target_name=name)

    @classmethod
    def angles(cls, roll_rad: float, pitch_rad: float = 0.0, name: str = "") -> "Pointing":
        return cls("angles", roll_rad=float(roll_rad), pitch_rad=float(pitch_rad), target_name=name)

    @classmethod
    def target(cls, lon_deg: float, lat_deg: float, name: str = "") -> "Pointing":
        return cls("target", lon_deg=float(lon_deg), lat_deg=float(lat_deg), target_name=name)


@dataclass(frozen=True)
class Datatake:
    """The datatake as announced by the datatake-start packet (ICD §4.2)."""

    id: int
    mode: int                 # 0 mono, 1 stereo fore, 2 stereo aft (decode.formats.DATATAKE_MODES)
    start_gps: float          # first PAN line mid-exposure (GPS s)
    stop_gps: float           # one PAN line period after the last PAN line (GPS s)
    target: str               # ≤ 32 ASCII characters
    pan_lines: int
    ms_lines: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ImageBlock:
    """One image block of one detector module and band, DN exactly as digitised (12 bit).

    ``first_line`` counts lines of that band since the datatake start; ``gps_time`` is the
    mid-exposure GPS time of that first line; ``dn`` is uint16 (lines, columns) with
    columns = detectors of the band in one module.
    """

    module: int
    band: str
    first_line: int
    gps_time: float
    dn: np.ndarray

    @property
    def lines(self) -> int:
        return int(self.dn.shape[0])

    @property
    def columns(self) -> int:
        return int(self.dn.shape[1])


class Acquisition:
    """A simulated datatake of ``satellite_name`` with instrument profile ``instrument_name``
    (None: the satellite's own profile).

    ``start_utc``: datetime or ISO-8601 string (first PAN line mid-exposure);
    ``duration_s`` > 0 (rounded up to whole tallest blocks). ``dem``/``geoid``: optional
    paths (GDAL-readable, geographic; DEM heights above the geoid when a geoid is given,
    otherwise taken as ellipsoidal). With no DEM the ground is the WGS84 ellipsoid
    (h = 0), or the geoid surface when only ``geoid`` is given (:mod:`telemetry.scene`).
    ``texture``: optional GeoTIFF replacing the synthetic land cover. ``clouds``: cloud
    cover fraction 0..1 over the footprint. ``seed``: everything random (scene, noise)
    derives from it. ``datatake_id``/``mode``: as announced in the datatake-start packet.
    """

    def __init__(self, cfg, satellite_name: str, instrument_name: str | None,
                 start_utc: dt.datetime | str, duration_s: float, *,
                 pointing: Pointing | None = None, dem: str | Path | None = None,
                 geoid: str | Path | None = None, texture: str | Path | None = None,
                 clouds: float = 0.0, seed: int = 1, datatake_id: int = 1,
                 mode: int = 0) -> None:
        from telemetry.attitude import AttitudeLaw, instrument_to_body, target_angles
        from telemetry.imaging import Imager
        from telemetry.orbit import Orbit, OrbitTable, geodetic_to_ecef
        from telemetry.scene import Scene, Terrain

        self.cfg = cfg
        self._inputs = {"satellite": satellite_name, "instrument": instrument_name or
                        cfg.satellite(satellite_name).instrument,
                        "duration_s": float(duration_s) if duration_s else duration_s,
                        "dem": str(Path(dem).resolve()) if dem else None,
                        "geoid": str(Path(geoid).resolve()) if geoid else None,
                        "texture": str(Path(texture).resolve()) if texture else None,
                        "clouds": float(clouds), "seed": int(seed), "datatake_id": int(datatake_id),
                        "mode": int(mode)}
        self.satellite = cfg.satellite(satellite_name)
        self.instrument = cfg.instrument(instrument_name or self.satellite.instrument)
        self.pointing = pointing or Pointing.nadir()
        self.seed = int(seed)
        if not duration_s or duration_s <= 0:
            raise ConfigError(f"duration must be positive, got {duration_s}", field="duration")
        if mode not in (0, 1, 2):
            raise ConfigError(f"datatake mode must be 0, 1 or 2, got {mode}", field="mode")
        if not 0 <= datatake_id < 2 ** 32:
            raise ConfigError(f"datatake id {datatake_id} does not fit in u32", field="datatake")
        if isinstance(start_utc, str):
            try:
                start_utc = parse_utc(start_utc)
            except ValueError as e:
                raise ConfigError(f"start time: {e}", field="start") from None
        inst, pk = self.instrument, self.satellite.packets
        self._pan_period = inst.pan_line_period_s
        unit = pk.pan_block_lines * pk.ccsds122_block_scale     # tallest PAN block
        if pk.pan_block_lines != pk.ms_block_lines * inst.ms_ratio:
            raise ConfigError(f"pan_block_lines {pk.pan_block_lines} must be ms_ratio × "
                              f"ms_block_lines ({inst.ms_ratio} × {pk.ms_block_lines}) so PAN and "
                              "MS blocks cover the same time (ICD §4.1)", path=cfg.source,
                              field="packets.pan_block_lines")
        pan_lines = int(np.ceil(duration_s / self._pan_period / unit - 1e-9)) * unit
        start_gps = utc_to_gps(start_utc)

        self.terrain = Terrain.load(dem, geoid)
        self.dem_path = str(dem) if dem else None
        self.geoid_path = str(geoid) if geoid else None
        self.scene = Scene(seed=seed, clouds=clouds, texture=texture)
        self.orbit = Orbit(self.satellite)
        stop_gps = start_gps + pan_lines * self._pan_period
        t0 = np.floor(start_gps - EPHEMERIS_MARGIN_S - 1.0)
        t1 = np.ceil(stop_gps + EPHEMERIS_MARGIN_S + 1.0)
        self.orbit_table = OrbitTable(self.orbit, t0, t1, ORBIT_TRUTH_STEP_S)

        roll, pitch = self.pointing.roll_rad, self.pointing.pitch_rad
        name = self.pointing.target_name
        self.inst_to_body = instrument_to_body(inst.instrument_to_body_rad)
        if self.pointing.mode == "target":
            if self.pointing.lon_deg is None or self.pointing.lat_deg is None:
                raise ConfigError("target pointing needs lon and lat", field="pointing")
            tmid = 0.5 * (start_gps + stop_gps)
            p, v = self.orbit_table.state(tmid)
            h = float(self.terrain.height(self.pointing.lon_deg, self.pointing.lat_deg))
            tgt = geodetic_to_ecef(self.pointing.lon_deg, self.pointing.lat_deg, h)
            roll, pitch = target_angles(p, v, tgt, self.inst_to_body @ np.array([0.0, 0.0, 1.0]))
            name = name or f"{self.pointing.lat_deg:.4f}N {self.pointing.lon_deg:.4f}E"
        elif self.pointing.mode not in ("nadir", "angles"):
            raise ConfigError(f"unknown pointing mode {self.pointing.mode!r}", field="pointing")
        self.roll_rad, self.pitch_rad = float(roll), float(pitch)
        self._inputs.update(start_utc=iso_utc(start_utc, 6),
                            pointing=dataclasses.asdict(self.pointing))
        self.attitude = AttitudeLaw(self.orbit_table, roll, pitch)
        if len(name.encode("ascii", "replace")) > 32:
            raise ConfigError(f"target name {name!r} longer than 32 characters", field="target")
        self.datatake = Datatake(id=int(datatake_id), mode=int(mode), start_gps=float(start_gps),
                                 stop_gps=float(stop_gps), target=name, pan_lines=pan_lines,
                                 ms_lines=pan_lines // inst.ms_ratio)
        self.imager = Imager(inst, self.terrain, self.scene, self.attitude, self.inst_to_body)
        lon, lat = self._footprint_samples()
        # a DEM that misses the whole footprint is a wrong input, not a modelling choice
        self.outside_dem_fraction = 0.0
        if dem is not None:
            self.outside_dem_fraction = float(np.mean(~self.terrain.contains(lon, lat)))
            if self.outside_dem_fraction == 1.0:
                raise ConfigError(f"the DEM does not cover the datatake's footprint (lon "
                                  f"{lon.min():.3f}..{lon.max():.3f}°, lat {lat.min():.3f}..{lat.max():.3f}°)",
                                  path=dem, field="dem")
        # cloud threshold from the footprint's corners/centre lines
        if clouds > 0:
            self.scene.set_cloud_area(lon, lat)
        self._images_streamed: Path | None = None

    # ----------------------------------------------------------------- description
    def line_period(self, band: str) -> float:
        """Line period of ``band`` (s)."""
        return self.instrument.line_period_s(band)

    def n_lines(self, band: str) -> int:
        return self.datatake.pan_lines if band == "PAN" else self.datatake.ms_lines

    def line_time(self, band: str, line) -> np.ndarray:
        """Mid-exposure GPS time of ``line`` (counter since datatake start) of ``band``."""
        return self.datatake.start_gps + np.asarray(line, np.float64) * self.line_period(band)

    def _footprint_samples(self, n_lines: int = 9, n_det: int = 9):
        lon, lat = [], []
        times = self.line_time("PAN", np.linspace(0, self.datatake.pan_lines - 1, n_lines))
        for m in range(1, self.instrument.modules + 1):
            nd = self.instrument.band("PAN").detectors
            det = np.linspace(0, nd - 1, n_det).astype(int)
            lo, la, _ = self.imager.locate("PAN", m, times, det)
            lon.append(np.degrees(lo).ravel())
            lat.append(np.degrees(la).ravel())
        return np.concatenate(lon), np.concatenate(lat)

    # ----------------------------------------------------------------- published ancillary
    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *stream])

    def ephemeris_records(self) -> np.ndarray:
        """:data:`EPHEMERIS_RECORD` at ``downlink.ephemeris_hz`` on whole multiples of the
        period (GPS s) covering the datatake ± 5 s, ITRF m and m/s with the profile noise
        (``ephemeris_noise_m``, ``velocity_noise_mps``, 1σ per axis); quality 1 (3-D fix)."""
        from telemetry.orbit import published_ephemeris
        t = self._grid(self.satellite.downlink.ephemeris_hz, EPHEMERIS_MARGIN_S)
        p, v = self.orbit_table.state(t)
        rng = self._rng(101)
        p, v = published_ephemeris(p, v, self.satellite.ephemeris_noise_m,
                                   self.satellite.velocity_noise_mps, rng)
        rec = np.zeros(len(t), EPHEMERIS_RECORD)
        rec["gps_time"], rec["position"], rec["velocity"] = t, p, v
        rec["quality"] = 1
        rec["satellites"] = rng.integers(7, 13, len(t))
        return rec

    def attitude_records(self) -> np.ndarray:
        """:data:`ATTITUDE_RECORD` at ``downlink.attitude_hz`` covering the datatake ± 1 s:
        body→ITRF quaternion (scalar first, noisy by ``attitude_noise_rad`` 1σ per axis),
        body rate (rad/s, truth), status 0 (nominal)."""
        from telemetry.attitude import published_attitude
        t = self._grid(self.satellite.downlink.attitude_hz, ATTITUDE_MARGIN_S)
        q = published_attitude(self.attitude.quaternion(t), self.satellite.attitude_noise_rad,
                               self._rng(102))
        rec = np.zeros(len(t), ATTITUDE_RECORD)
        rec["gps_time"], rec["q"], rec["rate"] = t, q, self.attitude.rate(t)
        return rec

    def housekeeping_records(self) -> np.ndarray:
        """:data:`HOUSEKEEPING_RECORD` at ``downlink.housekeeping_hz``: PAN line period (ns),
        TDI stages (PAN), focal-plane temperature (°C), gain codes (module-major, band
        order of the profile, 20 entries; 0 = the nominal gain the profile describes)."""
        t = self._grid(self.satellite.downlink.housekeeping_hz, EPHEMERIS_MARGIN_S)
        rec = np.zeros(len(t), HOUSEKEEPING_RECORD)
        rec["gps_time"] = t
        rec["line_period_ns"] = int(round(self._pan_period * 1e9))
        rec["tdi"] = self.instrument.band("PAN").tdi_stages
        rec["fp_temp_c"] = self.instrument.focal_plane_temperature_c
        rec["gain_code"] = 0
        return rec

    def _grid(self, hz: float, margin: float) -> np.ndarray:
        dt_ = 1.0 / hz
        k0 = np.floor((self.datatake.start_gps - margin) / dt_)
        k1 = np.ceil((self.datatake.stop_gps + margin) / dt_)
        return np.arange(k0, k1 + 1) * dt_

    # ----------------------------------------------------------------- image
    def block_lines(self, band: str, compression_scale: int = 1) -> int:
        """Lines per block of ``band`` (profile ``pan_block_lines``/``ms_block_lines`` × scale)."""
        pk = self.satellite.packets
        if compression_scale not in (1, pk.ccsds122_block_scale):
            raise ConfigError(f"compression_scale must be 1 or {pk.ccsds122_block_scale}, "
                              f"got {compression_scale}", field="compression_scale")
        return (pk.pan_block_lines if band == "PAN" else pk.ms_block_lines) * compression_scale

    def n_blocks(self, compression_scale: int = 1) -> int:
        return self.datatake.pan_lines // self.block_lines("PAN", compression_scale)

    def iter_blocks(self, compression_scale: int = 1,
                    truth_dir: str | Path | None = None) -> Iterator[ImageBlock]:
        """Yield every :class:`ImageBlock` of the datatake in time order: for each block
        time, modules 1..M, bands in profile order. Memory is bounded (the blocks of one
        block time, plus a few halo lines per band). ``truth_dir``: also stream the
        DN into the truth sidecar's ``image/M<m>_<band>.npy`` (staged; :meth:`write_truth`
        with the same directory completes it and renames it into place)."""
        from telemetry.imaging import blur, digitise, halo_lines
        inst = self.instrument
        bands = inst.band_names
        nb = self.n_blocks(compression_scale)
        sinks = {}
        if truth_dir is not None:
            stage = self._stage_dir(Path(truth_dir))
            (stage / "image").mkdir(parents=True, exist_ok=True)
            for m in range(1, inst.modules + 1):
                for b in bands:
                    sinks[m, b] = np.lib.format.open_memmap(
                        stage / "image" / f"M{m}_{b}.npy", mode="w+", dtype=np.uint16,
                        shape=(self.n_lines(b), inst.band(b).detectors))
        cache: dict = {}
        calib = {(m, b): inst.detector_calibration(b, m) for m in range(1, inst.modules + 1) for b in bands}
        modules = list(range(1, inst.modules + 1))
        for k in range(nb):
            fresh = {}
            for bi, b in enumerate(bands):
                band = inst.band(b)
                nd = band.detectors
                bl = self.block_lines(b, compression_scale)
                l0, l1 = k * bl, (k + 1) * bl
                hal = halo_lines(band.mtf_nyquist)
                have = cache.get(b)
                if have is not None and have[0] == l0 - hal:
                    first_new, prev = have[0] + have[1].shape[0], have[1]
                else:
                    first_new, prev = l0 - hal, None
                lines = np.arange(first_new, l1 + hal)
                # every module of the band at once: one geometry pass per line
                rad = self.imager.radiance(b, modules, self.line_time(b, lines))[0]
                if prev is not None:
                    rad = np.concatenate([prev, rad], axis=0)
                cache[b] = (l1 - hal, rad[-2 * hal:].copy())
                rad = blur(rad, band.mtf_nyquist, axis=0)[hal:hal + bl]
                for m in modules:
                    r = blur(rad[:, (m - 1) * nd:m * nd], band.mtf_nyquist, axis=1)
                    dark, gain = calib[m, b]
                    # noise drawn per base block (scale 1) so the DN do not depend on the
                    # block scale the formatter chose
                    base = self.block_lines(b, 1)
                    fresh[m, b] = np.concatenate([
                        digitise(r[j:j + base], band, inst, dark, gain,
                                 self._rng(1000 + (l0 + j) // base, m, bi))
                        for j in range(0, bl, base)], axis=0)
            for m in modules:
                for b in bands:
                    bl = self.block_lines(b, compression_scale)
                    l0 = k * bl
                    dn = fresh[m, b]
                    if sinks:
                        sinks[m, b][l0:l0 + bl] = dn
                    yield ImageBlock(m, b, l0, float(self.line_time(b, l0)), dn)
        for s in sinks.values():
            s.flush()
        if sinks:
            self._images_streamed = Path(truth_dir)
        del sinks

    # ----------------------------------------------------------------- truth
    @staticmethod
    def _stage_dir(out_dir: Path) -> Path:
        return out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"

    def geoloc_grid(self, band: str, module: int) -> dict:
        """Sparse truth geolocation of ``band``/``module``: every base block's first line and
        the last line, every :data:`GEOLOC_DETECTOR_STEP`-th detector and the last;
        lon/lat degrees, h metres above the WGS84 ellipsoid; ``cloud`` (bool) where the
        truth scene has cloud at that ground point."""
        n = self.n_lines(band)
        lines = np.unique(np.r_[np.arange(0, n, self.block_lines(band)), n - 1])
        nd = self.instrument.band(band).detectors
        det = np.unique(np.r_[np.arange(0, nd, GEOLOC_DETECTOR_STEP), nd - 1])
        times = self.line_time(band, lines)
        lon, lat, h = self.imager.locate(band, module, times, det)
        lon, lat = np.degrees(lon), np.degrees(lat)
        return {"line": lines.astype(np.int32), "detector": det.astype(np.int32),
                "gps_time": times, "lon": lon, "lat": lat, "h": h,
                "cloud": self.scene.cloud_mask(lon, lat)}

    def truth_dict(self) -> dict:
        """The scene/orbit/attitude/datatake parameters written to ``truth.json``."""
        from telemetry.imaging import sun_angles
        inst, sat = self.instrument, self.satellite
        dtk = self.datatake
        tmid = 0.5 * (dtk.start_gps + dtk.stop_gps)
        # swath centre: the instrument boresight (ψx = ψy = 0)
        lo, la, hh = self.imager.locate_los(np.array([[0.0, 0.0, 1.0]]), [tmid])
        centre = (float(np.degrees(lo[0, 0])), float(np.degrees(la[0, 0])), float(hh[0, 0]))
        zen, az = sun_angles(tmid, centre[0], centre[1])
        return {
            "version": TRUTH_VERSION,
            "satellite": sat.name, "norad_id": sat.norad_id, "scid": sat.scid,
            "tle": [self.orbit.tle.line1, self.orbit.tle.line2],
            "instrument": inst.name,
            "datatake": {**dtk.to_dict(), "start_utc": iso_utc(gps_to_utc(dtk.start_gps), 6),
                         "stop_utc": iso_utc(gps_to_utc(dtk.stop_gps), 6)},
            "line_period_s": {b: self.line_period(b) for b in inst.band_names},
            "first_line_gps": {b: float(self.line_time(b, 0)) for b in inst.band_names},
            "lines": {b: self.n_lines(b) for b in inst.band_names},
            "time_convention": "line L of band b exposed (mid-exposure) at first_line_gps[b] + L·line_period_s[b]",
            "pointing": {"mode": self.pointing.mode, "roll_rad": self.roll_rad,
                         "pitch_rad": self.pitch_rad, "target_lon_deg": self.pointing.lon_deg,
                         "target_lat_deg": self.pointing.lat_deg, "target": dtk.target},
            "frames": {"attitude": "yaw-steered geodetic nadir frame · Rx(roll) · Ry(pitch); "
                                   "q body->ITRF scalar first",
                       "instrument_to_body": "v_body = Rz(yaw) Ry(pitch) Rx(roll) v_inst, "
                                             "instrument_to_body_rad = (roll, pitch, yaw)",
                       "itrf": "skyfield ITRS without polar motion"},
            "swath_centre": {"lon_deg": centre[0], "lat_deg": centre[1], "h_m": centre[2],
                             "gps_time": tmid},
            "sun": {"zenith_deg": zen, "azimuth_deg": az},
            "terrain": {"dem": self.dem_path, "geoid": self.geoid_path, "source": self.terrain.source,
                        "surface": "DEM + geoid (ellipsoidal)" if self.dem_path else
                                   ("geoid" if self.geoid_path else "WGS84 ellipsoid h=0"),
                        "outside_dem_fraction": self.outside_dem_fraction},
            "scene": self.scene.describe(),
            "noise": {"ephemeris_m": sat.ephemeris_noise_m, "velocity_mps": sat.velocity_noise_mps,
                      "attitude_rad": sat.attitude_noise_rad, "read_noise_dn": inst.read_noise_dn,
                      "full_well_e": inst.full_well_e},
            "seed": self.seed,
            "orbit_truth_step_s": ORBIT_TRUTH_STEP_S,
            "attitude_truth_step_s": ATTITUDE_TRUTH_STEP_S,
            "geoloc_detector_step": GEOLOC_DETECTOR_STEP,
            "inputs": self._inputs,
        }

    def write_truth(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        """Write the truth sidecar (docs/developing.md): orbit.npy, attitude.npy,
        image/*.npy (generated here unless :meth:`iter_blocks` streamed them to the same
        ``out_dir``), geoloc/*.npz, reflectance/<band>.tif, truth.json (``extra`` merged in:
        the formatter adds impairments, keys, packets). Written in a temporary sibling
        directory renamed into place; an existing ``out_dir`` is replaced."""
        out_dir = Path(out_dir)
        stage = self._stage_dir(out_dir)
        streamed = self._images_streamed is not None and self._images_streamed == out_dir
        if not streamed:
            if stage.exists():
                shutil.rmtree(stage)
            for _ in self.iter_blocks(1, truth_dir=out_dir):
                pass
        inst = self.instrument
        # exact orbit and attitude
        t = self.orbit_table.times
        orb = np.zeros(len(t), [("gps_time", "f8"), ("position", "f8", (3,)), ("velocity", "f8", (3,))])
        orb["gps_time"], orb["position"], orb["velocity"] = t, self.orbit_table.position, self.orbit_table.velocity
        np.save(stage / "orbit.npy", orb)
        ta = np.arange(self.datatake.start_gps - ATTITUDE_MARGIN_S,
                       self.datatake.stop_gps + ATTITUDE_MARGIN_S + 1e-9, ATTITUDE_TRUTH_STEP_S)
        att = np.zeros(len(ta), [("gps_time", "f8"), ("q", "f8", (4,))])
        att["gps_time"], att["q"] = ta, self.attitude.quaternion(ta)
        np.save(stage / "attitude.npy", att)
        (stage / "geoloc").mkdir(exist_ok=True)
        lon_all, lat_all = [], []
        for m in range(1, inst.modules + 1):
            for b in inst.band_names:
                g = self.geoloc_grid(b, m)
                np.savez(stage / "geoloc" / f"M{m}_{b}.npz", **g)
                lon_all.append(g["lon"].ravel())
                lat_all.append(g["lat"].ravel())
        self._write_reflectance(stage / "reflectance", np.concatenate(lon_all), np.concatenate(lat_all))
        info = self.truth_dict()
        if extra:
            info.update(extra)
        tmp = stage / "truth.json.tmp"
        tmp.write_text(json.dumps(info, indent=2, default=str))
        os.replace(tmp, stage / "truth.json")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(stage, out_dir)
        self._images_streamed = None
        return out_dir

    def _write_reflectance(self, folder: Path, lon: np.ndarray, lat: np.ndarray) -> None:
        import rasterio
        from rasterio.transform import from_origin
        folder.mkdir(parents=True, exist_ok=True)
        pan_gsd = self.imager.footprint_m("PAN", [self.datatake.start_gps])
        lon_min, lon_max, lat_min, lat_max = lon.min(), lon.max(), lat.min(), lat.max()
        clat = np.cos(np.radians(0.5 * (lat_min + lat_max)))
        w_m = (lon_max - lon_min) * 111320.0 * clat
        h_m = (lat_max - lat_min) * 110574.0
        res_m = max(pan_gsd, max(w_m, h_m) / REFLECTANCE_MAX_SIDE)
        dlat = res_m / 110574.0
        dlon = res_m / (111320.0 * clat)
        nx = int(np.ceil((lon_max - lon_min) / dlon)) + 1
        ny = int(np.ceil((lat_max - lat_min) / dlat)) + 1
        lons = lon_min + dlon * (np.arange(nx) + 0.5)
        lats = lat_max - dlat * (np.arange(ny) + 0.5)
        glon, glat = np.meshgrid(lons, lats)
        gh = self.terrain.height(glon, glat) if self.dem_path or self.geoid_path else np.zeros_like(glon)
        transform = from_origin(lon_min, lat_max, dlon, dlat)
        for b in self.instrument.band_names:
            r = self.scene.reflectance(b, glon, glat, gh, footprint_m=res_m).astype(np.float32)
            tmp = folder / f".{b}.tif.tmp"
            with rasterio.open(tmp, "w", driver="GTiff", width=nx, height=ny, count=1,
                               dtype="float32", crs="EPSG:4326", transform=transform,
                               compress="deflate", tiled=True) as ds:
                ds.write(r, 1)
                ds.set_band_description(1, f"{b} TOA reflectance (truth)")
            os.replace(tmp, folder / f"{b}.tif")
        # truth cloud mask on the same grid (1 = cloud), for validating level1's cloud mask
        cm = self.scene.cloud_mask(glon, glat).astype(np.uint8)
        tmp = folder / ".cloud_mask.tif.tmp"
        with rasterio.open(tmp, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="uint8",
                           crs="EPSG:4326", transform=transform, compress="deflate", tiled=True) as ds:
            ds.write(cm, 1)
            ds.set_band_description(1, "truth cloud mask (1 = cloud)")
        os.replace(tmp, folder / "cloud_mask.tif")


#: Mont Ventoux summit (lon, lat degrees), the demo target on the SRTM tile N44E005
VENTOUX = (5.2789, 44.1741)


def centred_start(cfg, satellite_name: str, lon_deg: float, lat_deg: float,
                  near_utc: dt.datetime | str, duration_s: float, window_s: float = 300.0) -> dt.datetime:
    """UTC start (ms-rounded) of a ``duration_s`` nadir datatake centred on the instant the
    satellite's ground track passes closest to (``lon_deg``, ``lat_deg``), searched within
    ± ``window_s`` of ``near_utc``. E.g. SPOT-6 over Mont Ventoux near
    2026-11-29T10:03:26Z: 2 s → 10:03:28.911Z, 8 s → 10:03:25.911Z."""
    from telemetry.orbit import Orbit, ecef_to_geodetic, geodetic_to_ecef
    if isinstance(near_utc, str):
        near_utc = parse_utc(near_utc)
    orb = Orbit(cfg.satellite(satellite_name))
    target = geodetic_to_ecef(lon_deg, lat_deg, 0.0)

    def closest(t: np.ndarray) -> float:
        lon, lat, _ = ecef_to_geodetic(orb.state(t)[0])
        return float(t[int(np.argmin(np.linalg.norm(geodetic_to_ecef(lon, lat, 0.0) - target, axis=1)))])

    g0 = utc_to_gps(near_utc)
    tc = closest(g0 + np.arange(-window_s, window_s, 1.0))
    tc = closest(tc + np.arange(-1.0, 1.0, 0.001))
    ms = round((tc - duration_s / 2.0) * 1000.0)
    u = gps_to_utc(ms / 1000.0)
    return u + dt.timedelta(microseconds=round(u.microsecond / 1000.0) * 1000 - u.microsecond)


def benchmark(cfg, instrument_name: str = "reduced", duration_s: float = 2.0,
              satellite: str = "SPOT-6", start_utc: str = "2026-11-29T10:03:26Z", **kw) -> dict:
    """Generate one datatake's blocks (no truth) and return ``{"mpixel_per_s", "pixels",
    "seconds", "setup_seconds"}``. Extra keywords go to :class:`Acquisition`."""
    t0 = time.perf_counter()
    acq = Acquisition(cfg, satellite, instrument_name, start_utc, duration_s, **kw)
    t1 = time.perf_counter()
    px = 0
    for blk in acq.iter_blocks():
        px += blk.dn.size
    t2 = time.perf_counter()
    return {"pixels": px, "seconds": t2 - t1, "setup_seconds": t1 - t0,
            "mpixel_per_s": px / 1e6 / (t2 - t1)}
