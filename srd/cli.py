"""``srd`` — the operator's command line (gdal/git style: ``srd <verb> [options]``).

Each verb lives in ``srd/commands/<verb>.py`` exposing ``register(subparsers)``; the
module is imported only when listed in :data:`VERBS`, and stage code is imported inside
the verb's handler so ``srd --help`` stays fast. Exit codes:

* 0 success; 1 unexpected failure; 2 usage error (argparse); 11 a station service could not start;
* 3 configuration error; 4 missing key; 5 bad telemetry/manifest; 6 decode error;
* 7 product/geometry error; 8 storage error; 9 catalogue error; 10 completed with data loss
  (e.g. uncorrectable frames), see the report.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings

from srd import __version__
from srd.errors import SrdError

#: verb modules, in ``--help`` order
VERBS = ("demo", "passes", "config", "simulate", "decode", "level1", "ortho", "ccsds122", "serve", "process",
         "reprocess", "catalogue", "ingest")

EPILOG = """examples:
  srd demo                                   simulate a pass, process it end to end
  srd passes --hours 48                      predicted passes over the station
  srd simulate --satellite SPOT-6 --start 2026-11-29T10:03:26Z --duration 8s --out landing/
  srd decode landing/<pass_id>.json --out l0/
  srd config check
Add --json to any command that prints results; see 'srd <verb> --help'."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="srd", description="Direct-reception ground station for "
                                "SPOT 6/7-class satellites.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"srd {__version__}")
    p.add_argument("--config", metavar="PATH", help="station.toml (default: the shipped example station)")
    sub = p.add_subparsers(dest="verb", metavar="<verb>")
    for verb in VERBS:
        try:
            mod = importlib.import_module(f"srd.commands.{verb}")
        except ModuleNotFoundError as e:
            if e.name == f"srd.commands.{verb}":
                continue            # verb not built yet
            raise
        mod.register(sub)
    return p


def load_station_config(args):
    """Load the configuration named by ``--config`` (stale-TLE warnings go to stderr)."""
    from station_config import load_config
    return load_config(getattr(args, "config", None))


def emit_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.simplefilter("default")
    # rasterio's own helpers still use affine's deprecated `*`; not actionable for operators
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="affine")
    warnings.formatwarning = lambda m, c, *a, **k: f"warning: {m}\n"
    try:
        return int(args.func(args) or 0)
    except SrdError as e:
        if getattr(args, "json", False):
            emit_json(e.to_dict())
        print(f"srd {args.verb}: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:         # `srd ... | head`
        return 0
    except KeyboardInterrupt:
        print(f"srd {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
