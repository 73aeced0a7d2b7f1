"""``srd config check|show``."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import warnings


def register(sub) -> None:
    p = sub.add_parser("config", help="check or show the station configuration",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  srd config check\n  srd --config /etc/srd/station.toml config show --json")
    csub = p.add_subparsers(dest="action", metavar="<action>", required=True)
    c = csub.add_parser("check", help="validate every file; exit 3 with file/key/reason on error")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=check)
    s = csub.add_parser("show", help="print the validated configuration (key files named, never read)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=show)


def _load(args):
    from station_config import load_config
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cfg = load_config(args.config)
    return cfg, [str(x.message) for x in w]


def check(args) -> int:
    from srd.cli import emit_json
    cfg, warns = _load(args)
    tles = {}
    for s in cfg.satellites.values():
        t = s.tle()
        tles[s.name] = {"norad_id": t.norad_id, "epoch": t.epoch.isoformat(),
                        "age_days": round(t.age_days(dt.datetime.now(dt.timezone.utc)), 2)}
    keys_ok = {}
    for k in cfg.keys:
        try:
            cfg.key(k)
            keys_ok[k] = "ok"
        except Exception as e:  # report, never print the key
            keys_ok[k] = f"error: {e}"
    result = {"config": str(cfg.source), "valid": True, "station": cfg.station.name,
              "satellites": sorted(cfg.satellites), "instruments": sorted(cfg.instruments),
              "tle": tles, "keys": keys_ok, "catalogue": cfg.catalogue.backend, "warnings": warns}
    if args.json:
        emit_json(result)
    else:
        print(f"{cfg.source}: valid")
        print(f"  station      {cfg.station.name} ({cfg.station.latitude_deg:.4f}°, "
              f"{cfg.station.longitude_deg:.4f}°, {cfg.station.altitude_m:.0f} m)")
        for n, t in tles.items():
            print(f"  satellite    {n}: TLE epoch {t['epoch']} ({t['age_days']} days old)")
        print(f"  instruments  {', '.join(sorted(cfg.instruments))}")
        for k, v in keys_ok.items():
            print(f"  key {k:<8d} {v}")
        print(f"  catalogue    {cfg.catalogue.backend}")
        for w in warns:
            print(f"warning: {w}", file=sys.stderr)
    return 3 if any(v != "ok" for v in keys_ok.values()) else 0


def show(args) -> int:
    from srd.cli import emit_json
    cfg, warns = _load(args)
    d = cfg.public_dict()
    if args.json:
        emit_json(d)
    else:
        _print_tree(d)          # an indented view (the stdlib cannot write TOML)
    for w in warns:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _print_tree(d, indent=0):
    for k, v in d.items():
        if isinstance(v, dict):
            print(" " * indent + f"{k}:")
            _print_tree(v, indent + 2)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            print(" " * indent + f"{k}:")
            for i, item in enumerate(v):
                print(" " * (indent + 2) + f"- [{i}]")
                _print_tree(item, indent + 4)
        else:
            print(" " * indent + f"{k}: {v}")
