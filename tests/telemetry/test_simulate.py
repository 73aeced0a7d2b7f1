"""telemetry/simulate.py and ``srd simulate``: whole passes checked by the independent ICD
referee (../shared/tools/icd_conformance.py, run as a subprocess), and bit-exact against the
truth sidecar by a test-side reader (ASM search, LFSR derandomisation, M_PDU walk, ccsdspy)."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from decode import formats as F
from srd.errors import ConfigError, KeyMissingError
from telemetry.channel import Impairments
from telemetry.packetizer import aes_ctr, unpack12
from telemetry.simulate import run

logging.getLogger("ccsdspy").setLevel(logging.WARNING)

START = "2026-11-29T10:03:26Z"
DURATION = 0.3                   # rounded up by the acquisition to whole 128-line PAN blocks


def referee(shared_dir, manifest):
    r = subprocess.run([sys.executable, str(shared_dir / "tools" / "icd_conformance.py"), str(manifest)],
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def lfsr_pn(n_bytes):
    reg, out = [1] * 8, []
    for _ in range(8 * n_bytes):
        out.append(reg[0])
        reg = reg[1:] + [reg[0] ^ reg[3] ^ reg[5] ^ reg[7]]
    return np.packbits(np.array(out, np.uint8))


def read_frames(path):
    """Clean channel file → derandomised frames (n, 892): find the ASM at any bit offset."""
    raw = np.fromfile(path, np.uint8)
    bits = np.unpackbits(raw[:65536])
    asm = np.unpackbits(np.frombuffer(bytes.fromhex("1ACFFC1D"), np.uint8))
    win = np.lib.stride_tricks.sliding_window_view(bits, 32)
    first = int(np.flatnonzero((win == asm).all(1))[0])
    q, r = divmod(first, 8)
    b = raw[q:].astype(np.uint16)
    shifted = ((b[:-1] << r) | (b[1:] >> (8 - r))).astype(np.uint8) if r else raw[q:]
    n = shifted.size // 1024
    cadus = shifted[:n * 1024].reshape(n, 1024)
    ok = (cadus[:, :4] == np.frombuffer(bytes.fromhex("1ACFFC1D"), np.uint8)).all(1)
    last = int(np.flatnonzero(ok)[-1]) + 1                       # then noise after LOS
    assert ok[:last].all() and n - last <= 10, "clean stream: every CADU starts with the ASM"
    cadus = cadus[:last]
    return (cadus[:, 4:] ^ lfsr_pn(1020))[:, :892]


def vc_packets(frames):
    """Per VC (idle VC excluded): the packets of the VC, idle packets removed (ccsdspy splits)."""
    from ccsdspy.utils import split_packet_bytes
    vc = frames[:, 1] & 0x3F
    out = {}
    for v in np.unique(vc):
        if v == 63:
            continue
        f = frames[vc == v]
        cnt = (f[:, 2].astype(int) << 16) | (f[:, 3].astype(int) << 8) | f[:, 4]
        assert np.array_equal(cnt, np.arange(len(f))), f"VC {v}: frame counts not continuous"
        fhp = ((f[0, 6] & 7) << 8) | f[0, 7]
        stream = f[:, 8:].tobytes()[fhp:]
        pk = [bytes(p) for p in split_packet_bytes(io.BytesIO(stream))]
        out[int(v)] = [p for p in pk if ((p[0] & 7) << 8 | p[1]) != 0x7FF]
    return out


def truth_packets(truth, apid):
    from ccsdspy.utils import split_packet_bytes
    data = (truth / "packets" / f"APID_0x{apid:03x}.pkt").read_bytes()
    return [bytes(p) for p in split_packet_bytes(io.BytesIO(data))]


@pytest.fixture(scope="module")
def clean_pass(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    rep = run(cfg, out, "SPOT-6", START, DURATION, "reduced", seed=2)
    return out, rep


def test_clean_pass_conforms_and_is_bit_exact(cfg, clean_pass, shared_dir):
    out, rep = clean_pass
    code, text = referee(shared_dir, rep.manifest)
    assert code == 0 and "OVERALL: PASS" in text, text[-3000:]
    # manifest: ICD §1 keys, deterministic pass id, files and checksums
    m = json.loads((out / "SPOT6_20261129T100326_MON.json").read_text())
    assert list(m) == ["satellite", "norad_id", "station", "pass_id", "aos", "los", "max_elevation_deg",
                       "channels", "terminal"]
    assert (m["satellite"], m["norad_id"], m["pass_id"]) == ("SPOT-6", 38755, rep.pass_id)
    assert m["aos"] < "2026-11-29T10:03:26" < m["los"] and 60 < m["max_elevation_deg"] <= 90
    for c in m["channels"]:
        data = (out / c["file"]).read_bytes()
        assert len(data) == c["bytes"] and hashlib.sha256(data).hexdigest() == c["sha256"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{rep.pass_id}.json", f"{rep.pass_id}.truth", f"{rep.pass_id}_A.bin", f"{rep.pass_id}_B.bin"])
    # every packet, bit-exact, on the right VC of the right channel; ancillary on both
    truth = out / f"{rep.pass_id}.truth"
    sat = cfg.satellite("SPOT-6")
    anc = sorted(truth_packets(truth, a) for a in (0x010, 0x011, 0x012, 0x013))
    anc_all = [p for lst in anc for p in lst]
    for ch, modules in (("A", (1, 2)), ("B", (3, 4))):
        got = vc_packets(read_frames(out / f"{rep.pass_id}_{ch}.bin"))
        assert sorted(got) == [0, *modules]
        assert sorted(got[0]) == sorted(anc_all)
        for m_ in modules:
            by_apid = {}
            for p in got[m_]:
                by_apid.setdefault((p[0] & 7) << 8 | p[1], []).append(p)
            assert sorted(by_apid) == [sat.apids.image(m_, b) for b in ("PAN", "B0", "B1", "B2", "B3")]
            for apid, pk in by_apid.items():
                assert pk == truth_packets(truth, apid), f"APID {apid:#x} differs from the truth"
    # the truth image is exactly what the raw packets carry
    pan = np.load(truth / "image" / "M1_PAN.npy")
    pk = truth_packets(truth, 0x100)
    first = np.frombuffer(pk[0][13:31], F.IMAGE_BLOCK_HEADER)[0]
    n = int(first["lines"]) * int(first["columns"])
    assert np.array_equal(unpack12(pk[0][31:], n).reshape(first["lines"], -1), pan[:first["lines"]])
    info = json.loads((truth / "truth.json").read_text())
    assert info["pass_id"] == rep.pass_id and info["impairments"]["A"]["random_bit_errors"] == 0


def test_ber_pass_via_cli_conforms(tmp_path, shared_dir, capsys):
    from srd.cli import main
    code = main(["simulate", "--satellite", "SPOT-6", "--start", START, "--duration", f"{DURATION}s",
                 "--profile", "reduced", "--ber", "1e-5", "--seed", "1", "--out", str(tmp_path), "--json"])
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    for k in ("pass_id", "manifest", "aos", "los", "channels", "image_blocks", "pixels", "compression_ratio",
              "mpixel_per_s", "telemetry_mb_per_s", "impairments"):
        assert k in rep
    assert rep["impairments"]["A"]["random_bit_errors"] > 100
    code, text = referee(shared_dir, rep["manifest"])
    assert code == 0 and "OVERALL: PASS" in text, text[-3000:]
    assert "codewords_with_errors=0" not in text                  # errors really were injected
    errs = np.load(tmp_path / f"{rep['pass_id']}.truth" / "bit_errors_A.npy")
    assert errs.size == rep["impairments"]["A"]["random_bit_errors"]


def decompress(kind, data, h):
    if kind == "ccsds121":
        import imagecodecs
        bits, j, rsi = (int(x) for x in h["params"])
        return np.frombuffer(imagecodecs.aec_decode(data, bitspersample=bits, blocksize=j, rsi=rsi,
                                                    flags=F.CCSDS121_AEC_FLAGS), ">u2")
    from decode import ccsds122
    assert bytes(h["params"]) == bytes(3)                      # integer DWT, no byte limit
    return ccsds122.decode(data)


@pytest.mark.parametrize("kind,scale", [("ccsds121", 1), ("ccsds122", 4)])
def test_encrypted_compressed_pass(cfg, tmp_path, kind, scale):
    rep = run(cfg, tmp_path, "SPOT-6", START, DURATION, "reduced", compression=kind, key_id=1)
    assert rep.compression_ratio > 1.2 and rep.key_id == 1
    truth = tmp_path / f"{rep.pass_id}.truth"
    key = cfg.key(1)
    dtk = np.frombuffer(truth_packets(truth, 0x013)[0][13:], F.DATATAKE_START)[0]
    assert dtk["key_id"] == 1 and bytes(dtk["kcv"]) != bytes(4)
    for apid, name, lines in ((0x100, "M1_PAN", 32), (0x134, "M4_B3", 8)):
        img = np.load(truth / "image" / f"{name}.npy")
        row = 0
        for p in truth_packets(truth, apid):
            assert (p[2] >> 6) == 3                               # reduced blocks are unsegmented
            h = np.frombuffer(p[13:31], F.IMAGE_BLOCK_HEADER)[0]
            assert (h["compression"], h["key_id"], h["line"], h["lines"]) == (
                {"ccsds121": 1, "ccsds122": 2}[kind], 1, row, lines * scale)
            clear = aes_ctr(key, F.aes_ctr_counter_block(apid, int(h["line"]), int(h["datatake"])), p[31:])
            dn = decompress(kind, clear, h)
            assert np.array_equal(dn.reshape(h["lines"], h["columns"]), img[row:row + h["lines"]])
            row += int(h["lines"])
        assert row == img.shape[0]


def test_failures_leave_nothing(cfg, tmp_path):
    with pytest.raises(KeyMissingError):
        run(cfg, tmp_path, "SPOT-6", START, DURATION, "reduced", key_id=9)
    with pytest.raises(ConfigError, match="unknown compression"):
        run(cfg, tmp_path, "SPOT-6", START, DURATION, "reduced", compression="jpeg2000")
    with pytest.raises(ConfigError, match="minimum elevation"):
        run(cfg, tmp_path, "SPOT-6", "2026-11-29T03:00:00Z", DURATION, "reduced")
    assert list(tmp_path.iterdir()) == []


def test_cli_help_has_examples(capsys):
    from srd.cli import main
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--ber" in text and "--invert START:LEN" in text


@pytest.mark.slow
def test_impaired_pass_conforms_and_logs(cfg, tmp_path, shared_dir):
    imp = Impairments(ber=1e-5, bursts=4, slips=3, invert=((1.0, 0.5),), drop_frames=6, seed=4)
    rep = run(cfg, tmp_path, "SPOT-6", START, 1.0, "reduced", compression="ccsds121", impairments=imp)
    code, text = referee(shared_dir, rep.manifest)
    assert code == 0 and "OVERALL: PASS" in text, text[-3000:]
    assert "bit slip" in text and "INVERTED" in text
    info = json.loads((tmp_path / f"{rep.pass_id}.truth" / "truth.json").read_text())
    for ch in "AB":
        kinds = [e["kind"] for e in info["impairments"][ch]["events"]]
        assert kinds.count("burst") == 4 and kinds.count("slip") == 3 and "inverted" in kinds
        assert "dropped_frames" in kinds and "noise_before_aos" in kinds and "noise_after_los" in kinds


def test_landing_helpers():
    import datetime as dt
    from telemetry import landing
    t = dt.datetime(2026, 11, 29, 10, 3, 26, 500000, tzinfo=dt.timezone.utc)
    assert landing.pass_id("SPOT-6", t, "Montpellier-DR") == "SPOT6_20261129T100326_MON"
    # uncoded BPSK: BER 1e-5 at Eb/N0 = 9.59 dB (textbook value 9.6 dB); lower BER, higher Eb/N0
    assert landing.ebn0_from_ber(1e-5) == pytest.approx(9.59, abs=0.02)
    assert landing.ebn0_from_ber(1e-3) < landing.ebn0_from_ber(1e-5) < landing.ebn0_from_ber(0.0)


@pytest.mark.parametrize("argv,needle", [
    (["--start", "yesterday"], "--start"),
    (["--duration", "-2s"], "--duration"),
    (["--duration", "0s"], "duration must be > 0"),
    (["--invert", "1.0"], "START:LEN"),
    (["--ber", "0.9"], "bit error rate"),
    (["--dem", "/nonexistent/N44E005.hgt"], "file not found"),
    (["--compression", "ccsds121", "--encrypt", "77"], "no key configured for key id 77"),
])
def test_cli_bad_arguments_exit_with_clear_errors(tmp_path, capsys, argv, needle):
    from srd.cli import main
    base = {"--satellite": "SPOT-6", "--start": START, "--duration": "0.3s", "--profile": "reduced",
            "--out": str(tmp_path / "landing")}
    base.update(zip(argv[::2], argv[1::2]))
    code = main(["simulate"] + [f"{k}={v}" for k, v in base.items()])
    err = capsys.readouterr().err
    assert code in (3, 4) and needle in err, err
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").iterdir())
