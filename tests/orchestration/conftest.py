"""Fixtures for orchestration tests: offline STAC validation against ../shared schemas,
small real product scene directories (COGs written by GDAL), a pgstac cluster on loopback."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urldefrag

import numpy as np
import pytest


class StacValidator:
    """Validates STAC objects against the core schema and every ``stac_extensions`` schema,
    resolving every ``$ref`` from ``../shared/data/stac_schemas`` (no network)."""

    def __init__(self, root: Path) -> None:
        from referencing import Registry, Resource
        from referencing.exceptions import NoSuchResource
        self.root = root

        def retrieve(uri: str):
            url, _ = urldefrag(uri)
            path = root / url.split("://", 1)[-1]
            if not path.is_file():
                raise NoSuchResource(ref=uri)
            return Resource.from_contents(json.loads(path.read_text()))

        self.registry = Registry(retrieve=retrieve)

    def _schema(self, url: str) -> dict:
        return json.loads((self.root / urldefrag(url)[0].split("://", 1)[-1]).read_text())

    def validate(self, obj: dict) -> list[str]:
        """Return the schema URLs validated against (raises jsonschema.ValidationError)."""
        from jsonschema.validators import validator_for
        v = obj["stac_version"]
        kind = {"Feature": "item-spec/json-schema/item.json",
                "Collection": "collection-spec/json-schema/collection.json",
                "Catalog": "catalog-spec/json-schema/catalog.json"}[obj["type"]]
        urls = [f"https://schemas.stacspec.org/v{v}/{kind}", *obj.get("stac_extensions", [])]
        for url in urls:
            schema = self._schema(url)
            cls = validator_for(schema)
            cls(schema, registry=self.registry).validate(obj)
        return urls


@pytest.fixture(scope="session")
def stac_validator(shared_dir) -> StacValidator:
    return StacValidator(shared_dir / "data" / "stac_schemas")


# ----------------------------------------------------------------------------- product scenes

#: a UTM 31N origin near Montpellier (metres)
ORIGIN = (570000.0, 4830000.0)


def write_scene(parent: Path, scene_id: str, *, satellite="SPOT-6", level="ortho", cloud=12.5,
                start="2026-11-29T10:05:00Z", end="2026-11-29T10:05:04Z", offset_m=(0.0, 0.0),
                pan_px=64) -> Path:
    """A small real ortho-like scene: PAN (1.5 m) and MS (6 m, 4 bands) COGs written by GDAL's
    COG driver, a PNG quicklook and thumbnail, and metadata.json (the contract of stac.py)."""
    import rasterio
    from rasterio.transform import from_origin
    d = parent / scene_id
    d.mkdir(parents=True)
    x0, y0 = ORIGIN[0] + offset_m[0], ORIGIN[1] + offset_m[1]
    rng = np.random.default_rng(abs(hash(scene_id)) % 2**32)
    prof = dict(driver="COG", crs="EPSG:32631", dtype="uint16", nodata=0, compress="deflate",
                blocksize=256)
    pan = rng.integers(1, 4095, (pan_px, pan_px), dtype=np.uint16)
    with rasterio.open(d / "PAN.tif", "w", width=pan_px, height=pan_px, count=1,
                       transform=from_origin(x0, y0, 1.5, 1.5), **prof) as ds:
        ds.write(pan, 1)
        ds.set_band_description(1, "PAN")
    ms = rng.integers(1, 4095, (4, pan_px // 4, pan_px // 4), dtype=np.uint16)
    with rasterio.open(d / "MS.tif", "w", width=pan_px // 4, height=pan_px // 4, count=4,
                       transform=from_origin(x0, y0, 6.0, 6.0), **prof) as ds:
        ds.write(ms)
        for i, b in enumerate(("B0", "B1", "B2", "B3"), 1):
            ds.set_band_description(i, b)
    for name, size in (("quicklook.png", 32), ("thumbnail.png", 8)):
        with rasterio.open(d / name, "w", driver="PNG", width=size, height=size, count=3,
                           dtype="uint8") as ds:
            ds.write(rng.integers(0, 255, (3, size, size), dtype=np.uint8))
    md = {"scene_id": scene_id, "pass_id": scene_id.rsplit("_", 1)[0], "satellite": satellite,
          "level": level, "start_datetime": start, "end_datetime": end, "cloud_cover": cloud,
          "view": {"off_nadir": 3.2, "incidence_angle": 3.6, "azimuth": 101.0,
                   "sun_azimuth": 165.0, "sun_elevation": 24.5},
          "orbit": {"absolute_orbit": 12345, "orbit_state": "descending"},
          "software": {"ortho": "test"}}
    (d / "metadata.json").write_text(json.dumps(md))
    return d


@pytest.fixture
def scenes(tmp_path):
    """Three scenes: two overlapping (different clouds, times), one 50 km east."""
    root = tmp_path / "products"
    return [write_scene(root, "SPOT6_20261129T1005_S01", cloud=12.5),
            write_scene(root, "SPOT6_20261129T1005_S02", cloud=55.0, offset_m=(40.0, -60.0),
                        start="2026-11-29T10:05:04Z", end="2026-11-29T10:05:08Z"),
            write_scene(root, "SPOT7_20261201T1010_S01", satellite="SPOT-7", cloud=3.0,
                        offset_m=(50000.0, 0.0), start="2026-12-01T10:10:00Z",
                        end="2026-12-01T10:10:04Z")]


# ----------------------------------------------------------------------------- pgstac

@pytest.fixture(scope="session")
def pgstac_cluster(tmp_path_factory):
    """A real PostgreSQL + PostGIS + pgstac cluster on loopback for the test session."""
    if not shutil.which("runuser") and os.geteuid() == 0:
        pytest.fail("runuser is needed to run PostgreSQL as root")
    from orchestration.pgstac_server import init_cluster, stop_cluster
    import tempfile
    # not under pytest's tmp dir: that is 0700 root, and PostgreSQL runs as 'postgres' when we are root
    base = Path(tempfile.mkdtemp(prefix="srd-pgstac-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    d = base / "data"
    cl = init_cluster(d)
    yield cl
    stop_cluster(d)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pgstac_dsn(pgstac_cluster):
    """A fresh database (pgstac migrated) per test, so tests do not see each other's items."""
    import uuid

    import psycopg
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pgstac_cluster.port}/postgres",
                         autocommit=True) as c:
        # the session database is already migrated: copy it (faster than migrating again)
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pgstac_cluster.database}"')
    return f"postgresql://postgres@127.0.0.1:{pgstac_cluster.port}/{name}"
