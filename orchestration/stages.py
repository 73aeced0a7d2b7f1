"""The pipeline's stages as plain functions of paths (no Prefect here).

Each wrapper imports its stage lazily, calls the stage's ``run(input, out_dir, cfg)`` and
returns a small JSON-able dict of output *paths* and the stage report — what the Prefect
tasks in :mod:`orchestration.flows` pass between each other.

Directory layout (all under the station's ``paths``)::

    archive/<sat>/<YYYY>/<MM>/<pass_id>/      ingest (immutable)
    work/l0/<pass_id>/                        decode (Level 0, docs/developing.md)
    work/l1/<pass_id>/<scene>/                level1 (one directory per scene)
    products/<pass_id>/<scene>/               ortho  (COGs, quicklook, thumbnail, metadata.json)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from srd.errors import DecodeError, ProductError

STAGES = ("ingest", "decode", "level1", "ortho", "publish")


def _report_dict(rep: Any) -> dict:
    return rep.to_dict() if hasattr(rep, "to_dict") else dict(rep or {})


def ingest(manifest: str, cfg) -> dict:
    from telemetry.ingest import ingest as _ingest
    return _ingest(manifest, cfg).to_dict()


def decode(archived_manifest: str, cfg, progress: Callable[[float], None] | None = None) -> dict:
    """Level 0 of the pass into ``work/l0/<pass_id>/``. A *failed* decode raises
    DecodeError (the flow stops); data loss is reported, not raised."""
    import json
    from decode.run import run
    out = cfg.directory("work") / "l0"
    out.mkdir(parents=True, exist_ok=True)
    total = sum(int(c["bytes"]) for c in json.loads(Path(archived_manifest).read_text())["channels"]) or 1
    done = [0]

    def _progress(n: int) -> None:
        done[0] += n
        if progress:
            progress(min(1.0, done[0] / total))

    rep = run(archived_manifest, out, cfg, progress=_progress)
    d = _report_dict(rep)
    if d.get("status") == "failed" or not d.get("level0_dir"):
        errs = "; ".join(str(e.get("message", e)) for e in d.get("errors", [])) or "no Level 0 produced"
        raise DecodeError(f"decode failed: {errs}", path=archived_manifest)
    return {"level0_dir": d["level0_dir"], "report": d}


def scene_dirs(root: Path) -> list[str]:
    """Scene directories under a stage output: those holding ``metadata.json`` (depth ≤ 2)."""
    root = Path(root)
    hits = sorted({p.parent for p in list(root.glob("metadata.json")) + list(root.glob("*/metadata.json"))
                   + list(root.glob("*/*/metadata.json")) if not any(s.startswith(".") for s in p.parts[-3:])})
    return [str(h) for h in hits]


def terrain(cfg, dem: str | None = None, geoid: str | None = None) -> dict:
    """Terrain for level1/ortho: explicit paths, else the station's ``[dem]`` section."""
    dem = dem or (str(cfg.dem.path) if cfg.dem.path else None)
    geoid = geoid or (str(cfg.dem.geoid) if cfg.dem.geoid and dem else None)
    return {"dem": dem, "geoid": geoid}


def level1(level0_dir: str, cfg, dem: str | None = None, geoid: str | None = None) -> dict:
    """Level-1 scenes of the pass under ``work/l1/<pass_id>/``, with their catalogue metadata."""
    from orchestration.catalogue.products import level1_scenes
    from level1.run import run
    out = cfg.directory("work") / "l1"
    out.mkdir(parents=True, exist_ok=True)
    t = terrain(cfg, dem, geoid)
    if t["dem"] is None:
        t = {"default_height_m": cfg.dem.default_height_m}
    d = _report_dict(run(level0_dir, out, cfg, **t))
    if d.get("status") == "failed":
        raise ProductError("level1 failed: " + "; ".join(str(e.get("message", e)) for e in d.get("errors", [])),
                           path=level0_dir)
    final = d.get("output_dir") or str(out / Path(level0_dir).name)
    scenes = level1_scenes(final)
    return {"level1_dir": final, "scenes": [str(p) for p, _ in scenes],
            "metadata": {str(p): md for p, md in scenes},
            "report": {k: v for k, v in d.items() if k != "scenes"} | {"scenes": len(scenes)}}


def ortho(level1_scene: str, pass_id: str, cfg, level1_md: dict, dem: str | None = None,
          geoid: str | None = None) -> dict:
    """Ortho products of one Level-1 scene under ``products/<pass_id>/<scene>/``."""
    from orchestration.catalogue.products import ortho_metadata
    from ortho.stage import run
    out = cfg.directory("products") / pass_id
    out.mkdir(parents=True, exist_ok=True)
    t = terrain(cfg, dem, geoid)
    if t["dem"] is None:
        t = {"height": cfg.dem.default_height_m}
    d = _report_dict(run(level1_scene, out, cfg, **t))
    prod = d["product_dir"]
    return {"scenes": [prod], "metadata": {prod: ortho_metadata(prod, level1_md)},
            "report": {k: d.get(k) for k in ("product_dir", "products", "crs", "resolution_m", "timings_s",
                                              "warnings", "valid_fraction")}}


def pass_products(cfg, pass_id: str) -> list[tuple[str, dict | None]]:
    """Every publishable scene of a processed pass: Level-1 scenes and their ortho products
    (metadata from the stage reports), plus scene directories carrying a metadata.json."""
    from orchestration.catalogue.products import level1_scenes, ortho_metadata
    out: list[tuple[str, dict | None]] = []
    l1 = cfg.directory("work") / "l1" / pass_id
    prod = cfg.directory("products") / pass_id
    if (l1 / "level1_report.json").exists():
        for sd, md in level1_scenes(l1):
            out.append((str(sd), md))
            od = prod / sd.name
            if (od / "ortho_report.json").exists():
                out.append((str(od), ortho_metadata(od, md)))
    known = {p for p, _ in out}
    out += [(s, None) for s in scene_dirs(prod) if s not in known]
    return out


def publish(scene_dir: str, cfg, href_base: str | None = None, metadata: dict | None = None) -> dict:
    from orchestration.catalogue import open_catalogue, publish_scene
    with open_catalogue(cfg) as store:
        return publish_scene(store, scene_dir, cfg, href_base=href_base, metadata=metadata).to_dict()
