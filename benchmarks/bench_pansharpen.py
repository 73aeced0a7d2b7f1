#!/usr/bin/env python3
"""Pansharpening benchmark: quality (Wald's protocol, QNR) and speed, srd vs GDAL and OTB.

1. **Quality** on the real Pléiades PAN + MS crop of ``../shared/data``, orthorectified by srd
   (PAN 0.5 m, MS 2 m, same UTM grid corner), central fully valid 384² PAN window:

   * reduced resolution (Wald 2002): PAN and MS degraded by 4 with MTF-matched Gaussians
     (PAN 0.15, MS 0.3 at Nyquist), fused back to 2 m and compared with the real 2 m MS —
     ERGAS, SAM (°), Q4;
   * full resolution: QNR (Dλ, Ds).

   Methods: srd brovey / gsa / mtf-glp-hpm (default), ``gdal_pansharpen.py`` (weighted Brovey,
   cubic), ``otbcli_BundleToPerfectSensor`` with ``rcs`` (its default), ``lmvm`` and ``bayes``.

2. **Speed** on a multi-Mpixel pair made by mirror-tiling that window (mirroring keeps the
   PAN/MS registration): files in, tiled GeoTIFF out for every tool, one subprocess each —
   wall, CPU (user + sys) and peak RSS of that process. srd = ``ortho.fusion.pansharpen_files``
   (MTF-GLP-HPM, Dask tiles) with 1 and 2 threads; GDAL with ``-threads 1``; OTB with one ITK
   thread. Throughput = output Mpixel per CPU-second (per core); ratios against the peers.

usage: benchmarks/bench_pansharpen.py [--size 4096] [--json]
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


def timed(cmd, env=None) -> dict:
    import subprocess
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen([str(c) for c in cmd], stdout=fo, stderr=fe, text=True,
                             env={**os.environ, **(env or {})})
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        fe.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{cmd[0]} failed: {fe.read()[-2000:]}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024.0}


def ortho_pair(d: Path):
    """srd ortho of the crop → (pan, ms, PAN transform, crs) central fully valid window."""
    import warnings
    import rasterio
    from affine import Affine
    from ortho.stage import run
    from station_config import load_config
    warnings.simplefilter("ignore")
    rep = run(SHARED / "pleiades_ventoux" / "left_image.tif", d, load_config(),
              ms=SHARED / "pleiades_ventoux" / "lowres_color_image.tif", dem=SHARED / "dem" / "N44E005.hgt",
              geoid=SHARED / "dem" / "egm96_15.gtx", pansharpen="none")
    p = d / "left_image"
    with rasterio.open(p / rep.products["PAN"]) as a, rasterio.open(p / rep.products["MS"]) as b:
        pan, pt, crs = a.read(1).astype(np.float64), a.transform, a.crs
        ms = b.read().astype(np.float64)
    n = 384
    y0 = (pan.shape[0] - n) // 2 // 16 * 16
    x0 = (pan.shape[1] - n) // 2 // 16 * 16
    t = Affine(0.5, 0, pt.c + x0 * 0.5, 0, -0.5, pt.f - y0 * 0.5)
    return pan[y0:y0 + n, x0:x0 + n], ms[:, y0 // 4:(y0 + n) // 4, x0 // 4:(x0 + n) // 4], t, crs


def write(path, a, transform, crs, dtype="float32"):
    import rasterio
    a = a if a.ndim == 3 else a[None]
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[2], height=a.shape[1], count=a.shape[0],
                       dtype=dtype, crs=crs, transform=transform, tiled=True) as o:
        o.write(a.astype(dtype))
    return path


def read(path):
    import rasterio
    with rasterio.open(path) as ds:
        return ds.read().astype(np.float64)


def quality(d: Path, pan, ms, t, crs) -> dict:
    from affine import Affine
    from ortho import pansharpen_algo as PS
    from ortho import quality_algo as Q
    r = {}
    pan_r = PS.degrade(pan, 4, PS.GENERIC_MTF_PAN)
    ms_r = PS.degrade(ms, 4, PS.GENERIC_MTF_MS)
    p_r = write(d / "pan_r.tif", pan_r, Affine(2.0, 0, t.c, 0, -2.0, t.f), crs)
    m_r = write(d / "ms_r.tif", ms_r, Affine(8.0, 0, t.c, 0, -8.0, t.f), crs)
    p_f = write(d / "pan.tif", pan, t, crs)
    m_f = write(d / "ms.tif", ms, Affine(2.0, 0, t.c, 0, -2.0, t.f), crs)
    pan_lr = PS.degrade(pan, 4, PS.GENERIC_MTF_PAN)
    fused_r, fused_f = {}, {}
    for m in PS.METHODS:
        fused_r[f"srd {m}"] = PS.pansharpen(m, pan_r, PS.upsample(ms_r, 4, pan_r.shape), 4)
        fused_f[f"srd {m}"] = PS.pansharpen(m, pan, PS.upsample(ms, 4, pan.shape), 4)
    for tag, (pp, mm, store) in {"r": (p_r, m_r, fused_r), "f": (p_f, m_f, fused_f)}.items():
        timed(["gdal_pansharpen.py", "-q", "-of", "GTiff", "-r", "cubic", pp, mm, d / f"gdal_{tag}.tif"])
        store["gdal_pansharpen"] = read(d / f"gdal_{tag}.tif")
        for m in ("rcs", "lmvm", "bayes"):
            timed(["otbcli_BundleToPerfectSensor", "-inp", pp, "-inxs", mm, "-out", d / f"otb_{m}_{tag}.tif",
                   "float", "-method", m])
            store[f"otb {m}"] = read(d / f"otb_{m}_{tag}.tif")
    for k in fused_r:
        f = fused_r[k]
        q = Q.qnr(fused_f[k], ms, pan, pan_lr)
        r[k] = {"ERGAS": Q.ergas(ms, f, 4), "SAM_deg": Q.sam(ms, f), "Q4": Q.q4(ms, f),
                "D_lambda": q["D_lambda"], "D_s": q["D_s"], "QNR": q["QNR"]}
    return r


def child(args):
    from ortho.fusion import pansharpen_files
    pansharpen_files(args.pan, args.ms, args.out, method=args.method, tile=args.tile, workers=args.workers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=4096, help="PAN side of the speed test (pixels)")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pan", help=argparse.SUPPRESS)
    ap.add_argument("--ms", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--method", default="mtf-glp-hpm", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    from affine import Affine
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench_ps_") as td:
        d = Path(td)
        pan, ms, t, crs = ortho_pair(d)
        out["quality"] = quality(d, pan, ms, t, crs)
        # speed: mirror-tiled pair (flips keep MS pixel i on PAN 4i + 1.5)
        reps = -(-args.size // pan.shape[0])
        P = np.block([[pan[::(-1) ** i, ::(-1) ** j] for j in range(reps)] for i in range(reps)])[:args.size, :args.size]
        M = np.concatenate([np.concatenate([ms[:, ::(-1) ** i, ::(-1) ** j] for j in range(reps)], axis=2)
                            for i in range(reps)], axis=1)[:, :args.size // 4, :args.size // 4]
        p = write(d / "bigpan.tif", P, t, crs, "uint16")
        m = write(d / "bigms.tif", M, Affine(2.0, 0, t.c, 0, -2.0, t.f), crs, "uint16")
        npx = args.size * args.size
        runs = {}
        py = sys.executable
        timed([py, __file__, "--child", "--pan", p, "--ms", m, "--out", d / "warm.tif", "--tile", "256"])
        for w in (1, 2):
            runs[f"srd mtf-glp-hpm x{w}"] = timed([py, __file__, "--child", "--pan", p, "--ms", m, "--out",
                                                  d / f"srd{w}.tif", "--tile", str(args.tile), "--workers", str(w)],
                                                 env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        runs["srd brovey x1"] = timed([py, __file__, "--child", "--pan", p, "--ms", m, "--out", d / "srdb.tif",
                                       "--tile", str(args.tile), "--method", "brovey"],
                                      env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        fixed = timed([py, "-c", "import ortho.fusion, dask.array, rasterio, scipy.ndimage, ortho.pansharpen_kernels"])
        runs["gdal_pansharpen"] = timed(["gdal_pansharpen.py", "-q", "-of", "GTiff", "-r", "cubic", "-threads", "1",
                                         "-co", "TILED=YES", p, m, d / "gdal.tif"], env={"GDAL_NUM_THREADS": "1"})
        runs["otb rcs"] = timed(["otbcli_BundleToPerfectSensor", "-inp", p, "-inxs", m, "-out", d / "otb.tif",
                                 "uint16", "-method", "rcs"], env={"ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1"})
        for r in runs.values():
            r["mpix_per_cpu_s"] = npx / 1e6 / r["cpu_s"]
            r["mpix_per_wall_s"] = npx / 1e6 / r["wall_s"]
        out["speed"] = {"pan_px": npx, "runs": runs,
                        "ratio_per_core_vs_gdal": runs["srd mtf-glp-hpm x1"]["mpix_per_cpu_s"] / runs["gdal_pansharpen"]["mpix_per_cpu_s"],
                        "ratio_per_core_vs_otb": runs["srd mtf-glp-hpm x1"]["mpix_per_cpu_s"] / runs["otb rcs"]["mpix_per_cpu_s"],
                        "speedup_1_to_2_threads_wall": runs["srd mtf-glp-hpm x1"]["wall_s"] / runs["srd mtf-glp-hpm x2"]["wall_s"],
                        "cpu_ratio_2_to_1_threads": runs["srd mtf-glp-hpm x2"]["cpu_s"] / runs["srd mtf-glp-hpm x1"]["cpu_s"],
                        "process_import_cpu_s": fixed["cpu_s"],
                        "ratio_brovey_per_core_vs_gdal": runs["srd brovey x1"]["mpix_per_cpu_s"] / runs["gdal_pansharpen"]["mpix_per_cpu_s"],
                        "load_average": os.getloadavg()}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print("quality on the real Pléiades crop (reduced resolution: ERGAS, SAM, Q4 vs the real 2 m MS; "
          "full resolution: QNR)")
    print(f"{'':22s} {'ERGAS':>7s} {'SAM°':>7s} {'Q4':>7s} {'Dλ':>7s} {'Ds':>7s} {'QNR':>7s}")
    for k, v in out["quality"].items():
        print(f"{k:22s} {v['ERGAS']:7.3f} {v['SAM_deg']:7.3f} {v['Q4']:7.4f} {v['D_lambda']:7.4f} "
              f"{v['D_s']:7.4f} {v['QNR']:7.4f}")
    s = out["speed"]
    print(f"\nspeed: PAN {args.size}x{args.size} + MS 4 bands, files in/out, load avg {s['load_average'][0]:.1f}")
    print(f"{'':22s} {'wall s':>8s} {'CPU s':>8s} {'Mpx/CPU-s':>10s} {'peak RSS MB':>12s}")
    for k, r in s["runs"].items():
        print(f"{k:22s} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['mpix_per_cpu_s']:10.2f} {r['peak_rss_mb']:12.0f}")
    print(f"per core: srd mtf-glp-hpm / OTB rcs = {s['ratio_per_core_vs_otb']:.2f}x, / gdal_pansharpen "
          f"(Brovey, a far cheaper algorithm) = {s['ratio_per_core_vs_gdal']:.2f}x; like for like, srd brovey / "
          f"gdal_pansharpen = {s['ratio_brovey_per_core_vs_gdal']:.2f}x")
    print(f"srd process imports: {s['process_import_cpu_s']:.2f} CPU-s of each srd run; 1 -> 2 threads (wall) "
          f"{s['speedup_1_to_2_threads_wall']:.2f}x, CPU x2/x1 {s['cpu_ratio_2_to_1_threads']:.2f}")


if __name__ == "__main__":
    main()
