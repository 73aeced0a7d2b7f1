"""GPS time ↔ UTC and the CCSDS Unsegmented time Code (CUC) of ICD §4.

GPS time: seconds since 1980-01-06T00:00:00 (GPS epoch), continuous, no leap seconds
(CCSDS 301.0-B-4 §3.2, level-2 epoch). UTC conversions use the leap-second table
below (GPS−UTC = 18 s since 2017-01-01); the table is data, update it when IERS
announces a new leap second.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

GPS_EPOCH = dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)

#: UTC dates at which GPS−UTC grew by one second (IERS Bulletin C).
LEAP_SECOND_DATES = (
    "1981-07-01", "1982-07-01", "1983-07-01", "1985-07-01", "1988-01-01", "1990-01-01",
    "1991-01-01", "1992-07-01", "1993-07-01", "1994-07-01", "1996-01-01", "1997-07-01",
    "1999-01-01", "2006-01-01", "2009-01-01", "2012-07-01", "2015-07-01", "2017-01-01",
)
_LEAP_UTC = np.array([(dt.datetime.fromisoformat(d).replace(tzinfo=dt.timezone.utc) - GPS_EPOCH)
                      .total_seconds() for d in LEAP_SECOND_DATES])
#: The same instants on the GPS scale (seconds since the GPS epoch).
_LEAP_GPS = _LEAP_UTC + np.arange(1, len(_LEAP_UTC) + 1)

CUC_FINE_SCALE = 2 ** 24  # 3 fine octets


def leap_seconds_at_utc(t: dt.datetime) -> int:
    """GPS−UTC (s) in force at UTC instant ``t``."""
    s = (as_utc(t) - GPS_EPOCH).total_seconds()
    return int(np.searchsorted(_LEAP_UTC, s, side="right"))


def as_utc(t: dt.datetime) -> dt.datetime:
    """Return ``t`` as an aware UTC datetime (naive datetimes are taken as UTC)."""
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def utc_to_gps(t: dt.datetime) -> float:
    """UTC datetime → GPS seconds since 1980-01-06 (float, s)."""
    t = as_utc(t)
    return (t - GPS_EPOCH).total_seconds() + leap_seconds_at_utc(t)


def gps_to_utc(gps_s: float) -> dt.datetime:
    """GPS seconds since 1980-01-06 → aware UTC datetime (microsecond resolution)."""
    leap = int(np.searchsorted(_LEAP_GPS, gps_s, side="right"))
    return GPS_EPOCH + dt.timedelta(seconds=float(gps_s) - leap)


def gps_to_utc64(gps_s: np.ndarray) -> np.ndarray:
    """Vectorised GPS seconds → ``datetime64[ns]`` UTC (naive, UTC by convention)."""
    gps_s = np.asarray(gps_s, dtype=np.float64)
    leap = np.searchsorted(_LEAP_GPS, gps_s, side="right")
    ns = np.round((gps_s - leap) * 1e9).astype(np.int64)
    return np.datetime64("1980-01-06T00:00:00", "ns") + ns.astype("timedelta64[ns]")


def parse_utc(text: str) -> dt.datetime:
    """Parse ISO-8601 UTC (``Z`` or ``+00:00``); raises ``ValueError`` on anything else."""
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    if t.utcoffset() != dt.timedelta(0):
        raise ValueError(f"{text!r} is not UTC")
    return t


def iso_utc(t: dt.datetime, digits: int = 3) -> str:
    """Aware datetime → ``YYYY-MM-DDTHH:MM:SS.sssZ``."""
    s = as_utc(t).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (s[: len(s) - 6 + digits] if digits else s[:-7]) + "Z"


def cuc_encode(gps_s: np.ndarray | float) -> np.ndarray:
    """GPS seconds → CUC 4 coarse + 3 fine octets (ICD §4), shape (..., 7) uint8, big-endian."""
    g = np.atleast_1d(np.asarray(gps_s, dtype=np.float64))
    coarse = np.floor(g).astype(np.int64)
    fine = np.round((g - coarse) * CUC_FINE_SCALE).astype(np.int64)
    carry = fine >= CUC_FINE_SCALE
    coarse, fine = coarse + carry, np.where(carry, 0, fine)
    out = np.empty(g.shape + (7,), np.uint8)
    for i in range(4):
        out[..., i] = (coarse >> (8 * (3 - i))) & 0xFF
    for i in range(3):
        out[..., 4 + i] = (fine >> (8 * (2 - i))) & 0xFF
    return out


def cuc_decode(octets: np.ndarray) -> np.ndarray:
    """CUC octets (..., 7) → GPS seconds (float64)."""
    o = np.asarray(octets, dtype=np.int64)
    coarse = (o[..., 0] << 24) | (o[..., 1] << 16) | (o[..., 2] << 8) | o[..., 3]
    fine = (o[..., 4] << 16) | (o[..., 5] << 8) | o[..., 6]
    return coarse + fine / CUC_FINE_SCALE


def parse_duration(text: str | float) -> float:
    """Duration text → seconds: ``"8s"``, ``"8"``, ``"1.5min"``, ``"250ms"``; numbers pass through.
    Raises ``ValueError`` naming the text."""
    import re
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|sec|min|m|h)?\s*", str(text))
    if not m:
        raise ValueError(f"duration {text!r}: expected e.g. 8s, 250ms or 1.5min")
    return float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "sec": 1.0, None: 1.0, "min": 60.0, "m": 60.0,
                                "h": 3600.0}[m.group(2)]
