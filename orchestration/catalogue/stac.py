"""Build STAC 1.1 items and collections from srd product scene directories.

The stactools pattern: this module turns one product's metadata into a STAC item and
knows nothing about storage; :mod:`.embedded` and :mod:`.pgstac` store what it builds.

Scene directory contract (what level1 / ortho write, one directory per scene)::

    <scene_dir>/metadata.json      required; keys below
    <scene_dir>/*.tif              COGs (role "data"); band names from the GDAL band
                                   descriptions, else metadata["bands"][<file name>]
    <scene_dir>/quicklook.(png|jpg)  role "overview"     (optional)
    <scene_dir>/thumbnail.(png|jpg)  role "thumbnail"    (optional)
    <scene_dir>/*.json             other JSON (reports) role "metadata"

``metadata.json`` keys (UTC ISO-8601 times, degrees, metres, percent):
``scene_id``, ``satellite`` (configured name, e.g. "SPOT-6"), ``level`` ("primary" |
"ortho"), ``start_datetime``, ``end_datetime``; optional ``pass_id``, ``cloud_cover``
(0..100), ``view`` {``off_nadir``, ``incidence_angle``, ``azimuth``, ``sun_azimuth``,
``sun_elevation``}, ``orbit`` {``absolute_orbit``, ``relative_orbit``, ``orbit_state``},
``footprint`` (GeoJSON Polygon, WGS84 lon/lat), ``gsd`` (m), ``bands``, ``software``
(name → version), ``lineage`` (text).

When ``footprint`` is absent it is the union of the COG bounds transformed to WGS84
(edges densified, so the UTM→lon/lat curvature is kept). Checksums (``file:checksum``,
SHA2-256 multihash) and sizes are computed here from the files, never trusted from
metadata.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from orchestration.catalogue import constants as C
from srd.errors import ProductError

_REQUIRED = ("scene_id", "satellite", "level", "start_datetime", "end_datetime")


def collection_id(satellite: str, level: str) -> str:
    """``spot-6-ortho`` for (``SPOT-6``, ``ortho``): one collection per satellite and level."""
    return f"{satellite.lower().replace(' ', '-')}-{level}"


def file_checksum(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """(SHA2-256 multihash hex, size in bytes) of ``path`` (file extension v2)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
            n += len(b)
    return C.MULTIHASH_SHA256 + h.hexdigest(), n


def read_metadata(scene_dir: Path) -> dict[str, Any]:
    """Load and check ``metadata.json`` of a scene directory (ProductError names file/field)."""
    path = Path(scene_dir) / C.SCENE_METADATA
    try:
        md = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProductError("scene directory has no metadata.json", path=path) from None
    except (OSError, ValueError) as e:
        raise ProductError(f"unreadable scene metadata ({e})", path=path) from None
    return check_metadata(md, path)


def check_metadata(md: dict, path: Path) -> dict[str, Any]:
    """Validate scene metadata (from metadata.json or a stage report); ``path`` names it in errors."""
    if not isinstance(md, dict):
        raise ProductError("scene metadata is not a JSON object", path=path)
    md = dict(md)
    for k in _REQUIRED:
        if k not in md:
            raise ProductError("required key missing", path=path, field=k)
    if md["level"] not in C.LEVELS:
        raise ProductError(f"unknown level {md['level']!r} (known: {sorted(C.LEVELS)})",
                           path=path, field="level")
    for k in ("start_datetime", "end_datetime"):
        md[k] = _utc(md[k], path, k)
    cc = md.get("cloud_cover")
    if cc is not None and not (isinstance(cc, (int, float)) and 0 <= cc <= 100):
        raise ProductError(f"cloud_cover {cc!r} outside 0..100 %", path=path, field="cloud_cover")
    return md


