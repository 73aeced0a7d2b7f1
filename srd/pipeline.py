"""The stages of one pass in order, called as plain functions (no Prefect).

Used by ``srd demo``; the Prefect flows in ``orchestration/`` call the same stage
functions. A stage whose module is not built yet is reported as ``missing`` and the
chain stops there (later stages need its output).
"""
from __future__ import annotations

import datetime as dt
import importlib
import re
import time
import traceback
from pathlib import Path

#: (stage name, module holding ``run``) in pass order
STAGES = (("simulate", "telemetry.simulate"), ("ingest", "telemetry.ingest"), ("decode", "decode.run"),
          ("level1", "level1.run"), ("ortho", "ortho.run"), ("publish", "orchestration.publish"))


def parse_duration(text: str | float) -> float:
    """``"8s"``, ``"1.5 min"``, ``8`` → seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([0-9.]+)\s*(s|sec|min|m)?\s*", str(text))
    if not m:
        raise ValueError(f"duration {text!r}: expected e.g. 8s or 1.5min")
    v = float(m.group(1))
    return v * 60 if m.group(2) in ("min", "m") else v


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            return None
        raise


def run_pipeline(cfg, *, satellite: str, start: str, duration, profile: str, root: Path | None,
                 dem: Path | None = None, geoid: Path | None = None, progress: bool = True) -> dict:
    """Simulate one pass and push it through every available stage. Returns a JSON-able summary."""
    from srd.errors import SrdError
    from srd.timescale import parse_utc
    root = Path(root) if root else cfg.paths.root
    landing, archive = root / "landing", root / "archive"
    work, products = root / "work", root / "products"
    stages: list[dict] = []
    current = None          # path handed to the next stage
    stop = False
    for name, modname in STAGES:
        if stop:
            stages.append({"stage": name, "status": "skipped"})
            continue
        mod = _module(modname)
        if mod is None or not hasattr(mod, "run"):
            stages.append({"stage": name, "status": "missing", "summary": f"{modname}.run not built yet"})
            stop = True
            continue
        t0 = time.perf_counter()
        try:
            if name == "simulate":
                rep = mod.run(cfg, landing, satellite=satellite, start=parse_utc(start),
                              duration=parse_duration(duration), profile=profile, dem=dem, geoid=geoid)
            elif name == "ingest":
                rep = mod.run(current, archive, cfg)
            elif name == "decode":
                rep = mod.run(current, work / "L0", cfg)
            elif name == "level1":
                rep = mod.run(current, products / "L1", cfg, dem=dem, geoid=geoid)
            elif name == "ortho":
                rep = mod.run(current, products / "ortho", cfg, dem=dem, geoid=geoid)
            else:
                rep = mod.run(current, cfg)
        except SrdError as e:
            stages.append({"stage": name, "status": "failed", "summary": str(e), "error": e.to_dict()})
            stop = True
            continue
        except Exception as e:  # an unexpected failure is reported with its traceback, never hidden
            stages.append({"stage": name, "status": "failed", "summary": f"{type(e).__name__}: {e}",
                           "traceback": traceback.format_exc()})
            stop = True
            continue
        d = rep.to_dict() if hasattr(rep, "to_dict") else dict(rep or {})
        current = Path(d.get("output") or d.get("manifest") or d.get("out_dir") or current)
        stages.append({"stage": name, "status": "ok", "seconds": round(time.perf_counter() - t0, 2),
                       "output": str(current), "summary": d.get("summary", ""), "report": d})
    return {"root": str(root), "satellite": satellite, "start": start, "profile": profile,
            "stages": stages}
