"""``srd serve`` machinery: Prefect server, deployments, landing watcher, HTTP file server,
predicted-pass expectations, resumption of passes interrupted by a crash.

Import order matters: Prefect reads its settings (``PREFECT_API_URL``, ``PREFECT_HOME``)
when it is imported, so :func:`ensure_prefect_server` runs (and sets the environment)
before anything imports :mod:`prefect` or :mod:`orchestration.flows`.
"""
from __future__ import annotations

import datetime as dt
import functools
import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from srd.errors import ServiceError

LANDED_EVENT = "srd.pass.landed"
PROCESS_DEPLOYMENT = "srd"
#: tag concurrency limits created by serve: two passes share the machine stage by stage
TAG_LIMITS = {"srd-decode": 1, "srd-level1": 1, "srd-ortho": 2}


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-1500:] if log and log.exists() else ""
            raise ServiceError(f"process exited with {proc.returncode} before {url} answered\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ServiceError(f"{url} did not answer within {timeout:.0f} s")


def ensure_prefect_server(home: Path, port: int, log: Path) -> subprocess.Popen | None:
    """Use ``PREFECT_API_URL`` when set; otherwise start ``prefect server start`` on
    127.0.0.1:``port`` with ``PREFECT_HOME=home`` (its SQLite database lives there) and set
    the environment so this process and its flow-run subprocesses talk to it."""
    if os.environ.get("PREFECT_API_URL"):
        _wait_http(os.environ["PREFECT_API_URL"].rstrip("/") + "/health", 30)
        return None
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}     # the UI calls this API
    prefect_bin = Path(sys.executable).with_name("prefect")
    with open(log, "ab") as out:          # the child keeps its own descriptor
        proc = subprocess.Popen([str(prefect_bin), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=out, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    _wait_http(url + "/health", 120, proc, log)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_API_URL"] = url
    return proc


def start_http(root: Path, port: int) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``root`` (products, catalogue) read-only over HTTP on 127.0.0.1:``port``:
    Prefect image artifacts and STAC asset hrefs are URLs."""
    root.mkdir(parents=True, exist_ok=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):          # request logs are noise in the serve log
            pass

    handler = functools.partial(Quiet, directory=str(root))
    try:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise ServiceError(f"cannot serve {root} on port {port} ({e.strerror})") from None
    threading.Thread(target=srv.serve_forever, name="srd-http", daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


class LandingWatcher(threading.Thread):
    """Polls the landing directory; each new manifest (``*.json`` with ``channels``: the
    terminal renames it into place last, so its presence means the pass is complete) emits
    one ``srd.pass.landed`` event. Polling, not inotify: it works on network file systems
    where terminals often deliver."""

    def __init__(self, landing: Path, interval: float = 2.0, station: str = PROCESS_DEPLOYMENT) -> None:
        super().__init__(name="srd-landing-watcher", daemon=True)
        self.landing, self.interval, self.station = landing, interval, station
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.emitted: list[str] = []

    def scan(self) -> list[Path]:
        """New or rewritten ``*.json`` in landing. Every one is announced, even unreadable
        ones: ingest quarantines a bad manifest with its reason, the watcher never hides it."""
        new = []
        for mf in sorted(self.landing.glob("*.json")):
            if mf.name.startswith("."):
                continue                # a terminal's temporary name before the atomic rename
            try:
                st = mf.stat()
            except OSError:
                continue                # ingested meanwhile
            if self.seen.get(mf.name) == st.st_mtime:
                continue
            self.seen[mf.name] = st.st_mtime
            new.append(mf)
        return new

    def emit(self, mf: Path) -> None:
        from prefect.events import emit_event
        pid = mf.stem
        emit_event(event=LANDED_EVENT, resource={"prefect.resource.id": f"srd.pass.{pid}",
                                                 "prefect.resource.name": pid, "srd.station": self.station},
                   payload={"manifest": str(mf.resolve()), "pass_id": pid})
        self.emitted.append(pid)

    def run(self) -> None:
        self.landing.mkdir(parents=True, exist_ok=True)
        while not self.stop.is_set():
            for mf in self.scan():
                self.emit(mf)
            self.stop.wait(self.interval)


def build_deployments(config: str | None, http_base: str | None, flow_limit: int = 2,
                      name: str = PROCESS_DEPLOYMENT, stac_api: str | None = None):
    """The three deployments, named ``name`` (one station = one name; several stations can
    share a Prefect server). The trigger only matches passes landed at this station."""
    from prefect.events import DeploymentEventTrigger

    from orchestration.flows import expect_pass, process_pass, publish_pass
    trigger = DeploymentEventTrigger(
        name=f"pass landed at {name}", expect={LANDED_EVENT},
        match={"prefect.resource.id": "srd.pass.*", "srd.station": name},
        parameters={"manifest": "{{ event.payload.manifest }}"})
    common = {"config": config, "http_base": http_base, "stac_api": stac_api}
    return [
        process_pass.to_deployment(name, triggers=[trigger], concurrency_limit=flow_limit,
                                   parameters=common, tags=["srd"],
                                   description="A landed pass, from ingest to the catalogue."),
        publish_pass.to_deployment(name, parameters=common, tags=["srd"]),
        expect_pass.to_deployment(name, parameters={"config": config}, tags=["srd"],
                                  description="A predicted pass: alerts when it never lands."),
    ]


async def setup_server(config: str | None, cfg, deployments, hours: float = 24.0,
                       margin_s: float = 600.0) -> dict:
    """Tag concurrency limits, predicted-pass expectations (scheduled ``expect_pass`` runs
    at LOS + margin, idempotent per pass) and resumption of ``process_pass`` runs left
    Running/Pending by a dead runner (marked Crashed, then run again: cached stages skip)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed, Scheduled

    from telemetry.passes import predict_passes
    out = {"expectations": 0, "resumed": []}
    ids = {}
    for d in deployments:
        ids[d.flow_name] = await d.apply()
    async with get_client() as client:
        for tag, n in TAG_LIMITS.items():
            await client.create_concurrency_limit(tag=tag, concurrency_limit=n)
        now = dt.datetime.now(dt.timezone.utc)
        for p in (predict_passes(cfg, None, now, hours) if hours > 0 else []):
            when = p.los + dt.timedelta(seconds=margin_s)
            await client.create_flow_run_from_deployment(
                ids["expect_pass"], parameters={"satellite": p.satellite, "aos": p.aos.isoformat(),
                                                "los": p.los.isoformat(), "config": config,
                                                "margin_s": margin_s},
                state=Scheduled(scheduled_time=when),
                idempotency_key=f"expect-{p.satellite}-{p.aos:%Y%m%dT%H%M%S}")
            out["expectations"] += 1
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[ids["process_pass"]])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))))
        for r in runs:
            await client.set_flow_run_state(r.id, Crashed(message="runner died (srd serve restarted)"),
                                            force=True)
            await client.create_flow_run_from_deployment(ids["process_pass"], parameters=r.parameters,
                                                         tags=["resumed"])
            out["resumed"].append(r.name)
    return out
