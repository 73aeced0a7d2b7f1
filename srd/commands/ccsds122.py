"""``srd ccsds122 encode|decode|info`` — the CCSDS 122.0-B-2 image codec on files."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

EPILOG = """examples:
  srd ccsds122 encode block.npy block.bin --segment 128 --bits 12            lossless (integer DWT)
  srd ccsds122 encode scene.tif scene.bin --segment 256 --bits 12 --dwt float --bpp 1.0
  srd ccsds122 encode dem.npy dem.bin --bits 16 --signed --seg-byte-limit 4096
  srd ccsds122 decode scene.bin scene.tif
  srd ccsds122 decode damaged.bin out.npy --partial    writes out.rows_ok.npy too, exit 10
  srd ccsds122 info scene.bin --json

Inputs/outputs: .npy (2-D integer array) or single-band GeoTIFF .tif. --bpp X sets
SegByteLimit = floor(X*S*64/8) bytes per segment (headers included). Exit codes: 0 ok,
6 undecodable stream or bad parameters, 8 unreadable/unwritable file, 10 decoded with
damaged segments (--partial)."""


def register(sub) -> None:
    p = sub.add_parser("ccsds122", help="CCSDS 122.0-B-2 wavelet image codec (encode, decode, info)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="action", metavar="<action>", required=True)

    e = csub.add_parser("encode", help="compress an image (.npy/.tif) into a 122 bitstream",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("input", type=Path, help="image: .npy (2-D integers) or .tif (one band)")
    e.add_argument("output", type=Path, help="bitstream file to write")
    e.add_argument("--segment", "-S", type=int, default=256, metavar="S",
                   help="blocks (8x8 coefficients) per segment, 16..1048576 (default 256)")
    e.add_argument("--bits", type=int, default=None,
                   help="pixel bit depth 1..16 (default: the input dtype's, 12 for uint16 "
                        "values below 4096)")
    e.add_argument("--signed", action="store_true", help="pixels are signed (two's complement)")
    e.add_argument("--dwt", choices=("int", "float"), default="int",
                   help="integer 9/7 (reversible, default) or float 9/7")
    lim = e.add_mutually_exclusive_group()
    lim.add_argument("--seg-byte-limit", type=int, metavar="N",
                     help="bytes per segment, headers included (lossy)")
    lim.add_argument("--bpp", type=float, metavar="X",
                     help="bits per pixel: SegByteLimit = floor(X*S*64/8)")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=cmd_encode)

    d = csub.add_parser("decode", help="decompress a 122 bitstream into .npy/.tif",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("input", type=Path, help="bitstream file")
    d.add_argument("output", type=Path, help="image to write: .npy or .tif")
    d.add_argument("--partial", action="store_true",
                   help="damaged stream: still write the decodable image (lost rows zero) and a "
                        "row mask OUT.rows_ok.npy; exit 10 (completed with data loss)")
    d.add_argument("--json", action="store_true", help="print the result as JSON")
    d.set_defaults(func=cmd_decode)

    i = csub.add_parser("info", help="headers, segments and rate of a 122 bitstream",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("input", type=Path, help="bitstream file")
    i.add_argument("--segments", action="store_true", help="list every segment")
    i.add_argument("--json", action="store_true", help="print the result as JSON "
                   "(keys: width, height, bits, signed, dwt, segment_size, segments, blocks, "
                   "pad_rows, seg_byte_limit, bytes, bpp, custom_weights, segment_list)")
    i.set_defaults(func=cmd_info)


# ------------------------------------------------------------------------------ file I/O
def _read_image(path: Path):
    import numpy as np
    from srd.errors import CompressionError, StorageError
    if not path.exists():
        raise StorageError("input image not found", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            img = np.load(path, allow_pickle=False)
        elif suffix in (".tif", ".tiff"):
            import warnings

            import rasterio
            from rasterio.errors import NotGeoreferencedWarning
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                ds = rasterio.open(path)
            with ds:
                if ds.count != 1:
                    raise CompressionError(f"{ds.count} bands; one band expected", path=path,
                                           field="bands")
                img = ds.read(1)
        else:
            raise CompressionError(f"unknown image type {suffix!r} (.npy or .tif)", path=path)
    except (OSError, ValueError) as ex:
        if isinstance(ex, CompressionError):
            raise
        raise StorageError(f"cannot read image: {ex}", path=path) from ex
    if img.ndim != 2:
        raise CompressionError(f"image must be 2-D, got shape {img.shape}", path=path,
                               field="shape")
    return img


def _write_atomic(path: Path, writer) -> None:
    from srd.errors import StorageError
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        writer(tmp)
        os.replace(tmp, path)
    except OSError as ex:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write: {ex}", path=path) from ex


def _write_image(path: Path, img) -> None:
    import numpy as np
    from srd.errors import CompressionError
    suffix = path.suffix.lower()
    if suffix == ".npy":
        def w(tmp):
            with open(tmp, "wb") as f:
                np.save(f, img)
    elif suffix in (".tif", ".tiff"):
        def w(tmp):
            import warnings

            import rasterio
            from rasterio.errors import NotGeoreferencedWarning
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(tmp, "w", driver="GTiff", height=img.shape[0],
                                   width=img.shape[1], count=1, dtype=img.dtype.name,
                                   compress="deflate") as ds:
                    ds.write(img, 1)
    else:
        raise CompressionError(f"unknown image type {suffix!r} (.npy or .tif)", path=path)
    _write_atomic(path, w)


def _read_stream(path: Path) -> bytes:
    from srd.errors import StorageError
    try:
        return path.read_bytes()
    except OSError as ex:
        raise StorageError(f"cannot read bitstream: {ex}", path=path) from ex


def _spinner(text: str, pixels: int):
    """A rich spinner on stderr for big images (nothing when not a terminal)."""
    import contextlib
    if pixels < 4_000_000 or not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console
    return Console(stderr=True).status(text)


# ------------------------------------------------------------------------------ commands
def cmd_encode(args) -> int:
    import numpy as np
    from decode import ccsds122
    from srd.cli import emit_json
    from srd.errors import CompressionError
    img = _read_image(args.input)
    bits = args.bits
    if bits is None:
        if img.dtype.itemsize == 1:
            bits = 8
        elif not args.signed and img.size and int(img.max()) < 4096:
            bits = 12
        else:
            bits = 16
    if args.signed and np.issubdtype(img.dtype, np.unsignedinteger):
        raise CompressionError("--signed given for an unsigned image", path=args.input,
                               field="signed")
    t0 = time.perf_counter()
    with _spinner(f"encoding {args.input.name}", img.size):
        try:
            data = ccsds122.encode(img, segment=args.segment, bits=bits, signed=args.signed,
                                   dwt=args.dwt, seg_byte_limit=args.seg_byte_limit, bpp=args.bpp)
        except CompressionError as ex:
            ex.path = str(args.input)
            raise
    dt = time.perf_counter() - t0
    _write_atomic(args.output, lambda tmp: tmp.write_bytes(data))
    inf = ccsds122.info(data)
    res = {"input": str(args.input), "output": str(args.output), "rows": img.shape[0],
           "cols": img.shape[1], "bits": bits, "signed": args.signed, "dwt": args.dwt,
           "segment": args.segment, "seg_byte_limit": inf.seg_byte_limit,
           "segments": inf.segments, "bytes": len(data), "bpp": round(len(data) * 8 / img.size, 4),
           "ratio": round(img.size * bits / (8 * len(data)), 3),
           "lossless": args.dwt == "int" and all(s["status"] == "ok" for s in inf.segment_list),
           "seconds": round(dt, 3)}
    if args.json:
        emit_json(res)
    else:
        print(f"{args.output}: {res['bytes']} bytes, {res['bpp']} bit/pixel, ratio "
              f"{res['ratio']}:1, {res['segments']} segments"
              f"{' (lossless)' if res['lossless'] else ''}")
    return 0


def cmd_decode(args) -> int:
    from decode import ccsds122
    from srd.cli import emit_json
    from srd.errors import CompressionError
    data = _read_stream(args.input)
    t0 = time.perf_counter()
    try:
        img, rep = ccsds122.decode_report(data)
    except CompressionError as ex:
        ex.path = str(args.input)
        raise
    dt = time.perf_counter() - t0
    if rep.errors and not args.partial:
        raise CompressionError("; ".join(rep.errors), path=args.input, field="segment",
                               lost_block_rows=int((~rep.block_rows_ok).sum()))
    _write_image(args.output, img)
    if rep.errors:
        import numpy as np
        mask = args.output.with_name(args.output.stem + ".rows_ok.npy")

        def wmask(tmp):
            with open(tmp, "wb") as fh:
                np.save(fh, rep.rows_ok)
        _write_atomic(mask, wmask)
    inf = rep.info
    res = {"input": str(args.input), "output": str(args.output), "rows": img.shape[0],
           "cols": img.shape[1], "dtype": img.dtype.name, "bits": inf.bits, "dwt": inf.dwt,
           "bytes": len(data), "bpp": inf.bpp, "segments": inf.segments,
           "truncated_segments": sum(s["status"] == "truncated" for s in inf.segment_list),
           "damaged_segments": sum(s["status"].startswith("error") for s in inf.segment_list),
           "rows_lost": int((~rep.rows_ok).sum()), "errors": rep.errors,
           "seconds": round(dt, 3)}
    if args.json:
        emit_json(res)
    else:
        print(f"{args.output}: {img.shape[0]}x{img.shape[1]} {img.dtype.name}, "
              f"{inf.segments} segments, {inf.bpp} bit/pixel")
        for e in rep.errors:
            print(f"  damaged: {e}", file=sys.stderr)
    return 10 if rep.errors else 0


def cmd_info(args) -> int:
    from decode import ccsds122
    from srd.cli import emit_json
    from srd.errors import CompressionError
    data = _read_stream(args.input)
    try:
        inf = ccsds122.info(data)
    except CompressionError as ex:
        ex.path = str(args.input)
        raise
    d = inf.to_dict()
    if not args.segments and not args.json:
        d.pop("segment_list")
    if args.json:
        emit_json(d)
    else:
        for k, v in d.items():
            if k != "segment_list":
                print(f"{k:16s} {v}")
        if args.segments:
            print("segment  offset   length  hdr  blocks  first  DC  AC  limit  status")
            for s in inf.segment_list:
                print(f"{s['index']:7d} {s['offset']:8d} {s['length']:8d} {s['header_bytes']:4d} "
                      f"{s['blocks']:7d} {s['first_block']:6d} {s['bit_depth_dc']:3d} "
                      f"{s['bit_depth_ac']:3d} {s['seg_byte_limit']:6d}  {s['status']}")
    bad = [s for s in inf.segment_list if s["status"].startswith("error")]
    return 6 if bad else 0
