"""Embedded catalogue: a static STAC catalogue on disk + an SQLite R*Tree index.

Why this shape (no server, still searchable):

* The **static catalogue** (``catalog.json`` → ``<collection>/collection.json`` →
  ``<collection>/<item>/<item>.json``) is plain STAC that any STAC tool (pystac,
  stac-browser, rustac) reads without us, and it can be copied/served as files.
* The **index** (``index.sqlite``) answers bbox/datetime/cloud searches without walking
  every JSON file: SQLite ships with Python (no new dependency, no daemon), its R*Tree
  module gives a spatial index on item bboxes, and its transactions with a busy timeout
  let two flows publish at once. stac-geoparquet would need pyarrow + a query engine
  and is append-oriented (replacing one item rewrites a file); idempotent per-item
  upsert is the operation we do most.

Writes go to a temporary file and are renamed into place; the index row is updated in the
same SQLite transaction, after the rename, so the index never points at a missing file.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import uuid
from pathlib import Path

from orchestration.catalogue import constants as C
from orchestration.catalogue.base import (CatalogueStore, PublishOutcome, SearchQuery, canonical,
                                          parse_time, strip_links)
from srd.errors import CatalogueError, StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    start REAL NOT NULL,            -- POSIX seconds UTC
    end REAL NOT NULL,
    cloud REAL,                     -- eo:cloud_cover, NULL when unknown
    path TEXT NOT NULL,             -- item JSON, relative to the catalogue root
    body TEXT NOT NULL,             -- canonical item JSON without links
    UNIQUE (collection, id)
);
CREATE INDEX IF NOT EXISTS items_time ON items (start, end);
CREATE VIRTUAL TABLE IF NOT EXISTS items_bbox USING rtree (rowid, west, east, south, north);
CREATE TABLE IF NOT EXISTS collections (id TEXT PRIMARY KEY, path TEXT NOT NULL);
"""


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # unique per writer: publish tasks run as threads of one process (same pid)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write catalogue file ({e.strerror})", path=path) from None


