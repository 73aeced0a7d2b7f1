"""Scene metadata for the catalogue from the stage reports (level1, ortho).

The item builder (:mod:`.stac`) reads one metadata dict per scene (keys documented there).
Level 1 writes ``level1_report.json`` with a ``scenes`` list (docs/formats.md); ortho writes
``ortho_report.json`` per scene. This module maps those reports to the builder's keys —
the only place that knows the stages' report fields.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srd.errors import ProductError


def _polygon(ring: list) -> dict:
    ring = [[float(x), float(y)] for x, y in ring]
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def level1_scenes(level1_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """(scene directory, metadata) for every scene of a Level-1 pass directory."""
    d = Path(level1_dir)
    path = d / "level1_report.json"
    try:
        rep = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ProductError(f"unreadable Level-1 report ({e})", path=path) from None
    out = []
    for s in rep.get("scenes", []):
        try:
            sd = d / s["directory"]
            md = {"scene_id": s["id"], "pass_id": rep["pass_id"], "satellite": rep["satellite"],
                  "level": "primary", "start_datetime": s["time_first_line"],
                  "end_datetime": s["time_last_line"], "cloud_cover": s.get("cloud_cover_pct"),
                  "view": {"incidence_angle": s.get("incidence_deg"), "azimuth": s.get("view_azimuth_deg"),
                           "sun_azimuth": s.get("sun_azimuth_deg"),
                           "sun_elevation": None if s.get("sun_zenith_deg") is None else 90.0 - s["sun_zenith_deg"]},
                  "footprint": _polygon(s["footprint"]),
                  "bands": {s["pan"]["file"]: ["PAN"],
                            **({s["ms"]["file"]: list(s["ms"]["bands"])} if s.get("ms", {}).get("file") else {})},
                  "software": {"level1": rep.get("instrument", "")},
                  "lineage": f"Level 1 of pass {rep['pass_id']} from {rep.get('level0_dir')}",
                  "source_name": s.get("name")}
            if s.get("rpc_fit", {}).get("gsd_m"):
                md["gsd"] = s["rpc_fit"]["gsd_m"]
        except (KeyError, TypeError) as e:
            raise ProductError(f"Level-1 scene entry lacks {e}", path=path, field="scenes") from None
        out.append((sd, md))
    return out


def ortho_metadata(product_dir: str | Path, level1_md: dict[str, Any]) -> dict[str, Any]:
    """Metadata of an ortho product directory, from its Level-1 scene's metadata (times,
    angles, cloud cover, imaged footprint) and its ``ortho_report.json``."""
    d = Path(product_dir)
    path = d / "ortho_report.json"
    try:
        rep = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ProductError(f"unreadable ortho report ({e})", path=path) from None
    md = {k: v for k, v in level1_md.items() if k not in ("bands", "gsd", "source_name")}
    md.update(level="ortho", scene_id=f"{level1_md['scene_id']}_ORTHO", source_name=d.name,
              lineage=f"Orthorectified from {rep.get('input')} ({rep.get('resampling')}, heights: {rep.get('heights')})",
              software={**level1_md.get("software", {}), "ortho": str(rep.get("resampling"))})
    res = rep.get("resolution_m") or {}
    if res:
        md["gsd"] = min(float(v) for v in res.values())
    return md
