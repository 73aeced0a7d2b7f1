#!/usr/bin/env python3
"""Benchmark of ``srd simulate`` (telemetry/simulate.py): throughput and peak memory.

For each case (profile, datatake seconds) one simulation runs in a fresh subprocess (so its
peak RSS is its own) and prints Mpixel/s, MB of telemetry written per second, the share of
time spent in on-board formatting + channel (packets, frames, RS, impairments, writing) and
peak RSS. Peers measured in the same run:

* the acquisition alone (``telemetry.acquisition.benchmark``: image generation, no formatting)
  on the same case → how much the formatting chain slows the simulator down;
* real time: the two channels' bit rate → "× real time" of the telemetry written;
* memory: the long reduced pass against the short one → peak RSS must not grow with the pass
  length (streaming; ratio ≈ 1).

usage: python benchmarks/bench_simulate.py [--quick] [--nominal-seconds 0.2] [--json]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START = "2026-11-29T10:03:26Z"


def one(profile: str, seconds: float, out: str, peer: bool) -> dict:
    """Run in the child: one simulation (or the acquisition-only peer); JSON on stdout."""
    sys.path.insert(0, str(REPO))
    from station_config import load_config
    from telemetry.channel import Impairments
    cfg = load_config()
    if peer:
        from telemetry.acquisition import benchmark
        r = benchmark(cfg, profile, seconds, start_utc=START)
        return {"mpixel_per_s": r["mpixel_per_s"], "seconds": r["seconds"] + r["setup_seconds"],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    from telemetry.simulate import run
    t = time.perf_counter()
    rep = run(cfg, out, "SPOT-6", START, seconds, profile, impairments=Impairments(ber=1e-5, seed=1))
    wall = time.perf_counter() - t
    tm = rep.timings
    fmt = tm["packetize_s"] + tm["frame_s"] + tm["encode_write_s"]
    rate = cfg.instrument(profile).channel_rate_bps or cfg.satellite("SPOT-6").downlink.channel_rate_bps
    span = sum(c["bytes"] for c in rep.channels) * 8 / (len(rep.channels) * rate)
    return {"mpixel_per_s": rep.mpixel_per_s, "telemetry_mb_per_s": rep.telemetry_mb_per_s,
            "seconds": wall, "pixels": rep.pixels, "formatting_s": fmt,
            "telemetry_mb": sum(c["bytes"] for c in rep.channels) / 1e6, "stream_s": span,
            "spilled_mb": sum(c["spilled_bytes"] for c in rep.channels) / 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "timings": tm}


def child(profile: str, seconds: float, peer: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, __file__, "--child", profile, str(seconds), d] + (["--peer"] if peer else [])
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if r.returncode:
            raise SystemExit(f"benchmark child failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="reduced profile only (short and long pass)")
    ap.add_argument("--nominal-seconds", type=float, default=0.2, help="nominal datatake length (default 0.2 s)")
    ap.add_argument("--long-seconds", type=float, default=6.0, help="long reduced pass (default 6 s)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(a.child[0], float(a.child[1]), a.child[2], a.peer)))
        return 0
    cases = [("reduced", 1.0), ("reduced", a.long_seconds)] + ([] if a.quick else [("nominal", a.nominal_seconds)])
    rows = []
    for prof, sec in cases:
        sim = child(prof, sec)
        peer = child(prof, sec, peer=True)
        rows.append({"profile": prof, "datatake_s": sec, **sim,
                     "acquisition_only_mpixel_per_s": peer["mpixel_per_s"],
                     "ratio_vs_acquisition_only": sim["mpixel_per_s"] / peer["mpixel_per_s"],
                     "formatting_share": sim["formatting_s"] / sim["seconds"],
                     "x_real_time": sim["stream_s"] / sim["seconds"]})
    short, long_ = rows[0], rows[1]
    summary = {"rss_long_over_short": long_["peak_rss_mb"] / short["peak_rss_mb"],
               "telemetry_long_over_short": long_["telemetry_mb"] / short["telemetry_mb"]}
    if a.json:
        print(json.dumps({"cases": rows, "summary": summary}, indent=2))
        return 0
    print(f"{'profile':8s} {'datatake':>8s} {'Mpix/s':>8s} {'acq-only':>9s} {'ratio':>6s} {'MB/s':>7s} "
          f"{'x realtime':>10s} {'fmt share':>9s} {'telemetry':>10s} {'peak RSS':>9s}")
    for r in rows:
        print(f"{r['profile']:8s} {r['datatake_s']:7.1f}s {r['mpixel_per_s']:8.3f} "
              f"{r['acquisition_only_mpixel_per_s']:9.3f} {r['ratio_vs_acquisition_only']:6.2f} "
              f"{r['telemetry_mb_per_s']:7.1f} {r['x_real_time']:10.2f} {r['formatting_share']:9.0%} "
              f"{r['telemetry_mb']:8.0f}MB {r['peak_rss_mb']:7.0f}MB")
    print(f"memory bounded: peak RSS long/short = {summary['rss_long_over_short']:.2f} "
          f"while telemetry grows {summary['telemetry_long_over_short']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
