#!/usr/bin/env python3
"""CCSDS 122.0-B-2 codec benchmark: Mpixel/s per core and compression ratios, side by side
with OpenJPEG lossless (``imagecodecs.jpeg2k``, reversible 5/3) and CCSDS 121 (libaec,
``imagecodecs.aec``) measured in the same run on the same images.

Images (12-bit, uint16):

* ``PAN block``: 128 × 7000, the nominal ICD §4.1 CCSDS 122 PAN block (one 122 image), S = 128;
* ``4096²``: 4096 × 4096, S = 256;

both made by mirror-tiling the real Pléiades PAN crop (../shared/data/pleiades_ventoux, read in
place), so texture and entropy are those of a real VHR image. Then compression ratios on the
Pléiades crop itself (lossless; plus 122 at 2 bpp and 1 bpp for reference).

Everything runs on one thread (``workers=1``, OpenJPEG ``numthreads=1``); timings are the best
of ``--repeat`` runs of CPU time (the machine is shared). Issue 9 targets: ≥ 20 Mpixel/s per core lossless
decode (goal ≈ 55); reference C implementation on this machine class, one core, 4096² 12-bit:
decode 4.8–5.4 Mpixel/s lossless, ≈ 11 at 2 bpp; encode 5.4–6.3.

usage: benchmarks/bench_ccsds122.py [--repeat R] [--json] [--small]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"


def pleiades() -> np.ndarray:
    import rasterio
    with rasterio.open(SHARED / "pleiades_ventoux" / "left_image.tif") as ds:
        img = ds.read(1)
    if img.max() >= 4096:               # the crop is 12-bit data in UInt16
        raise SystemExit(f"unexpected Pléiades values up to {img.max()}")
    return img.astype(np.uint16)


def tile(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Mirror-tile ``img`` to rows × cols (no seams: every tile is reflected)."""
    reps = (-(-rows // img.shape[0]), -(-cols // img.shape[1]))
    out = np.block([[img[::1 - 2 * (i % 2), ::1 - 2 * (j % 2)] for j in range(reps[1])]
                    for i in range(reps[0])])
    return np.ascontiguousarray(out[:rows, :cols])


def best(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return min(ts)


def peers(img: np.ndarray):
    import imagecodecs
    aec = dict(bitspersample=12, flags=imagecodecs.AEC.FLAG.DATA_PREPROCESS, blocksize=16,
               rsi=128)
    return {
        "openjpeg_lossless": (lambda: imagecodecs.jpeg2k_encode(img, level=0, reversible=True,
                                                                numthreads=1),
                              lambda b: imagecodecs.jpeg2k_decode(b, numthreads=1)),
        "ccsds121_libaec": (lambda: imagecodecs.aec_encode(img, **aec),
                            lambda b: np.frombuffer(imagecodecs.aec_decode(b, **aec),
                                                    np.uint16).reshape(img.shape)),
    }


def run_image(name: str, img: np.ndarray, S: int, repeat: int) -> list[dict]:
    from decode import ccsds122
    rows = []
    mpix = img.size / 1e6
    cases = [("srd_ccsds122_lossless", dict(segment=S, bits=12)),
             ("srd_ccsds122_2bpp", dict(segment=S, bits=12, bpp=2.0)),
             ("srd_ccsds122_float_1bpp", dict(segment=S, bits=12, dwt="float", bpp=1.0))]
    for label, kw in cases:
        data = ccsds122.encode(img, **kw)
        out = ccsds122.decode(data)
        if "lossless" in label:
            assert np.array_equal(out, img), label
        # one thread: per-core figures (segments would otherwise be coded in parallel)
        te = best(lambda: ccsds122.encode(img, workers=1, **kw), repeat)
        td = best(lambda: ccsds122.decode(data, workers=1), repeat)
        rows.append({"image": name, "codec": label, "enc_mpix_s": mpix / te,
                     "dec_mpix_s": mpix / td, "bpp": len(data) * 8 / img.size,
                     "ratio": img.size * 12 / 8 / len(data)})
    for label, (enc, dec) in peers(img).items():
        data = enc()
        assert np.array_equal(dec(data), img), label
        te = best(enc, repeat)
        td = best(lambda: dec(data), repeat)
        rows.append({"image": name, "codec": label, "enc_mpix_s": mpix / te,
                     "dec_mpix_s": mpix / td, "bpp": len(data) * 8 / img.size,
                     "ratio": img.size * 12 / 8 / len(data)})
    return rows


def ratios(img: np.ndarray) -> list[dict]:
    from decode import ccsds122
    out = []
    for label, kw in (("srd_ccsds122_lossless", dict(segment=256, bits=12)),
                      ("srd_ccsds122_2bpp", dict(segment=256, bits=12, bpp=2.0)),
                      ("srd_ccsds122_float_1bpp", dict(segment=256, bits=12, dwt="float", bpp=1.0))):
        data = ccsds122.encode(img, **kw)
        dec = ccsds122.decode(data).astype(np.float64)
        mse = np.mean((dec - img) ** 2)
        out.append({"codec": label, "bytes": len(data), "bpp": len(data) * 8 / img.size,
                    "ratio": img.size * 12 / 8 / len(data),
                    "psnr_db": None if mse == 0 else 10 * np.log10(4095 ** 2 / mse)})
    for label, (enc, _) in peers(img).items():
        data = enc()
        out.append({"codec": label, "bytes": len(data), "bpp": len(data) * 8 / img.size,
                    "ratio": img.size * 12 / 8 / len(data), "psnr_db": None})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--small", action="store_true", help="1024² instead of 4096² (quick look)")
    args = ap.parse_args()
    import numba
    numba.set_num_threads(1)
    crop = pleiades()
    big = 1024 if args.small else 4096
    rows = run_image("PAN block 128x7000", tile(crop, 128, 7000), 128, args.repeat)
    rows += run_image(f"{big}x{big}", tile(crop, big, big), 256, args.repeat)
    rat = ratios(crop)
    if args.json:
        json.dump({"throughput": rows, "pleiades_500x500": rat}, sys.stdout, indent=2)
        print()
        return 0
    print("Throughput, one core (Mpixel/s, best CPU time of", args.repeat, "runs)")
    print(f"{'image':22s} {'codec':26s} {'encode':>8s} {'decode':>8s} {'bpp':>7s} {'ratio':>6s}"
          f"   {'dec vs OpenJPEG':>15s} {'dec vs CCSDS121':>15s}")
    for img_name in dict.fromkeys(r["image"] for r in rows):
        rs = [r for r in rows if r["image"] == img_name]
        oj = next(r for r in rs if r["codec"] == "openjpeg_lossless")
        aec = next(r for r in rs if r["codec"] == "ccsds121_libaec")
        for r in rs:
            print(f"{img_name:22s} {r['codec']:26s} {r['enc_mpix_s']:8.1f} {r['dec_mpix_s']:8.1f} "
                  f"{r['bpp']:7.3f} {r['ratio']:6.3f}   {r['dec_mpix_s'] / oj['dec_mpix_s']:14.2f}x "
                  f"{r['dec_mpix_s'] / aec['dec_mpix_s']:14.2f}x")
    print("\nCompression on the Pléiades PAN crop 500x500 (12-bit), S = 256")
    print(f"{'codec':26s} {'bytes':>8s} {'bpp':>7s} {'ratio':>6s} {'PSNR dB':>8s}")
    for r in rat:
        ps = "lossless" if r["psnr_db"] is None else f"{r['psnr_db']:.2f}"
        print(f"{r['codec']:26s} {r['bytes']:8d} {r['bpp']:7.3f} {r['ratio']:6.3f} {ps:>8s}")
    ll = next(r for r in rat if r["codec"] == "srd_ccsds122_lossless")
    for peer in ("openjpeg_lossless", "ccsds121_libaec"):
        p = next(r for r in rat if r["codec"] == peer)
        print(f"lossless size 122 / {peer}: {ll['bytes'] / p['bytes']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
