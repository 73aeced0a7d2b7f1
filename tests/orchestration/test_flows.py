"""The station running unattended: a real Prefect server on loopback (temporary PREFECT_HOME),
a real ``srd serve`` subprocess, simulated passes dropped into its landing directory.

Everything is checked from the outside: the file system, the catalogue and the Prefect
REST API (flow runs, task runs, artifacts, events) — what the operator's UI shows.
Stages that are not built yet make the flow fail *at that stage, naming it*; the tests
assert exactly that and go on to assert the catalogue once the stage exists.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.orchestration.conftest import write_scene

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = REPO / "station_config" / "defaults"
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """``prefect server start`` on loopback with its own PREFECT_HOME (SQLite database)."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           # the UI must call this server's API, not the default port
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server", "start",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, (home / "server.log").read_text()[-2000:]
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        pytest.fail("Prefect server did not start")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)
    log.close()


def station_toml(d: Path, catalogue: str = 'backend = "embedded"\npath = "catalogue"') -> Path:
    """A station.toml using the shipped profiles, with every data directory under ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    text = (DEFAULTS / "station.toml").read_text()
    text = text.split("\n[paths]")[0] + f"""
[paths]
root = "{d / 'srd-data'}"

[satellites]
files = ["{DEFAULTS}/satellites/SPOT-6.toml", "{DEFAULTS}/satellites/SPOT-7.toml"]

[instruments]
files = ["{DEFAULTS}/instruments/nominal.toml", "{DEFAULTS}/instruments/reduced.toml"]

[keys]
1 = "{DEFAULTS}/keys/demo-key-01.hex"

