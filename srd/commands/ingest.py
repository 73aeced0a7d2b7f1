"""``srd ingest``: move a landed pass into the immutable archive (verified, read-only)."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  srd ingest srd-data/landing/SPOT6_20261129T100326.json
  srd ingest landing/SPOT6_20261129T100326.json --json

A corrupt or incomplete pass is moved to the quarantine directory with reason.json
(exit code 5); nothing is ever deleted."""


def register(sub) -> None:
    p = sub.add_parser("ingest", help="verify a landed pass and move it into the archive",
                       description="Verify a pass manifest's sizes and SHA-256 and move the pass into "
                                   "archive/<satellite>/<YYYY>/<MM>/<pass_id>/ (read-only, SHA256SUMS).",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="the pass manifest <pass_id>.json in the landing directory")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from srd.cli import emit_json, load_station_config
    from telemetry.ingest import ingest
    cfg = load_station_config(args)
    r = ingest(args.manifest, cfg)
    if args.json:
        emit_json(r.to_dict())
    else:
        verb = "archived" if r.status == "archived" else "already archived"
        print(f"{r.pass_id} ({r.satellite}, AOS {r.aos}): {verb} in {r.archive_dir} "
              f"({r.bytes / 1e6:.1f} MB, {len(r.channels)} channels verified, {r.seconds:.1f} s)")
    return 0
