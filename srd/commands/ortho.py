"""``srd ortho`` — orthorectify (and pansharpen) a Level-1 product or any RPC image."""
from __future__ import annotations

import argparse

EPILOG = """examples:
  srd ortho l1/SPOT6_20261129T100326_MON/ --out ortho/ --dem dem/ --geoid egm96_15.gtx   (every scene)
  srd ortho l1/SPOT6_20261129_100326/ --out ortho/ --crs EPSG:2154 --pansharpen gsa --json
  srd ortho IMG_PHR1B_P_001.tif --ms IMG_PHR1B_MS_002.tif --dem N44E005.hgt --geoid egm96_15.gtx \\
            --resolution 0.5 --resampling lanczos --out ortho/
  srd ortho image_with_rpc_tags.tif --height 350 --out ortho/     (flat terrain at 350 m ellipsoidal)

The image's RPCs come from its GDAL RPC metadata (TIFF tags, .RPB, _RPC.TXT) or a side file
(<stem>.geom, <stem>_RPC.TXT, RPC_*.XML), or --rpc. Heights: --dem (file or directory of
.hgt/GeoTIFF tiles) with --geoid when the DEM is geoid-referenced (SRTM is), or a constant
--height above the WGS84 ellipsoid. Exit codes: 0 ok, 7 bad product/geometry, 8 storage."""


def register(sub) -> None:
    p = sub.add_parser("ortho", help="orthorectify and pansharpen to COGs",
                       description="Orthorectify a Level-1 directory or any GDAL-readable image "
                                   "with RPCs; pansharpen PAN+MS; write COGs, quicklook, thumbnail.",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("input", help="Level-1 pass or scene directory, or an image with RPCs (PAN, or a single image)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--ms", metavar="IMAGE", help="MS image to pansharpen with the PAN input")
    p.add_argument("--crs", metavar="CRS", help="output CRS, e.g. EPSG:2154 (default: UTM zone of the scene)")
    p.add_argument("--resolution", type=float, metavar="M", help="PAN pixel size in CRS units (default: GSD rounded)")
    p.add_argument("--bounds", type=float, nargs=4, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"),
                   help="output extent in the output CRS (default: the footprint)")
    p.add_argument("--resampling", choices=("nearest", "bilinear", "cubic", "lanczos"),
                   help="resampling kernel (default: [ortho] resampling, cubic)")
    h = p.add_mutually_exclusive_group()
    h.add_argument("--dem", metavar="PATH", help="DEM file or directory (.hgt, GeoTIFF)")
    h.add_argument("--height", type=float, metavar="M", help="constant height above the WGS84 ellipsoid (m)")
    p.add_argument("--geoid", metavar="PATH", help="geoid grid (.gtx) when DEM heights are above the geoid")
    p.add_argument("--pansharpen", choices=("brovey", "gsa", "mtf-glp-hpm", "none"),
                   help="fusion method (default: [ortho] pansharpen, mtf-glp-hpm)")
    p.add_argument("--rpc", metavar="FILE", help="RPC file of the input (.geom, _RPC.TXT, DIMAP XML)")
    p.add_argument("--ms-rpc", metavar="FILE", help="RPC file of the MS image")
    p.add_argument("--tile", type=int, metavar="PX", help="tile side in output pixels (default 1024)")
    p.add_argument("--workers", type=int, metavar="N", help="local threads (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDR", help="dask.distributed scheduler address (tcp://host:8786)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=handle)


def handle(args) -> int:
    from srd.cli import emit_json, load_station_config
    cfg = load_station_config(args)
    client = None
    if args.scheduler:
        from distributed import Client
        client = Client(args.scheduler)
    from ortho.stage import run
    kw = dict(ms=args.ms, crs=args.crs, resolution=args.resolution, resampling=args.resampling,
              dem=args.dem, height=args.height, geoid=args.geoid, pansharpen=args.pansharpen,
              rpc=args.rpc, ms_rpc=args.ms_rpc, bounds=tuple(args.bounds) if args.bounds else None,
              tile=args.tile, workers=args.workers, client=client)
    try:
        if args.json:
            report = run(args.input, args.out, cfg, **kw)
        else:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description:>4}"), BarColumn(), TextColumn("{task.completed}/{task.total} tiles"),
                          TimeElapsedColumn(), transient=True) as bar:
                tasks = {}

                def progress(step, done, total):
                    if step not in tasks:
                        tasks[step] = bar.add_task(step, total=total)
                    bar.update(tasks[step], completed=done)
                report = run(args.input, args.out, cfg, progress=progress, **kw)
    finally:
        if client is not None:
            client.close()
    if args.json:
        emit_json(report.to_dict())
        return 0
    if hasattr(report, "scenes"):
        print(f"{report.product_dir}  ({len(report.scenes)} scenes, {report.wall_time_s:.1f} s)")
        for r in report.scenes:
            _print(r)
    else:
        _print(report)
    return 0


def _print(report) -> None:
    print(f"{report.product_dir}")
    for k, v in report.products.items():
        print(f"  {k:<10} {v}")
    print(f"  crs        {report.crs}, {', '.join(f'{k} {v:g} m' for k, v in report.resolution_m.items())}")
    print(f"  heights    {report.heights}")
    for k, g in report.location_grids.items():
        print(f"  grid {k:<6} step {g['step_px']} px, {len(g['height_levels_m'])} height layers, "
              f"max error {g['max_error_px']:.4f} px")
    if report.coregistration:
        c = report.coregistration
        print(f"  PAN/MS     residual {c['mean_px']:.2f} MS px"
              + (f" (corrected: {c['after_correction_mean_px']:.2f})" if "after_correction_mean_px" in c else ""))
    if report.pansharpening:
        print(f"  pansharpen {report.pansharpening['method']}")
    print(f"  time       {report.timings_s['total']:.1f} s ({report.scheduler}, {report.tiles} tiles)")
    for w in report.warnings:
        print(f"warning: {w}")
