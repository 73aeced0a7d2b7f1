"""CLI verbs of orchestration that need no Prefect server: catalogue search, reprocess --dry-run."""
from __future__ import annotations

import json

from tests.orchestration.conftest import write_scene
from tests.telemetry.test_ingest import land


def test_catalogue_publish_and_search_json(cfg, tmp_path, monkeypatch, capsys, stac_validator):
    from srd.cli import main
    monkeypatch.chdir(tmp_path)                     # shipped station: paths.root = ./srd-data
    prod = tmp_path / "srd-data" / "products" / "P1"
    a = write_scene(prod, "P1_S1", cloud=5.0)
    b = write_scene(prod, "P1_S2", cloud=60.0, offset_m=(0, -500))
    assert main(["catalogue", "publish", str(a), str(b), "--json"]) == 0
    assert [r["outcome"] for r in json.loads(capsys.readouterr().out)["published"]] == ["created"] * 2
    assert main(["catalogue", "publish", str(a), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["published"][0]["outcome"] == "unchanged"
    assert main(["catalogue", "search", "--bbox", "3,43,5,45", "--datetime", "2026-11-29/2026-11-30",
                 "--max-cloud", "20", "--json"]) == 0
    fc = json.loads(capsys.readouterr().out)
    assert [f["id"] for f in fc["features"]] == ["P1_S1"]
    stac_validator.validate(fc["features"][0])
    assert main(["catalogue", "search", "--bbox", "3,43,5", "--json"]) == 9       # CatalogueError
    assert json.loads(capsys.readouterr().out)["field"] == "bbox"


def test_reprocess_dry_run_lists_archived_passes(cfg, tmp_path, monkeypatch, capsys):
    from srd.cli import main
    from station_config.models import Paths
    from telemetry.ingest import ingest
    monkeypatch.chdir(tmp_path)
    station = cfg.model_copy(update={"paths": Paths(root=tmp_path / "srd-data")})
    n6, n7 = cfg.satellite("SPOT-6").norad_id, cfg.satellite("SPOT-7").norad_id
    landing = tmp_path / "srd-data" / "landing"
    ingest(land(landing, "A1", "2026-01-05T10:00:00Z", norad=n6), station)
    ingest(land(landing, "A2", "2026-03-31T22:00:00Z", sat="SPOT-7", norad=n7), station)
    ingest(land(landing, "A3", "2026-04-01T00:00:01Z", norad=n6), station)
    assert main(["reprocess", "--since", "2026-01-01", "--until", "2026-03-31", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["pass_id"] for p in out["passes"]] == ["A1", "A2"] and out["runs"] == []
    assert main(["reprocess", "--since", "2026-01-01", "--until", "2026-12-31", "--satellite", "SPOT-6",
                 "--dry-run", "--json"]) == 0
    assert [p["pass_id"] for p in json.loads(capsys.readouterr().out)["passes"]] == ["A1", "A3"]
    assert main(["reprocess", "--since", "yesterday", "--until", "2026-12-31", "--dry-run"]) == 3
