"""Validated configuration models (pydantic v2, frozen).

Units are in the field names or docstrings: angles in radians unless ``_deg``; times in
seconds; lengths in metres. Every number the ICD marks *(profile)* is a field here
(``../shared/ICD.md``), so a licensed ICD is a configuration change, not a code change.

Frames used by the instrument model (documented once, used by simulator and level1):

* **instrument frame**: X along-track (forward, the flight direction for a nadir
  datatake), Y across-track (X × Z... completing a right-handed set with Z), Z towards
  nadir. A detector's line of sight is ``normalize([tan ψx, tan ψy, 1])`` where ψx is the
  along-track and ψy the across-track viewing angle (radians), as in DIMAP V2.
* **body frame**: the spacecraft frame; ``instrument_to_body`` rotates instrument vectors
  into it (small misalignment angles, radians, applied roll→pitch→yaw).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BandName = Literal["PAN", "B0", "B1", "B2", "B3"]
BAND_NAMES: tuple[str, ...] = ("PAN", "B0", "B1", "B2", "B3")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------- station

class Paths(_Frozen):
    """Station directories. Relative paths are resolved against ``root``; a relative
    ``root`` against the working directory at load time."""

    root: Path = Path("srd-data")
    landing: Path = Path("landing")
    archive: Path = Path("archive")
    quarantine: Path = Path("quarantine")
    work: Path = Path("work")
    products: Path = Path("products")

    def resolved(self, name: str) -> Path:
        """Absolute path of directory ``name`` (``landing``, ``archive``...)."""
        p = getattr(self, name)
        return p if p.is_absolute() else (self.root / p).resolve()


class Station(_Frozen):
    """Ground station: WGS84 geodetic position of the antenna."""

    name: str
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    altitude_m: float = Field(ge=-500, le=9000, description="height above the WGS84 ellipsoid (m)")
    min_elevation_deg: float = Field(default=5.0, ge=0, lt=90)


# ---------------------------------------------------------------------------- satellite (ICD profile)

class ChannelCoding(_Frozen):
    """CCSDS 131.0-B channel coding (ICD §2)."""

    asm: str = "1ACFFC1D"
    rs_n: int = 255
    rs_k: int = 223
    interleave: int = Field(default=4, ge=1, le=8)
    dual_basis: bool = True
    gf_poly: int = 0x187          # x^8+x^7+x^2+x+1
    first_root: int = 112         # generator roots alpha^(root_step*j), j = first_root..+2E-1
    root_step: int = 11
    randomiser: bool = True
    randomiser_poly_taps: tuple[int, ...] = (8, 7, 5, 3, 0)   # h(x)=x^8+x^7+x^5+x^3+1
    randomiser_seed: int = 0xFF
    asm_max_bit_errors: int = Field(default=4, ge=0, le=10, description="decoder lock tolerance")
    flywheel_frames: int = Field(default=4, ge=0, description="missed ASMs before loss of lock")

    @field_validator("asm")
    @classmethod
    def _hex(cls, v: str) -> str:
        int(v, 16)
        if len(v) % 2:
            raise ValueError("ASM must be a whole number of bytes in hex")
        return v.upper()

    @property
    def asm_bytes(self) -> bytes:
        return bytes.fromhex(self.asm)

    @property
    def parity(self) -> int:
        return self.rs_n - self.rs_k

    @property
    def codeblock_length(self) -> int:
        """Bytes after the ASM: 255·I."""
        return self.rs_n * self.interleave

    @property
    def frame_length(self) -> int:
        """AOS transfer frame length: 223·I (892 for I=4)."""
        return self.rs_k * self.interleave

    @property
    def cadu_length(self) -> int:
        return len(self.asm_bytes) + self.codeblock_length


class VirtualChannels(_Frozen):
    """VC map (ICD §3)."""

    ancillary: int = 0
    idle: int = 63
    image_by_module: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 4}
    #: physical channel → image modules it carries; the ancillary VC goes on every channel.
    modules_by_channel: dict[str, tuple[int, ...]] = {"A": (1, 2), "B": (3, 4)}

    def vcids_of_channel(self, channel: str) -> tuple[int, ...]:
        mods = self.modules_by_channel[channel]
        return (self.ancillary, *[self.image_by_module[m] for m in mods], self.idle)

    def module_of_vc(self, vcid: int) -> int | None:
        for m, v in self.image_by_module.items():
            if v == vcid:
                return m
        return None


class Apids(_Frozen):
    """APID map (ICD §4)."""

    image_base: int = 0x100
    module_stride: int = 0x10
    band_offset: dict[str, int] = {"PAN": 0, "B0": 1, "B1": 2, "B2": 3, "B3": 4}
    ephemeris: int = 0x010
    attitude: int = 0x011
    housekeeping: int = 0x012
    datatake: int = 0x013
    idle: int = 0x7FF

    def image(self, module: int, band: str) -> int:
        """APID of image data from ``module`` (1-based) and ``band``."""
        return self.image_base + self.module_stride * (module - 1) + self.band_offset[band]

    def image_source(self, apid: int) -> tuple[int, str] | None:
        """Inverse of :meth:`image`: (module, band) or None for a non-image APID."""
        rel = apid - self.image_base
        if rel < 0:
            return None
        m, b = divmod(rel, self.module_stride)
        for name, off in self.band_offset.items():
            if off == b:
                return m + 1, name
        return None


class PacketFormat(_Frozen):
    """Space packets and time code (ICD §4, CCSDS 133.0-B / 301.0-B)."""

    max_data_field: int = 65536
    cuc_coarse_octets: int = 4
    cuc_fine_octets: int = 3
    time_epoch: str = "1980-01-06T00:00:00Z"
    time_scale: Literal["GPS"] = "GPS"
    pan_block_lines: int = 32
    ms_block_lines: int = 8
    ccsds122_block_scale: int = 4
    sample_bits: int = 12


class Downlink(_Frozen):
    """Physical downlink and ancillary rates."""

    channel_rate_bps: float = Field(default=300e6, gt=0, description="per channel, coded bits/s")
    ephemeris_hz: float = 1.0
    attitude_hz: float = 16.0
    housekeeping_hz: float = 1.0


class Satellite(_Frozen):
    """One satellite: identity, orbit source and the ICD profile of its downlink."""

    name: str
    norad_id: int = Field(gt=0, lt=100000)
    scid: int = Field(ge=0, le=255)
    tle_file: Path
    instrument: str = "nominal"
    coding: ChannelCoding = ChannelCoding()
    virtual_channels: VirtualChannels = VirtualChannels()
    apids: Apids = Apids()
    packets: PacketFormat = PacketFormat()
    downlink: Downlink = Downlink()
    #: 1-sigma noise on published ancillary values (truth has none): metres, m/s, radians.
    ephemeris_noise_m: float = 0.5
    velocity_noise_mps: float = 5e-4
    attitude_noise_rad: float = 2e-6

    def tle(self):
        """The validated TLE of this satellite (read from ``tle_file``)."""
        from station_config.tle import read_tle
        return read_tle(self.tle_file)


# ---------------------------------------------------------------------------- instrument

class Band(_Frozen):
    """One spectral band of the focal plane (per module the same layout)."""

    name: BandName
    detectors: int = Field(gt=0, description="detectors per module")
    ifov_rad: float = Field(gt=0, description="across-track angular sampling (rad)")
    along_track_rad: float = Field(description="along-track viewing angle ψx of the array (rad)")
    bow_rad: float = 0.0          # ψx curvature at the module edge (rad), quadratic in position
    centre_nm: float
    absolute_gain: float = Field(gt=0, description="DN per W·m⁻²·sr⁻¹·µm⁻¹ (radiance = DN/gain + bias)")
    bias: float = 0.0
    solar_irradiance: float = Field(gt=0, description="W·m⁻²·µm⁻¹ at 1 AU")
    mtf_nyquist: float = Field(default=0.2, gt=0, le=1)
    tdi_stages: int = 1


class Instrument(_Frozen):
    """A NAOMI-class pushbroom focal plane (ICD §5).

    ``modules`` detector modules sit side by side across track; adjacent modules overlap
    by ``module_overlap_pan`` PAN detectors. MS arrays have 1/``ms_ratio`` of the PAN
    detectors at ``ms_ratio`` × the PAN IFOV and line period.
    """

    name: str
    modules: int = Field(default=4, ge=1, le=8)
    module_overlap_pan: int = Field(ge=0)
    pan_line_period_s: float = Field(gt=0)
    ms_ratio: int = 4
    bits: int = 12
    bands: tuple[Band, ...]
    distortion_k3: float = 0.0        # ψy += k3·ψy³ (rad⁻²): optical distortion
    instrument_to_body_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)  # roll, pitch, yaw
    dark_mean_dn: float = 40.0
    dark_std_dn: float = 3.0
    prnu_std: float = 0.01
    read_noise_dn: float = 1.5
    full_well_e: float = 60000.0
    calibration_seed: int = 6
    focal_plane_temperature_c: float = 20.0
    #: optional override of the satellite's channel rate, so a reduced profile makes small files.
    channel_rate_bps: float | None = None

    @model_validator(mode="after")
    def _check(self) -> "Instrument":
        names = [b.name for b in self.bands]
        if names[0] != "PAN" or len(set(names)) != len(names):
            raise ValueError(f"bands must start with PAN and be unique, got {names}")
        pan = self.bands[0]
        for b in self.bands[1:]:
            if b.detectors * self.ms_ratio != pan.detectors:
                raise ValueError(f"band {b.name}: {b.detectors} detectors × ms_ratio "
                                 f"{self.ms_ratio} != PAN {pan.detectors}")
        if self.module_overlap_pan >= pan.detectors:
            raise ValueError("module_overlap_pan must be smaller than the PAN array")
        return self

    def band(self, name: str) -> Band:
        for b in self.bands:
            if b.name == name:
                return b
        raise KeyError(f"instrument {self.name!r} has no band {name!r}")

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def line_period_s(self, band: str) -> float:
        return self.pan_line_period_s * (1 if band == "PAN" else self.ms_ratio)

    def module_centre_rad(self, module: int) -> float:
        """Across-track angle ψy of the centre of ``module`` (1-based), radians."""
        pan = self.bands[0]
        pitch = (pan.detectors - self.module_overlap_pan) * pan.ifov_rad
        return (module - (self.modules + 1) / 2.0) * pitch

    def viewing_angles(self, band: str, module: int) -> tuple[np.ndarray, np.ndarray]:
        """(ψx, ψy) of every detector of ``band`` in ``module``, radians, instrument frame.

        Detector ``i`` (0-based) sits at ψy = centre + (i − (n−1)/2)·ifov, plus cubic
        distortion; ψx is the band's along-track angle plus a quadratic bow.
        """
        b = self.band(band)
        i = np.arange(b.detectors, dtype=np.float64)
        u = (i - (b.detectors - 1) / 2.0) * b.ifov_rad
        psi_y = self.module_centre_rad(module) + u
        psi_y = psi_y + self.distortion_k3 * psi_y ** 3
        half = (b.detectors - 1) / 2.0 * b.ifov_rad
        psi_x = b.along_track_rad + b.bow_rad * (u / half) ** 2 if half > 0 else np.full_like(u, b.along_track_rad)
        return np.asarray(psi_x, np.float64), psi_y

    def detector_calibration(self, band: str, module: int) -> tuple[np.ndarray, np.ndarray]:
        """(dark signal DN, relative gain) per detector — the on-ground calibration tables.

        Deterministic from ``calibration_seed``; a licensed profile would point to measured
        tables instead. Relative gains have unit mean per module and band.
        """
        b = self.band(band)
        k = self.band_names.index(band)
        rng = np.random.default_rng([self.calibration_seed, module, k])
        dark = self.dark_mean_dn + self.dark_std_dn * rng.standard_normal(b.detectors)
        gain = 1.0 + self.prnu_std * rng.standard_normal(b.detectors)
        return dark, gain / gain.mean()


# ---------------------------------------------------------------------------- keys, catalogue, whole

class CatalogueConfig(_Frozen):
    """Where products are published (STAC)."""

    backend: Literal["embedded", "pgstac"] = "embedded"
    path: Path = Path("catalogue")              # embedded: directory under paths.root
    dsn: str | None = None                      # pgstac: postgresql://user@host:port/db
    api_url: str | None = None                  # stac-fastapi base URL when served

    @model_validator(mode="after")
    def _dsn(self) -> "CatalogueConfig":
        if self.backend == "pgstac" and not self.dsn:
            raise ValueError("backend 'pgstac' needs 'dsn'")
        return self


class OrthoConfig(_Frozen):
    """Defaults of the ortho stage (``[ortho]``); CLI options override them."""

    resampling: Literal["nearest", "bilinear", "cubic", "lanczos"] = "cubic"
    pansharpen: Literal["brovey", "gsa", "mtf-glp-hpm", "none"] = "mtf-glp-hpm"
    tile_size: int = Field(default=1024, ge=64, le=8192, description="output tile side (pixels)")
    grid_tolerance_px: float = Field(default=0.01, gt=0, le=1, description="inverse-location grid error bound (px)")
    coregistration_max_px: float = Field(default=2.0, gt=0, description="PAN/MS residual limit (MS px)")
    coregistration_correct: bool = True          # shift the MS by the measured residual before fusion
    workers: int | None = Field(default=None, ge=1, description="local threads (default: all cores)")
    dask_scheduler: str | None = None           # e.g. tcp://10.0.0.5:8786 → dask.distributed


class DemConfig(_Frozen):
    """The station's terrain model (``[dem]``), used by level1 (band registration, scene
    heights) and ortho when no DEM is given on the command line. ``path``: a GeoTIFF, an SRTM
    ``.hgt`` or a directory of tiles; ``geoid``: the ``.gtx`` grid its heights refer to (None:
    heights are above the WGS84 ellipsoid). Without a DEM, stages use ``default_height_m``
    (metres above the ellipsoid) and warn."""

    path: Path | None = None
    geoid: Path | None = None
    default_height_m: float = 0.0

    @model_validator(mode="after")
    def _exists(self) -> "DemConfig":
        for name in ("path", "geoid"):
            p = getattr(self, name)
            if p is not None and not Path(p).exists():
                raise ValueError(f"{name} {p} does not exist")
        if self.geoid is not None and self.path is None:
            raise ValueError("a geoid without a DEM path")
        return self


class StationConfig(_Frozen):
    """The whole validated configuration handed to every stage."""

    source: Path
    station: Station
    paths: Paths = Paths()
    satellites: dict[str, Satellite]
    instruments: dict[str, Instrument]
    keys: dict[int, Path] = {}
    catalogue: CatalogueConfig = CatalogueConfig()
    ortho: OrthoConfig = OrthoConfig()
    dem: DemConfig = DemConfig()

    @model_validator(mode="after")
    def _refs(self) -> "StationConfig":
        for s in self.satellites.values():
            if s.instrument not in self.instruments:
                raise ValueError(f"satellite {s.name!r} uses unknown instrument profile "
                                 f"{s.instrument!r} (known: {sorted(self.instruments)})")
        for k in self.keys:
            if not 1 <= k <= 255:
                raise ValueError(f"key id {k} outside 1..255 (0 means clear)")
        return self

    def satellite(self, name: str) -> Satellite:
        """Satellite by name (case-insensitive, ``SPOT6`` = ``SPOT-6``)."""
        from srd.errors import UnknownSatelliteError
        want = name.upper().replace("-", "").replace(" ", "")
        for n, s in self.satellites.items():
            if n.upper().replace("-", "").replace(" ", "") == want:
                return s
        raise UnknownSatelliteError(f"unknown satellite {name!r}; configured: "
                                    f"{', '.join(sorted(self.satellites))}", path=self.source,
                                    field="satellites")

    def satellite_by_scid(self, scid: int) -> Satellite | None:
        for s in self.satellites.values():
            if s.scid == scid:
                return s
        return None

    def instrument(self, name: str) -> Instrument:
        from srd.errors import ConfigError
        try:
            return self.instruments[name]
        except KeyError:
            raise ConfigError(f"unknown instrument profile {name!r}; configured: "
                              f"{', '.join(sorted(self.instruments))}", path=self.source,
                              field="instruments") from None

    def key(self, key_id: int) -> bytes:
        """AES-256 key bytes for ``key_id``. The bytes are never logged or put in messages."""
        from srd.errors import KeyMissingError
        path = self.keys.get(key_id)
        if path is None:
            raise KeyMissingError(f"no key configured for key id {key_id}", path=self.source,
                                  field=f"keys.{key_id}", key_id=key_id)
        try:
            text = Path(path).read_text().strip()
            raw = bytes.fromhex(text)
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) else "not hexadecimal"
            raise KeyMissingError(f"key file for key id {key_id} unreadable ({reason})",
                                  path=path, key_id=key_id) from None
        if len(raw) != 32:
            raise KeyMissingError(f"key id {key_id} must be 32 bytes (AES-256), file has {len(raw)}",
                                  path=path, key_id=key_id)
        return raw

    def directory(self, name: str) -> Path:
        return self.paths.resolved(name)

    def public_dict(self) -> dict:
        """JSON-able view for ``srd config show``: key files are named, never read."""
        return self.model_dump(mode="json")
