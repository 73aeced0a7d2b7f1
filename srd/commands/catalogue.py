"""``srd catalogue``: search and publish the STAC catalogue (embedded or pgstac)."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  srd catalogue search --bbox 3.5,43.3,4.2,43.9 --datetime 2026-11-01/2026-11-30 --max-cloud 20
  srd catalogue search --collection spot-6-ortho --limit 5 --json
  srd catalogue publish srd-data/products/SPOT6_20261129T100326_MON/*/"""


def register(sub) -> None:
    p = sub.add_parser("catalogue", help="search / publish the STAC catalogue",
                       description="The STAC 1.1 catalogue configured in [catalogue] (embedded static catalogue "
                                   "+ SQLite index, or pgstac).",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="action", metavar="<action>", required=True)
    q = s.add_parser("search", help="items by bbox, datetime, cloud cover", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--bbox", help="west,south,east,north (WGS84 degrees)")
    q.add_argument("--datetime", help="RFC 3339 instant or interval a/b ('..' open)")
    q.add_argument("--max-cloud", type=float, help="maximum eo:cloud_cover, percent")
    q.add_argument("--collection", action="append", help="collection id (repeatable)")
    q.add_argument("--limit", type=int, default=100)
    q.add_argument("--json", action="store_true", help="print a GeoJSON FeatureCollection")
    q.set_defaults(func=search)
    u = s.add_parser("publish", help="publish product scene directories (idempotent)")
    u.add_argument("scene_dir", nargs="+")
    u.add_argument("--href-base", help="URL under which each scene directory's parent is served")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=publish)


def search(args) -> int:
    from orchestration.catalogue import SearchQuery, open_catalogue
    from srd.cli import emit_json, load_station_config
    cfg = load_station_config(args)
    q = SearchQuery.build(bbox=args.bbox, datetime=args.datetime, max_cloud=args.max_cloud,
                          collections=args.collection, limit=args.limit)
    with open_catalogue(cfg) as store:
        items = store.search(q)
    if args.json:
        emit_json({"type": "FeatureCollection", "numberReturned": len(items), "features": items})
        return 0
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"{len(items)} item(s) in the {cfg.catalogue.backend} catalogue")
    for col in ("collection", "id", "start (UTC)", "cloud %", "gsd m", "bbox"):
        t.add_column(col, no_wrap=True)
    for it in items:
        p = it["properties"]
        t.add_row(it["collection"], it["id"], str(p.get("start_datetime") or p.get("datetime")),
                  "" if p.get("eo:cloud_cover") is None else f"{p['eo:cloud_cover']:.1f}",
                  "" if p.get("gsd") is None else f"{p['gsd']:g}",
                  ", ".join(f"{v:.4f}" for v in it["bbox"]))
    Console().print(t)
    return 0


def publish(args) -> int:
    from orchestration.catalogue import open_catalogue, publish_scene
    from srd.cli import emit_json, load_station_config
    cfg = load_station_config(args)
    out = []
    with open_catalogue(cfg) as store:
        for d in args.scene_dir:
            base = f"{args.href_base.rstrip('/')}/{d.rstrip('/').split('/')[-1]}" if args.href_base else None
            out.append(publish_scene(store, d, cfg, href_base=base).to_dict())
    if args.json:
        emit_json({"published": out})
    else:
        for r in out:
            print(f"{r['collection']}/{r['item_id']}: {r['outcome']} ({r['backend']})")
    return 0