def _utc(s: str, path: Path, field: str) -> str:
    try:
        t = dt.datetime.fromisoformat(str(s).replace("Z", "+00:00"))
    except ValueError:
        raise ProductError(f"not an ISO-8601 time: {s!r}", path=path, field=field) from None
    if t.tzinfo is None:
        raise ProductError(f"time without a zone: {s!r} (UTC required)", path=path, field=field)
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _raster_info(path: Path) -> dict[str, Any]:
    import rasterio
    try:
        with rasterio.open(path) as ds:
            crs = ds.crs
            epsg = crs.to_epsg() if crs else None
            return {"shape": [ds.height, ds.width], "transform": list(ds.transform)[:6],
                    "bounds": tuple(ds.bounds), "crs": crs, "count": ds.count,
                    "code": f"EPSG:{epsg}" if epsg else None,
                    "wkt2": None if epsg or crs is None else crs.to_wkt(),
                    "descriptions": [d or "" for d in ds.descriptions],
                    "nodata": ds.nodata, "dtype": ds.dtypes[0],
                    "res": (abs(ds.transform.a), abs(ds.transform.e)),
                    "units": crs.linear_units if crs else None}
    except rasterio.errors.RasterioIOError as e:
        raise ProductError(f"unreadable raster ({e})", path=path) from None


def _lonlat_ring(bounds, crs, n: int = 16) -> list[list[float]]:
    """Rectangle ``bounds`` of ``crs`` as a WGS84 ring, ``n`` points per edge, counter-clockwise."""
    from rasterio.warp import transform
    x0, y0, x1, y1 = bounds
    xs, ys = [], []
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)),
                               ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        for i in range(n):
            xs.append(ax + (bx - ax) * i / n)
            ys.append(ay + (by - ay) * i / n)
    lon, lat = transform(crs, "EPSG:4326", xs, ys) if crs and crs.to_epsg() != 4326 else (xs, ys)
    ring = [[round(a, 8), round(b, 8)] for a, b in zip(lon, lat)]
    return ring + [ring[0]]


def _bbox_of(geom: dict) -> list[float]:
    pts = [p for ring in _rings(geom) for p in ring]
    if not pts:
        raise ProductError("empty footprint geometry", field="footprint")
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]
    return [min(lons), min(lats), max(lons), max(lats)]


def _rings(geom: dict):
    t = geom.get("type")
    if t == "Polygon":
        yield from geom["coordinates"]
    elif t == "MultiPolygon":
        for poly in geom["coordinates"]:
            yield from poly
    else:
        raise ProductError(f"footprint must be a Polygon or MultiPolygon, got {t!r}", field="footprint")


def _band_objects(names: list[str], cfg, instrument: str | None) -> list[dict]:
    """STAC 1.1 ``bands`` with ``eo:center_wavelength`` (µm) from the instrument profile."""
    out = []
    inst = cfg.instrument(instrument) if (cfg is not None and instrument) else None
    for n in names:
        b: dict[str, Any] = {"name": n}
        if inst is not None and n in inst.band_names:
            b["eo:center_wavelength"] = round(inst.band(n).centre_nm / 1000.0, 4)
            b["description"] = "panchromatic" if n == "PAN" else f"multispectral {n}"
        out.append(b)
    return out


def _asset_role(name: str) -> tuple[str, list[str], str] | None:
    """(kind, roles, media type) of a product file by name; None = not an asset."""
    low = name.lower()
    stem, ext = os.path.splitext(low)
    if ext in (".tif", ".tiff"):
        if stem.startswith("msk_") or stem.endswith("_mask"):
            return "mask", ["data-mask"], C.COG
        return "data", ["data"], C.COG
    media = {".png": C.PNG, ".jpg": C.JPEG, ".jpeg": C.JPEG}.get(ext)
    if media and (stem == "quicklook" or stem.endswith("_quicklook")):
        return "quicklook", ["overview", "visual"], media
    if media and (stem == "thumbnail" or stem.endswith("_thumbnail")):
        return "thumbnail", ["thumbnail"], media
    if ext == ".json":
        return "metadata", ["metadata"], C.JSON
    if ext == ".xml":
        return "metadata", ["metadata"], "application/xml"
    if ext == ".txt" and "rpc" in stem:
        return "metadata", ["metadata", "rpc"], "text/plain"
    return None


