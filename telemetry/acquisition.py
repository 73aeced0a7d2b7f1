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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from decode.formats import ATTITUDE, EPHEMERIS, HOUSEKEEPING


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
    """A simulated datatake of ``satellite_name`` with instrument profile ``instrument_name``.

    ``start_utc``: datetime or ISO-8601 string; ``duration_s`` > 0 (rounded up to whole
    blocks). ``dem``/``geoid``: optional paths (GDAL-readable; DEM heights above the geoid
    when a geoid is given, otherwise taken as ellipsoidal). With no DEM the ground is the
    WGS84 ellipsoid (h = 0), or the geoid surface when only ``geoid`` is given.
    ``texture``: optional GeoTIFF replacing the synthetic land cover. ``clouds``: cloud
    cover fraction 0..1. ``seed``: everything random (scene, noise) derives from it.
    """

    def __init__(self, cfg, satellite_name: str, instrument_name: str,
                 start_utc: dt.datetime | str, duration_s: float, *,
                 pointing: Pointing | None = None, dem: str | Path | None = None,
                 geoid: str | Path | None = None, texture: str | Path | None = None,
                 clouds: float = 0.0, seed: int = 1, datatake_id: int = 1,
                 mode: int = 0) -> None:
        raise NotImplementedError("being implemented")

    # ----------------------------------------------------------------- description
    datatake: Datatake

    def line_period(self, band: str) -> float:
        """Line period of ``band`` (s)."""
        raise NotImplementedError

    def line_time(self, band: str, line: np.ndarray | int) -> np.ndarray:
        """Mid-exposure GPS time of ``line`` (counter since datatake start) of ``band``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- published ancillary
    def ephemeris_records(self) -> np.ndarray:
        """:data:`EPHEMERIS_RECORD` at ``downlink.ephemeris_hz`` on whole GPS seconds
        covering the datatake with a margin, ITRF metres / m/s with the profile noise."""
        raise NotImplementedError

    def attitude_records(self) -> np.ndarray:
        """:data:`ATTITUDE_RECORD` at ``downlink.attitude_hz`` covering the datatake with a
        margin: body→ITRF quaternion (scalar first, noisy by ``attitude_noise_rad``),
        body rate (rad/s, body frame), status 0 (nominal)."""
        raise NotImplementedError

    def housekeeping_records(self) -> np.ndarray:
        """:data:`HOUSEKEEPING_RECORD` at ``downlink.housekeeping_hz``: PAN line period (ns),
        TDI stages, focal-plane temperature, gain codes (module-major, band order of the
        profile, 20 entries)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- image
    def block_lines(self, band: str, compression_scale: int = 1) -> int:
        """Lines per block of ``band`` (profile ``pan_block_lines``/``ms_block_lines`` × scale)."""
        raise NotImplementedError

    def iter_blocks(self, compression_scale: int = 1,
                    truth_dir: str | Path | None = None) -> Iterator[ImageBlock]:
        """Yield every :class:`ImageBlock` of the datatake in time order: for each block
        time, modules 1..M, bands in profile order. Memory is bounded (one block time is
        generated at a time). ``truth_dir``: also stream the DN into
        ``truth_dir/image/M<m>_<band>.npy`` as they are generated (so
        :meth:`write_truth` need not generate the image twice)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- truth
    def write_truth(self, out_dir: str | Path, extra: dict | None = None) -> Path:
        """Write the truth sidecar (docs/developing.md): orbit.npy, attitude.npy,
        image/*.npy (generated here unless :meth:`iter_blocks` streamed them),
        geoloc/*.npz, reflectance/<band>.tif, truth.json (``extra`` merged in: the
        formatter adds impairments, keys, packets). Atomic (temp dir + rename)."""
        raise NotImplementedError


def benchmark(cfg, instrument_name: str = "reduced", duration_s: float = 2.0, **kw) -> dict:
    """Generate one datatake's blocks and return ``{"mpixel_per_s", "pixels", "seconds"}``."""
    raise NotImplementedError
