"""``srd level1``: Level 0 directory → Level-1 scenes (COGs in sensor geometry + RPC, masks, metadata)."""
from __future__ import annotations

import argparse
import sys

EXAMPLES = """examples:
  srd level1 l0/SPOT6_20261129T100326 --out l1/
  srd level1 l0/SPOT6_20261129T100326 --out l1/ --dem N44E005.hgt --geoid egm96_15.gtx --json
  srd level1 l0/PASS --out l1/ --output reflectance --pan-gsd 1.5 --scene-length-km 60

Writes <out>/<pass_id>/<scene>/: IMG_<SAT>_P_*.TIF and IMG_<SAT>_MS_*.TIF (Cloud-Optimised
GeoTIFF, sensor geometry, RPCs as GDAL RPC metadata: `gdalwarp -rpc -to RPC_DEM=<dem>` and OTB
use them), MSK_* flag rasters, DIM_*.XML metadata, RPC_*_RPC.TXT; and level1_report.json.

exit status: 0 ok; 10 processed with data loss (missing lines masked, datatake errors);
7 unusable Level 0 / geometry error; 3 configuration error."""


def register(sub) -> None:
    p = sub.add_parser("level1", help="Level 0 → Level-1 scenes with RPC (sensor geometry)",
                       description="Line assembly, radiometric correction, module stitching and band "
                                   "registration on a perfect-sensor grid (physical model + DEM), RPC "
                                   "fit, scene cutting, cloud mask; COG + RPC + masks + DIMAP-like XML.",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    p.add_argument("level0", help="Level 0 directory (srd decode output: <out>/<pass_id>/)")
    p.add_argument("--out", required=True, metavar="DIR", help="Level-1 output directory")
    p.add_argument("--dem", help="DEM file or directory of tiles (GDAL-readable, geographic; heights above the geoid if --geoid)")
    p.add_argument("--geoid", help="geoid undulation grid (e.g. egm96_15.gtx) added to the DEM")
    p.add_argument("--output", choices=("dn", "radiance", "reflectance"), default="dn",
                   help="pixel values: equalised DN uint16 (default; calibration in the metadata), "
                        "TOA radiance or TOA reflectance float32")
    p.add_argument("--pan-gsd", type=float, default=1.5, metavar="M", help="PAN product sampling (m, default 1.5)")
    p.add_argument("--scene-length-km", type=float, default=60.0, help="scene length along track (km)")
    p.add_argument("--satellite", help="satellite name (default: from decode_report.json)")
    p.add_argument("--instrument", help="instrument profile (default: the one matching the image width)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args) -> int:
    from level1.run import Level1Options, run
    from srd.cli import emit_json, load_station_config

    cfg = load_station_config(args)
    opt = Level1Options(pan_gsd_m=args.pan_gsd, output=args.output,
                        scene_length_m=args.scene_length_km * 1000.0, dem=args.dem, geoid=args.geoid,
                        satellite=args.satellite, instrument=args.instrument)
    show = not (args.quiet or args.json) and sys.stderr.isatty()
    if show:
        from rich.progress import BarColumn, Progress, TimeElapsedColumn
        with Progress("[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(),
                      transient=True) as bar:
            task = bar.add_task("level1", total=1.0)
            report = run(args.level0, args.out, cfg, opt,
                         progress=lambda s, f: bar.update(task, completed=f, description=f"level1 {s}"))
    else:
        report = run(args.level0, args.out, cfg, opt)
    d = report.to_dict()
    if args.json:
        emit_json(d)
    else:
        print(f"{report.pass_id}: {len(report.scenes)} scene(s), status {report.status}, "
              f"{report.wall_time_s:.1f} s → {report.output_dir}")
        for s in report.scenes:
            mis = max((abs(v.get("drow") or 0) + abs(v.get("dcol") or 0)
                       for v in s["misregistration_ms_px"].values()), default=0.0)
            print(f"  {s['name']}: {s['pan']['cols']}×{s['pan']['rows']} PAN, cloud {s['cloud_cover_pct']:.1f} %, "
                  f"missing {s['missing_pct']:.2f} %, RPC fit max {s['rpc_fit']['check_max_px']:.4f} px, "
                  f"misregistration ≤ {mis:.3f} MS px, sun zenith {s['sun_zenith_deg']:.1f}°")
        for w in report.warnings:
            print(f"warning: {w}", file=sys.stderr)
    for e in report.errors:
        print(f"srd level1: error: {e.get('message', e)}", file=sys.stderr)
    return 10 if report.status == "data_loss" else 0
