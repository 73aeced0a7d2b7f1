"""``srd process``: run one pass from its manifest to the catalogue through Prefect."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  srd process srd-data/landing/SPOT6_20261129T100326_MON.json
  srd process srd-data/archive/SPOT-6/2026/11/SPOT6_20261129T100326_MON/SPOT6_20261129T100326_MON.json \\
      --from-stage level1 --json

Runs the process_pass flow in this process (against PREFECT_API_URL when set, otherwise
Prefect's local ephemeral API). Finished stages are skipped (cache on inputs + code);
--from-stage recomputes that stage and the following ones."""


def register(sub) -> None:
    p = sub.add_parser("process", help="ingest, decode, level1, ortho and publish one pass",
                       description="Run process_pass (ingest → decode → level1 → ortho → publish) for a pass "
                                   "manifest.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="pass manifest (landing or archive)")
    p.add_argument("--from-stage", choices=("ingest", "decode", "level1", "ortho", "publish"),
                   help="recompute from this stage on")
    p.add_argument("--http-base", help="URL under which paths.root is served (quicklook artifacts)")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from srd.cli import emit_json, load_station_config
    cfg = load_station_config(args)
    from orchestration.flows import process_pass
    summary = process_pass(str(Path(args.manifest).resolve()), str(cfg.source), args.from_stage, args.http_base)
    if args.json:
        emit_json(summary)
    else:
        print(f"{summary['pass_id']}: " + ", ".join(f"{k} {v}" for k, v in summary["stages"].items()))
        print(f"published: {summary.get('published')}")
        for i in summary.get("items", []):
            print(f"  {i}")
    return 0
