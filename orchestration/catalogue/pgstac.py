"""pgstac catalogue backend: PostgreSQL + PostGIS + pgstac, loaded with pypgstac.

Production store: stac-fastapi-pgstac serves the same database as a STAC API
(``srd serve`` with ``[catalogue] backend = "pgstac"``; see :mod:`orchestration.pgstac_server`).

Idempotency: pgstac's loader ``upsert`` replaces an item of the same collection and id.
To report ``unchanged`` without relying on pgstac's dehydrate/rehydrate round trip being
byte-stable, a side table ``srd_publish(collection, id, body_sha256)`` (schema ``public``,
outside pgstac's own schema, so pgstac migrations never touch it) keeps the hash of the
canonical item we last published; it is updated in the same transaction as the item.
"""
from __future__ import annotations

import hashlib
import json

from orchestration.catalogue.base import (CatalogueStore, PublishOutcome, SearchQuery, canonical,
                                          strip_links)
from srd.errors import CatalogueError

_SIDE = """CREATE TABLE IF NOT EXISTS public.srd_publish (
    collection text NOT NULL, id text NOT NULL, body_sha256 text NOT NULL,
    PRIMARY KEY (collection, id))"""


def _iso(t) -> str:
    return t.isoformat().replace("+00:00", "Z")


class PgstacCatalogue(CatalogueStore):
    """STAC store in a pgstac database at ``dsn`` (``postgresql://user:pw@host:port/db``).

    The database must have been migrated (``pypgstac migrate`` — see
    :func:`orchestration.pgstac_server.migrate`).
    """

    backend = "pgstac"

    def __init__(self, dsn: str, api_url: str | None = None) -> None:
        import psycopg
        self.dsn = dsn
        self.api_url = api_url.rstrip("/") if api_url else None
        try:
            self._conn = psycopg.connect(dsn, autocommit=True)
            with self._conn.cursor() as cur:
                cur.execute("SET search_path TO pgstac, public")
                cur.execute("SELECT pgstac.get_version()")
                self.pgstac_version = cur.fetchone()[0]
            # CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin (both can pass
            # the check, one fails on the catalogue's unique type name): serialise it
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('srd_publish'))")
                cur.execute(_SIDE)
        except psycopg.Error as e:
            raise CatalogueError(f"cannot open the pgstac catalogue ({str(e).strip()})",
                                 path=_redact(dsn)) from None

    def _exec(self, sql: str, args=None, *, fetch: str | None = None):
        import psycopg
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, args)
                if fetch == "one":
                    return cur.fetchone()
                if fetch == "all":
                    return cur.fetchall()
        except psycopg.Error as e:
            raise CatalogueError(f"pgstac: {str(e).strip()}", path=_redact(self.dsn)) from None

    def ensure_collection(self, collection: dict) -> bool:
        from psycopg.types.json import Jsonb
        import psycopg
        if self.get_collection(collection["id"]) is not None:
            return False
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('srd_publish'))")
                cur.execute("SELECT create_collection(%s)", [Jsonb(strip_links(collection))])
        except psycopg.errors.UniqueViolation:
            return False                 # a concurrent publisher created it first: same content
        except psycopg.Error as e:
            raise CatalogueError(f"pgstac: {str(e).strip()}", path=_redact(self.dsn)) from None
        return True

    def get_collection(self, cid: str) -> dict | None:
        row = self._exec("SELECT get_collection(%s)", [cid], fetch="one")
        if not row or not row[0]:
            return None
        return {**row[0], "links": row[0].get("links") or []}

    def publish(self, item: dict) -> PublishOutcome:
        from psycopg.types.json import Jsonb
        cid, iid = item.get("collection"), item.get("id")
        if not cid or self.get_collection(cid) is None:
            raise CatalogueError(f"item {iid!r}: collection {cid!r} does not exist", field="collection")
        body = strip_links(item)
        digest = hashlib.sha256(canonical(body).encode()).hexdigest()
        import psycopg
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                # pgstac creates item partitions on first load into a collection, and that is not
                # safe against concurrent loaders: publishers take turns (publishing is cheap)
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('srd_publish'))")
                cur.execute("SELECT body_sha256 FROM public.srd_publish WHERE collection=%s AND id=%s "
                            "FOR UPDATE", [cid, iid])
                row = cur.fetchone()
                cur.execute("SELECT 1 FROM items WHERE collection=%s AND id=%s", [cid, iid])
                exists = cur.fetchone() is not None
                if row is not None and row[0] == digest and exists:
                    return "unchanged"
                cur.execute("SELECT upsert_item(%s)", [Jsonb(body)])
                cur.execute("INSERT INTO public.srd_publish (collection, id, body_sha256) VALUES (%s,%s,%s) "
                            "ON CONFLICT (collection, id) DO UPDATE SET body_sha256 = EXCLUDED.body_sha256",
                            [cid, iid, digest])
                cur.execute("SELECT collection_extent(%s, true)", [cid])
        except psycopg.Error as e:
            raise CatalogueError(f"pgstac: cannot publish {cid}/{iid} ({str(e).strip()})",
                                 path=_redact(self.dsn)) from None
        return "replaced" if exists else "created"

    def _linked(self, item: dict) -> dict:
        """pgstac stores items without links; STAC requires the ``collection`` link (and the
        API, when served, adds its own). hrefs point at the API when its URL is known."""
        base = self.api_url or "."
        cid = item.get("collection")
        links = [ln for ln in item.get("links") or [] if ln.get("rel") not in ("collection", "self")]
        links += [{"rel": "collection", "href": f"{base}/collections/{cid}", "type": "application/json"},
                  {"rel": "self", "href": f"{base}/collections/{cid}/items/{item['id']}",
                   "type": "application/geo+json"}]
        return {**item, "links": links}

    def get_item(self, collection: str, item_id: str) -> dict | None:
        row = self._exec("SELECT get_item(%s, %s)", [item_id, collection], fetch="one")
        return self._linked(row[0]) if row and row[0] else None

    def delete_item(self, collection: str, item_id: str) -> bool:
        if self.get_item(collection, item_id) is None:
            return False
        self._exec("SELECT delete_item(%s, %s)", [item_id, collection])
        self._exec("DELETE FROM public.srd_publish WHERE collection=%s AND id=%s", [collection, item_id])
        return True

    def search(self, q: SearchQuery) -> list[dict]:
        from psycopg.types.json import Jsonb
        s: dict = {"limit": q.limit,
                   "sortby": [{"field": "datetime", "direction": "asc"}, {"field": "id", "direction": "asc"}]}
        if q.bbox is not None:
            s["bbox"] = list(q.bbox)
        if q.start is not None or q.end is not None:
            s["datetime"] = f"{_iso(q.start) if q.start else '..'}/{_iso(q.end) if q.end else '..'}"
        if q.collections:
            s["collections"] = list(q.collections)
        if q.ids:
            s["ids"] = list(q.ids)
        if q.max_cloud is not None:
            s["filter-lang"] = "cql2-json"
            s["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, q.max_cloud]}
        row = self._exec("SELECT search(%s)", [Jsonb(s)], fetch="one")
        fc = row[0] if row else None
        if isinstance(fc, str):
            fc = json.loads(fc)
        return [self._linked(f) for f in (fc or {}).get("features") or []]

    def count(self) -> int:
        return self._exec("SELECT count(*) FROM items", fetch="one")[0]

    def close(self) -> None:
        self._conn.close()


def _redact(dsn: str) -> str:
    """DSN without its password (errors and logs never carry credentials)."""
    import re
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)
