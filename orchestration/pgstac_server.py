"""Local pgstac infrastructure: a PostgreSQL/PostGIS cluster on loopback, the pgstac
schema (pypgstac migrate) and the stac-fastapi-pgstac API server.

Used by tests and by operators who want the production backend on one machine
(``python -m orchestration.pgstac_server init DIR --port 5439``). Needs the Debian
packages ``postgresql`` and ``postgresql-15-postgis-3``. PostgreSQL refuses to run as root,
so when we are root the server commands run as the ``postgres`` system user.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from srd.errors import CatalogueError


def _bin(name: str) -> str:
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                  key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if hits:
        return hits[-1]
    found = shutil.which(name)
    if not found:
        raise CatalogueError(f"PostgreSQL program {name!r} not found (apt-get install postgresql "
                             "postgresql-15-postgis-3)")
    return found


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    data_dir: Path
    port: int
    user: str = "postgres"
    database: str = "srd"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise CatalogueError(f"{what} failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-800:]}")


def init_cluster(data_dir: str | Path, port: int | None = None, database: str = "srd") -> Cluster:
    """Create (if needed) and start a cluster at ``data_dir`` listening on 127.0.0.1:``port``
    only (trust authentication, loopback: a test/single-host setup), with PostGIS and the
    pgstac schema in ``database``."""
    data_dir = Path(data_dir).resolve()
    port = port or free_port()
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data_dir, "postgres", "postgres")
            data_dir.chmod(0o700)
        _run(_as_pg([_bin("initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
                     "--encoding=UTF8", "--locale=C.UTF-8"]), "initdb")
    _run(_as_pg([_bin("pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "server.log"), "-w",
                 "-o", f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                 "start"]), "pg_ctl start")
    cl = Cluster(data_dir, port, database=database)
    import psycopg
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            c.execute(f'CREATE DATABASE "{database}"')
    migrate(cl.dsn)
    return cl


def migrate(dsn: str) -> str:
    """Install/upgrade the pgstac schema (and PostGIS) in ``dsn``; returns the pgstac version."""
    import psycopg
    from pypgstac.db import PgstacDB
    from pypgstac.migrate import Migrate
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    db = PgstacDB(dsn=dsn)
    try:
        return Migrate(db).run_migration()
    finally:
        pool = db.get_pool()
        db.disconnect()          # returns the connection to the pool...
        pool.close()             # ...which must close, or the database stays "in use"


def stop_cluster(data_dir: str | Path) -> None:
    _run(_as_pg([_bin("pg_ctl"), "-D", str(Path(data_dir).resolve()), "-m", "fast", "-w", "stop"]),
         "pg_ctl stop")


def start_api(cluster_or_dsn, port: int | None = None, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start stac-fastapi-pgstac (uvicorn) on 127.0.0.1:``port`` over the database; returns
    (process, base URL) once ``/`` answers. The caller terminates the process."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlparse
    dsn = cluster_or_dsn.dsn if isinstance(cluster_or_dsn, Cluster) else cluster_or_dsn
    u = urlparse(dsn)
    port = port or free_port()
    env = {**os.environ, "PGUSER": u.username or "postgres", "PGPASSWORD": u.password or "trust",
           "PGHOST": u.hostname or "127.0.0.1", "PGPORT": str(u.port or 5432),
           "PGDATABASE": u.path.lstrip("/") or "postgres", "STAC_FASTAPI_TITLE": "srd catalogue",
           "STAC_FASTAPI_LANDING_ID": "srd", "STAC_FASTAPI_DESCRIPTION": "srd ground station products",
           "POSTGRES_USER": u.username or "postgres", "POSTGRES_PASS": u.password or "trust",
           "POSTGRES_HOST_READER": u.hostname or "127.0.0.1", "POSTGRES_HOST_WRITER": u.hostname or "127.0.0.1",
           "POSTGRES_PORT": str(u.port or 5432), "POSTGRES_DBNAME": u.path.lstrip("/") or "postgres"}
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CatalogueError(f"stac-fastapi-pgstac exited with {proc.returncode} (log: {log})")
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    proc.terminate()
    raise CatalogueError(f"stac-fastapi-pgstac did not answer on {url} within 60 s (log: {log})")


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m orchestration.pgstac_server",
                                description="Local PostgreSQL/PostGIS/pgstac cluster on loopback.")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("init", help="create/start a cluster and migrate pgstac; prints the DSN")
    a.add_argument("data_dir")
    a.add_argument("--port", type=int, default=5439)
    s = sub.add_parser("stop", help="stop the cluster")
    s.add_argument("data_dir")
    args = p.parse_args(argv)
    if args.cmd == "init":
        print(init_cluster(args.data_dir, args.port).dsn)
    else:
        stop_cluster(args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
