"""Embedded catalogue: search latency of the SQLite R*Tree index vs walking the static
catalogue (the peer: what a static STAC catalogue offers without an index), and publish
throughput, measured in the same run.

    .venv/bin/python benchmarks/bench_catalogue.py [--items 3000] [--queries 50]

Items are copies of one real item (built from a small COG scene) spread over France and
one year, so the index sees realistic geometries and property sets.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _scene(tmp: Path) -> Path:
    import rasterio
    from rasterio.transform import from_origin
    d = tmp / "scene"
    d.mkdir()
    with rasterio.open(d / "PAN.tif", "w", driver="COG", width=64, height=64, count=1, dtype="uint16",
                       crs="EPSG:32631", transform=from_origin(570000, 4830000, 1.5, 1.5)) as ds:
        ds.write(np.ones((64, 64), np.uint16), 1)
    (d / "metadata.json").write_text(json.dumps({
        "scene_id": "S", "satellite": "SPOT-6", "level": "ortho", "start_datetime": "2026-01-01T10:00:00Z",
        "end_datetime": "2026-01-01T10:00:04Z", "cloud_cover": 10.0}))
    return d


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=50)
    a = ap.parse_args()
    from orchestration.catalogue.base import SearchQuery
    from orchestration.catalogue.embedded import EmbeddedCatalogue
    from orchestration.catalogue.stac import create_collection, create_item
    from station_config import load_config
    cfg = load_config()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        base = create_item(_scene(tmp), cfg)
        store = EmbeddedCatalogue(tmp / "cat")
        store.ensure_collection(create_collection("SPOT-6", "ortho", cfg))
        t0 = time.perf_counter()
        for k in range(a.items):
            it = copy.deepcopy(base)
            it["id"] = f"S{k:06d}"
            lon, lat = rng.uniform(-4.5, 7.5), rng.uniform(42.5, 51.0)
            w, s, e, n = lon, lat, lon + 0.8, lat + 0.55
            it["geometry"] = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
            it["bbox"] = [w, s, e, n]
            t_ = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=int(rng.integers(0, 525600)))
            iso = t_.isoformat().replace("+00:00", "Z")
            it["properties"].update(datetime=iso, start_datetime=iso, end_datetime=iso)
            it["properties"]["eo:cloud_cover"] = float(rng.uniform(0, 100))
            store.publish(it)
        t_pub = time.perf_counter() - t0
        queries = []
        for _ in range(a.queries):
            lon, lat = rng.uniform(-4, 7), rng.uniform(43, 50.5)
            m = int(rng.integers(1, 12))
            queries.append(SearchQuery.build(bbox=(lon, lat, lon + 0.3, lat + 0.3),
                                             datetime=f"2026-{m:02d}-01/2026-{m:02d}-28", max_cloud=30))
        t0 = time.perf_counter()
        hits_idx = [sorted(i["id"] for i in store.search(q)) for q in queries]
        t_idx = (time.perf_counter() - t0) / len(queries)

        # peer: walk the static catalogue (every item JSON) and filter in Python
        def scan(q):
            out = []
            for p in (tmp / "cat" / "spot-6-ortho").glob("*/*.json"):
                it = json.loads(p.read_text())
                w, s, e, n = it["bbox"]
                pr = it["properties"]
                ts = dt.datetime.fromisoformat(pr["start_datetime"].replace("Z", "+00:00"))
                if (w <= q.bbox[2] and e >= q.bbox[0] and s <= q.bbox[3] and n >= q.bbox[1]
                        and q.start <= ts <= q.end and pr.get("eo:cloud_cover", 101) <= q.max_cloud):
                    out.append(it["id"])
            return sorted(out)
        nscan = min(5, len(queries))
        t0 = time.perf_counter()
        hits_scan = [scan(q) for q in queries[:nscan]]
        t_scan = (time.perf_counter() - t0) / nscan
        assert hits_scan == hits_idx[:nscan], "index and scan disagree"
        print(f"items {a.items}: publish {a.items / t_pub:.0f} items/s (JSON write + index, fsync)")
        print(f"search (bbox+datetime+cloud): index {t_idx * 1e3:.2f} ms, static-catalogue scan "
              f"{t_scan * 1e3:.1f} ms  -> index {t_scan / t_idx:.0f}x faster; "
              f"mean hits {np.mean([len(h) for h in hits_idx]):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
