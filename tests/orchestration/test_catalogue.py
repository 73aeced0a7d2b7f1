"""STAC catalogue: item building, schema validity (offline), embedded and pgstac stores."""
from __future__ import annotations

import hashlib
import json

import pystac
import pytest
import rasterio
from pyproj import Transformer

from orchestration.catalogue import SearchQuery, publish_scene
from orchestration.catalogue.embedded import EmbeddedCatalogue
from orchestration.catalogue.stac import create_collection, create_item
from srd.errors import CatalogueError, ProductError


def test_item_is_valid_stac_with_every_extension(scenes, cfg, stac_validator):
    item = create_item(scenes[0], cfg)
    urls = stac_validator.validate(item)
    assert len(urls) == 7             # core + eo, view, sat, proj, processing, file
    p = item["properties"]
    assert p["platform"] == "spot-6" and p["instruments"] == ["naomi"]
    assert p["eo:cloud_cover"] == 12.5 and p["view:sun_elevation"] == 24.5
    assert p["sat:absolute_orbit"] == 12345 and p["sat:orbit_state"] == "descending"
    assert p["proj:code"] == "EPSG:32631" and p["processing:level"] == "L2"
    assert p["gsd"] == 1.5
    assert {"pan", "ms", "quicklook", "thumbnail", "metadata"} <= set(item["assets"])
    # wavelengths come from the instrument profile, band names from the GDAL band descriptions
    inst = cfg.instrument(cfg.satellite("SPOT-6").instrument)
    ms = item["assets"]["ms"]["bands"]
    assert [b["name"] for b in ms] == ["B0", "B1", "B2", "B3"]
    assert ms[2]["eo:center_wavelength"] == pytest.approx(inst.band("B2").centre_nm / 1000)
    stac_validator.validate(create_collection("SPOT-6", "ortho", cfg))


