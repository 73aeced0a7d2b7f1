"""STAC catalogue of srd products: item building (:mod:`.stac`) and two stores behind one
interface (:class:`.base.CatalogueStore`): :mod:`.embedded` (default, no server) and
:mod:`.pgstac` (PostgreSQL/PostGIS/pgstac, served by stac-fastapi-pgstac).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from orchestration.catalogue.base import CatalogueStore, SearchQuery  # noqa: F401


def open_catalogue(cfg) -> CatalogueStore:
    """The store configured in ``cfg.catalogue`` (embedded directory under ``paths.root``
    unless absolute, or the pgstac DSN)."""
    c = cfg.catalogue
    if c.backend == "pgstac":
        from orchestration.catalogue.pgstac import PgstacCatalogue
        return PgstacCatalogue(c.dsn, c.api_url)
    from orchestration.catalogue.embedded import EmbeddedCatalogue
    root = c.path if Path(c.path).is_absolute() else (Path(cfg.paths.root) / c.path)
    return EmbeddedCatalogue(Path(root).resolve())


@dataclass(frozen=True)
class PublishResult:
    collection: str
    item_id: str
    outcome: str            # created | replaced | unchanged
    backend: str

    def to_dict(self) -> dict:
        return asdict(self)


def publish_scene(store: CatalogueStore, scene_dir: str | Path, cfg=None, *,
                  href_base: str | None = None, metadata: dict | None = None) -> PublishResult:
    """Build the item of ``scene_dir`` and publish it (collection created when missing).
    ``metadata``: scene metadata dict (default: ``scene_dir/metadata.json``). Idempotent: an
    unchanged scene reports ``unchanged`` and writes nothing."""
    from orchestration.catalogue.stac import check_metadata, create_collection, create_item, read_metadata
    item = create_item(scene_dir, cfg, href_base=href_base, metadata=metadata)
    md = check_metadata(metadata, Path(scene_dir)) if metadata is not None else read_metadata(Path(scene_dir))
    store.ensure_collection(create_collection(md["satellite"], md["level"], cfg))
    outcome = store.publish(item)
    return PublishResult(item["collection"], item["id"], outcome, store.backend)
