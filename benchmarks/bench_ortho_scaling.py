#!/usr/bin/env python3
"""Ortho scaling benchmark: speed-up from 1 to 2 Dask workers (issue 6: "near-linear").

Same input as ``bench_ortho.py`` (``--size``² UInt16 sensor image, mirror-tiled real Pléiades
crop under the real DIMAP RPC, SRTM N44E005 + EGM96 geoid), the same UTM 31N 0.5 m output grid
(the RPC footprint at the scene's mean height, shrunk by 2 %), the ortho engine of
``ortho.tiling`` (location grid ≤ 0.01 px, Keys cubic, ``--tile``² Dask blocks) streamed into a
tiled GeoTIFF (``ortho.cog.TiledSink``) by ``ortho.tiling.stream_to``, with four schedulers:

* ``threads x1`` / ``threads x2``: the local threaded scheduler with 1 / 2 threads;
* ``distributed 1w`` / ``distributed 2w``: a ``dask.distributed.LocalCluster`` of 1 / 2 worker
  processes with one thread each (``Client`` passed to ``stream_to``; sources are read on the
  workers, blocks gathered and written by the client).

Each configuration runs in its own subprocess (``NUMBA_NUM_THREADS=1``, Numba cache warmed
first; each distributed worker warmed by computing a 16² corner of a tile on it, so Numba's
cache load in a fresh worker process is not timed); the timed part is ``stream_to`` alone
(tile computation + writing — what the workers parallelise); set-up (imports, DEM, location
grid), cluster start and worker warm-up are reported apart. Every
output is checked **pixel-identical** to ``threads x1``. Printed: wall time per scheduler and
the speed-ups 1→2 (threads, distributed) against the 1-worker run of the same scheduler,
measured in this run, with a peer: the speed-up of a pure nogil Numba loop 1→2 threads
measured before and after (the parallelism the shared machine actually gives now), and the
load average before and after (wall-clock speed-ups are only
meaningful when the other load on this shared 2-core machine is low; the best of ``--repeat``
runs is taken).

Measured 2026-11-28 10:31 UTC (8000² input, 54.6 Mpx out, 64 tiles, best of the rounds in which the
peer showed two free cores, 1.98x): threads x1 1.91 s, x2 0.99 s -> 1.93x; distributed 1 worker
2.73 s, 2 workers 1.88 s -> 1.45x (1 distributed worker = 0.70x threads x1: the client spends
0.66 CPU-s receiving and writing the tiles and competes with the two workers for the two cores).
Most runs on this shared machine are contended (peer 1.0x) — the script says so.

usage: benchmarks/bench_ortho_scaling.py [--size 8000] [--tile 1024] [--repeat 2] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CONFIGS = ("threads x1", "threads x2", "distributed 1w", "distributed 2w")


def _setup(src: Path, tile: int):
    """Lazy ortho Dask array of ``src`` on the footprint grid (UTM 31N, 0.5 m), and the grid."""
    from level1.dem import load_heights
    from ortho.grid_algo import OutputGrid, build_location_grid, from_lonlat
    from ortho.source import FileSource, find_rpc
    from ortho.tiling import ortho_dask
    import rasterio
    rpc, _ = find_rpc(src)
    with rasterio.open(src) as ds:
        w, h = ds.width, ds.height
    cols = np.array([0, w, 0, w, w / 2, 0, w / 2, w], float)
    rows = np.array([0, 0, h, h, 0, h / 2, h, h / 2], float)
    hmean = 1000.0                          # Mont Ventoux area: 300–1900 m; bounds only
    lon, lat = rpc.localise(cols, rows, np.full_like(cols, hmean))
    x, y = from_lonlat("EPSG:32631", lon, lat)
    # the inscribed part of the footprint (shrunk 2 %): every output tile has source pixels
    xs, ys = np.sort(x), np.sort(y)
    left, right, bottom, top = xs[2], xs[-3], ys[2], ys[-3]
    mx, my = 0.02 * (right - left), 0.02 * (top - bottom)
    grid = OutputGrid.from_bounds("EPSG:32631", (left + mx, bottom + my, right - mx, top - my), 0.5)
    glon, glat = grid.lonlat(np.array([0, grid.height, 0, grid.height]), np.array([0, 0, grid.width, grid.width]))
    hs = load_heights(SHARED / "dem" / "N44E005.hgt", geoid=SHARED / "dem" / "egm96_15.gtx",
                      bounds_lonlat=(glon.min() - 0.01, glat.min() - 0.01, glon.max() + 0.01, glat.max() + 0.01))
    lg = build_location_grid(rpc.project, grid, hs)
    arr = ortho_dask(FileSource(src), grid, lg, hs, "cubic", np.uint16, tile, as_xarray=False)
    return arr, grid


def child(args) -> None:
    """One configuration in this process; prints a JSON line with its timings."""
    import warnings
    warnings.simplefilter("ignore")
    from ortho.cog import TiledSink
    from ortho.tiling import stream_to
    t0 = time.perf_counter()
    c0 = time.process_time()
    arr, grid = _setup(Path(args.input), args.tile)
    t_setup = time.perf_counter() - t0
    client = cluster = None
    t_cluster = t_warm = 0.0
    if args.config.startswith("distributed"):
        from distributed import Client, LocalCluster
        n = int(args.config.split()[1][:-1])
        t1 = time.perf_counter()
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        client = Client(cluster)
        client.wait_for_workers(n)
        t_cluster = time.perf_counter() - t1
        # warm every worker as the threaded runs are warm (engine imported, Numba kernels loaded
        # from the cache): one small corner of the first tile computed on each worker
        t3 = time.perf_counter()
        probe = arr.blocks[0, 0, 0][:, :16, :16]
        for w in client.scheduler_info()["workers"]:
            client.compute(probe, workers=[w]).result()
        t_warm = time.perf_counter() - t3
        workers = None
    else:
        workers = int(args.config.split()[1][1:])
    sink = TiledSink(Path(args.out), grid, 1, np.uint16)
    t2 = time.perf_counter()
    c2 = time.process_time()
    stream_to(arr, sink.write, workers=workers, client=client)
    t_stream = time.perf_counter() - t2
    c_stream = time.process_time() - c2
    sink.close()
    if client is not None:
        client.close()
        cluster.close()
    print(json.dumps({"config": args.config, "setup_s": t_setup, "cluster_start_s": t_cluster,
                      "worker_warmup_s": t_warm,
                      "stream_wall_s": t_stream, "stream_cpu_s": c_stream, "client_cpu_s": time.process_time() - c0,
                      "output_px": grid.width * grid.height, "blocks": int(np.prod(arr.numblocks)),
                      "grid": grid.to_dict()}))


def machine_parallelism(seconds: float = 1.0) -> float:
    """Speed-up of a pure nogil Numba loop from 1 to 2 threads, measured now: the parallelism
    this shared machine actually gives (2.0 on an idle 2-core machine) — the peer the ortho
    speed-ups are compared with."""
    from concurrent.futures import ThreadPoolExecutor

    from numba import njit

    @njit(nogil=True)
    def spin(n):
        s = 0.0
        for i in range(n):
            s += np.sqrt(i * 1.0)
        return s
    spin(10)
    t = time.perf_counter()
    spin(10_000_000)
    n = int(10_000_000 * seconds / max(1e-3, time.perf_counter() - t) / 4)
    walls = {}
    for w in (1, 2, 1, 2):
        t = time.perf_counter()
        with ThreadPoolExecutor(w) as ex:
            list(ex.map(spin, [n] * 4))
        walls[w] = min(walls.get(w, np.inf), time.perf_counter() - t)
    return walls[1] / walls[2]


def _run_child(py: str, src: Path, out: Path, config: str, tile: int) -> dict:
    import subprocess
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([py, __file__, "--child", "--input", str(src), "--out", str(out), "--config", config,
                        "--tile", str(tile)], capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(f"{config} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=8000, help="input side (pixels)")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2, help="runs per configuration (best wall time kept)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    import rasterio
    from bench_ortho import make_input
    py = sys.executable
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="bench_ortho_scaling_") as td:
        d = Path(td)
        src = make_input(d, args.size)
        _run_child(py, src, d / "warm.tif", "threads x1", args.tile)      # Numba cache, page cache
        ref = None
        par = [machine_parallelism()]
        for k in range(args.repeat):
            for c in CONFIGS:                  # interleaved: slow drifts of the load hit every config
                out = d / f"{c.replace(' ', '_')}_{k}.tif"
                r = _run_child(py, src, out, c, args.tile)
                with rasterio.open(out) as ds:
                    a = ds.read()
                if ref is None:
                    ref = a
                r["identical_to_threads_x1"] = bool(np.array_equal(a, ref))
                if not r["identical_to_threads_x1"]:
                    raise SystemExit(f"{c}: output differs from threads x1 "
                                     f"({int((a != ref).sum())} pixels)")
                runs[c].append(r)
                out.unlink()
        par.append(machine_parallelism())
    best = {c: min(rs, key=lambda r: r["stream_wall_s"]) for c, rs in runs.items()}
    npx = best["threads x1"]["output_px"]
    res = {
        "input_px": args.size ** 2, "output_px": npx, "tile": args.tile,
        "blocks": best["threads x1"]["blocks"], "repeat": args.repeat,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "runs": {c: {"stream_wall_s": [r["stream_wall_s"] for r in rs], "best_wall_s": best[c]["stream_wall_s"],
                     "mpix_per_wall_s": npx / 1e6 / best[c]["stream_wall_s"],
                     "stream_cpu_s_this_process": best[c]["stream_cpu_s"], "setup_s": best[c]["setup_s"],
                     "cluster_start_s": best[c]["cluster_start_s"],
                     "worker_warmup_s": best[c]["worker_warmup_s"], "identical_to_threads_x1": True}
                 for c, rs in runs.items()},
        "speedup_threads_1_to_2": best["threads x1"]["stream_wall_s"] / best["threads x2"]["stream_wall_s"],
        "speedup_distributed_1_to_2": best["distributed 1w"]["stream_wall_s"] / best["distributed 2w"]["stream_wall_s"],
        "machine_parallelism_before_after": par,
        "distributed_1w_vs_threads_x1": best["threads x1"]["stream_wall_s"] / best["distributed 1w"]["stream_wall_s"],
    }
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"ortho scaling: input {args.size}x{args.size} UInt16, output {npx / 1e6:.1f} Mpixel (UTM 0.5 m, "
          f"cubic, SRTM+EGM96), {res['blocks']} tiles of {args.tile}², best of {args.repeat}")
    print(f"load average before {load_before[0]:.2f} / after {res['load_average_after'][0]:.2f} (1 min)")
    print(f"{'':16s} {'wall s (best)':>13s} {'runs':>18s} {'Mpx/wall-s':>10s} {'CPU s*':>7s} {'setup s':>8s} {'cluster s':>9s} {'warm-up s':>9s}")
    for c, r in res["runs"].items():
        print(f"{c:16s} {r['best_wall_s']:13.2f} {' '.join(f'{x:.2f}' for x in r['stream_wall_s']):>18s} "
              f"{r['mpix_per_wall_s']:10.2f} {r['stream_cpu_s_this_process']:7.2f} {r['setup_s']:8.2f} {r['cluster_start_s']:9.2f} {r['worker_warmup_s']:9.2f}")
    print("* CPU s: CPU time of the benchmark process during streaming (threads: all the work; "
          "distributed: the client's share — receiving and writing the tiles)")
    print(f"speed-up 1 -> 2 threads (local scheduler): {res['speedup_threads_1_to_2']:.2f}x")
    print(f"speed-up 1 -> 2 workers (distributed LocalCluster, 1 thread each): "
          f"{res['speedup_distributed_1_to_2']:.2f}x")
    print(f"peer: nogil Numba loop speed-up 1 -> 2 threads on this machine now: before {par[0]:.2f}x, "
          f"after {par[1]:.2f}x (2.00 = two free cores)")
    print(f"distributed 1 worker vs threads x1 (wall ratio): {res['distributed_1w_vs_threads_x1']:.2f}")
    print("all outputs pixel-identical to threads x1")
    if load_before[0] > 1.5:
        print(f"WARNING: other load on this 2-core machine before the run (1-min load average "
              f"{load_before[0]:.2f} > 1.5): the wall-clock speed-ups are not meaningful")


if __name__ == "__main__":
    main()