class EmbeddedCatalogue(CatalogueStore):
    """Static STAC catalogue at ``root`` with an SQLite index (created on first use)."""

    backend = "embedded"

    def __init__(self, root: str | Path, *, title: str = "srd catalogue") -> None:
        self.root = Path(root).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.root / "index.sqlite", timeout=30.0,
                                       isolation_level=None)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StorageError(f"cannot open the embedded catalogue ({e})", path=self.root) from None
        if not (self.root / "catalog.json").exists():
            self._write_root(title)

    # ------------------------------------------------------------------ layout
    def _write_root(self, title: str | None = None) -> None:
        path = self.root / "catalog.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        cols = [r[0] for r in self._db.execute("SELECT id FROM collections ORDER BY id")]
        _write_json(path, {
            "type": "Catalog", "stac_version": C.STAC_VERSION, "id": "srd",
            "title": title or old.get("title", "srd catalogue"),
            "description": "Products of the srd direct-reception ground station.",
            "links": [{"rel": "root", "href": "./catalog.json", "type": C.JSON},
                      {"rel": "self", "href": str(path), "type": C.JSON}]
                     + [{"rel": "child", "href": f"./{c}/collection.json", "type": C.JSON} for c in cols],
        })

    def _collection_path(self, cid: str) -> Path:
        return self.root / cid / "collection.json"

    def _item_path(self, cid: str, iid: str) -> Path:
        return self.root / cid / iid / f"{iid}.json"

    @staticmethod
    def _check_id(s: str, what: str) -> None:
        if not s or "/" in s or s.startswith(".") or "\\" in s:
            raise CatalogueError(f"{what} id {s!r} is not usable as a path component", field="id")

    # ------------------------------------------------------------------ collections
    def ensure_collection(self, collection: dict) -> bool:
        cid = collection["id"]
        self._check_id(cid, "collection")
        if self.get_collection(cid) is not None:
            return False
        col = dict(collection)
        col["links"] = [{"rel": "root", "href": "../catalog.json", "type": C.JSON},
                        {"rel": "parent", "href": "../catalog.json", "type": C.JSON},
                        {"rel": "self", "href": str(self._collection_path(cid)), "type": C.JSON}]
        self._db.execute("BEGIN IMMEDIATE")       # serialise with other publishers
        try:
            if self._db.execute("SELECT 1 FROM collections WHERE id = ?", (cid,)).fetchone():
                self._db.execute("ROLLBACK")
                return False
            _write_json(self._collection_path(cid), col)
            self._db.execute("INSERT INTO collections (id, path) VALUES (?, ?)", (cid, f"{cid}/collection.json"))
            self._write_root()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return True

    def get_collection(self, cid: str) -> dict | None:
        row = self._db.execute("SELECT path FROM collections WHERE id = ?", (cid,)).fetchone()
        if row is None:
            return None
        return json.loads((self.root / row[0]).read_text())

    def _update_extent(self, cid: str) -> None:
        """Collection extent = union of its items (bbox and time) and its ``item`` links,
        rewritten atomically (a static catalogue is walked through these links)."""
        row = self._db.execute(
            "SELECT min(b.west), min(b.south), max(b.east), max(b.north), min(i.start), max(i.end) "
            "FROM items i JOIN items_bbox b ON b.rowid = i.rowid WHERE i.collection = ?", (cid,)).fetchone()
        col = self.get_collection(cid)
        if col is None:
            return
        rels = [r[0] for r in self._db.execute(
            "SELECT path FROM items WHERE collection = ? ORDER BY id", (cid,))]
        col["links"] = [ln for ln in col.get("links", []) if ln.get("rel") != "item"] + [
            {"rel": "item", "href": "./" + r.split("/", 1)[1], "type": "application/geo+json"}
            for r in rels]
        if row[0] is None:
            _write_json(self._collection_path(cid), col)
            return
        iso = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")
        col["extent"] = {"spatial": {"bbox": [[row[0], row[1], row[2], row[3]]]},
                         "temporal": {"interval": [[iso(row[4]), iso(row[5])]]}}
        _write_json(self._collection_path(cid), col)

    # ------------------------------------------------------------------ items
    def publish(self, item: dict) -> PublishOutcome:
        cid, iid = item.get("collection"), item.get("id")
        self._check_id(iid or "", "item")
        if not cid or self.get_collection(cid) is None:
            raise CatalogueError(f"item {iid!r}: collection {cid!r} does not exist", field="collection")
        body = canonical(strip_links(item))
        p = item["properties"]
        start = parse_time(p.get("start_datetime") or p["datetime"]).timestamp()
        end = parse_time(p.get("end_datetime") or p["datetime"]).timestamp()
        w, s, e, n = item["bbox"][:4] if len(item["bbox"]) == 4 else (
            item["bbox"][0], item["bbox"][1], item["bbox"][3], item["bbox"][4])
        rel = f"{cid}/{iid}/{iid}.json"
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT rowid, body FROM items WHERE collection = ? AND id = ?",
                                   (cid, iid)).fetchone()
            if row is not None and row[1] == body and (self.root / rel).exists():
                self._db.execute("ROLLBACK")
                return "unchanged"
            out = dict(item)
            out["links"] = [{"rel": "root", "href": "../../catalog.json", "type": C.JSON},
                            {"rel": "parent", "href": "../collection.json", "type": C.JSON},
                            {"rel": "collection", "href": "../collection.json", "type": C.JSON},
                            {"rel": "self", "href": str(self.root / rel), "type": "application/geo+json"}]
            _write_json(self.root / rel, out)
            if row is None:
                cur = self._db.execute(
                    "INSERT INTO items (collection, id, start, end, cloud, path, body) VALUES (?,?,?,?,?,?,?)",
                    (cid, iid, start, end, p.get("eo:cloud_cover"), rel, body))
                rowid = cur.lastrowid
            else:
                rowid = row[0]
                self._db.execute("UPDATE items SET start=?, end=?, cloud=?, path=?, body=? WHERE rowid=?",
                                 (start, end, p.get("eo:cloud_cover"), rel, body, rowid))
                self._db.execute("DELETE FROM items_bbox WHERE rowid = ?", (rowid,))
            self._db.execute("INSERT INTO items_bbox (rowid, west, east, south, north) VALUES (?,?,?,?,?)",
                             (rowid, w, e, s, n))
            self._update_extent(cid)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return "created" if row is None else "replaced"

    def get_item(self, collection: str, item_id: str) -> dict | None:
        row = self._db.execute("SELECT path FROM items WHERE collection = ? AND id = ?",
                               (collection, item_id)).fetchone()
        return None if row is None else json.loads((self.root / row[0]).read_text())

    def delete_item(self, collection: str, item_id: str) -> bool:
        row = self._db.execute("SELECT rowid, path FROM items WHERE collection = ? AND id = ?",
                               (collection, item_id)).fetchone()
        if row is None:
            return False
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DELETE FROM items WHERE rowid = ?", (row[0],))
        self._db.execute("DELETE FROM items_bbox WHERE rowid = ?", (row[0],))
        self._update_extent(collection)
        self._db.execute("COMMIT")
        (self.root / row[1]).unlink(missing_ok=True)
        return True

    def search(self, q: SearchQuery) -> list[dict]:
        sql = ["SELECT i.path FROM items i"]
        where, args = [], []
        if q.bbox is not None:
            sql.append("JOIN items_bbox b ON b.rowid = i.rowid")
            where += ["b.west <= ?", "b.east >= ?", "b.south <= ?", "b.north >= ?"]
            args += [q.bbox[2], q.bbox[0], q.bbox[3], q.bbox[1]]
        if q.start is not None:
            where.append("i.end >= ?")
            args.append(q.start.timestamp())
        if q.end is not None:
            where.append("i.start <= ?")
            args.append(q.end.timestamp())
        if q.max_cloud is not None:
            where.append("i.cloud IS NOT NULL AND i.cloud <= ?")
            args.append(q.max_cloud)
        for field, vals in (("collection", q.collections), ("id", q.ids)):
            if vals:
                where.append(f"i.{field} IN ({','.join('?' * len(vals))})")
                args += list(vals)
        if where:
            sql.append("WHERE " + " AND ".join(where))
        sql.append("ORDER BY i.start, i.id LIMIT ?")
        args.append(q.limit)
        rows = self._db.execute(" ".join(sql), args).fetchall()
        return [json.loads((self.root / r[0]).read_text()) for r in rows]

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM items").fetchone()[0]

    def close(self) -> None:
        self._db.close()
