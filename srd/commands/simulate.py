"""``srd simulate``: write a simulated pass into a landing directory (the antenna-terminal twin)."""
from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  srd simulate --satellite SPOT-6 --start 2026-11-29T10:03:26Z --duration 8s --profile reduced --out landing/
  srd simulate --satellite SPOT-6 --start 2026-11-29T10:03:26Z --duration 2s --profile reduced \\
      --ber 1e-5 --seed 1 --out /tmp/landing --json
  srd simulate --satellite SPOT-6 --start 2026-11-29T10:03:26Z --duration 4s --profile reduced \\
      --compression ccsds121 --encrypt 1 --bursts 3 --slips 2 --invert 0.5:0.2 --drop-frames 5 \\
      --dem ../shared/data/dem/N44E005.hgt --geoid ../shared/data/dem/egm96_15.gtx --out landing/

Writes <pass_id>_A.bin, <pass_id>_B.bin, <pass_id>.truth/ (ground truth for tests) and, last,
the manifest <pass_id>.json. Exit 0 on success, 3 bad configuration/arguments, 4 missing key,
8 cannot write the landing directory."""


def register(sub) -> None:
    p = sub.add_parser("simulate", help="write a simulated pass (channel files + manifest) into a landing directory",
                       description="Simulate one pass: datatake imaging, on-board formatting (compression, "
                                   "encryption, space packets, AOS frames, RS, randomiser), channel impairments, "
                                   "and the ICD §1 landing layout.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--satellite", required=True, help="configured satellite, e.g. SPOT-6")
    p.add_argument("--start", required=True, help="datatake start, ISO-8601 UTC")
    p.add_argument("--duration", default="8s", help="datatake length, e.g. 8s, 1.5min (default 8s)")
    p.add_argument("--profile", help="instrument profile (default: the satellite's), e.g. reduced")
    p.add_argument("--out", required=True, type=Path, help="landing directory")
    g = p.add_argument_group("on-board formatting")
    g.add_argument("--compression", choices=("raw", "ccsds121", "ccsds122"), default="raw",
                   help="image compression (default raw)")
    g.add_argument("--bpp", type=float, metavar="X",
                   help="ccsds122 only: lossy rate in bits per pixel (float 9/7 DWT, segment byte "
                        "limit floor(X*S*64/8)); default lossless")
    g.add_argument("--encrypt", type=int, default=0, metavar="KEY_ID",
                   help="AES-256-CTR encrypt image payloads with configured key KEY_ID (default 0: clear)")
    g.add_argument("--datatake-id", type=int, default=1, help="datatake id (default 1)")
    c = p.add_argument_group("channel impairments (all seeded by --seed)")
    c.add_argument("--ber", type=float, default=0.0, help="random bit error rate (default 0)")
    c.add_argument("--bursts", type=int, default=0, help="number of error bursts (16..400 bits)")
    c.add_argument("--slips", type=int, default=0, help="number of ±1..2-bit slips")
    c.add_argument("--invert", action="append", default=[], metavar="START:LEN",
                   help="inverted polarity from START for LEN seconds of the file (repeatable)")
    c.add_argument("--drop-frames", type=int, default=0, metavar="N",
                   help="one stretch of N consecutive CADUs corrupted beyond correction")
    c.add_argument("--noise-before", type=float, default=0.002, metavar="S", help="noise before AOS, s (default 0.002)")
    c.add_argument("--noise-after", type=float, default=0.002, metavar="S", help="noise after LOS, s (default 0.002)")
    c.add_argument("--seed", type=int, default=1, help="seed of the scene, noise and impairments (default 1)")
    s = p.add_argument_group("scene")
    s.add_argument("--dem", type=Path, help="DEM (GDAL-readable; default: none, the ellipsoid)")
    s.add_argument("--geoid", type=Path, help="geoid grid (.gtx): DEM heights are above it")
    s.add_argument("--texture", type=Path, help="GeoTIFF replacing the synthetic land cover")
    p.add_argument("--json", action="store_true", help="print the simulation report as JSON")
    p.set_defaults(func=run)


def _invert(values: list[str]) -> tuple[tuple[float, float], ...]:
    from srd.errors import ConfigError
    out = []
    for v in values:
        try:
            a, b = v.split(":")
            out.append((float(a), float(b)))
        except ValueError:
            raise ConfigError(f"--invert {v!r}: expected START:LEN in seconds, e.g. 0.5:0.2",
                              field="invert") from None
    return tuple(out)


def run(args) -> int:
    from srd.cli import emit_json, load_station_config
    from srd.errors import ConfigError
    from srd.timescale import parse_duration
    from srd.timescale import parse_utc
    from telemetry.channel import Impairments
    from telemetry.simulate import run as simulate

    cfg = load_station_config(args)
    try:
        start = parse_utc(args.start)
    except ValueError as e:
        raise ConfigError(f"--start: {e}", field="start") from None
    try:
        duration = parse_duration(args.duration)
    except ValueError as e:
        raise ConfigError(f"--duration: {e}", field="duration") from None
    for name in ("dem", "geoid", "texture"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"--{name}: file not found", path=path, field=name)
    imp = Impairments(ber=args.ber, bursts=args.bursts, slips=args.slips, invert=_invert(args.invert),
                      drop_frames=args.drop_frames, noise_before_s=args.noise_before,
                      noise_after_s=args.noise_after, seed=args.seed)
    kw = dict(compression=args.compression, ccsds122_bpp=args.bpp, key_id=args.encrypt, impairments=imp, dem=args.dem,
              geoid=args.geoid, texture=args.texture, seed=args.seed, datatake_id=args.datatake_id)
    if args.json:
        rep = simulate(cfg, args.out, args.satellite, start, duration, args.profile, **kw)
        emit_json(rep.to_dict())
        return 0
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("simulate", total=1.0)
        rep = simulate(cfg, args.out, args.satellite, start, duration, args.profile,
                       progress=lambda f: bar.update(task, completed=f), **kw)
    print(f"{rep.manifest}")
    print(f"  pass {rep.pass_id}: AOS {rep.aos}  LOS {rep.los}  max elevation {rep.max_elevation_deg:.1f}°")
    for ch in rep.channels:
        print(f"  channel {ch['name']}: {ch['file']}  {ch['bytes'] / 1e6:.2f} MB  {ch['cadus']} CADUs "
              f"({ch['idle_frames']} idle)")
    print(f"  {rep.image_blocks} image blocks, {rep.pixels / 1e6:.2f} Mpixel, compression {rep.compression} "
          f"(ratio {rep.compression_ratio:.2f}), key id {rep.key_id}")
    print(f"  truth: {rep.truth_dir}")
    print(f"  {rep.seconds:.1f} s ({rep.mpixel_per_s:.2f} Mpixel/s, {rep.telemetry_mb_per_s:.1f} MB/s of telemetry)")
    return 0
