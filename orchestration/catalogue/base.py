"""The one interface both catalogue backends implement, and the search-parameter parsing.

Search semantics (STAC API item search, simplified to what operators use):
``bbox`` [west, south, east, north] in WGS84 degrees, items whose bbox intersects it;
``datetime`` an RFC 3339 instant or interval ``start/end`` (``..`` open), items whose
[start_datetime, end_datetime] overlaps it; ``max_cloud`` percent, items with
``eo:cloud_cover`` ≤ it (items without cloud cover are excluded when it is given);
``collections`` ids. Results are sorted by datetime, then id.
"""
from __future__ import annotations

import abc
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from srd.errors import CatalogueError

PublishOutcome = Literal["created", "replaced", "unchanged"]


@dataclass(frozen=True)
class SearchQuery:
    bbox: tuple[float, float, float, float] | None = None
    start: dt.datetime | None = None       # UTC, inclusive
    end: dt.datetime | None = None         # UTC, inclusive
    max_cloud: float | None = None
    collections: tuple[str, ...] | None = None
    ids: tuple[str, ...] | None = None
    limit: int = 100

    @classmethod
    def build(cls, *, bbox=None, datetime: str | None = None, max_cloud=None, collections=None,
              ids=None, limit: int = 100) -> "SearchQuery":
        b = None
        if bbox is not None:
            if isinstance(bbox, str):
                bbox = bbox.split(",")
            try:
                b = tuple(float(v) for v in bbox)
            except (TypeError, ValueError):
                raise CatalogueError(f"bbox {bbox!r} is not four numbers", field="bbox") from None
            if len(b) != 4 or not (b[0] <= b[2] and b[1] <= b[3]) or not (-90 <= b[1] and b[3] <= 90):
                raise CatalogueError(f"bbox {bbox!r} must be west,south,east,north (degrees, "
                                     "west <= east, south <= north)", field="bbox")
        start = end = None
        if datetime:
            start, end = parse_interval(datetime)
        if max_cloud is not None and not 0 <= float(max_cloud) <= 100:
            raise CatalogueError(f"max cloud {max_cloud} outside 0..100 %", field="max_cloud")
        if limit < 1:
            raise CatalogueError("limit must be >= 1", field="limit")
        return cls(b, start, end, None if max_cloud is None else float(max_cloud),
                   tuple(collections) if collections else None, tuple(ids) if ids else None, int(limit))


def parse_time(s: str, field: str = "datetime") -> dt.datetime:
    """RFC 3339 time (``Z`` or offset; a bare date means its midnight UTC) → aware UTC."""
    try:
        t = dt.datetime.fromisoformat(s.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CatalogueError(f"not an RFC 3339 time: {s!r}", field=field) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def parse_interval(s: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``a/b``, ``../b``, ``a/..`` or a single instant → (start, end), UTC, inclusive."""
    if "/" in s:
        a, b = s.split("/", 1)
        start = None if a in ("", "..") else parse_time(a)
        end = None if b in ("", "..") else parse_time(b)
        if start and end and end < start:
            raise CatalogueError(f"datetime interval {s!r} ends before it starts", field="datetime")
        return start, end
    t = parse_time(s)
    return t, t


def canonical(obj: Any) -> str:
    """Stable JSON text: the identity used to decide 'unchanged' on re-publish."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def strip_links(item: dict) -> dict:
    return {k: v for k, v in item.items() if k != "links"}


class CatalogueStore(abc.ABC):
    """A STAC store: collections and items, idempotent upsert, search."""

    backend: str

    @abc.abstractmethod
    def ensure_collection(self, collection: dict) -> bool:
        """Create the collection if absent (True when created). Never overwrites extents."""

    @abc.abstractmethod
    def publish(self, item: dict) -> PublishOutcome:
        """Insert or replace ``item`` (same collection + id). Re-publishing an identical
        item changes nothing and returns ``"unchanged"``. Its collection must exist."""

    @abc.abstractmethod
    def get_item(self, collection: str, item_id: str) -> dict | None: ...

    @abc.abstractmethod
    def get_collection(self, collection: str) -> dict | None: ...

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> list[dict]: ...

    @abc.abstractmethod
    def delete_item(self, collection: str, item_id: str) -> bool: ...

    def close(self) -> None:  # pragma: no cover - default no-op
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