def create_item(scene_dir: str | Path, cfg=None, *, href_base: str | None = None,
                processed: dt.datetime | None = None, metadata: dict | None = None) -> dict[str, Any]:
    """STAC 1.1 item (a plain dict) for one product scene directory.

    ``href_base``: URL prefix under which ``scene_dir`` is served (assets get
    ``href_base/<file>``); default absolute ``file://``-less local paths, which STAC allows
    for local catalogues. ``cfg`` (StationConfig) supplies band wavelengths and the
    satellite's instrument; ``processed`` is ``processing:datetime`` (default: the
    metadata file's modification time, so re-building an unchanged scene gives the same
    item — idempotent publishing depends on it).
    """
    scene_dir = Path(scene_dir).resolve()
    md = check_metadata(metadata, scene_dir) if metadata is not None else read_metadata(scene_dir)
    level = md["level"]
    sat_name = md["satellite"]
    instrument = None
    if cfg is not None:
        sat = cfg.satellite(sat_name)          # UnknownSatelliteError names the config
        sat_name, instrument = sat.name, sat.instrument
    files = sorted(p for p in scene_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    assets: dict[str, dict] = {}
    rasters: dict[str, dict] = {}
    for p in files:
        role = _asset_role(p.name)
        if role is None:
            continue
        kind, roles, media = role
        key = _asset_key(p, kind, md["scene_id"], md.get("source_name"))
        if key in assets:
            key = p.name.lower()
        href = f"{href_base.rstrip('/')}/{p.name}" if href_base else str(p)
        checksum, size = file_checksum(p)
        a: dict[str, Any] = {"href": href, "type": media, "roles": roles,
                             "title": p.name, "file:checksum": checksum, "file:size": size}
        if kind in ("data", "mask"):
            info = _raster_info(p)
            if kind == "data":
                rasters[key] = info
            names = [d for d in info["descriptions"] if d] if kind == "data" else []
            if len(names) != info["count"]:
                names = list((md.get("bands") or {}).get(p.name, []))
            if names and len(names) == info["count"]:
                a["bands"] = _band_objects(names, cfg, instrument)
            a["proj:shape"] = info["shape"]
            if info["crs"] is None:
                a["proj:code"] = None        # sensor geometry (Level 1 with RPC): no CRS
            else:
                if info["code"]:
                    a["proj:code"] = info["code"]
                else:
                    a["proj:wkt2"] = info["wkt2"]
                a["proj:transform"] = info["transform"]
                a["proj:bbox"] = [round(v, 6) for v in info["bounds"]]
                if info["units"] in ("metre", "meter", "m"):
                    a["gsd"] = round(min(info["res"]), 4)
            if info["nodata"] is not None and not math.isnan(info["nodata"]):
                a["nodata"] = info["nodata"]
            a["data_type"] = info["dtype"]
        assets[key] = a
    if not rasters:
        raise ProductError("scene directory holds no raster (*.tif)", path=scene_dir)

    footprint = md.get("footprint")
    if footprint is None:
        polys = [[_lonlat_ring(r["bounds"], r["crs"])] for r in rasters.values()]
        # all data COGs of a scene cover the same ground: the first one's ring is the footprint
        footprint = {"type": "Polygon", "coordinates": polys[0]}
    bbox = [round(v, 8) for v in _bbox_of(footprint)]

    props: dict[str, Any] = {
        "datetime": md["start_datetime"],
        "start_datetime": md["start_datetime"],
        "end_datetime": md["end_datetime"],
        "platform": sat_name.lower(),
        "constellation": C.CONSTELLATION,
        "instruments": [C.INSTRUMENT],
        "title": f"{sat_name} {C.LEVELS[level][1].split(' (')[0]} {md['scene_id']}",
    }
    gsds = [a["gsd"] for a in assets.values() if "gsd" in a]
    gsd = md.get("gsd") or (min(gsds) if gsds else None)
    if gsd:
        props["gsd"] = gsd
    if md.get("cloud_cover") is not None:
        props["eo:cloud_cover"] = float(md["cloud_cover"])
    view = md.get("view") or {}
    for k in ("off_nadir", "incidence_angle", "azimuth", "sun_azimuth", "sun_elevation"):
        if view.get(k) is not None:
            props[f"view:{k}"] = float(view[k])
    orbit = md.get("orbit") or {}
    if sat_name in C.INTERNATIONAL_DESIGNATOR:
        props["sat:platform_international_designator"] = C.INTERNATIONAL_DESIGNATOR[sat_name]
    for k in ("absolute_orbit", "relative_orbit"):
        if orbit.get(k) is not None:
            props[f"sat:{k}"] = int(orbit[k])
    if orbit.get("orbit_state") in ("ascending", "descending", "geostationary"):
        props["sat:orbit_state"] = orbit["orbit_state"]
    if cfg is not None:
        props["sat:acquisition_station"] = cfg.station.name
    # projection: item-level when every data asset shares the CRS
    codes = {a.get("proj:code") for k, a in assets.items() if k in rasters}
    if len(codes) == 1 and None not in codes and all("proj:code" in assets[k] for k in rasters):
        props["proj:code"] = codes.pop()
    stamp = scene_dir / C.SCENE_METADATA if (scene_dir / C.SCENE_METADATA).exists() else scene_dir
    mtime = processed or (dt.datetime.fromisoformat(md["processed"].replace("Z", "+00:00"))
                          if md.get("processed") else
                          dt.datetime.fromtimestamp(stamp.stat().st_mtime, dt.timezone.utc))
    props["processing:level"] = C.LEVELS[level][0]
    props["processing:facility"] = cfg.station.name if cfg is not None else C.PROVIDER_NAME
    props["processing:datetime"] = mtime.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    sw = {"srd": _srd_version(), **{str(k): str(v) for k, v in (md.get("software") or {}).items()}}
    props["processing:software"] = sw
    if md.get("lineage"):
        props["processing:lineage"] = str(md["lineage"])
    if md.get("pass_id"):
        props["srd:pass_id"] = md["pass_id"]

    cid = collection_id(sat_name, level)
    return {
        "type": "Feature",
        "stac_version": C.STAC_VERSION,
        "stac_extensions": list(C.ITEM_EXTENSIONS),
        "id": md["scene_id"],
        "collection": cid,
        "geometry": footprint,
        "bbox": bbox,
        "properties": props,
        # STAC core requires a "collection" link when "collection" is set; the relative href
        # is the static layout (<collection>/<item>/<item>.json); stores rewrite links.
        "links": [{"rel": "collection", "href": "../collection.json", "type": C.JSON}],
        "assets": assets,
    }


def _asset_key(p: Path, kind: str, scene_id: str, source_name: str | None) -> str:
    """Stable asset keys: ``pan``, ``ms``, ``pms``, ``quicklook``... from product file names
    (``<scene>_PAN.tif``, ``IMG_..._P_...TIF``), else the lower-case file stem."""
    if kind in ("quicklook", "thumbnail"):
        return kind
    stem = p.stem
    for prefix in filter(None, (source_name, scene_id)):
        if stem.startswith(prefix + "_"):
            stem = stem[len(prefix) + 1:]
    low = stem.lower()
    if low.startswith("img_") and kind == "data":
        return "pan" if "_p_" in low else ("ms" if "_ms_" in low else low)
    if low.startswith("msk_"):
        return "mask_pan" if "_p_" in low else ("mask_ms" if "_ms_" in low else low)
    if low.startswith("dim_"):
        return "dimap"
    if low.startswith("rpc_"):
        return "rpc_pan" if "_p_" in low else ("rpc_ms" if "_ms_" in low else low)
    return low


def create_collection(satellite: str, level: str, cfg=None) -> dict[str, Any]:
    """STAC collection for one satellite and level (extent widened as items are published)."""
    if level not in C.LEVELS:
        raise ProductError(f"unknown level {level!r} (known: {sorted(C.LEVELS)})", field="level")
    name = cfg.satellite(satellite).name if cfg is not None else satellite
    plevel, title = C.LEVELS[level]
    summaries: dict[str, Any] = {"platform": [name.lower()], "constellation": [C.CONSTELLATION],
                                 "instruments": [C.INSTRUMENT], "processing:level": [plevel]}
    if name in C.INTERNATIONAL_DESIGNATOR:
        summaries["sat:platform_international_designator"] = [C.INTERNATIONAL_DESIGNATOR[name]]
    summaries["eo:cloud_cover"] = {"minimum": 0, "maximum": 100}
    if cfg is not None:
        inst = cfg.satellite(name).instrument
        summaries["bands"] = _band_objects(list(cfg.instrument(inst).band_names), cfg, inst)
    return {
        "type": "Collection",
        "stac_version": C.STAC_VERSION,
        "stac_extensions": list(C.COLLECTION_EXTENSIONS),
        "id": collection_id(name, level),
        "title": f"{name} {title}",
        "description": f"{name} {title} products received and processed by the "
                       f"{cfg.station.name if cfg is not None else 'srd'} direct-reception station.",
        "license": C.LICENSE,
        "providers": [{"name": C.PROVIDER_NAME, "roles": ["processor", "host"],
                       "processing:level": plevel}],
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
                   "temporal": {"interval": [[None, None]]}},
        "summaries": summaries,
        "links": [],
    }


def _srd_version() -> str:
    from srd import __version__
    return __version__
