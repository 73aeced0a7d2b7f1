"""Ingest: landing → immutable, checksummed archive; bad passes quarantined, never deleted.

Ingest never interprets channel bits (that is the decoder's job), so these tests land
channel files of arbitrary bytes with an ICD §1 manifest; the end-to-end flow tests use
the simulator's passes.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import subprocess

import pytest

from srd.errors import ChecksumError, ManifestError
from station_config.models import Paths
from telemetry.ingest import ingest, list_archived, read_manifest, verify_archive


@pytest.fixture
def station(cfg, tmp_path):
    return cfg.model_copy(update={"paths": Paths(root=tmp_path / "srd-data")})


def land(landing, pass_id="SPOT6_20261129T100326", aos="2026-11-29T10:03:26Z", sat="SPOT-6",
         norad=38755, sizes=(3000, 2000), seed=0):
    landing.mkdir(parents=True, exist_ok=True)
    chans = []
    for name, n in zip("AB", sizes):
        data = os.urandom(0) + bytes((i * 7 + seed + ord(name)) % 256 for i in range(n))
        f = landing / f"{pass_id}_{name}.bin"
        f.write_bytes(data)
        chans.append({"name": name, "file": f.name, "bytes": n, "sha256": hashlib.sha256(data).hexdigest()})
    los = (dt.datetime.fromisoformat(aos.replace("Z", "+00:00")) + dt.timedelta(minutes=9)).isoformat()
    m = {"satellite": sat, "norad_id": norad, "station": "Montpellier-DR", "pass_id": pass_id,
         "aos": aos, "los": los, "max_elevation_deg": 42.0, "channels": chans,
         "terminal": {"ebn0_db": 9.5, "lock_ratio": 0.99}}
    mf = landing / f"{pass_id}.json"
    tmp = landing / f".{pass_id}.json.tmp"
    tmp.write_text(json.dumps(m))
    os.replace(tmp, mf)
    return mf


def test_pass_is_moved_verified_and_sealed(station):
    landing = station.directory("landing")
    norad = station.satellite("SPOT-6").norad_id
    mf = land(landing, norad=norad)
    (landing / "SPOT6_20261129T100326.truth").mkdir()          # not listed: left alone
    r = ingest(mf, station)
    final = station.directory("archive") / "SPOT-6" / "2026" / "11" / "SPOT6_20261129T100326"
    assert r.status == "archived" and r.archive_dir == str(final) and r.bytes == 5000
    assert sorted(p.name for p in final.iterdir()) == sorted(
        ["SHA256SUMS", "SPOT6_20261129T100326.json", "SPOT6_20261129T100326_A.bin", "SPOT6_20261129T100326_B.bin"])
    # moved, not copied: the landing holds nothing of the pass any more
    assert sorted(p.name for p in landing.iterdir()) == ["SPOT6_20261129T100326.truth"]
    # read-only files and directory
    for p in final.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o444
    assert stat.S_IMODE(final.stat().st_mode) == 0o555
    # SHA256SUMS checked by coreutils, independently of our code
    out = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=final, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.count(": OK") == 3
    assert verify_archive(final) == [r.channels[0]["file"], r.channels[1]["file"], "SPOT6_20261129T100326.json"]
    # the archived manifest is what the decoder gets
    assert read_manifest(r.manifest, station)["pass_id"] == "SPOT6_20261129T100326"
    assert no_tmp_left(station)


def no_tmp_left(station):
    return not [p for p in station.directory("archive").rglob(".*tmp*")]


def test_reingest_is_idempotent_and_removes_an_identical_duplicate(station):
    landing = station.directory("landing")
    norad = station.satellite("SPOT-6").norad_id
    r1 = ingest(land(landing, norad=norad), station)
    r2 = ingest(land(landing, norad=norad), station)            # the terminal re-delivers it
    assert r2.status == "already-archived" and r2.archive_dir == r1.archive_dir
    assert list(landing.iterdir()) == []
    # a *different* pass under the same id is refused and left in landing
    mf = land(landing, norad=norad, seed=5)
    with pytest.raises(ManifestError, match="already archived"):
        ingest(mf, station)
    assert mf.exists()


def test_corrupt_pass_is_quarantined_with_reason_never_deleted(station):
    landing = station.directory("landing")
    mf = land(landing, norad=station.satellite("SPOT-6").norad_id)
    b = landing / "SPOT6_20261129T100326_B.bin"
    data = bytearray(b.read_bytes())
    data[1234] ^= 0x10
    b.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="channel B|B: sha256") as e:
        ingest(mf, station)
    q = station.directory("quarantine") / "SPOT6_20261129T100326"
    assert e.value.context["quarantine"] == str(q)
    reason = json.loads((q / "reason.json").read_text())
    assert reason["error"]["error"] == "ChecksumError"
    bad = [f for f in reason["files"] if f["problem"]]
    assert [f["name"] for f in bad] == ["B"]
    assert bad[0]["actual_sha256"] == hashlib.sha256(bytes(data)).hexdigest()
    # everything kept, byte for byte
    assert (q / "SPOT6_20261129T100326_B.bin").read_bytes() == bytes(data)
    assert (q / "SPOT6_20261129T100326_A.bin").exists() and (q / "SPOT6_20261129T100326.json").exists()
    assert list(station.directory("archive").rglob("*.bin")) == []
    assert no_tmp_left(station)


def test_incomplete_pass_is_quarantined(station):
    landing = station.directory("landing")
    mf = land(landing, norad=station.satellite("SPOT-6").norad_id)
    (landing / "SPOT6_20261129T100326_B.bin").unlink()
    with pytest.raises(ManifestError, match="incomplete pass: B: .* missing"):
        ingest(mf, station)
    q = station.directory("quarantine") / "SPOT6_20261129T100326"
    assert json.loads((q / "reason.json").read_text())["files"][1]["problem"] == "missing"
    # a second bad delivery of the same pass gets its own quarantine directory
    mf = land(landing, norad=station.satellite("SPOT-6").norad_id, sizes=(3000, 10))
    (landing / "SPOT6_20261129T100326_B.bin").write_bytes(b"short")
    with pytest.raises(ManifestError, match="5 bytes, manifest says 10"):
        ingest(mf, station)
    assert (station.directory("quarantine") / "SPOT6_20261129T100326-2" / "reason.json").exists()


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.pop("los"), "los"),
    (lambda m: m.update(satellite="SPOT-9"), "satellite"),
    (lambda m: m.update(norad_id=1), "norad_id"),
    (lambda m: m["channels"][0].update(file="../etc/passwd"), "channels[0].file"),
    (lambda m: m["channels"][1].update(sha256="zz"), "channels[1].sha256"),
    (lambda m: m.update(los="2026-11-29T10:00:00Z"), "los"),
])
def test_bad_manifest_names_the_field_and_is_quarantined(station, edit, field):
    landing = station.directory("landing")
    mf = land(landing, norad=station.satellite("SPOT-6").norad_id)
    m = json.loads(mf.read_text())
    edit(m)
    mf.write_text(json.dumps(m))
    with pytest.raises(ManifestError) as e:
        ingest(mf, station)
    assert e.value.field == field and str(mf) in str(e.value)
    q = station.directory("quarantine") / "SPOT6_20261129T100326"
    assert (q / "reason.json").exists() and (q / mf.name).exists()


def test_not_json_manifest(station):
    landing = station.directory("landing")
    landing.mkdir(parents=True)
    (landing / "X.json").write_text("{truncated")
    with pytest.raises(ManifestError, match="not JSON"):
        ingest(landing / "X.json", station)
    assert (station.directory("quarantine") / "X" / "X.json").read_text() == "{truncated"


def test_crashed_ingest_is_resumed(station):
    landing = station.directory("landing")
    mf = land(landing, norad=station.satellite("SPOT-6").norad_id)
    # a previous ingest (other pid) moved channel A and died
    parent = station.directory("archive") / "SPOT-6" / "2026" / "11"
    crashed = parent / ".SPOT6_20261129T100326.tmp-999999"
    crashed.mkdir(parents=True)
    os.replace(landing / "SPOT6_20261129T100326_A.bin", crashed / "SPOT6_20261129T100326_A.bin")
    r = ingest(mf, station)
    assert r.status == "archived" and verify_archive(r.archive_dir)
    assert no_tmp_left(station)


def test_tampered_archive_is_detected(station):
    r = ingest(land(station.directory("landing"), norad=station.satellite("SPOT-6").norad_id), station)
    f = os.path.join(r.archive_dir, r.channels[0]["file"])
    os.chmod(f, 0o644)
    with open(f, "r+b") as fh:
        fh.write(b"\x00")
    with pytest.raises(ChecksumError, match="archived file changed"):
        verify_archive(r.archive_dir)


def test_list_archived_by_time_and_satellite(station):
    landing = station.directory("landing")
    n6, n7 = station.satellite("SPOT-6").norad_id, station.satellite("SPOT-7").norad_id
    ingest(land(landing, "P1", "2026-01-10T10:00:00Z", norad=n6), station)
    ingest(land(landing, "P2", "2026-02-10T10:00:00Z", sat="SPOT-7", norad=n7), station)
    ingest(land(landing, "P3", "2026-04-10T10:00:00Z", norad=n6), station)
    utc = dt.timezone.utc
    got = list_archived(station, dt.datetime(2026, 1, 1, tzinfo=utc), dt.datetime(2026, 3, 31, tzinfo=utc))
    assert [a.pass_id for a in got] == ["P1", "P2"]
    assert [a.pass_id for a in list_archived(station, satellites=["spot7"])] == ["P2"]
    assert [a.pass_id for a in list_archived(station)] == ["P1", "P2", "P3"]


def test_cli_ingest_json_and_exit_codes(cfg, tmp_path, monkeypatch, capsys):
    from srd.cli import main
    monkeypatch.chdir(tmp_path)                 # the shipped station's paths.root is ./srd-data
    landing = tmp_path / "srd-data" / "landing"
    mf = land(landing, norad=cfg.satellite("SPOT-6").norad_id)
    assert main(["ingest", str(mf), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "archived" and out["archive_dir"].endswith("SPOT-6/2026/11/SPOT6_20261129T100326")
    mf = land(landing, "P9", norad=cfg.satellite("SPOT-6").norad_id)
    (landing / "P9_A.bin").write_bytes(b"x")
    assert main(["ingest", str(mf), "--json"]) == 5
    err = json.loads(capsys.readouterr().out)
    assert err["error"] == "ManifestError" and err["quarantine"].endswith("quarantine/P9")


def test_ingest_after_the_landing_copy_was_already_moved(station):
    """A flow re-run after a crash calls ingest with the landing path again."""
    mf = land(station.directory("landing"), norad=station.satellite("SPOT-6").norad_id)
    r1 = ingest(mf, station)
    assert not mf.exists()
    r2 = ingest(mf, station)
    assert r2.status == "already-archived" and r2.manifest == r1.manifest
    # and the archived manifest itself is accepted as input (reprocessing)
    assert ingest(r1.manifest, station).status == "already-archived"
