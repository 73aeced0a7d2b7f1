#!/usr/bin/env python3
"""Benchmark of the simulator's pushbroom imaging (telemetry/acquisition.py, imaging).

Prints, for the reduced and nominal profiles over Mont Ventoux (SRTM + EGM96 from
../shared): image generation throughput (Mpixel/s of DN, everything included: orbit,
attitude, ray ∩ DEM, scene, MTF, noise) and the cost per ray of the ground intersection.
Peers measured in the same run:

* the same rays traced from the top one by one (``anchor_step = 1``) → the gain of the
  anchored refinement (same result to 0.1 mm, see tests/telemetry/test_imaging.py);
* pyproj transforming the same number of ECEF points to geodetic (one vectorised PROJ call)
  → "how many coordinate transforms per ray" the exact intersection costs.

usage: python benchmarks/bench_imaging.py [--seconds 1.0] [--nominal-seconds 0.1] [--json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEM = REPO.parent / "shared" / "data" / "dem"
START = "2026-11-29T10:03:24Z"


def generation(cfg, profile: str, seconds: float) -> dict:
    from telemetry.acquisition import benchmark
    r = benchmark(cfg, profile, seconds, start_utc=START, dem=DEM / "N44E005.hgt",
                  geoid=DEM / "egm96_15.gtx")
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}


def rays(cfg, n_lines: int = 64) -> dict:
    from pyproj import Transformer
    from telemetry import imaging_kernels as ik
    from telemetry.acquisition import Acquisition
    acq = Acquisition(cfg, "SPOT-6", "nominal", START, 0.05, dem=DEM / "N44E005.hgt",
                      geoid=DEM / "egm96_15.gtx")
    im, t = acq.imager, acq.terrain
    times = acq.line_time("PAN", np.arange(n_lines))
    pos, vel = acq.orbit_table.state(times)
    rot = np.ascontiguousarray(acq.attitude.matrix(times, pos, vel) @ acq.inst_to_body)
    los = np.ascontiguousarray(im.los("PAN", 2))
    out = {}
    res = {}
    for step in (8, 1):
        o = [np.empty((n_lines, len(los))) for _ in range(3)]
        ik.locate_lines(pos[:1], rot[:1], los[:8], t.heights, t.lat0, t.lon0, t.dlat, t.dlon,
                        im._hmin, im._hmax, im._slope, t.SLOPE_BLOCK, im._reach, step,
                        *[a[:1, :8] .copy() for a in o])       # compile / warm
        c = time.perf_counter()
        ik.locate_lines(pos, rot, los, t.heights, t.lat0, t.lon0, t.dlat, t.dlon, im._hmin,
                        im._hmax, im._slope, t.SLOPE_BLOCK, im._reach, step, *o)
        out[step] = (time.perf_counter() - c) / o[0].size
        res[step] = o
    n = res[8][0].size
    tr = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    from telemetry.orbit import geodetic_to_ecef
    g = geodetic_to_ecef(np.degrees(res[8][0]), np.degrees(res[8][1]), res[8][2]).reshape(-1, 3)
    c = time.perf_counter()
    tr.transform(g[:, 0], g[:, 1], g[:, 2])
    proj = (time.perf_counter() - c) / n
    return {"rays": n, "anchored_us_per_ray": out[8] * 1e6, "full_trace_us_per_ray": out[1] * 1e6,
            "anchored_speedup": out[1] / out[8], "pyproj_us_per_point": proj * 1e6,
            "ray_cost_in_pyproj_transforms": out[8] / proj,
            "max_height_difference_m": float(np.abs(res[1][2] - res[8][2]).max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="reduced-profile datatake (s)")
    ap.add_argument("--nominal-seconds", type=float, default=0.1, help="nominal-profile datatake (s)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from station_config import load_config
    cfg = load_config()
    generation(cfg, "reduced", 0.05)                       # JIT warm-up (cached kernels)
    r = {"reduced": generation(cfg, "reduced", a.seconds),
         "nominal": generation(cfg, "nominal", a.nominal_seconds),
         "rays": rays(cfg)}
    if a.json:
        print(json.dumps(r, indent=2))
        return
    for p in ("reduced", "nominal"):
        g = r[p]
        print(f"{p:8s} {g['pixels'] / 1e6:7.2f} Mpx in {g['seconds']:6.2f} s → {g['mpixel_per_s']:5.2f} Mpixel/s "
              f"(setup {g['setup_seconds']:.2f} s)")
    x = r["rays"]
    print(f"ray ∩ DEM: {x['anchored_us_per_ray']:.3f} µs/ray anchored, {x['full_trace_us_per_ray']:.3f} µs/ray "
          f"full trace → ×{x['anchored_speedup']:.2f}; pyproj ECEF→geodetic {x['pyproj_us_per_point']:.3f} µs/pt "
          f"→ one exact ray = {x['ray_cost_in_pyproj_transforms']:.1f} PROJ transforms; "
          f"max |Δh| anchored vs full {x['max_height_difference_m'] * 1000:.3f} mm")


if __name__ == "__main__":
    main()