def test_item_checksums_and_footprint_match_the_files(scenes, cfg):
    item = create_item(scenes[0], cfg)
    pan = scenes[0] / "PAN.tif"
    a = item["assets"]["pan"]
    assert a["file:checksum"] == "1220" + hashlib.sha256(pan.read_bytes()).hexdigest()
    assert a["file:size"] == pan.stat().st_size
    # independent check of the footprint: corners of the COG through pyproj
    with rasterio.open(pan) as ds:
        b = ds.bounds
        assert a["proj:shape"] == [ds.height, ds.width]
    t = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    lons, lats = t.transform([b.left, b.right, b.right, b.left], [b.bottom, b.bottom, b.top, b.top])
    w, s, e, n = item["bbox"]
    assert w == pytest.approx(min(lons), abs=1e-7) and e == pytest.approx(max(lons), abs=1e-7)
    assert s == pytest.approx(min(lats), abs=1e-7) and n == pytest.approx(max(lats), abs=1e-7)
    ring = item["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) > 5


def test_bad_scene_metadata_is_a_typed_error_naming_the_field(scenes, cfg):
    md_path = scenes[0] / "metadata.json"
    md = json.loads(md_path.read_text())
    md["cloud_cover"] = 140
    md_path.write_text(json.dumps(md))
    with pytest.raises(ProductError) as e:
        create_item(scenes[0], cfg)
    assert e.value.field == "cloud_cover" and str(md_path) in str(e.value)
    del md["start_datetime"]
    md_path.write_text(json.dumps(md))
    with pytest.raises(ProductError, match="start_datetime"):
        create_item(scenes[0], cfg)
    (scenes[1] / "metadata.json").unlink()
    with pytest.raises(ProductError, match="no metadata.json"):
        create_item(scenes[1], cfg)


def _ids(items):
    return [i["id"] for i in items]


def _exercise_store(store, scenes, cfg, stac_validator):
    """The behaviour both backends must share."""
    res = [publish_scene(store, s, cfg) for s in scenes]
    assert [r.outcome for r in res] == ["created"] * 3
    # idempotent: re-publishing unchanged scenes writes nothing
    assert [publish_scene(store, s, cfg).outcome for s in scenes] == ["unchanged"] * 3
    assert store.count() == 3
    # bbox: the SPOT-7 scene is 50 km east
    item0 = store.get_item("spot-6-ortho", scenes[0].name)
    stac_validator.validate(item0)
    w, s, e, n = item0["bbox"]
    assert _ids(store.search(SearchQuery.build(bbox=(w, s, e, n)))) == [scenes[0].name, scenes[1].name]
    assert _ids(store.search(SearchQuery.build(bbox=(e + 0.3, s - 0.1, e + 0.8, n + 0.1)))) == [scenes[2].name]
    # datetime
    assert _ids(store.search(SearchQuery.build(datetime="2026-11-29T10:05:05Z/2026-11-30T00:00:00Z"))) \
        == [scenes[1].name]
    assert _ids(store.search(SearchQuery.build(datetime="2026-12-01T00:00:00Z/.."))) == [scenes[2].name]
    # cloud cover
    assert _ids(store.search(SearchQuery.build(max_cloud=20))) == [scenes[0].name, scenes[2].name]
    assert _ids(store.search(SearchQuery.build(bbox=(w, s, e, n), max_cloud=20))) == [scenes[0].name]
    assert _ids(store.search(SearchQuery.build(collections=["spot-7-ortho"]))) == [scenes[2].name]
    # re-publishing a changed scene replaces it (no duplicate)
    md_path = scenes[0] / "metadata.json"
    md = json.loads(md_path.read_text())
    md["cloud_cover"] = 80.0
    md_path.write_text(json.dumps(md))
    assert publish_scene(store, scenes[0], cfg).outcome == "replaced"
    assert store.count() == 3
    assert _ids(store.search(SearchQuery.build(max_cloud=20))) == [scenes[2].name]
    assert store.get_item("spot-6-ortho", scenes[0].name)["properties"]["eo:cloud_cover"] == 80.0
    col = store.get_collection("spot-6-ortho")
    stac_validator.validate(col)
    return col


def test_embedded_store(scenes, cfg, stac_validator, tmp_path):
    store = EmbeddedCatalogue(tmp_path / "cat")
    col = _exercise_store(store, scenes, cfg, stac_validator)
    # collection extent widened to its items
    (west, south, east, north), = col["extent"]["spatial"]["bbox"]
    assert col["extent"]["temporal"]["interval"] == [["2026-11-29T10:05:00Z", "2026-11-29T10:05:08Z"]]
    store.close()
    # a third-party reader (pystac) walks the static catalogue and validates nothing missing
    cat = pystac.Catalog.from_file(str(tmp_path / "cat" / "catalog.json"))
    items = sorted(i.id for i in cat.get_items(recursive=True))
    assert items == sorted(s.name for s in scenes)
    stac_validator.validate(json.loads((tmp_path / "cat" / "catalog.json").read_text()))
    # the index survives reopening
    assert EmbeddedCatalogue(tmp_path / "cat").count() == 3


def test_search_arguments_are_checked():
    with pytest.raises(CatalogueError, match="bbox"):
        SearchQuery.build(bbox="1,2,3")
    with pytest.raises(CatalogueError, match="ends before"):
        SearchQuery.build(datetime="2026-02-01T00:00:00Z/2026-01-01T00:00:00Z")
    with pytest.raises(CatalogueError, match="max cloud"):
        SearchQuery.build(max_cloud=101)
    q = SearchQuery.build(bbox="3,43,4,44", datetime="2026-01-01", max_cloud="20")
    assert q.bbox == (3.0, 43.0, 4.0, 44.0) and q.start == q.end and q.max_cloud == 20.0


def test_publishing_into_a_missing_collection_is_refused(scenes, cfg, tmp_path):
    store = EmbeddedCatalogue(tmp_path / "cat")
    with pytest.raises(CatalogueError, match="does not exist"):
        store.publish(create_item(scenes[0], cfg))


def test_pgstac_store(pgstac_dsn, scenes, cfg, stac_validator):
    from orchestration.catalogue.pgstac import PgstacCatalogue
    with PgstacCatalogue(pgstac_dsn) as store:
        assert store.pgstac_version
        _exercise_store(store, scenes, cfg, stac_validator)


def test_pgstac_served_by_stac_fastapi_and_searched_with_pystac_client(pgstac_dsn, scenes, cfg,
                                                                      stac_validator, tmp_path):
    from pystac_client import Client

    from orchestration.catalogue.pgstac import PgstacCatalogue
    from orchestration.pgstac_server import start_api
    with PgstacCatalogue(pgstac_dsn) as store:
        for s in scenes:
            publish_scene(store, s, cfg)
    proc, url = start_api(pgstac_dsn, log=tmp_path / "api.log")
    try:
        client = Client.open(url)
        assert {c.id for c in client.get_collections()} == {"spot-6-ortho", "spot-7-ortho"}
        found = client.search(bbox=[3.5, 43.0, 5.0, 44.0], datetime="2026-11-29/2026-12-31",
                              filter={"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20]},
                              filter_lang="cql2-json")
        items = list(found.items())
        assert sorted(i.id for i in items) == sorted([scenes[0].name, scenes[2].name])
        d = items[0].to_dict()
        stac_validator.validate(d)
    finally:
        proc.terminate()
        proc.wait(10)


def test_concurrent_publishers_into_a_new_collection(scenes, cfg, tmp_path):
    """Publish tasks run as threads of one process: none may trip over another's temp files."""
    from concurrent.futures import ThreadPoolExecutor

    def pub(s):
        with EmbeddedCatalogue(tmp_path / "cat") as store:
            return publish_scene(store, s, cfg).outcome

    with ThreadPoolExecutor(3) as ex:
        assert sorted(ex.map(pub, scenes)) == ["created"] * 3
    store = EmbeddedCatalogue(tmp_path / "cat")
    assert store.count() == 3
    assert len([ln for ln in store.get_collection("spot-6-ortho")["links"] if ln["rel"] == "item"]) == 2


def test_concurrent_publishers_pgstac(pgstac_dsn, scenes, cfg):
    from concurrent.futures import ThreadPoolExecutor

    from orchestration.catalogue.pgstac import PgstacCatalogue

    def pub(s):
        with PgstacCatalogue(pgstac_dsn) as store:
            return publish_scene(store, s, cfg).outcome

    with ThreadPoolExecutor(3) as ex:
        assert sorted(ex.map(pub, scenes * 2)) == ["created"] * 3 + ["unchanged"] * 3
    with PgstacCatalogue(pgstac_dsn) as store:
        assert store.count() == 3
