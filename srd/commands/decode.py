"""``srd decode``: raw channel bits of a pass → Level 0 directory + decode_report.json."""
from __future__ import annotations

import argparse
import sys

EXAMPLES = """examples:
  srd decode landing/SPOT6_20261129T100326.json --out l0/
  srd decode landing/SPOT6_20261129T100326_A.bin --out l0/            (satellite from the SCID)
  srd decode capture.bin --satellite SPOT-7 --out l0/ --json
  srd decode npp_cadus.bin --satellite NPP --ccsds-only --out l0/      (other CCSDS mission in the config)

exit status: 0 nothing lost; 10 decoded with data loss (uncorrectable frames, gaps, masked
lines; see the report); 4 nothing lost but a datatake's key is missing or wrong (its packets
are kept encrypted, its lines masked); 5 nothing decodable (bad manifest, empty file, noise,
wrong SCID); 3 configuration error."""


def register(sub) -> None:
    p = sub.add_parser("decode", help="decode a pass (manifest or channel file) to Level 0",
                       description="Frame sync, derandomise, Reed-Solomon, AOS frames, space packets, "
                                   "decryption and decompression; writes <out>/<pass_id>/ (packet files "
                                   "per APID, ancillary arrays, band images, decode_report.json).",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    p.add_argument("input", help="pass manifest <pass_id>.json, or one raw channel file")
    p.add_argument("--out", required=True, metavar="DIR", help="Level 0 output directory")
    p.add_argument("--satellite", help="satellite name for a bare channel file (default: by SCID)")
    p.add_argument("--ccsds-only", action="store_true",
                   help="generic CCSDS decoding (other missions): every APID to a packet file, "
                        "no VC/APID maps, no ancillary/image products")
    p.add_argument("--chunk-mb", type=float, default=8.0, help="read size per step (MB, default 8)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes decoding channels in parallel (default: one per channel and core "
                        "for passes of 2 GB or more; 1 = in-process)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args) -> int:
    from pathlib import Path

    from decode.run import run
    from srd.cli import emit_json, load_station_config

    cfg = load_station_config(args)
    src = Path(args.input)
    total = _input_bytes(src)
    show = not (args.quiet or args.json) and sys.stderr.isatty()
    if show:
        from rich.progress import (BarColumn, DownloadColumn, Progress, TimeRemainingColumn,
                                   TransferSpeedColumn)
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task(f"decode {src.name}", total=total or None)
            report = run(src, args.out, cfg, satellite=args.satellite, ccsds_only=args.ccsds_only,
                         chunk_bytes=int(args.chunk_mb * (1 << 20)), workers=args.workers,
                         progress=lambda n: bar.advance(task, n))
    else:
        report = run(src, args.out, cfg, satellite=args.satellite, ccsds_only=args.ccsds_only,
                     chunk_bytes=int(args.chunk_mb * (1 << 20)), workers=args.workers)
    if args.json:
        emit_json(report.to_dict())
    else:
        for line in report.summary_lines():
            print(line)
        print(f"  Level 0: {report.level0_dir}")
    for e in report.errors:
        where = f"{e['path']}: " if isinstance(e, dict) and e.get("path") else ""
        off = f" (offset {e['offset']})" if isinstance(e, dict) and e.get("offset") is not None else ""
        print(f"srd decode: error: {where}{e.get('message', e) if isinstance(e, dict) else e}{off}", file=sys.stderr)
    return report.exit_code


def _input_bytes(src) -> int:
    """Channel bytes to read (for the progress bar); 0 when unknown."""
    import json
    try:
        if src.suffix.lower() == ".json":
            m = json.loads(src.read_text())
            return int(sum(int(c.get("bytes", 0)) for c in m.get("channels", [])))
        return src.stat().st_size
    except (OSError, ValueError, TypeError, AttributeError):
        return 0
