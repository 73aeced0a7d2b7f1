"""``srd demo``: the README's main job — simulate a pass and process it end to end.

Runs every stage that exists, in order, on the embedded defaults (example station,
SPOT-6, reduced instrument profile, the pass over Mont Ventoux of 2026-11-29), and says
which stages are not built yet. Once orchestration lands this goes through Prefect.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import time
from pathlib import Path

EXAMPLES = """examples:
  srd demo                                   2 s reduced-profile pass, all stages
  srd demo --duration 8s --profile nominal --out /data/srd-demo
  srd demo --dem ../shared/data/dem/N44E005.hgt --geoid ../shared/data/dem/egm96_15.gtx --json"""

DEFAULT_START = "2026-11-29T10:03:26Z"
_SHARED_DEM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dem"


def register(sub) -> None:
    p = sub.add_parser("demo", help="simulate a pass and process it end to end (the main job)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--satellite", default="SPOT-6")
    p.add_argument("--start", default=DEFAULT_START, help=f"datatake start UTC (default {DEFAULT_START})")
    p.add_argument("--duration", default="2s", help="datatake length, e.g. 2s (default)")
    p.add_argument("--profile", default="reduced", help="instrument profile (default reduced)")
    p.add_argument("--out", type=Path, help="data root (default: the station's paths.root)")
    p.add_argument("--dem", type=Path, help="DEM (default: ../shared/data/dem/N44E005.hgt when present)")
    p.add_argument("--geoid", type=Path, help="geoid grid (.gtx) for DEM heights above the geoid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from srd.cli import emit_json, load_station_config
    from srd.pipeline import STAGES, run_pipeline
    cfg = load_station_config(args)
    dem, geoid = args.dem, args.geoid
    if dem is None and (_SHARED_DEM / "N44E005.hgt").exists():
        dem, geoid = _SHARED_DEM / "N44E005.hgt", geoid or _SHARED_DEM / "egm96_15.gtx"
    t0 = time.perf_counter()
    result = run_pipeline(cfg, satellite=args.satellite, start=args.start, duration=args.duration,
                          profile=args.profile, root=args.out, dem=dem, geoid=geoid,
                          progress=not args.json)
    result["wall_time_s"] = round(time.perf_counter() - t0, 2)
    if args.json:
        emit_json(result)
    else:
        for st in result["stages"]:
            status = st["status"]
            print(f"  {st['stage']:<10s} {status:<8s} {st.get('summary', '')}")
        missing = [s["stage"] for s in result["stages"] if s["status"] == "missing"]
        if missing:
            print(f"stages not built yet: {', '.join(missing)}")
        print(f"outputs under {result['root']} ({result['wall_time_s']} s)")
    failed = [s for s in result["stages"] if s["status"] == "failed"]
    return 1 if failed else 0
