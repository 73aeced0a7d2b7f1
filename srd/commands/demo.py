"""``srd demo``: the README's main job — simulate a pass and process it end to end.

On the embedded defaults (example station, SPOT-6, reduced instrument profile, the
2026-11-29 pass over Mont Ventoux): the antenna-terminal twin writes the pass into the
station's landing directory like a terminal would, the ``process_pass`` Prefect flow
ingests, decodes, builds Level-1 scenes, orthorectifies and publishes them to the
catalogue, and the catalogue is searched over the pass's footprint. Prefect runs against
``PREFECT_API_URL`` when set (e.g. a running ``srd serve``), otherwise its local ephemeral
API; either way the run is visible in the Prefect UI of that API.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

EXAMPLES = """examples:
  srd demo                                   2 s reduced-profile datatake centred on Mont Ventoux
  srd demo --duration 8s --ber 1e-5
  srd demo --dem ../shared/data/dem/N44E005.hgt --geoid ../shared/data/dem/egm96_15.gtx --json
  srd --config /etc/srd/station.toml demo --satellite SPOT-7 --start 2026-11-29T21:10:00Z"""

NEAR = "2026-11-29T10:03:26Z"          # SPOT-6 pass over the example station and Mont Ventoux
_SHARED_DEM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dem"


def register(sub) -> None:
    p = sub.add_parser("demo", help="simulate a pass and process it end to end through Prefect (the main job)",
                       description=__doc__.split("\n\n")[1], epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--satellite", default="SPOT-6")
    p.add_argument("--start", help="datatake start UTC (default: centred on Mont Ventoux, pass of "
                                   f"{NEAR[:10]})")
    p.add_argument("--duration", default="2s", help="datatake length (default 2s)")
    p.add_argument("--profile", default="reduced", help="instrument profile (default reduced)")
    p.add_argument("--compression", default="ccsds121", choices=("raw", "ccsds121", "ccsds122"))
    p.add_argument("--ber", type=float, default=1e-6, help="channel bit error rate (default 1e-6)")
    p.add_argument("--dem", type=Path, help="DEM (default: ../shared/data/dem/N44E005.hgt beside the "
                                            "checkout when present, else the ellipsoid)")
    p.add_argument("--geoid", type=Path, help="geoid grid (.gtx) the DEM heights refer to")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    # a station has no internet: Prefect's temporary server must not try to phone home
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from orchestration.catalogue import open_catalogue
    from orchestration.flows import process_pass
    from srd.cli import emit_json, load_station_config
    from srd.errors import ConfigError
    from srd.timescale import parse_utc
    from telemetry.acquisition import VENTOUX, centred_start
    from telemetry.channel import Impairments
    from srd.timescale import parse_duration
    from telemetry.simulate import run as simulate

    cfg = load_station_config(args)
    try:
        duration = parse_duration(args.duration)
        start = parse_utc(args.start) if args.start else centred_start(cfg, args.satellite, *VENTOUX, NEAR, duration)
    except ValueError as e:
        raise ConfigError(str(e), field="start/duration") from None
    dem, geoid = args.dem, args.geoid
    if dem is None and (_SHARED_DEM / "N44E005.hgt").exists():
        dem, geoid = _SHARED_DEM / "N44E005.hgt", geoid or _SHARED_DEM / "egm96_15.gtx"
    say = (lambda *a: None) if args.json else print
    t0 = time.perf_counter()
    say(f"1/3 simulating {args.satellite} {args.profile} datatake {start:%Y-%m-%dT%H:%M:%S.%f}"[:-3]
        + f"Z + {duration:g} s into {cfg.directory('landing')}" + (f" (DEM {dem})" if dem else " (no DEM)"))
    sim = simulate(cfg, cfg.directory("landing"), args.satellite, start, duration, args.profile,
                   compression=args.compression, impairments=Impairments(ber=args.ber, seed=1),
                   dem=dem, geoid=geoid)
    manifest = cfg.directory("landing") / f"{sim.pass_id}.json"
    say(f"    {sim.summary}")
    say("2/3 process_pass flow (ingest → decode → level1 → ortho → publish) through Prefect")
    summary = process_pass(str(manifest), str(cfg.source), dem=str(dem) if dem else None,
                           geoid=str(geoid) if geoid else None)
    say("    " + ", ".join(f"{k} {v}" for k, v in summary["stages"].items()))
    say("3/3 catalogue search over the datatake")
    from orchestration.catalogue.base import SearchQuery
    bbox = _search_box(cfg, args.satellite, start, duration)
    day = f"{start:%Y-%m-%d}T00:00:00Z/{start:%Y-%m-%d}T23:59:59Z"
    with open_catalogue(cfg) as store:
        hits = store.search(SearchQuery.build(bbox=bbox, datetime=day))
    items = [{"collection": h.get("collection"), "id": h["id"], "datetime": h["properties"].get("datetime"),
              "eo:cloud_cover": h["properties"].get("eo:cloud_cover"),
              "assets": sorted(h.get("assets", {}))} for h in hits]
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
    api = PREFECT_API_URL.value()
    result = {"pass_id": sim.pass_id, "manifest": str(manifest), "stages": summary["stages"],
              "published": summary.get("published"), "catalogue": cfg.catalogue.backend,
              "search": {"bbox": bbox, "items": items},
              "prefect_ui": PREFECT_UI_URL.value() if api else None,
              "wall_time_s": round(time.perf_counter() - t0, 1)}
    if args.json:
        emit_json(result)
        return 0
    for it in items:
        cc = it["eo:cloud_cover"]
        print(f"    {it['collection']:<16s} {it['id']:<40s} cloud cover "
              + (f"{cc:.1f} %" if cc is not None else "n/a"))
    print(f"{len(items)} catalogue item(s) over {['%.4f' % v for v in bbox]}; products under {cfg.paths.root}")
    if api:
        print(f"Prefect UI: {result['prefect_ui']}/runs")
    else:
        print("Prefect ran on its local ephemeral API; to watch runs in the UI, start the station "
              "('srd serve', UI on http://127.0.0.1:4200) and run 'srd demo' again with PREFECT_API_URL "
              "set as 'srd serve' prints.")
    print(f"done in {result['wall_time_s']} s")
    return 0


def _search_box(cfg, satellite: str, start, duration: float, half_deg: float = 0.25) -> list[float]:
    """lon/lat box (degrees) around the sub-satellite point at mid-datatake: what an operator
    would type to find the pass's scenes."""
    import datetime as dt

    from skyfield.api import wgs84

    from telemetry.passes import _timescale, earth_satellite
    sat = earth_satellite(cfg.satellite(satellite))
    sp = wgs84.subpoint_of(sat.at(_timescale().from_datetime(start + dt.timedelta(seconds=duration / 2))))
    lon, lat = sp.longitude.degrees, sp.latitude.degrees
    return [round(lon - half_deg, 4), round(lat - half_deg, 4), round(lon + half_deg, 4), round(lat + half_deg, 4)]
