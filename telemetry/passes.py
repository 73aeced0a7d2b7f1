"""Pass prediction for the configured station (SGP4 via skyfield).

A pass is the interval during which the satellite is above the station's minimum
elevation: AOS (rise through ``min_elevation_deg``), culmination (maximum elevation) and
LOS (set). Times are UTC; elevations in degrees above the WGS84 local horizon (no
refraction: an antenna terminal tracks the geometric direction at X band).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from srd.errors import ConfigError
from srd.timescale import as_utc, iso_utc

_TS = None


def _timescale():
    # built-in leap-second/ΔT tables: never fetched from the network
    global _TS
    if _TS is None:
        from skyfield.api import load
        _TS = load.timescale(builtin=True)
    return _TS


@dataclass(frozen=True)
class PredictedPass:
    """One predicted pass over the station (UTC; degrees)."""

    satellite: str
    norad_id: int
    aos: dt.datetime
    culmination: dt.datetime
    los: dt.datetime
    max_elevation_deg: float
    aos_azimuth_deg: float
    los_azimuth_deg: float

    @property
    def duration_s(self) -> float:
        return (self.los - self.aos).total_seconds()

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("aos", "culmination", "los"):
            d[k] = iso_utc(d[k])
        d["duration_s"] = round(self.duration_s, 1)
        d["max_elevation_deg"] = round(self.max_elevation_deg, 2)
        d["aos_azimuth_deg"] = round(self.aos_azimuth_deg, 1)
        d["los_azimuth_deg"] = round(self.los_azimuth_deg, 1)
        return d


def earth_satellite(sat):
    """skyfield ``EarthSatellite`` from a configured :class:`~station_config.models.Satellite`."""
    from skyfield.api import EarthSatellite
    tle = sat.tle()
    return EarthSatellite(tle.line1, tle.line2, sat.name, _timescale())


def predict_passes(cfg, satellites: list[str] | None = None, start: dt.datetime | None = None,
                   hours: float = 48.0) -> list[PredictedPass]:
    """Passes of ``satellites`` (default: all configured) over the station in
    ``[start, start + hours]``, sorted by AOS. A pass already in progress at ``start`` or
    not finished at the end of the window is omitted (its AOS or LOS is outside it).
    """
    from skyfield.api import wgs84
    if hours <= 0:
        raise ConfigError(f"--hours must be positive, got {hours}", field="hours")
    start = as_utc(start or dt.datetime.now(dt.timezone.utc))
    ts = _timescale()
    st = cfg.station
    site = wgs84.latlon(st.latitude_deg, st.longitude_deg, elevation_m=st.altitude_m)
    t0, t1 = ts.from_datetime(start), ts.from_datetime(start + dt.timedelta(hours=hours))
    names = satellites or sorted(cfg.satellites)
    out: list[PredictedPass] = []
    for name in names:
        sat_cfg = cfg.satellite(name)
        sat = earth_satellite(sat_cfg)
        times, events = sat.find_events(site, t0, t1, altitude_degrees=st.min_elevation_deg)
        diff = sat - site
        cur: dict = {}
        for t, e in zip(times, events):
            if e == 0:
                cur = {"aos": t}
            elif e == 1 and "aos" in cur:
                # several culminations can occur in one low pass; keep the highest
                alt = diff.at(t).altaz()[0].degrees
                if alt > cur.get("alt", -91):
                    cur.update(cul=t, alt=alt)
            elif e == 2 and "cul" in cur:
                az_a = diff.at(cur["aos"]).altaz()[1].degrees
                az_l = diff.at(t).altaz()[1].degrees
                out.append(PredictedPass(sat_cfg.name, sat_cfg.norad_id,
                                         cur["aos"].utc_datetime(), cur["cul"].utc_datetime(),
                                         t.utc_datetime(), float(cur["alt"]), float(az_a), float(az_l)))
                cur = {}
    out.sort(key=lambda p: p.aos)
    return out
