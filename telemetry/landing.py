"""The antenna terminal's landing layout (``../shared/ICD.md`` §1), as the simulator writes it.

Per pass, in the landing directory::

    <pass_id>_A.bin, <pass_id>_B.bin     raw channel bit streams
    <pass_id>.json                       the pass manifest, written LAST by atomic rename

Manifest keys (ICD §1): ``satellite, norad_id, station, pass_id, aos, los`` (UTC ISO-8601),
``max_elevation_deg``, ``channels: [{name, file, bytes, sha256}]``, ``terminal: {ebn0_db,
lock_ratio}``. Its presence means the pass is complete: channel files are written under
temporary names (``.<file>.tmp-<pid>``) and renamed first; the manifest is renamed last.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from pathlib import Path

from srd.errors import StorageError
from srd.timescale import as_utc, iso_utc


def station_code(name: str) -> str:
    """Three-letter station code of a station name: its first three letters/digits, upper
    case (``Montpellier-DR`` → ``MON``)."""
    s = re.sub(r"[^A-Za-z0-9]", "", name).upper()
    return (s + "XXX")[:3]


def pass_id(satellite: str, start: dt.datetime, station: str) -> str:
    """Deterministic pass id ``<SAT>_<YYYYMMDDTHHMMSS>_<STN>``, e.g. ``SPOT6_20261129T100326_MON``
    (satellite name without separators, datatake start UTC, :func:`station_code`)."""
    sat = re.sub(r"[^A-Za-z0-9]", "", satellite).upper()
    return f"{sat}_{as_utc(start):%Y%m%dT%H%M%S}_{station_code(station)}"


def channel_file(pid: str, channel: str) -> str:
    return f"{pid}_{channel}.bin"


def temp_path(out_dir: Path, name: str) -> Path:
    """Temporary name of ``name`` in ``out_dir`` (hidden, tagged with the process id)."""
    return Path(out_dir) / f".{name}.tmp-{os.getpid()}"


def ebn0_from_ber(ber: float) -> float:
    """Eb/N0 (dB) at which uncoded BPSK/QPSK has bit error rate ``ber`` (inverse of
    ½·erfc(√(Eb/N0))). The file holds post-Viterbi bits, so this is the terminal's
    equivalent figure, not a link budget. ``ber`` ≤ 1e-12 is reported as 1e-12."""
    from scipy.special import erfcinv
    ber = min(max(ber, 1e-12), 0.49)
    return round(10.0 * math.log10(float(erfcinv(2.0 * ber)) ** 2), 2)


def max_elevation_deg(cfg, sat, aos: dt.datetime, los: dt.datetime, step_s: float = 0.5) -> float:
    """Largest elevation (degrees above the WGS84 horizon, geometric) of ``sat`` seen from the
    configured station over [aos, los] (SGP4 via skyfield, sampled every ``step_s``)."""
    import numpy as np
    from skyfield.api import wgs84
    from telemetry.passes import _timescale, earth_satellite
    st = cfg.station
    site = wgs84.latlon(st.latitude_deg, st.longitude_deg, elevation_m=st.altitude_m)
    span = (as_utc(los) - as_utc(aos)).total_seconds()
    n = max(2, int(math.ceil(span / step_s)) + 1)
    t0 = as_utc(aos)
    times = [t0 + dt.timedelta(seconds=s) for s in np.linspace(0.0, span, n)]
    t = _timescale().from_datetimes(times)
    alt = (earth_satellite(sat) - site).at(t).altaz()[0].degrees
    return float(np.max(alt))


def write_manifest(out_dir: str | Path, manifest: dict) -> Path:
    """Write ``<pass_id>.json`` atomically (temp file, fsync, rename); returns its path."""
    out_dir = Path(out_dir)
    final = out_dir / f"{manifest['pass_id']}.json"
    tmp = temp_path(out_dir, final.name)
    try:
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except OSError as e:
        raise StorageError(f"cannot write the pass manifest ({e.strerror})", path=final) from None
    return final


def build_manifest(*, satellite: str, norad_id: int, station: str, pid: str, aos: dt.datetime,
                   los: dt.datetime, max_elevation: float, channels: list[dict], ebn0_db: float,
                   lock_ratio: float) -> dict:
    """The ICD §1 manifest dict (key order as in the ICD)."""
    return {"satellite": satellite, "norad_id": int(norad_id), "station": station, "pass_id": pid,
            "aos": iso_utc(aos, 6), "los": iso_utc(los, 6),
            "max_elevation_deg": round(float(max_elevation), 3),
            "channels": [{k: c[k] for k in ("name", "file", "bytes", "sha256")} for c in channels],
            "terminal": {"ebn0_db": float(ebn0_db), "lock_ratio": round(float(lock_ratio), 6)}}
