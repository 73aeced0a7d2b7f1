#!/usr/bin/env python3
"""Orthorectification throughput benchmark: srd vs gdalwarp -rpc vs OTB OrthoRectification.

Input: a multi-Mpixel UInt16 sensor image made by mirror-tiling the real Pléiades PAN crop of
``../shared/data`` under the real full-scene DIMAP RPC (so the geometry, relief and DEM are
real: SRTM N44E005 + EGM96 geoid for every tool), written as a GeoTIFF with GDAL RPC tags (the
crop's ``.geom`` beside it for OTB). Every tool produces the same UTM 31N 0.5 m grid with
bicubic resampling:

* ``srd xN``: the ortho engine with N Dask threads (DEM + geoid, location grid ≤ 0.01 px, Keys
  cubic, tiles of ``--tile`` pixels) writing what the peers write: a tiled, uncompressed
  GeoTIFF — the per-core comparison; ``srd tile T``: the same with other tile sizes (peak RSS);
* ``srd product x1``: the complete ``ortho.stage.run`` (COG with DEFLATE, overviews, mask,
  quicklook, thumbnail), for reference;
* ``gdalwarp``: ``-rpc -to RPC_DEM=… -to RPC_DEM_SRS=<geoid> -r cubic -wo NUM_THREADS=1`` (one
  thread — GDAL 3.6 loses the geoid when multi-threaded), default approximation ``-et 0.125``;
* ``OTB``: ``otbcli_OrthoRectification`` with one ITK thread, ``bco`` radius 2, its default
  4 m displacement grid, ``-outputs.mode orthofit`` on gdalwarp's grid.

Each run is a subprocess: wall time, CPU time (user + sys, the per-core measure on a shared
machine) and peak RSS are its own. Throughput is output Mpixel per CPU-second (= per core)
and per wall-second; ratios are against OTB and gdalwarp measured in the same run. Targets
(issue 6): ≥ 3× OTB per core, memory bounded by the tile size, near-linear 1→2 threads.

usage: benchmarks/bench_ortho.py [--size 8000] [--tile 1024] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def make_input(d: Path, size: int) -> Path:
    """``size``² UInt16 sensor image (mirror-tiled crop) at full-scene offset (5000, 5000)."""
    import rasterio
    from level1.rpc import read_dimap
    with rasterio.open(SHARED / "pleiades_ventoux" / "left_image.tif") as s:
        a = s.read(1)
    reps = -(-size // a.shape[0])
    big = np.block([[a if (i + j) % 2 == 0 else a[::-1, ::-1] for j in range(reps)] for i in range(reps)])
    big = np.ascontiguousarray(big[:size, :size])
    rpc = read_dimap(SHARED / "pleiades_ventoux" / "RPC_PHR1B_P_201308051042194_SEN_690908101-001.XML").shifted(5000, 5000)
    out = d / "sensor.tif"
    with rasterio.open(out, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint16",
                       tiled=True, blockxsize=512, blockysize=512) as o:
        o.write(big, 1)
        o.rpcs = rpc.to_rasterio()
    return out


def timed(cmd: list[str], env=None) -> dict:
    """Run ``cmd``; wall, CPU (user+sys of the child) seconds and its peak RSS (MB)."""
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True, env={**os.environ, **(env or {})})
        _, status, ru = os.wait4(p.pid, 0)          # this child's own rusage (CPU, peak RSS)
        wall = time.perf_counter() - t0
        fo.seek(0)
        fe.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{cmd[0]} failed: {fe.read()[-2000:]}")
        out = fo.read()
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024.0,
            "stdout": out}


def engine(args) -> None:
    """The ortho engine alone, producing what the peers produce (a tiled, uncompressed GeoTIFF
    on the given grid): DEM + geoid, location grid, Dask tiles, resampling, writing."""
    import warnings
    warnings.simplefilter("ignore")
    import rasterio
    from affine import Affine
    from ortho.cog import TiledSink
    from level1.dem import load_heights
    from ortho.grid_algo import OutputGrid, build_location_grid
    from ortho.source import FileSource, find_rpc
    from ortho.tiling import ortho_dask, stream_to
    t0 = time.perf_counter()
    rpc, _ = find_rpc(args.input)
    l, b, r, t = args.bounds
    grid = OutputGrid.from_bounds("EPSG:32631", (l, b, r, t), 0.5, tap=False)
    lon, lat = grid.lonlat(np.array([0, grid.height, 0, grid.height]), np.array([0, 0, grid.width, grid.width]))
    hs = load_heights(SHARED / "dem" / "N44E005.hgt", geoid=SHARED / "dem" / "egm96_15.gtx",
                      bounds_lonlat=(lon.min(), lat.min(), lon.max(), lat.max()))
    lg = build_location_grid(rpc.project, grid, hs)
    arr = ortho_dask(FileSource(args.input), grid, lg, hs, "cubic", np.uint16, args.tile, as_xarray=False)
    sink = TiledSink(Path(args.out), grid, 1, np.uint16)
    stream_to(arr, sink.write, workers=args.workers)
    sink.close()
    print(json.dumps({"wall_s": time.perf_counter() - t0, "grid": lg.to_dict()}))


def child(args) -> None:
    """One srd ortho run in this process (called as a subprocess by the benchmark)."""
    import warnings
    warnings.simplefilter("ignore")
    if args.engine:
        return engine(args)
    from ortho.stage import run
    from station_config import load_config
    rep = run(args.input, args.out, load_config(), dem=SHARED / "dem" / "N44E005.hgt",
              geoid=SHARED / "dem" / "egm96_15.gtx", crs="EPSG:32631", resolution=0.5,
              bounds=tuple(args.bounds) if args.bounds else None, tile=args.tile,
              workers=args.workers, pansharpen="none")
    print(json.dumps(rep.to_dict()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=8000, help="input side (pixels)")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--bounds", type=float, nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    py = sys.executable
    res = {}
    with tempfile.TemporaryDirectory(prefix="bench_ortho_") as td:
        d = Path(td)
        src = make_input(d, args.size)
        # warm the Numba cache so compilation is not timed; a second tiny run measures the fixed
        # cost of a process (interpreter, imports of numpy/rasterio/pyproj/dask/numba, setup)
        tiny = ["--bounds", "675300", "4897100", "675400", "4897200", "--tile", "256"]
        timed([py, __file__, "--child", "--engine", "--input", str(src), "--out", str(d / "warm.tif"), *tiny],
              env={"NUMBA_NUM_THREADS": "1"})
        fixed = timed([py, __file__, "--child", "--engine", "--input", str(src), "--out", str(d / "warm2.tif"),
                       *tiny], env={"NUMBA_NUM_THREADS": "1"})
        base = [py, __file__, "--child", "--input", str(src), "--tile", str(args.tile)]
        r1 = timed(base + ["--out", str(d / "o1"), "--workers", "1"], env={"NUMBA_NUM_THREADS": "1"})
        rep = json.loads(r1["stdout"].strip().splitlines()[-1])
        g = rep["grids"]["ORTHO"]
        t = g["transform"]
        bounds = [t[2], t[5] + t[4] * g["height"], t[2] + t[0] * g["width"], t[5]]
        npx = g["width"] * g["height"]
        res["srd product x1"] = r1
        res["srd product x1"]["report_timings"] = rep["timings_s"]
        eng = base + ["--engine", "--bounds", *map(str, bounds)]
        for w in (1, 2):
            res[f"srd x{w}"] = timed(eng + ["--out", str(d / f"e{w}.tif"), "--workers", str(w)],
                                     env={"NUMBA_NUM_THREADS": "1"})
        for tl in (512, 2048):                      # memory vs tile size (1 thread)
            e = [a if a != str(args.tile) else str(tl) for a in eng]
            res[f"srd tile {tl}"] = timed(e + ["--out", str(d / f"t{tl}.tif"), "--workers", "1"],
                                          env={"NUMBA_NUM_THREADS": "1"})
        geoid = f"+proj=longlat +datum=WGS84 +geoidgrids={SHARED / 'dem' / 'egm96_15.gtx'} +vunits=m +no_defs"
        gdal_out = d / "gdal.tif"
        res["gdalwarp"] = timed(["gdalwarp", "-q", "-overwrite", "-rpc", "-to", f"RPC_DEM={SHARED / 'dem' / 'N44E005.hgt'}",
                                 "-to", f"RPC_DEM_SRS={geoid}", "-wo", "NUM_THREADS=1", "-t_srs", "EPSG:32631",
                                 "-tr", "0.5", "0.5", "-te", *map(str, bounds), "-r", "cubic",
                                 "-co", "TILED=YES", str(src), str(gdal_out)], env={"GDAL_NUM_THREADS": "1"})
        # OTB reads the crop-offset .geom beside a copy with the crop's pixel-offset geotransform
        import rasterio
        from level1.rpc import read_dimap
        otb_in = d / "otb_in.tif"
        with rasterio.open(src) as s, rasterio.open(otb_in, "w", driver="GTiff", width=s.width, height=s.height,
                                                    count=1, dtype="uint16", tiled=True,
                                                    transform=rasterio.Affine(1, 0, 5000, 0, 1, 5000)) as o:
            o.write(s.read(1), 1)
        shutil.copy(SHARED / "pleiades_ventoux" / "left_image.geom", d / "otb_in.geom")
        dem_dir = d / "dem"
        dem_dir.mkdir()
        os.symlink(SHARED / "dem" / "N44E005.hgt", dem_dir / "N44E005.hgt")
        res["OTB"] = timed(["otbcli_OrthoRectification", "-io.in", str(otb_in), "-io.out", str(d / "otb.tif"),
                            "uint16", "-map", "epsg", "-map.epsg.code", "32631", "-outputs.mode", "orthofit",
                            "-outputs.ortho", str(gdal_out), "-elev.dem", str(dem_dir),
                            "-elev.geoid", str(SHARED / "dem" / "egm96_15.gtx"), "-interpolator", "bco",
                            "-opt.ram", "256"],
                           env={"ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1", "OTB_MAX_RAM_HINT": "256"})
        # agreement of the three outputs on this run (sub-pixel shifts of interior windows)
        from ortho import quality_algo as Q
        from scipy.ndimage import binary_erosion
        with rasterio.open(d / "o1" / "sensor" / rep["products"]["ORTHO"]) as a:
            ours = a.read(1).astype(float)
            ov = a.dataset_mask() > 0
        agree = {}
        for k, f in (("gdalwarp", gdal_out), ("OTB", d / "otb.tif")):
            with rasterio.open(f) as b:
                ref = b.read(1).astype(float)
            n = min(ref.shape[0], ours.shape[0]), min(ref.shape[1], ours.shape[1])
            v = binary_erosion(ov[:n[0], :n[1]] & (ref[:n[0], :n[1]] > 0), iterations=4)
            s = Q.windowed_shifts(ref[:n[0], :n[1]], ours[:n[0], :n[1]], v, window=64, step=512)
            agree[k] = {"windows": s.windows, "mean_px": s.mean_px, "max_px": s.max_px}
    for k, r in res.items():
        r.pop("stdout", None)
        r["mpix_per_cpu_s"] = npx / 1e6 / r["cpu_s"]
        r["mpix_per_wall_s"] = npx / 1e6 / r["wall_s"]
    fixed_cpu = fixed["cpu_s"]
    steady = npx / 1e6 / max(1e-9, res["srd x1"]["cpu_s"] - fixed_cpu)
    out = {"input_px": args.size ** 2, "output_px": npx, "tile": args.tile, "runs": res,
           "ratio_per_core_vs_OTB": res["srd x1"]["mpix_per_cpu_s"] / res["OTB"]["mpix_per_cpu_s"],
           "ratio_per_core_vs_gdalwarp": res["srd x1"]["mpix_per_cpu_s"] / res["gdalwarp"]["mpix_per_cpu_s"],
           "speedup_1_to_2_threads_wall": res["srd x1"]["wall_s"] / res["srd x2"]["wall_s"],
           "cpu_ratio_2_to_1_threads": res["srd x2"]["cpu_s"] / res["srd x1"]["cpu_s"],
           "process_fixed_cpu_s": fixed_cpu, "srd_steady_mpix_per_cpu_s": steady,
           "ratio_steady_per_core_vs_OTB": steady / res["OTB"]["mpix_per_cpu_s"],
           "agreement": agree, "load_average": os.getloadavg()}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"ortho benchmark: input {args.size}x{args.size} UInt16, output {npx / 1e6:.1f} Mpixel "
          f"(UTM 0.5 m, cubic, SRTM+EGM96), tile {args.tile}, load avg {os.getloadavg()[0]:.1f}")
    print(f"{'':10s} {'wall s':>8s} {'CPU s':>8s} {'Mpx/CPU-s':>10s} {'Mpx/wall-s':>10s} {'peak RSS MB':>12s}")
    for k, r in res.items():
        print(f"{k:10s} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['mpix_per_cpu_s']:10.2f} "
              f"{r['mpix_per_wall_s']:10.2f} {r['peak_rss_mb']:12.0f}")
    print(f"per core: srd / OTB = {out['ratio_per_core_vs_OTB']:.2f}x, srd / gdalwarp = "
          f"{out['ratio_per_core_vs_gdalwarp']:.2f}x (target >= 3x OTB)")
    print(f"srd fixed cost of a process (interpreter + imports + setup): {fixed_cpu:.2f} CPU-s; "
          f"steady state {steady:.2f} Mpx/CPU-s = {out['ratio_steady_per_core_vs_OTB']:.2f}x OTB")
    print(f"speed-up 1 -> 2 threads (wall): {out['speedup_1_to_2_threads_wall']:.2f}x; CPU time x2/x1 "
          f"{out['cpu_ratio_2_to_1_threads']:.2f} (1.00 = no parallel overhead; wall is only meaningful "
          f"on an idle machine, load avg above)")
    print(f"srd product phases (1 thread, wall s): {res['srd product x1']['report_timings']}")
    for k, a in agree.items():
        print(f"agreement with {k}: mean {a['mean_px']:.4f} px, max {a['max_px']:.4f} px over {a['windows']} windows")


if __name__ == "__main__":
    main()
