"""``srd serve``: run the station unattended (Prefect server, deployments, landing watcher)."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  srd serve                                  Prefect server + UI on 127.0.0.1:4200, products on :8765
  srd serve --prefect-port 4300 --http-port 8800 --hours 48
  PREFECT_API_URL=http://prefect.example:4200/api srd serve    use an existing Prefect server

Drop a pass (manifest written last) into the landing directory: it is ingested, decoded,
processed and published without further action. Open the Prefect UI to watch it."""


def register(sub) -> None:
    p = sub.add_parser("serve", help="process landed passes automatically (Prefect)",
                       description="Start (or use) a Prefect server, register the process_pass, publish_pass "
                                   "and expect_pass deployments, watch the landing directory (each new manifest "
                                   "emits an event that triggers process_pass), schedule an expectation per "
                                   "predicted pass, resume passes interrupted by a crash, and serve products "
                                   "and the catalogue over HTTP.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefect-port", type=int, default=4200, help="port of the Prefect server started when "
                   "PREFECT_API_URL is not set (default 4200)")
    p.add_argument("--http-port", type=int, default=8765, help="port serving paths.root (quicklooks, COGs, "
                   "catalogue) on 127.0.0.1 (default 8765; 0 = any)")
    p.add_argument("--stac-port", type=int, default=0, help="port of the stac-fastapi-pgstac API started for "
                   "a pgstac catalogue without catalogue.api_url (default 0 = any)")
    p.add_argument("--poll", type=float, default=2.0, help="landing directory poll interval, s (default 2)")
    p.add_argument("--hours", type=float, default=24.0, help="predicted passes scheduled as expectations (default 24)")
    p.add_argument("--margin", type=float, default=600.0, help="seconds after LOS before a missing pass alerts")
    p.add_argument("--name", default="srd", help="deployment name of this station (default srd); "
                   "stations sharing a Prefect server need distinct names")
    p.add_argument("--limit", type=int, default=2, help="concurrent process_pass runs (default 2)")
    p.set_defaults(func=run)


def run(args) -> int:
    import asyncio
    import os
    import signal
    from pathlib import Path

    from srd.cli import load_station_config
    cfg = load_station_config(args)
    root = Path(cfg.paths.root).resolve()
    from orchestration.service import (LandingWatcher, build_deployments, ensure_prefect_server,
                                       setup_server, start_http)
    home = Path(os.environ.get("PREFECT_HOME") or root / "prefect")
    server = ensure_prefect_server(home, args.prefect_port, root / "prefect-server.log")
    api_proc = None
    try:
        httpd, http_base = start_http(root, args.http_port)
        config = str(cfg.source)
        stac_api = cfg.catalogue.api_url
        if cfg.catalogue.backend == "pgstac" and not stac_api:
            from orchestration.pgstac_server import start_api
            api_proc, stac_api = start_api(cfg.catalogue.dsn, args.stac_port or None, root / "stac-api.log")
        deployments = build_deployments(config, http_base, args.limit, args.name, stac_api)
        info = asyncio.run(setup_server(config, cfg, deployments, args.hours, args.margin))
        watcher = LandingWatcher(cfg.directory("landing"), args.poll, args.name)
        watcher.start()
        ui = os.environ["PREFECT_API_URL"].rstrip("/").removesuffix("/api")
        print(f"srd serve: Prefect UI {ui}  products {http_base}  landing {cfg.directory('landing')}"
              + (f"  STAC API {stac_api}" if stac_api else ""), flush=True)
        print(f"srd serve: {info['expectations']} predicted passes scheduled; resumed {len(info['resumed'])} "
              f"interrupted run(s) {info['resumed']}", flush=True)
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        from prefect import serve
        serve(*deployments, limit=args.limit + 2, print_starting_message=False)
    except KeyboardInterrupt:
        pass
    finally:
        if api_proc is not None:
            api_proc.terminate()
        if server is not None:
            server.terminate()
            try:
                server.wait(20)
            except Exception:
                server.kill()
    return 0
