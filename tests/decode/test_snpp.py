"""Real Suomi-NPP X-band CADUs (../shared/data/ccsds): a different mission through the same
CCSDS layers, with its framing taken from configuration (SCID 157, VCID 16, APIDs 802/803,
one frame missing in the VC count)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from srd.cli import main as cli
from station_config.tle import tle_checksum

NPP_TOML = """# Suomi-NPP X-band (HRD): same CCSDS 131/732/133 layers as the ICD, other SCID and VC map
name = "NPP"
norad_id = 37849
scid = 157
tle_file = "NPP.tle"
instrument = "reduced"

[coding]
interleave = 4
dual_basis = true

[virtual_channels]
ancillary = 0
idle = 63
image_by_module = { 1 = 16 }
modules_by_channel = { A = [1] }
"""


def _tle_line(body: str) -> str:
    body = body[:68].ljust(68)
    return body + str(tle_checksum(body))


def _station(tmp_path: Path) -> Path:
    """A station configuration whose satellites include NPP (framing from config only)."""
    from station_config import DEFAULT_CONFIG
    d = tmp_path / "conf"
    d.mkdir()
    text = DEFAULT_CONFIG.read_text()
    base = DEFAULT_CONFIG.parent
    text = text.replace('files = ["satellites/SPOT-6.toml", "satellites/SPOT-7.toml"]',
                        f'files = ["{base}/satellites/SPOT-6.toml", "NPP.toml"]')
    text = text.replace('files = ["instruments/nominal.toml", "instruments/reduced.toml"]',
                        f'files = ["{base}/instruments/nominal.toml", "{base}/instruments/reduced.toml"]')
    text = text.replace('1 = "keys/demo-key-01.hex"', f'1 = "{base}/keys/demo-key-01.hex"')
    (d / "station.toml").write_text(text)
    (d / "NPP.toml").write_text(NPP_TOML)
    (d / "NPP.tle").write_text("NPP\n" + _tle_line("1 37849U 11061A   26331.50000000  .00000100  00000-0  50000-4 0  999") + "\n"
                               + _tle_line("2 37849  98.7000  30.0000 0001000  90.0000 270.0000 14.1950000010000") + "\n")
    return d / "station.toml"


def _packets(data: bytes) -> list[bytes]:
    out, p = [], 0
    while p < len(data):
        n = 7 + int.from_bytes(data[p + 4:p + 6], "big")
        assert p + n <= len(data)
        out.append(data[p:p + n])
        p += n
    return out


def test_snpp_cadus_decode_from_config(shared_dir, tmp_path, capsys):
    src = shared_dir / "data" / "ccsds" / "snpp_synchronized_cadus.dat"
    station = _station(tmp_path)
    out = tmp_path / "l0"
    code = cli(["--config", str(station), "decode", str(src), "--out", str(out), "--ccsds-only", "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 10 and rep["status"] == "data_loss"          # the missing frame is data loss
    assert rep["satellite"] == "NPP" and rep["scid"] == 157     # identified from the SCID
    (ch,) = rep["channels"]
    assert ch["cadus"] == 65 and ch["frames"] == 65
    assert ch["rs_corrected_symbols"] == 0 and ch["rs_uncorrectable_codewords"] == 0
    assert ch["rs_uncorrectable_codeblocks"] == 0 and ch["sync_losses"] == 0
    assert ch["scids_seen"] == {"157": 65} and ch["wrong_scid"] == 0
    assert list(ch["vcs"]) == ["16"]
    vc = ch["vcs"]["16"]
    assert (vc["frames"], vc["gaps"], vc["frames_missing"]) == (65, 1, 1)
    assert vc["last_count"] - vc["first_count"] == 65            # 66 counts, 65 frames
    assert vc["fhp_errors"] == 0 and vc["header_errors"] == 0
    assert set(rep["apids"]) == {"0x322", "0x323"}               # 802, 803
    l0 = out / "snpp_synchronized_cadus"
    assert sorted(p.name for p in (l0 / "packets").iterdir()) == ["APID_0x322.pkt", "APID_0x323.pkt"]
    total_missing = 0
    for name, apid in (("APID_0x322.pkt", 802), ("APID_0x323.pkt", 803)):
        pk = _packets((l0 / "packets" / name).read_bytes())
        assert len(pk) == rep["apids"][f"{apid:#05x}"]["packets"] > 0
        assert all(int.from_bytes(p[:2], "big") & 0x7FF == apid for p in pk)
        seq = [int.from_bytes(p[2:4], "big") & 0x3FFF for p in pk]
        gaps = sum((b - a - 1) % 16384 for a, b in zip(seq, seq[1:]))
        assert gaps == rep["apids"][f"{apid:#05x}"]["packets_missing"]
        total_missing += gaps
    assert total_missing >= 1                                   # the lost frame cut a packet
    assert not (l0 / "image").exists() or not any((l0 / "image").iterdir())


def test_snpp_packets_agree_with_ccsdspy(shared_dir, tmp_path):
    """Packet files read by an independent CCSDS library (ccsdspy) give the same headers."""
    import ccsdspy
    from ccsdspy.utils import split_by_apid
    from decode.run import run
    from station_config import load_config
    station = _station(tmp_path)
    cfg = load_config(station)
    rep = run(shared_dir / "data" / "ccsds" / "snpp_synchronized_cadus.dat", tmp_path / "l0", cfg,
              satellite="NPP", ccsds_only=True)
    l0 = tmp_path / "l0" / rep.pass_id
    for name, apid in (("APID_0x322.pkt", 802), ("APID_0x323.pkt", 803)):
        data = (l0 / "packets" / name).read_bytes()
        streams = split_by_apid(__import__("io").BytesIO(data))
        assert list(streams) == [apid]
        hdr = ccsdspy.utils.read_primary_headers(__import__("io").BytesIO(data))
        mine = _packets(data)
        assert len(hdr["CCSDS_APID"]) == len(mine)
        assert np.array_equal(hdr["CCSDS_PACKET_LENGTH"] + 7, [len(p) for p in mine])
        assert np.array_equal(hdr["CCSDS_SEQUENCE_COUNT"], [int.from_bytes(p[2:4], "big") & 0x3FFF for p in mine])


def test_unknown_scid_is_a_clear_failure(shared_dir, tmp_path, cfg):
    """With the shipped SPOT-only configuration the NPP stream is refused by name, not garbled."""
    from decode.run import run
    rep = run(shared_dir / "data" / "ccsds" / "snpp_synchronized_cadus.dat", tmp_path, cfg)
    assert rep.status == "failed" and rep.exit_code == 5
    assert "SCID 157 is not a configured satellite" in rep.errors[0]["message"]
    assert (tmp_path / rep.pass_id / "decode_report.json").exists()