[catalogue]
{catalogue}
"""
    p = d / "station.toml"
    p.write_text(text)
    return p


class Serve:
    """A running ``srd serve`` subprocess (its own process group, so it can be killed whole)."""

    def __init__(self, toml: Path, api: str, results: Path, name: str = "srd", hours: float = 0) -> None:
        self.toml, self.api, self.results, self.name = toml, api, results, name
        self.log = toml.parent / f"serve-{time.time_ns()}.log"
        env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_LOCAL_STORAGE_PATH": str(results),
               "PREFECT_HOME": str(results.parent / "serve-home")}
        self.proc = subprocess.Popen([sys.executable, "-m", "srd.cli", "--config", str(toml), "serve",
                                      "--http-port", "0", "--poll", "0.5", "--hours", str(hours), "--name", name],
                                     cwd=toml.parent, env=env, stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = self.log.read_text()
            assert self.proc.poll() is None, text[-3000:]
            if "products http://" in text and "resumed" in text:
                self.http = text.split("products ")[1].split()[0]
                self.banner = text
                time.sleep(3)          # the runner polls for scheduled runs from here on
                return
            time.sleep(0.5)
        pytest.fail(f"srd serve did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig=signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


class Api:
    def __init__(self, url: str) -> None:
        self.c = httpx.Client(base_url=url, timeout=30)

    def post(self, path: str, body: dict) -> list | dict:
        r = self.c.post(path, json=body)
        r.raise_for_status()
        return r.json()

    def flow_runs(self, name: str | None = None, flow: str | None = None) -> list[dict]:
        f: dict = {"sort": "EXPECTED_START_TIME_ASC"}
        if name:
            f["flow_runs"] = {"name": {"any_": [name]}}
        if flow:
            f["flows"] = {"name": {"any_": [flow]}}
        return self.post("/flow_runs/filter", f)

    def wait_runs(self, name: str, n: int = 1, timeout: float = 240, flow: str | None = None) -> list[dict]:
        """The first ``n`` runs named ``name``, once all are in a terminal state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.flow_runs(name, flow)
            if len(runs) >= n and all(r["state"]["type"] in TERMINAL for r in runs[:n]):
                return runs[:n]
            time.sleep(1)
        raise AssertionError(f"no {n} finished run(s) named {name}: "
                             f"{[(r['name'], r['state']['type']) for r in self.flow_runs(name, flow)]}")

    def task_runs(self, flow_run_id: str) -> dict[str, dict]:
        runs = self.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})
        return {r["name"].rsplit("-", 1)[0] if r["name"].count("-") and r["name"].split("-")[0] in
                ("ingest", "decode", "level1") else r["name"]: r for r in runs}

    def artifacts(self, flow_run_id: str) -> list[dict]:
        return self.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})

    def deployment(self, name: str) -> dict:
        r = self.c.get(f"/deployments/name/{name}")
        r.raise_for_status()
        return r.json()

    def run_deployment(self, name: str, parameters: dict) -> dict:
        dep = self.deployment(name)
        return self.post(f"/deployments/{dep['id']}/create_flow_run", {"parameters": parameters})

    def wait_run(self, run_id: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.c.get(f"/flow_runs/{run_id}").json()
            if r["state"]["type"] in TERMINAL:
                return r
            time.sleep(1)
        raise AssertionError(f"flow run {run_id} did not finish: {r['state']}")


def simulate(toml: Path, landing: Path, start="2026-11-29T10:03:26Z", duration=0.3) -> str:
    """A real simulated pass (the terminal twin) written into ``landing``; returns its pass id."""
    from station_config import load_config
    from telemetry.simulate import run
    rep = run(load_config(toml), landing, "SPOT-6", start, duration, "reduced")
    return rep.to_dict()["pass_id"]


@pytest.fixture(scope="module")
def station(tmp_path_factory, prefect_api):
    d = tmp_path_factory.mktemp("station")
    toml = station_toml(d)
    s = Serve(toml, prefect_api, d / "results", hours=24)
    yield s
    s.kill(signal.SIGTERM)


def _states(tasks: dict) -> dict[str, str]:
    return {k: v["state"]["name"] for k, v in tasks.items()}


@pytest.mark.slow
def test_landed_pass_is_processed_unattended_and_rerun_recomputes_nothing(station, prefect_api, stac_validator):
    api = Api(prefect_api)
    root = station.toml.parent / "srd-data"
    pid = simulate(station.toml, root / "landing")
    (run,) = api.wait_runs(pid, flow="process_pass")
    # ingest: the pass left the landing directory for the sealed archive
    arch = root / "archive" / "SPOT-6" / "2026" / "11" / pid
    assert (arch / "SHA256SUMS").exists() and not (root / "landing" / f"{pid}.json").exists()
    tasks = api.task_runs(run["id"])
    assert tasks["ingest"]["state"]["type"] == "COMPLETED" and tasks["decode"]["state"]["type"] == "COMPLETED"
    # decode report table artifact = the Level 0 decode_report.json
    rep = json.loads((root / "work" / "l0" / pid / "decode_report.json").read_text())
    arts = {a["key"]: a for a in api.artifacts(run["id"]) if a.get("key")}
    table = json.loads(arts[f"decode-report-{pid.lower().replace('_', '-')}"]["data"])
    assert [r["CADUs"] for r in table] == [c["cadus"] for c in rep["channels"]] and table[0]["CADUs"] > 0
    assert any(k.startswith("pass-progress-") for k in arts)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    from orchestration.catalogue.embedded import EmbeddedCatalogue
    from orchestration.catalogue.base import SearchQuery
    items = EmbeddedCatalogue(root / "catalogue").search(SearchQuery.build())
    assert {i["collection"] for i in items} == {"spot-6-primary", "spot-6-ortho"}
    for i in items:
        stac_validator.validate(i)
        assert i["properties"]["srd:pass_id"] == pid
    # the UI artifacts: scene table with cloud cover, quicklook image served over HTTP
    arts = api.artifacts(run["id"])
    imgs = [a for a in arts if a["type"] == "image"]
    assert imgs and httpx.get(imgs[0]["data"].strip('"')).headers["content-type"] == "image/png"
    assert any((a.get("key") or "").startswith("scenes-") for a in arts)
    # the operator's page renders: headless Chromium screenshot of the flow run page
    ui = prefect_api.removesuffix("/api")
    shot = station.toml.parent / "flow_run.png"
    r = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1600,1100", "--virtual-time-budget=20000", f"--screenshot={shot}",
                        f"{ui}/runs/flow-run/{run['id']}"], capture_output=True, timeout=180)
    assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    # the same pass again (the terminal re-announces it): finished stages are cached
    again = api.run_deployment("process_pass/srd", {"manifest": str(root / "landing" / f"{pid}.json")})
    run2 = api.wait_run(again["id"])
    st = _states(api.task_runs(run2["id"]))
    assert st["ingest"] == "Cached" and st["decode"] == "Cached", st
    assert sorted(p.name for p in arch.iterdir()) == sorted(
        [f"{pid}.json", f"{pid}_A.bin", f"{pid}_B.bin", "SHA256SUMS"])
    # every stage cached, and the catalogue got nothing twice
    assert all(v in ("Cached", "Completed") for v in st.values()) and st["level1"] == "Cached"
    # a reprocessing campaign from the ortho stage: ortho recomputed, earlier stages cached
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    out = subprocess.run([sys.executable, "-m", "srd.cli", "--config", str(station.toml), "reprocess",
                          "--since", "2026-11-29", "--until", "2026-11-29", "--from-stage", "ortho",
                          "--name", station.name, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    camp = json.loads(out.stdout)
    assert [p["pass_id"] for p in camp["passes"]] == [pid] and camp["summary"] == {"COMPLETED": 1}
    st3 = _states(api.task_runs(camp["runs"][0]["flow_run_id"]))
    assert st3["decode"] == "Cached" and st3["level1"] == "Cached"
    assert any(k.startswith("ortho-") and v == "Completed" for k, v in st3.items()), st3


def _publish_and_check(api: Api, serve: Serve, store, stac_validator, backend: str):
    root = serve.toml.parent / "srd-data"
    pid = "SPOT6_20261129T100326_TST"
    prod = root / "products" / pid
    scenes = [write_scene(prod, f"{pid}_S{i}", cloud=10.0 * i, offset_m=(0, -300.0 * i)) for i in (1, 2, 3)]
    count0 = store.count()                  # other tests of the module may have published a pass
    fr = api.run_deployment(f"publish_pass/{serve.name}", {"pass_id": pid})
    run = api.wait_run(fr["id"])
    assert run["state"]["type"] == "COMPLETED", run["state"]
    from orchestration.catalogue.base import SearchQuery
    items = store.search(SearchQuery.build(max_cloud=25, datetime="2026-11-29T10:04:30Z/2026-11-29T10:06:00Z"))
    assert [i["id"] for i in items] == [f"{pid}_S1", f"{pid}_S2"]
    for i in items:
        stac_validator.validate(i)
        # asset hrefs are served over HTTP by srd serve, and bytes match the product
        href = i["assets"]["pan"]["href"]
        assert href.startswith(serve.http)
        assert httpx.get(href).content == (prod / i["id"] / "PAN.tif").read_bytes()
    arts = api.artifacts(run["id"])
    by_type = {}
    for a in arts:
        by_type.setdefault(a["type"], []).append(a)
    # quicklook image artifacts point at URLs that serve the quicklook PNG
    imgs = by_type["image"]
    assert len(imgs) == 3
    for a in imgs:
        url = json.loads(a["data"]) if a["data"].startswith('"') else a["data"]
        sid = a["key"].removeprefix("quicklook-").upper().replace("-", "_")
        assert httpx.get(url).content == (prod / sid / "quicklook.png").read_bytes()
    scenes_table = json.loads(next(a for a in by_type["table"] if a["key"].startswith("scenes-"))["data"])
    assert sorted(r["cloud cover %"] for r in scenes_table) == [10.0, 20.0, 30.0]
    assert {r["published"] for r in scenes_table} == {"created"}
    # links to the catalogue items: the static catalogue over HTTP, or stac-fastapi-pgstac
    # (Prefect stores link artifacts as markdown "[text](url)")
    links = [a for v in by_type.values() for a in v if (a.get("key") or "").startswith("item-")]
    assert len(links) == 3
    for a in links:
        url = a["data"].split("](")[1].rstrip(")") if "](" in a["data"] else a["data"]
        item = httpx.get(url).json()
        assert item["id"].startswith(pid)
        stac_validator.validate(item)
    # publishing again: nothing published twice
    fr2 = api.run_deployment(f"publish_pass/{serve.name}", {"pass_id": pid})
    run2 = api.wait_run(fr2["id"])
    t2 = json.loads(next(a for a in api.artifacts(run2["id"]) if (a.get("key") or "").startswith("scenes-"))["data"])
    assert {r["published"] for r in t2} == {"unchanged"}
    assert store.count() == count0 + 3
    return scenes


def test_publish_through_prefect_embedded(station, prefect_api, stac_validator):
    from orchestration.catalogue.embedded import EmbeddedCatalogue
    store = EmbeddedCatalogue(station.toml.parent / "srd-data" / "catalogue")
    _publish_and_check(Api(prefect_api), station, store, stac_validator, "embedded")


@pytest.mark.slow
def test_publish_through_prefect_pgstac(prefect_api, pgstac_dsn, stac_validator, tmp_path):
    from orchestration.catalogue.pgstac import PgstacCatalogue
    toml = station_toml(tmp_path / "pg", f'backend = "pgstac"\ndsn = "{pgstac_dsn}"')
    serve = Serve(toml, prefect_api, tmp_path / "results", name="pg")
    try:
        with PgstacCatalogue(pgstac_dsn) as store:
            _publish_and_check(Api(prefect_api), serve, store, stac_validator, "pgstac")
    finally:
        serve.kill(signal.SIGTERM)


def test_serve_registers_triggered_deployments_and_concurrency_limits(station, prefect_api):
    api = Api(prefect_api)
    dep = api.deployment("process_pass/srd")
    assert dep["concurrency_limit"] == 2 or (dep.get("global_concurrency_limit") or {}).get("limit") == 2
    autos = api.post("/automations/filter", {})
    trig = [a["trigger"] for a in autos if a["name"].startswith("pass landed at srd")]
    assert trig and trig[0]["expect"] == ["srd.pass.landed"] and trig[0]["match"]["srd.station"] == "srd"
    limits = {c["tag"]: c["concurrency_limit"] for c in api.post("/concurrency_limits/filter", {})}
    assert limits["srd-decode"] == 1 and limits["srd-level1"] == 1 and limits["srd-ortho"] == 2


def test_predicted_passes_are_scheduled_as_expectations(station, prefect_api):
    import datetime as dt

    from station_config import load_config
    from telemetry.passes import predict_passes
    api = Api(prefect_api)
    runs = api.post("/flow_runs/filter", {"flows": {"name": {"any_": ["expect_pass"]}},
                                          "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}})
    got = sorted((r["parameters"]["satellite"], r["parameters"]["aos"][:16]) for r in runs)
    now = dt.datetime.now(dt.timezone.utc)
    want = sorted((p.satellite, p.aos.isoformat()[:16])
                  for p in predict_passes(load_config(station.toml), None, now, 24) if p.los > now)
    assert got and set(got) >= set(want[1:]) and len(got) <= len(want) + 1
    r = runs[0]
    los = dt.datetime.fromisoformat(r["parameters"]["los"])
    assert abs((dt.datetime.fromisoformat(r["next_scheduled_start_time"].replace("Z", "+00:00"))
                - los).total_seconds() - 600) < 1       # LOS + margin


def test_expected_pass_that_never_landed_raises_an_alert(station, prefect_api):
    api = Api(prefect_api)
    fr = api.run_deployment("expect_pass/srd", {"satellite": "SPOT-7", "aos": "2026-11-20T09:00:00+00:00",
                                                "los": "2026-11-20T09:10:00+00:00", "margin_s": 60})
    run = api.wait_run(fr["id"])
    assert run["state"]["type"] == "FAILED" and "never landed" in run["state"]["message"]
    deadline = time.monotonic() + 30                # events are ingested asynchronously
    while True:
        ev = api.post("/events/filter", {"filter": {"event": {"name": ["srd.pass.missed"]}}})
        if any(e["payload"].get("satellite") == "SPOT-7" for e in ev["events"]) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert any(e["payload"].get("satellite") == "SPOT-7" for e in ev["events"]), ev
    assert any(a["type"] == "markdown" for a in api.artifacts(run["id"]))


def test_corrupt_landed_pass_is_quarantined_with_an_alert(station, prefect_api):
    """A pass whose channel file does not match its manifest: quarantined, run failed, event."""
    import hashlib
    api = Api(prefect_api)
    landing = station.toml.parent / "srd-data" / "landing"
    pid = "SPOT6_20261129T110000_BAD"
    data = bytes(range(256)) * 40
    (landing / f"{pid}_A.bin").write_bytes(data[:-1] + b"\x00")       # corrupted after the checksum
    m = {"satellite": "SPOT-6", "norad_id": 38755, "station": "Montpellier-DR", "pass_id": pid,
         "aos": "2026-11-29T11:00:00Z", "los": "2026-11-29T11:09:00Z", "max_elevation_deg": 30.0,
         "channels": [{"name": "A", "file": f"{pid}_A.bin", "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}], "terminal": {"ebn0_db": 9.0, "lock_ratio": 1.0}}
    (landing / f".{pid}.tmp").write_text(json.dumps(m))
    os.replace(landing / f".{pid}.tmp", landing / f"{pid}.json")
    (run,) = api.wait_runs(pid, flow="process_pass")
    assert run["state"]["type"] == "FAILED"
    q = station.toml.parent / "srd-data" / "quarantine" / pid
    assert json.loads((q / "reason.json").read_text())["error"]["error"] == "ChecksumError"
    assert (q / f"{pid}_A.bin").read_bytes() == data[:-1] + b"\x00"
    arts = api.artifacts(run["id"])
    assert any(a.get("key") == f"quarantined-{pid.lower().replace('_', '-')}" for a in arts)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ev = api.post("/events/filter", {"filter": {"event": {"name": ["srd.pass.quarantined"]}}})["events"]
        if any(e["payload"].get("quarantine") == str(q) for e in ev):
            break
        time.sleep(1)
    assert any(e["payload"].get("quarantine") == str(q) for e in ev)
    # a manifest that is not even JSON is announced too, and quarantined with its reason
    (landing / "GARBLED.json").write_text("{not json")
    (run,) = api.wait_runs("GARBLED", flow="process_pass")
    assert run["state"]["type"] == "FAILED"
    reason = json.loads((station.toml.parent / "srd-data" / "quarantine" / "GARBLED" / "reason.json").read_text())
    assert "not JSON" in reason["reason"]


@pytest.mark.slow
def test_killing_the_worker_mid_pass_and_restarting_completes_it(prefect_api, tmp_path):
    api = Api(prefect_api)
    toml = station_toml(tmp_path / "k")
    root = tmp_path / "k" / "srd-data"
    serve = Serve(toml, prefect_api, tmp_path / "results", name="kill")
    try:
        pid = simulate(toml, root / "landing", start="2026-11-29T10:04:00Z", duration=0.5)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:            # kill as soon as the pass is being processed
            runs = api.flow_runs(pid, "process_pass")
            if runs and runs[0]["state"]["type"] == "RUNNING":
                break
            time.sleep(0.2)
        serve.kill()
        assert api.flow_runs(pid, "process_pass")[0]["state"]["type"] in ("RUNNING", "COMPLETED", "FAILED")
    finally:
        serve.kill()
    serve = Serve(toml, prefect_api, tmp_path / "results", name="kill")
    try:
        # the interrupted run is marked crashed and run again; a re-announcement of the pass
        # (its manifest may still be in landing) waits for it on the pass lock
        assert "resumed 1" in serve.banner, serve.banner
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            runs = api.flow_runs(pid, "process_pass")
            if any(r["state"]["type"] == "COMPLETED" for r in runs) and \
                    all(r["state"]["type"] in TERMINAL for r in runs):
                break
            time.sleep(1)
        states = [r["state"]["type"] for r in runs]
        assert states[0] == "CRASHED" and "COMPLETED" in states, states
        assert (root / "archive" / "SPOT-6" / "2026" / "11" / pid / "SHA256SUMS").exists()
        assert not (root / "quarantine").exists() or not any((root / "quarantine").iterdir())
        # every stage ran to completion exactly once after the restart; later runs were cached
        done = [api.task_runs(r["id"]) for r in runs if r["state"]["type"] == "COMPLETED"]
        decodes = [t["decode"]["state"]["name"] for t in done]
        assert decodes.count("Completed") <= 1 and set(decodes) <= {"Completed", "Cached"}
        from orchestration.catalogue.base import SearchQuery
        from orchestration.catalogue.embedded import EmbeddedCatalogue
        items = EmbeddedCatalogue(root / "catalogue").search(SearchQuery.build())
        assert {i["collection"] for i in items} == {"spot-6-primary", "spot-6-ortho"}
    finally:
        serve.kill(signal.SIGTERM)


@pytest.mark.slow
def test_landed_pass_reaches_pgstac_served_by_stac_fastapi(prefect_api, pgstac_dsn, stac_validator, tmp_path):
    from pystac_client import Client

    from orchestration.catalogue.base import SearchQuery
    from orchestration.catalogue.pgstac import PgstacCatalogue
    api = Api(prefect_api)
    toml = station_toml(tmp_path / "pgl", f'backend = "pgstac"\ndsn = "{pgstac_dsn}"')
    serve = Serve(toml, prefect_api, tmp_path / "results", name="pgland")
    try:
        pid = simulate(toml, tmp_path / "pgl" / "srd-data" / "landing", start="2026-11-29T10:03:40Z")
        (run,) = api.wait_runs(pid, flow="process_pass", timeout=400)
        assert run["state"]["type"] == "COMPLETED", run["state"]
        with PgstacCatalogue(pgstac_dsn) as store:
            items = store.search(SearchQuery.build())
        assert {i["collection"] for i in items} == {"spot-6-primary", "spot-6-ortho"}
        for i in items:
            stac_validator.validate(i)
        stac_api = serve.banner.split("STAC API ")[1].split()[0]
        w, s, e, n = items[0]["bbox"]
        found = list(Client.open(stac_api).search(bbox=[w, s, e, n], collections=["spot-6-ortho"]).items())
        assert [f.id for f in found] == [i["id"] for i in items if i["collection"] == "spot-6-ortho"]
    finally:
        serve.kill(signal.SIGTERM)


@pytest.mark.slow
def test_srd_process_runs_the_pass_and_a_rerun_publishes_nothing_twice(prefect_api, tmp_path):
    toml = station_toml(tmp_path / "p")
    landing = tmp_path / "p" / "srd-data" / "landing"
    pid = simulate(toml, landing, start="2026-11-29T10:03:50Z")
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results")}
    cmd = [sys.executable, "-m", "srd.cli", "--config", str(toml), "process", str(landing / f"{pid}.json"), "--json"]
    outs = []
    for _ in range(2):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(json.loads(r.stdout))
    # the second run's ingest is the cached result of the first (nothing recomputed)
    assert outs[0]["stages"] == outs[1]["stages"] and outs[0]["stages"]["ingest"] == "archived"
    assert outs[0]["published"]["created"] == len(outs[0]["items"]) > 0
    assert outs[1]["published"] == {"created": 0, "replaced": 0, "unchanged": len(outs[0]["items"])}
    runs = Api(prefect_api).flow_runs(pid, "process_pass")
    st = _states(Api(prefect_api).task_runs(runs[-1]["id"]))
    assert st["ingest"] == "Cached" and st["decode"] == "Cached"
