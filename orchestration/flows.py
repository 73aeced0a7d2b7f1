"""Prefect flows: one pass from landing to catalogue, reprocessing, missed-pass alerts.

``process_pass`` = ingest → decode → level1 → ortho (one task per scene) → publish (one task
per scene). Tasks hold no numerical code: they call :mod:`orchestration.stages` with paths
and pass paths on. Design choices:

* **Caching** on ``INPUTS + TASK_SOURCE`` (results persisted): re-running a pass skips every
  stage whose inputs and code are unchanged. Stage inputs are immutable paths (the archived
  manifest, then each stage's output directory), so the cache key names the data. A cached
  result whose output directory has since disappeared is recomputed (``_cached_or_rerun``).
  Publishing is not cached: it is idempotent and cheap, and a catalogue rebuilt from
  scratch must be refilled (re-publishing an unchanged scene writes nothing).
* **Retries** only for transient failures (``OSError`` that is not one of our typed data
  errors): bad telemetry does not become good by retrying.
* **Concurrency**: tasks carry the tags ``srd-decode``, ``srd-level1``, ``srd-ortho``;
  ``srd serve`` creates tag limits (1 decode, 1 level1, 2 ortho by default) so a second
  pass queues stage by stage instead of starving the first, and the process_pass deployment
  has a flow-run concurrency limit.
* **Operator view**: a progress artifact per pass, the decode report as a table, the scene
  list (cloud cover, links to the items), the quicklook as an image artifact (URL served by
  ``srd serve``'s HTTP server), links to the catalogue items.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from orchestration import stages
from srd.errors import SrdError

CACHE = INPUTS + TASK_SOURCE


def _transient(task, task_run, state) -> bool:
    """Retry only I/O trouble that is not one of our typed data errors."""
    try:
        state.result()
    except SrdError:
        return False
    except OSError:
        return True
    except Exception:
        return False
    return False


def _cfg(config: str | None):
    from station_config import load_config
    return load_config(config)


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


# ---------------------------------------------------------------------------- tasks

@task(name="ingest", cache_policy=CACHE, persist_result=True, retries=2, retry_delay_seconds=5,
      retry_condition_fn=_transient, tags=["srd-ingest"])
def ingest_task(manifest: str, config: str | None) -> dict:
    try:
        return stages.ingest(manifest, _cfg(config))
    except SrdError as e:
        q = e.context.get("quarantine")
        if q:                       # the alert: an event (automations can notify) + an artifact
            from prefect.artifacts import create_markdown_artifact
            from prefect.events import emit_event
            pid = Path(manifest).stem
            emit_event(event="srd.pass.quarantined",
                       resource={"prefect.resource.id": f"srd.pass.{pid}", "prefect.resource.name": pid},
                       payload={"manifest": manifest, "quarantine": q, "reason": e.message})
            create_markdown_artifact(f"# Pass quarantined\n\n**{pid}**: {e.message}\n\nMoved to `{q}` "
                                     "(reason.json beside the files; nothing deleted).",
                                     key=artifact_key("quarantined", pid), description="ALERT: pass quarantined")
        raise


@task(name="decode", cache_policy=CACHE, persist_result=True, retries=1, retry_delay_seconds=10,
      retry_condition_fn=_transient, tags=["srd-decode"])
def decode_task(archived_manifest: str, config: str | None) -> dict:
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    pid = Path(archived_manifest).stem
    aid = create_progress_artifact(0.0, key=artifact_key("decode-progress", pid),
                                   description=f"decode of {pid}: channel bytes processed")
    last = [0.0]

    def progress(f: float) -> None:
        if f - last[0] >= 0.05 or f >= 1.0:          # a few dozen API calls per pass at most
            last[0] = f
            update_progress_artifact(aid, round(100 * f, 1))

    out = stages.decode(archived_manifest, _cfg(config), progress)
    update_progress_artifact(aid, 100.0)
    return out


@task(name="level1", cache_policy=CACHE, persist_result=True, retries=1, retry_delay_seconds=10,
      retry_condition_fn=_transient, tags=["srd-level1"])
def level1_task(level0_dir: str, config: str | None, dem: str | None = None,
                geoid: str | None = None) -> dict:
    return stages.level1(level0_dir, _cfg(config), dem=dem, geoid=geoid)


@task(name="ortho", cache_policy=CACHE, persist_result=True, retries=1, retry_delay_seconds=10,
      retry_condition_fn=_transient, tags=["srd-ortho"], task_run_name="ortho-{level1_scene_name}")
def ortho_task(level1_scene: str, pass_id: str, config: str | None, level1_md: dict,
               level1_scene_name: str = "", dem: str | None = None, geoid: str | None = None) -> dict:
    return stages.ortho(level1_scene, pass_id, _cfg(config), level1_md, dem=dem, geoid=geoid)


@task(name="publish", retries=2, retry_delay_seconds=5, retry_condition_fn=_transient,
      tags=["srd-publish"], task_run_name="publish-{scene_name}")
def publish_task(scene_dir: str, config: str | None, href_base: str | None, metadata: dict | None = None,
                 scene_name: str = "") -> dict:
    return stages.publish(scene_dir, _cfg(config), href_base, metadata)


def _outputs_exist(result: dict) -> bool:
    paths = [result.get(k) for k in ("archive_dir", "level0_dir", "level1_dir")]
    paths += list(result.get("scenes") or [])
    return all(Path(p).exists() for p in paths if p)


def _cached_or_rerun(tsk, *args, refresh: bool = False, **kwargs) -> dict:
    """Run ``tsk`` (cache honoured unless ``refresh``); if a cached result points at outputs
    that no longer exist, run it again with the cache refreshed."""
    out = tsk.with_options(refresh_cache=True)(*args, **kwargs) if refresh else tsk(*args, **kwargs)
    if not _outputs_exist(out):
        get_run_logger().warning(f"{tsk.name}: cached outputs are gone, recomputing")
        out = tsk.with_options(refresh_cache=True)(*args, **kwargs)
    return out


# ---------------------------------------------------------------------------- artifacts

def _decode_artifacts(pid: str, rep: dict) -> None:
    from prefect.artifacts import create_table_artifact
    rows = []
    for c in rep.get("channels", []):
        vcs = c.get("vcs", {})
        rows.append({"channel": c.get("name"), "CADUs": c.get("cadus"),
                     "sync losses": c.get("sync_losses"),
                     "RS symbols corrected": c.get("rs_corrected_symbols"),
                     "RS uncorrectable": c.get("rs_uncorrectable_codeblocks"),
                     "frames": sum(v.get("frames", 0) for v in vcs.values()),
                     "frames lost": sum(v.get("frames_missing", 0) for v in vcs.values())})
    create_table_artifact(rows, key=artifact_key("decode-report", pid),
                          description=f"Decode report of {pid}: status {rep.get('status')}, "
                                      f"{rep.get('throughput_mbps', 0):.0f} Mbit/s")


def _url(base: str | None, root: Path, p: str | Path) -> str | None:
    if not base:
        return None
    try:
        rel = Path(p).resolve().relative_to(root)
    except ValueError:
        return None
    return f"{base.rstrip('/')}/{rel.as_posix()}"


def _item_url(cfg, base: str | None, root: Path, pub: dict, stac_api: str | None = None) -> str | None:
    if cfg.catalogue.backend == "pgstac":
        api = stac_api or cfg.catalogue.api_url
        return f"{api.rstrip('/')}/collections/{pub['collection']}/items/{pub['item_id']}" if api else None
    from orchestration.catalogue import open_catalogue
    with open_catalogue(cfg) as store:
        item_json = Path(store.root) / pub["collection"] / pub["item_id"] / f"{pub['item_id']}.json"
    return _url(base, root, item_json)


def _scene_artifacts(cfg, pid: str, published: list, http_base: str | None, stac_api: str | None = None) -> None:
    import json

    from prefect.artifacts import create_image_artifact, create_link_artifact, create_table_artifact
    root = Path(cfg.paths.root).resolve()
    rows = []
    for scene, md, pub in published:
        md = md if md is not None else json.loads((Path(scene) / "metadata.json").read_text())
        url = _item_url(cfg, http_base, root, pub, stac_api)
        rows.append({"scene": pub["item_id"], "collection": pub["collection"],
                     "start (UTC)": md.get("start_datetime"), "cloud cover %": md.get("cloud_cover"),
                     "published": pub["outcome"], "item": url or f"{pub['collection']}/{pub['item_id']}"})
        if url:
            create_link_artifact(url, link_text=f"STAC item {pub['item_id']}",
                                 key=artifact_key("item", pub["item_id"]),
                                 description=f"Catalogue item of scene {pub['item_id']} ({pid})")
        ql = next((p for p in sorted(Path(scene).glob("*quicklook.*"))), None)
        ql_url = _url(http_base, root, ql) if ql else None
        if ql_url:
            create_image_artifact(ql_url, key=artifact_key("quicklook", pub["item_id"]),
                                  description=f"Quicklook of {pub['item_id']} ({pid})")
    create_table_artifact(rows, key=artifact_key("scenes", pid),
                          description=f"Scenes of {pid} in the catalogue ({cfg.catalogue.backend})")


# ---------------------------------------------------------------------------- flows

def _run_name() -> str:
    from prefect.runtime import flow_run
    m = flow_run.parameters.get("manifest", "pass")
    return f"{Path(str(m)).stem}"


@flow(name="process_pass", flow_run_name=_run_name, log_prints=True)
def process_pass(manifest: str, config: str | None = None, from_stage: str | None = None,
                 http_base: str | None = None, stac_api: str | None = None,
                 dem: str | None = None, geoid: str | None = None) -> dict:
    """Ingest → decode → level1 → ortho → publish one pass.

    ``manifest``: the pass manifest (landing, or archive for reprocessing). ``config``:
    station.toml (default: shipped example). ``from_stage``: recompute this stage and every
    later one, ignoring cached results (reprocessing after an algorithm change).
    ``http_base``: URL under which ``paths.root`` is served (quicklook artifacts, asset hrefs).
    ``stac_api``: STAC API serving a pgstac catalogue (item links; default ``catalogue.api_url``).
    ``dem``/``geoid``: terrain for level1 and ortho (default: the station's ``[dem]``).
    """
    if from_stage is not None and from_stage not in stages.STAGES:
        raise ValueError(f"from_stage must be one of {stages.STAGES}, got {from_stage!r}")
    k = stages.STAGES.index(from_stage) if from_stage else len(stages.STAGES)
    refresh = {s: i >= k for i, s in enumerate(stages.STAGES)}
    cfg = _cfg(config)
    pid = Path(manifest).stem
    terrain = stages.terrain(cfg, dem, geoid)       # resolved here so it keys the task caches
    with _pass_lock(cfg, pid):
        return _process(cfg, config, manifest, pid, refresh, http_base, stac_api, terrain)


@contextlib.contextmanager
def _pass_lock(cfg, pid: str):
    """One run at a time per pass on this host (a re-announced pass and a resumed run may
    overlap): the second waits, then finds every stage cached. Several hosts would use a
    Prefect global concurrency limit per pass instead."""
    import fcntl
    d = cfg.directory("work") / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{pid}.lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        yield


def _process(cfg, config, manifest: str, pid: str, refresh: dict, http_base, stac_api,
             terrain: dict | None = None) -> dict:
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    log = get_run_logger()
    prog = create_progress_artifact(0.0, key=artifact_key("pass-progress", pid),
                                    description=f"{pid}: stages done (ingest, decode, level1, ortho, publish)")
    summary: dict[str, Any] = {"pass_id": pid, "stages": {}}

    ing = _cached_or_rerun(ingest_task, manifest, config, refresh=refresh["ingest"])
    summary["stages"]["ingest"] = ing["status"]
    log.info(f"{pid}: {ing['status']} in {ing['archive_dir']}")
    update_progress_artifact(prog, 20.0)

    dec = _cached_or_rerun(decode_task, ing["manifest"], config, refresh=refresh["decode"])
    _decode_artifacts(pid, dec["report"])
    summary["stages"]["decode"] = dec["report"].get("status")
    update_progress_artifact(prog, 40.0)

    terrain = terrain or {}
    l1 = _cached_or_rerun(level1_task, dec["level0_dir"], config, refresh=refresh["level1"], **terrain)
    summary["stages"]["level1"] = f"{len(l1['scenes'])} scenes"
    update_progress_artifact(prog, 60.0)

    futures = [(ortho_task.with_options(refresh_cache=True) if refresh["ortho"] else ortho_task)
               .submit(s, pid, config, l1["metadata"][s], level1_scene_name=Path(s).name, **terrain)
               for s in l1["scenes"]]
    products: list[tuple[str, dict]] = []
    for f in futures:
        o = f.result()
        if not _outputs_exist(o):
            raise FileNotFoundError(f"cached ortho products are gone: {o['scenes']} (re-run with from_stage='ortho')")
        products += [(p, o["metadata"][p]) for p in o["scenes"]]
    summary["stages"]["ortho"] = f"{len(products)} scenes"
    update_progress_artifact(prog, 80.0)

    summary.update(publish_scenes(cfg, config, pid, [(s, l1["metadata"][s]) for s in l1["scenes"]] + products,
                                  http_base, stac_api))
    update_progress_artifact(prog, 100.0)
    return summary


def publish_scenes(cfg, config: str | None, pid: str, scenes: list[tuple[str, dict | None]],
                   http_base: str | None, stac_api: str | None = None) -> dict:
    """Publish every scene directory (one task each) and create the operator artifacts.
    ``scenes``: (directory, metadata dict or None = its metadata.json)."""
    root = Path(cfg.paths.root).resolve()
    pubs = [(s, md, publish_task.submit(s, config, _url(http_base, root, s), md, scene_name=Path(s).name))
            for s, md in scenes]
    published = [(s, md, f.result()) for s, md, f in pubs]
    _scene_artifacts(cfg, pid, published, http_base, stac_api)
    outcomes = [p["outcome"] for _, _, p in published]
    return {"published": {o: outcomes.count(o) for o in ("created", "replaced", "unchanged")},
            "items": [f"{p['collection']}/{p['item_id']}" for _, _, p in published]}


@flow(name="publish_pass", flow_run_name=lambda: f"publish-{_param('pass_id')}")
def publish_pass(pass_id: str, config: str | None = None, http_base: str | None = None,
                 stac_api: str | None = None) -> dict:
    """(Re)publish every product scene of a pass already processed (``products/<pass_id>/``)."""
    cfg = _cfg(config)
    return publish_scenes(cfg, config, pass_id, stages.pass_products(cfg, pass_id), http_base, stac_api)


def _param(name: str) -> str:
    from prefect.runtime import flow_run
    return str(flow_run.parameters.get(name, ""))


@flow(name="expect_pass", flow_run_name=lambda: f"expect-{_param('satellite')}-{_param('aos')[:16]}")
def expect_pass(satellite: str, aos: str, los: str, config: str | None = None, margin_s: float = 600.0) -> dict:
    """A predicted pass, scheduled to run after its LOS: it succeeds when a pass of
    ``satellite`` with AOS within ``margin_s`` of the prediction has landed (archive, landing
    or quarantine), and otherwise raises the alert (event ``srd.pass.missed`` + failed run)."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.events import emit_event
    cfg = _cfg(config)
    found = find_landed(cfg, satellite, _utc(aos), _utc(los), margin_s)
    if found:
        return {"satellite": satellite, "aos": aos, "landed": found}
    msg = (f"Expected pass of {satellite} (AOS {aos}, LOS {los}) never landed in "
           f"{cfg.directory('landing')} (checked archive and quarantine, ±{margin_s:.0f} s).")
    emit_event(event="srd.pass.missed", resource={"prefect.resource.id": f"srd.pass.expected.{satellite}.{aos}",
                                                  "srd.satellite": satellite},
               payload={"satellite": satellite, "aos": aos, "los": los})
    create_markdown_artifact(f"# Missed pass\n\n{msg}", key=artifact_key("missed", satellite, aos[:16]),
                             description="ALERT: expected pass never landed")
    from srd.errors import TelemetryError
    raise TelemetryError(msg, field="aos")


def _utc(s: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(str(s).replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def find_landed(cfg, satellite: str, aos: dt.datetime, los: dt.datetime, margin_s: float) -> str | None:
    """Path of a pass of ``satellite`` whose AOS lies in [aos − margin, los + margin], or None."""
    import json

    from telemetry.ingest import list_archived
    lo, hi = aos - dt.timedelta(seconds=margin_s), los + dt.timedelta(seconds=margin_s)
    for a in list_archived(cfg, lo, hi, [satellite]):
        return str(a.manifest)
    want = cfg.satellite(satellite).name
    for d in (cfg.directory("landing"), cfg.directory("quarantine")):
        for mf in list(d.glob("*.json")) + list(d.glob("*/*.json")) if d.is_dir() else []:
            try:
                m = json.loads(mf.read_text())
                if cfg.satellite(str(m.get("satellite"))).name == want and lo <= _utc(m["aos"]) <= hi:
                    return str(mf)
            except (ValueError, KeyError, TypeError, OSError, SrdError):
                continue
    return None
