#!/usr/bin/env python3
"""level1 benchmark: RPC evaluation and band resampling, side by side with a peer measured in
the same run on the same data, and the Level-1 stage throughput on a synthetic Level 0.

* RPC projection (ground → image), 1 M points of the real Pléiades RPC (../shared, read in
  place): our Numba kernel and our numpy path vs GDAL's RPC transformer (rasterio
  ``RPCTransformer.rowcol``);
* RPC localisation (image → ground at a height), 200 k points: our Newton kernel vs GDAL
  (``RPCTransformer.xy``, its iterative inverse);
* cubic resampling of a 2048 × 2048 float32 image through a smooth mapping: our kernel
  (mapping from a 32-pixel node grid, NaN-aware, feathering) vs ``scipy.ndimage.map_coordinates``
  (order 3, dense precomputed coordinates — a favourable peer);
* ``level1.run`` on a synthetic reduced-profile Level 0 (tests/level1/l1_synthetic.py):
  output Mpixel/s (PAN + MS samples) and wall time.

CPU time, best of ``--repeat`` (the machine is shared). Ratios > 1: ours is faster.

usage: benchmarks/bench_level1.py [--repeat R] [--json] [--blocks N] [--profile reduced|nominal]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "level1"))
SHARED = REPO.parent / "shared" / "data"


def best(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return min(ts)


def bench_rpc(repeat: int) -> dict:
    from rasterio.transform import RPCTransformer

    from level1.rpc import read_dimap
    rpc = read_dimap(SHARED / "pleiades_ventoux" / "RPC_PHR1B_P_201308051042194_SEN_690908101-001.XML")
    rng = np.random.default_rng(0)
    n = 1_000_000
    lon = rng.uniform(*rpc.valid_lon, n)
    lat = rng.uniform(*rpc.valid_lat, n)
    h = rng.uniform(200, 1900, n)
    rpc.project(lon[:10], lat[:10], h[:10], engine="numba")          # compile
    t_nb = best(lambda: rpc.project(lon, lat, h, engine="numba"), repeat)
    t_np = best(lambda: rpc.project(lon, lat, h), repeat)
    with RPCTransformer(rpc.to_rasterio()) as tr:
        t_gdal = best(lambda: tr.rowcol(lon, lat, h, op=lambda a: a), repeat)
        m = 200_000
        col, row = rpc.project(lon[:m], lat[:m], h[:m])
        rpc.localise(col[:10], row[:10], h[:10])
        t_loc = best(lambda: rpc.localise(col, row, h[:m]), repeat)
        t_gloc = best(lambda: tr.xy(row + 0.5, col + 0.5, h[:m], offset="ul"), repeat)
    return {"project_points": n, "project_numba_s": t_nb, "project_numpy_s": t_np, "project_gdal_s": t_gdal,
            "project_ratio_gdal_over_numba": t_gdal / t_nb, "project_ratio_gdal_over_numpy": t_gdal / t_np,
            "localise_points": m, "localise_numba_s": t_loc, "localise_gdal_s": t_gloc,
            "localise_ratio_gdal_over_numba": t_gloc / t_loc}


def bench_resample(repeat: int) -> dict:
    from scipy import ndimage

    from level1 import resample_kernels as RK
    rng = np.random.default_rng(1)
    n = 2048
    src = ndimage.gaussian_filter(rng.standard_normal((n + 64, n + 64)), 2).astype(np.float32)
    flags = np.zeros(src.shape, np.uint8)
    step = 32
    k = n // step + 2
    gy, gx = np.meshgrid(np.arange(k) * step, np.arange(k) * step, indexing="ij")
    # smooth mapping: 1.47× oversampling, a small rotation and curvature
    gl = 8 + gy * 0.68 + 0.01 * gx + 1e-5 * gx ** 2
    gd = 8 + gx * 0.68 - 0.01 * gy
    acc = np.zeros((n, n))
    wsum = np.zeros((n, n))
    bad = np.zeros((n, n), np.uint8)

    def ours():
        acc[:] = 0
        wsum[:] = 0
        RK.resample_module(src, flags, gl, gd, float(step), 0, 0, 10.0, acc, wsum, bad)

    ours()
    t_ours = best(ours, repeat)
    r, c = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64), indexing="ij")
    L = ndimage.map_coordinates(gl, [r / step, c / step], order=1)
    D = ndimage.map_coordinates(gd, [r / step, c / step], order=1)
    t_scipy = best(lambda: ndimage.map_coordinates(src, [L, D], order=3, prefilter=False), repeat)
    return {"pixels": n * n, "ours_s": t_ours, "scipy_map_coordinates_s": t_scipy,
            "ratio_scipy_over_ours": t_scipy / t_ours, "ours_mpixel_per_s": n * n / t_ours / 1e6}


def bench_stage(blocks: int, profile: str = "reduced") -> dict:
    from l1_synthetic import T_GPS0, SyntheticPass, write_level0

    from level1.run import run
    from station_config import load_config
    cfg = load_config()
    ins = cfg.instrument(profile)
    with tempfile.TemporaryDirectory() as d:
        root, _ = write_level0(Path(d) / "l0", SyntheticPass(roll=0.02), ins, T_GPS0 - 0.3, blocks, pass_id="BENCH")
        t = time.perf_counter()
        c = time.process_time()
        rep = run(root, Path(d) / "l1", cfg)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    s = rep.scenes[0]
    px = s["pan"]["rows"] * s["pan"]["cols"] + 4 * s["ms"]["rows"] * s["ms"]["cols"]
    raw = sum(ins.band(b).detectors * ins.modules * blocks * (32 if b == "PAN" else 8) for b in ins.band_names)
    return {"profile": profile, "blocks": blocks, "wall_s": wall, "cpu_s": cpu, "output_mpixel": px / 1e6,
            "output_mpixel_per_cpu_s": px / cpu / 1e6, "input_mpixel": raw / 1e6,
            "input_mpixel_per_cpu_s": raw / cpu / 1e6, "rpc_check_max_px": s["rpc_fit"]["check_max_px"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=96, help="PAN blocks of the synthetic datatake (32 lines each)")
    ap.add_argument("--profile", default="reduced", help="instrument profile of the synthetic datatake")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = {"rpc": bench_rpc(a.repeat), "resample": bench_resample(a.repeat), "stage": bench_stage(a.blocks, a.profile)}
    if a.json:
        print(json.dumps(res, indent=2))
        return
    r, s, g = res["rpc"], res["resample"], res["stage"]
    print(f"RPC projection, {r['project_points']:,} points: numba {r['project_numba_s']:.3f} s, numpy "
          f"{r['project_numpy_s']:.3f} s, GDAL {r['project_gdal_s']:.3f} s → GDAL/numba ×{r['project_ratio_gdal_over_numba']:.1f}, "
          f"GDAL/numpy ×{r['project_ratio_gdal_over_numpy']:.1f}")
    print(f"RPC localisation, {r['localise_points']:,} points: numba {r['localise_numba_s']:.3f} s, GDAL "
          f"{r['localise_gdal_s']:.3f} s → ×{r['localise_ratio_gdal_over_numba']:.1f}")
    print(f"cubic resampling 2048²: ours {s['ours_s']:.3f} s ({s['ours_mpixel_per_s']:.1f} Mpixel/s), scipy "
          f"map_coordinates {s['scipy_map_coordinates_s']:.3f} s → ×{s['ratio_scipy_over_ours']:.2f}")
    print(f"level1.run, {g['blocks']} PAN blocks ({g['profile']} profile): {g['wall_s']:.1f} s wall, {g['cpu_s']:.1f} s CPU, "
          f"input {g['input_mpixel']:.2f} Mpixel ({g['input_mpixel_per_cpu_s']:.2f}/CPU s), output "
          f"{g['output_mpixel']:.2f} Mpixel ({g['output_mpixel_per_cpu_s']:.2f}/CPU s)")


if __name__ == "__main__":
    main()
