"""``srd passes``: predicted passes over the station."""
from __future__ import annotations

import argparse
import datetime as dt

EXAMPLES = """examples:
  srd passes                                 next 48 h, all satellites
  srd passes --hours 24 --satellite SPOT-6
  srd passes --start 2026-11-29T00:00:00Z --json"""


def register(sub) -> None:
    p = sub.add_parser("passes", help="predicted AOS / culmination / LOS over the station",
                       description="Predict passes of the configured satellites over the station "
                                   "(SGP4 from each satellite's TLE, minimum elevation from the station).",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=48.0, help="prediction window length (default 48)")
    p.add_argument("--satellite", action="append", help="satellite name (repeatable; default all)")
    p.add_argument("--start", help="window start, ISO-8601 UTC (default now)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from srd.cli import emit_json, load_station_config
    from srd.errors import ConfigError
    from srd.timescale import parse_utc
    from telemetry.passes import predict_passes
    cfg = load_station_config(args)
    try:
        start = parse_utc(args.start) if args.start else dt.datetime.now(dt.timezone.utc)
    except ValueError as e:
        raise ConfigError(f"--start: {e}", field="start") from None
    passes = predict_passes(cfg, args.satellite, start, args.hours)
    if args.json:
        emit_json({"station": cfg.station.name, "start": start.isoformat(), "hours": args.hours,
                   "min_elevation_deg": cfg.station.min_elevation_deg,
                   "passes": [p.to_dict() for p in passes]})
        return 0
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"Passes over {cfg.station.name} (min elevation {cfg.station.min_elevation_deg:g}°), "
                    f"{args.hours:g} h from {start:%Y-%m-%d %H:%M}Z")
    for col in ("satellite", "AOS (UTC)", "culmination", "LOS", "duration", "max el.", "az AOS→LOS"):
        t.add_column(col, no_wrap=True)
    for p in passes:
        t.add_row(p.satellite, f"{p.aos:%Y-%m-%d %H:%M:%S}", f"{p.culmination:%H:%M:%S}",
                  f"{p.los:%H:%M:%S}", f"{p.duration_s / 60:.1f} min", f"{p.max_elevation_deg:.1f}°",
                  f"{p.aos_azimuth_deg:.0f}°→{p.los_azimuth_deg:.0f}°")
    Console().print(t)
    if not passes:
        print("no pass in the window")
    return 0
