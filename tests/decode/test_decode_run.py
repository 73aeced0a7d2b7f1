"""The decode stage end to end on simulated passes (reduced profile, short datatakes):
packets bit-exact against the simulator's truth, every loss counted, images bit-exact where
the mask says ok; bad input gives a report and a clear message, never a crash."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from decode.level0 import packet_file_name
from decode.payload import MASK_MISSING, MASK_OK, MASK_UNDECRYPTABLE
from decode.run import run
from srd.cli import main as cli

START = "2026-11-29T10:03:26Z"


def _simulate(cfg, out, **kw):
    from telemetry.simulate import run as simulate
    rep = simulate(cfg, out, "SPOT-6", START, kw.pop("duration", 0.3), "reduced", **kw)
    return Path(rep.manifest), Path(rep.truth_dir)


@pytest.fixture(scope="module")
def clean_pass(cfg, tmp_path_factory):
    """CCSDS 121 compressed, encrypted with key id 1, clean channel."""
    return _simulate(cfg, tmp_path_factory.mktemp("clean"), compression="ccsds121", key_id=1, seed=3)


@pytest.fixture(scope="module")
def impaired_pass(cfg, tmp_path_factory):
    """Raw, clear, BER 1e-4 + bursts + slips + an inversion stretch
    + a dropped-frame stretch."""
    from telemetry.channel import Impairments
    # the datatake is 5.0..5.33 s into the stream: enough bursts to hit it, an inversion inside it
    imp = Impairments(ber=1e-4, bursts=300, burst_bits=(40, 3000), slips=3, invert=((5.1, 0.1),),
                      drop_frames=40, seed=7)
    return _simulate(cfg, tmp_path_factory.mktemp("impaired"), compression="raw", key_id=0,
                     impairments=imp, seed=4)


def _packets(path: Path) -> list[bytes]:
    data, out, p = path.read_bytes(), [], 0
    while p < len(data):
        n = 7 + int.from_bytes(data[p + 4:p + 6], "big")
        out.append(data[p:p + n])
        p += n
    return out


def _is_subsequence(sub, full) -> bool:
    it = iter(full)
    return all(any(x == y for y in it) for x in sub)


def _check_images(l0: Path, truth: Path, report):
    n_ok = 0
    for b in report.bands:
        img = np.load(l0 / "image" / b["file"])
        mask = np.load(l0 / "image" / b["file"].replace(".npy", "_mask.npy"))
        ref = np.load(truth / "image" / b["file"])
        first = b["first_line"]
        rows = ref[first:first + b["lines"]]
        assert img.shape == rows.shape
        ok = mask == MASK_OK
        assert np.array_equal(img[ok], rows[ok]), b["file"]
        assert (img[~ok] == 0).all()
        n_ok += int(ok.sum())
    return n_ok


def test_clean_encrypted_pass_bit_exact(cfg, clean_pass, tmp_path):
    manifest, truth = clean_pass
    rep = run(manifest, tmp_path, cfg)
    l0 = tmp_path / rep.pass_id
    assert rep.status == "ok" and rep.errors == () and rep.exit_code == 0
    for f in sorted((truth / "packets").glob("*.pkt")):
        assert (l0 / "packets" / f.name).read_bytes() == f.read_bytes(), f.name
    assert sorted(p.name for p in (l0 / "packets").iterdir()) == sorted(p.name for p in (truth / "packets").iterdir())
    for c in rep.channels:
        assert c.rs_uncorrectable_codeblocks == 0 and c.wrong_scid == 0 and c.frames == c.cadus
        assert all(v["gaps"] == 0 and v["fhp_errors"] == 0 for v in c.vcs.values())
    t = json.loads((truth / "truth.json").read_text())
    for b in rep.bands:
        assert b["lines_ok"] == b["lines"] == t["lines"][b["band"]] and b["compression_ratio"] > 1
    assert _check_images(l0, truth, rep) > 0
    dts = json.loads((l0 / "ancillary" / "datatakes.json").read_text())
    assert dts[0]["key_id"] == 1 and dts[0]["kcv_ok"] is True
    eph = np.load(l0 / "ancillary" / "ephemeris.npy")
    assert eph.size > 0 and np.all(np.diff(eph["gps_time"]) > 0)
    assert np.all(np.abs(np.linalg.norm(eph["position"], axis=1) - 7.07e6) < 1e5)
    rep_json = json.loads((l0 / "decode_report.json").read_text())
    assert rep_json["status"] == "ok" and rep_json["apids"]["0x011"]["duplicates"] > 0
    assert not list(tmp_path.glob(".*tmp*"))                    # nothing left behind


def test_impaired_pass_every_loss_counted(cfg, impaired_pass, tmp_path):
    manifest, truth = impaired_pass
    rep = run(manifest, tmp_path, cfg)
    l0 = tmp_path / rep.pass_id
    assert rep.status == "data_loss" and rep.lost and rep.exit_code == 10
    rs_fixed = sum(c.rs_corrected_symbols for c in rep.channels)
    lost_blocks = sum(c.rs_uncorrectable_codeblocks for c in rep.channels)
    assert rs_fixed > 1000 and lost_blocks > 0
    assert sum(c.inverted_stretches for c in rep.channels) >= 1 and sum(c.slips for c in rep.channels) >= 1
    assert sum(v["frames_missing"] for c in rep.channels for v in c.vcs.values()) > 0
    missing_total = 0
    for f in sorted((truth / "packets").glob("*.pkt")):
        want = _packets(f)
        g = l0 / "packets" / f.name
        got = _packets(g) if g.exists() else []
        assert _is_subsequence(got, want), f.name               # every decoded packet bit-exact
        apid = int(f.stem.split("_0x")[1], 16)
        st = rep.apids[f"{apid:#05x}"]
        assert st["packets"] == len(got)
        # every loss between two received packets of the APID is a sequence gap; a loss before
        # the first (after the last) is visible only as lost frames of its VC
        seq = lambda p: int.from_bytes(p[2:4], "big") & 0x3FFF
        lead = [seq(p) for p in want].index(seq(got[0]))
        trail = len(want) - 1 - [seq(p) for p in want].index(seq(got[-1]))
        assert st["packets_missing"] == len(want) - len(got) - lead - trail, f.name
        vc = 0 if apid < 0x100 else 1 + (apid - 0x100) // 0x10
        vcs = [c.vcs[vc] for c in rep.channels if vc in c.vcs]
        if lead:
            assert any(v["first_count"] > 0 or v["packets_cut"] for v in vcs), f.name
        if trail:
            assert any(c.rs_uncorrectable_codeblocks for c in rep.channels)
        missing_total += len(want) - len(got)
    assert missing_total > 0
    _check_images(l0, truth, rep)
    masked = sum(b["lines_missing"] for b in rep.bands)
    assert masked > 0 and all(b["lines_ok"] + b["lines_missing"] == b["lines"] for b in rep.bands)


def test_wrong_and_missing_key(cfg, clean_pass, tmp_path):
    manifest, truth = clean_pass
    wrong = tmp_path / "wrong.hex"
    wrong.write_text("11" * 32)
    for keys, needle in (({1: str(wrong)}, "wrong key"), ({}, "no key configured")):
        c2 = cfg.model_copy(update={"keys": keys})
        out = tmp_path / ("o" + str(len(keys)))
        rep = run(manifest, out, c2)
        l0 = out / rep.pass_id
        assert rep.status == "data_loss" and not rep.lost and rep.exit_code == 4   # nothing lost: key
        assert any(needle in e["message"] for e in rep.errors)
        for b in rep.bands:
            assert b["lines_undecryptable"] == b["lines"]
            assert (np.load(l0 / "image" / b["file"].replace(".npy", "_mask.npy")) == MASK_UNDECRYPTABLE).all()
            assert not np.load(l0 / "image" / b["file"]).any()
        for f in (truth / "packets").glob("*.pkt"):               # packets kept as transmitted
            assert (l0 / "packets" / f.name).read_bytes() == f.read_bytes()
        assert json.loads((l0 / "ancillary" / "datatakes.json").read_text())[0]["kcv_ok"] is False
        assert "11" * 32 not in (l0 / "decode_report.json").read_text()


def test_bare_channel_file_truncated_cadu(cfg, clean_pass, tmp_path):
    manifest, truth = clean_pass
    m = json.loads(manifest.read_text())
    src = manifest.parent / m["channels"][0]["file"]
    cut = tmp_path / "cut_A.bin"
    cut.write_bytes(src.read_bytes()[: 3_000_000 + 517])       # ends inside a CADU
    rep = run(cut, tmp_path / "l0", cfg)                       # satellite from the SCID
    assert rep.satellite == "SPOT-6" and rep.pass_id == "cut_A"
    (c,) = rep.channels
    assert c.name == "A" and c.truncated_bytes > 0 and rep.status == "data_loss"
    l0 = tmp_path / "l0" / "cut_A"
    files = list((l0 / "packets").glob("*.pkt"))
    assert files
    for g in files:                                             # a prefix of the truth
        assert (truth / "packets" / g.name).read_bytes().startswith(g.read_bytes()), g.name


def test_bad_inputs_report_and_exit_codes(cfg, clean_pass, tmp_path, capsys):
    manifest, _ = clean_pass
    empty = tmp_path / "empty_A.bin"
    empty.write_bytes(b"")
    noise = tmp_path / "noise_A.bin"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 2_000_000, dtype=np.uint8).tobytes())
    m = json.loads(manifest.read_text())
    cases = {}
    cases["empty"] = (empty, [], "empty")
    cases["noise"] = (noise, [], "no CADU found")
    cases["scid"] = (manifest.parent / m["channels"][0]["file"], ["--satellite", "SPOT-7"], "no frame of SPOT-7 (SCID 167); SCIDs seen: 166")
    bad_json = tmp_path / "badjson.json"
    bad_json.write_text("{not json")
    cases["json"] = (bad_json, [], "not valid JSON")
    for field, value, needle in (("sha256", "0" * 64, "does not match the manifest"),
                                 ("bytes", 5, "manifest says 5"), ("satellite", "SPOT-9", "not configured"),
                                 ("pass_id", "../escape", "not a plain directory name")):
        mm = json.loads(manifest.read_text())
        if field in ("satellite", "pass_id"):
            mm[field] = value
        else:
            mm["channels"][0][field] = value
        p = manifest.parent / f"bad_{field}.json"
        p.write_text(json.dumps(mm))
        cases[field] = (p, [], needle)
    for name, (src, extra, needle) in cases.items():
        out = tmp_path / f"out_{name}"
        code = cli(["decode", str(src), "--out", str(out), "--json", *extra])
        captured = capsys.readouterr()
        report = json.loads(captured.out)
        assert needle in captured.err, (name, captured.err)
        assert any(needle in e["message"] for e in report["errors"]), name
        written = json.loads((out / report["pass_id"] / "decode_report.json").read_text())
        assert written["status"] == report["status"]
        if name == "sha256":
            assert code == 10 and report["status"] == "data_loss"     # decoded, but flagged
        else:
            assert code == 5 and report["status"] == "failed", name


def test_rerun_replaces_previous_result(cfg, clean_pass, tmp_path):
    manifest, _ = clean_pass
    run(manifest, tmp_path, cfg)
    rep = run(manifest, tmp_path, cfg)
    assert rep.status == "ok" and len([p for p in tmp_path.iterdir()]) == 1


def test_cli_human_output_and_progress(cfg, clean_pass, tmp_path, capsys):
    manifest, _ = clean_pass
    assert cli(["decode", str(manifest), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"pass {manifest.stem} (SPOT-6, SCID 166): ok") and "Mbit/s" in out
    seen = []
    rep = run(manifest, tmp_path / "p", cfg, progress=seen.append, chunk_bytes=1 << 20)
    assert sum(seen) == rep.channel_bytes == sum(c.bytes for c in rep.channels) and len(seen) > 10


def test_counts_agree_with_the_independent_icd_referee(cfg, clean_pass, tmp_path, shared_dir):
    """../shared/tools/icd_conformance.py (an independent reader) sees the same frames per VC and
    the same packets per channel as the decoder on the clean pass."""
    import subprocess
    import sys
    manifest, _ = clean_pass
    r = subprocess.run([sys.executable, str(shared_dir / "tools" / "icd_conformance.py"), str(manifest), "--json"],
                       capture_output=True, text=True)
    ref = json.loads(r.stdout)
    assert ref["overall"] == "PASS", r.stdout[-2000:]
    layers = {(L["scope"], L["name"]): L["counts"] for L in ref["layers"]}
    rep = run(manifest, tmp_path, cfg)
    for c in rep.channels:
        aos, pkt = layers[(c.name, "AOS")], layers[(c.name, "PACKET")]
        mine = {str(v): s["frames"] for v, s in c.vcs.items()} | {"63": c.idle_frames}
        assert mine == aos["vcids"] and aos["frames_lost"] == 0
        assert sum(s["packets"] + s["idle_packets"] for s in c.vcs.values()) == pkt["packets"]
        for apid, units in pkt["units"].items():
            if int(apid, 16) >= 0x100:                         # image APIDs live on one channel
                assert rep.apids[apid]["packets"] >= units


def test_parallel_channels_identical_to_in_process(cfg, impaired_pass, tmp_path):
    """Two worker processes (one per channel) write exactly what the in-process decode writes."""
    manifest, _ = impaired_pass
    seen = []
    a = run(manifest, tmp_path / "seq", cfg, workers=1)
    b = run(manifest, tmp_path / "par", cfg, workers=2, progress=seen.append)
    assert sum(seen) == b.channel_bytes
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        for k in ("wall_time_s", "throughput_mbps", "peak_rss_mb", "level0_dir"):
            d.pop(k)
    assert da == db
    la, lb = tmp_path / "seq" / a.pass_id, tmp_path / "par" / b.pass_id
    files = sorted(p.relative_to(la) for p in la.rglob("*") if p.is_file() and p.name != "decode_report.json")
    assert files == sorted(p.relative_to(lb) for p in lb.rglob("*") if p.is_file() and p.name != "decode_report.json")
    for f in files:
        assert (la / f).read_bytes() == (lb / f).read_bytes(), f


def test_playback_out_of_time_order_is_reordered_and_deduplicated(cfg, tmp_path):
    """Real-time packets, then a playback (replay flag) of older data that includes copies of
    packets already received: the packet file comes out in time order without duplicates and
    the sequence accounting is done on the time-ordered packets."""
    from telemetry.channel import ChannelCoder
    from srd.timescale import cuc_encode
    from _synth import mux, packet
    sat = cfg.satellite("SPOT-6")
    t0 = 1.4e9
    pk = {i: packet(0x100, i, bytes([i]) * (40 + i), cuc=cuc_encode(t0 + i)[0].tobytes()) for i in range(12)}
    realtime = [pk[i] for i in range(6, 12)]
    playback = [pk[i] for i in range(0, 8)]                    # 6 and 7 already received
    f1, _ = mux(realtime, vcid=1, count0=0)
    f2, _ = mux(playback, vcid=1, count0=len(f1), replay=True)
    frames = np.concatenate([f1, f2])
    cadus = ChannelCoder(sat.coding).encode(frames)
    src = tmp_path / "pb_A.bin"
    src.write_bytes(np.asarray(cadus, np.uint8).tobytes())
    rep = run(src, tmp_path / "out", cfg)
    got = (tmp_path / "out" / "pb_A" / "packets" / packet_file_name(0x100)).read_bytes()
    assert got == b"".join(pk[i] for i in range(12))
    st = rep.apids["0x100"]
    assert (st["packets"], st["duplicates"], st["packets_missing"]) == (12, 2, 0)
    assert rep.channels[0].vcs[1]["replay_frames"] == len(f2)
    assert any("out of time order" in w for w in rep.warnings)
