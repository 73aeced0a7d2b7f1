"""``srd reprocess``: a reprocessing campaign over archived passes."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  srd reprocess --since 2026-01-01 --until 2026-03-31 --dry-run
  srd reprocess --since 2026-01-01 --until 2026-03-31 --satellite SPOT-7 --from-stage level1
  srd reprocess --since 2026-11-01 --until 2026-11-30 --no-wait --json

Needs a running 'srd serve' (the process_pass/srd deployment): one flow run per archived
pass, bounded by the deployment's concurrency limit. Resumable: re-running the same
campaign does not submit a pass twice (idempotency key per campaign and pass), and
finished stages are skipped by the cache unless --from-stage says otherwise. --local runs
the passes one after the other in this process instead."""


def register(sub) -> None:
    p = sub.add_parser("reprocess", help="re-run archived passes in a time range",
                       description="Create process_pass runs for every archived pass whose AOS is in "
                                   "[--since, --until].", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--since", required=True, help="AOS from (UTC date or time)")
    p.add_argument("--until", required=True, help="AOS until (UTC date or time; a date includes its day)")
    p.add_argument("--satellite", action="append", help="satellite (repeatable; default all)")
    p.add_argument("--from-stage", choices=("ingest", "decode", "level1", "ortho", "publish"), default="decode",
                   help="recompute from this stage (default decode: the archive is already ingested)")
    p.add_argument("--name", default="srd", help="deployment name of the station's 'srd serve' (default srd)")
    p.add_argument("--dry-run", action="store_true", help="list the passes, submit nothing")
    p.add_argument("--local", action="store_true", help="run in this process, one pass at a time")
    p.add_argument("--no-wait", action="store_true", help="submit and return without waiting")
    p.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait for the campaign")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _bound(s: str, end: bool):
    import datetime as dt

    from srd.errors import ConfigError
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not an ISO-8601 date/time: {s!r}", field="until" if end else "since") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    if end and len(s) == 10:            # a bare date includes its whole day
        t = t + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return t.astimezone(dt.timezone.utc)


def run(args) -> int:
    import hashlib

    from srd.cli import emit_json, load_station_config
    from telemetry.ingest import list_archived
    cfg = load_station_config(args)
    since, until = _bound(args.since, False), _bound(args.until, True)
    passes = list_archived(cfg, since, until, args.satellite)
    campaign = hashlib.sha256(f"{since}|{until}|{sorted(args.satellite or [])}|{args.from_stage}".encode()).hexdigest()[:12]
    result = {"campaign": campaign, "since": since.isoformat(), "until": until.isoformat(),
              "from_stage": args.from_stage, "passes": [p.to_dict() for p in passes], "runs": []}
    if args.dry_run or not passes:
        if args.json:
            emit_json(result)
        else:
            print(f"campaign {campaign}: {len(passes)} archived pass(es) in range" + (" (dry run)" if args.dry_run else ""))
            for p in passes:
                print(f"  {p.satellite}  {p.aos:%Y-%m-%d %H:%M:%S}Z  {p.pass_id}")
        return 0
    if args.local:
        from orchestration.flows import process_pass
        for p in passes:
            try:
                s = process_pass(str(p.manifest), str(cfg.source), args.from_stage)
                result["runs"].append({"pass_id": p.pass_id, "state": "COMPLETED", "summary": s})
            except Exception as e:                # the campaign goes on; the summary says what failed
                result["runs"].append({"pass_id": p.pass_id, "state": "FAILED", "error": str(e)})
    else:
        result["runs"] = _submit(cfg, passes, campaign, args)
    states = [r["state"] for r in result["runs"]]
    result["summary"] = {s: states.count(s) for s in sorted(set(states))}
    if args.json:
        emit_json(result)
    else:
        print(f"campaign {campaign}: {len(passes)} pass(es): " + ", ".join(f"{n} {s}" for s, n in result["summary"].items()))
        for r in result["runs"]:
            print(f"  {r['pass_id']}: {r['state']}" + (f"  {r.get('error')}" if r.get("error") else ""))
    ok = all(s in ("COMPLETED", "SCHEDULED", "PENDING", "RUNNING") for s in states)
    return 0 if ok else 1


def _submit(cfg, passes, campaign, args) -> list[dict]:
    import time

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from srd.errors import SrdError
    runs = []
    with get_client(sync_client=True) as client:
        try:
            dep = client.read_deployment_by_name(f"process_pass/{args.name}")
        except ObjectNotFound:
            raise SrdError(f"no process_pass/{args.name} deployment: start 'srd serve' first (or use --local)") from None
        for p in passes:
            fr = client.create_flow_run_from_deployment(
                dep.id, parameters={"manifest": str(p.manifest), "config": str(cfg.source),
                                    "from_stage": args.from_stage},
                tags=["reprocess", f"campaign-{campaign}"], idempotency_key=f"reprocess-{campaign}-{p.pass_id}")
            runs.append({"pass_id": p.pass_id, "flow_run_id": str(fr.id), "state": fr.state.type.value})
        if args.no_wait:
            return runs
        from rich.progress import Progress
        deadline = time.monotonic() + args.timeout
        with Progress(transient=True) as bar:
            t = bar.add_task(f"campaign {campaign}", total=len(runs))
            while time.monotonic() < deadline:
                for r in runs:
                    r["state"] = client.read_flow_run(r["flow_run_id"]).state.type.value
                done = sum(r["state"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in runs)
                bar.update(t, completed=done)
                if done == len(runs):
                    break
                time.sleep(2)
    return runs
