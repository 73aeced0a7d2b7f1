"""CCSDS 122 through the whole downlink (issue 9 integration, ICD §4.1 compression id 2):
lossy rate control from the simulator's ``--bpp`` down to decoded Level 0 pixels, checked
against the simulator's truth and the independent ICD referee."""
from __future__ import annotations

import json
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest

from decode import ccsds122
from decode.formats import IMAGE_BLOCK_HEADER
from telemetry.packetizer import CCSDS122_SEGMENT, ccsds122_segment_limit
from srd.errors import ConfigError

BPP = 2.0


@pytest.fixture(scope="module")
def lossy_pass(tmp_path_factory, cfg):
    from decode.run import run as decode
    from telemetry.simulate import run as simulate
    base = tmp_path_factory.mktemp("bpp")
    rep = simulate(cfg, base / "landing", "SPOT-6", "2026-11-29T10:03:27Z", 0.5, "reduced",
                   compression="ccsds122", ccsds122_bpp=BPP, seed=3)
    drep = decode(base / "landing" / f"{rep.pass_id}.json", base / "l0", cfg)
    return base, rep, drep


def test_segment_limit_follows_issue_definition():
    assert ccsds122_segment_limit(2.0) == 2 * CCSDS122_SEGMENT * 64 // 8
    assert ccsds122_segment_limit(0.37) % 16 == 0
    with pytest.raises(ConfigError):
        ccsds122_segment_limit(0.0)


def test_lossy_pass_headers_rate_and_quality(lossy_pass, shared_dir):
    base, rep, drep = lossy_pass
    assert drep.to_dict()["status"] == "ok"
    # every image block header announces float DWT and the byte limit (ICD §4.1)
    pkt = (base / "landing" / f"{rep.pass_id}.truth" / "packets" / "APID_0x100.pkt").read_bytes()
    hdr = np.frombuffer(pkt[13:13 + 18], IMAGE_BLOCK_HEADER)[0]
    assert hdr["compression"] == 2 and hdr["lines"] == 32 * 4
    assert ccsds122.parse_icd_params(bytes(hdr["params"])) == ("float", ccsds122_segment_limit(BPP))
    # rate control: never above the requested rate, and the stream is not trivially small
    assert 12 / BPP * 0.98 <= rep.compression_ratio <= 12 / BPP * 1.25
    truth_dir = base / "landing" / f"{rep.pass_id}.truth" / "image"
    l0 = Path(drep.level0_dir)
    for f in sorted(truth_dir.glob("*.npy")):
        t = np.load(f).astype(float)
        d = np.load(l0 / "image" / f.name).astype(float)
        assert d.shape == t.shape
        psnr = 10 * np.log10(4095.0 ** 2 / np.mean((t - d) ** 2))
        # 2 bpp on 12-bit imagery: the reference codec gives ~51.7 dB on the Pléiades vector
        assert psnr > 44, (f.name, psnr)
        assert not np.array_equal(t, d)                 # really lossy
    r = subprocess.run([sys.executable, str(shared_dir / "tools" / "icd_conformance.py"),
                        str(base / "landing" / f"{rep.pass_id}.json"), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:]


def test_bpp_needs_ccsds122(cfg, tmp_path):
    from telemetry.simulate import run as simulate
    with pytest.raises(ConfigError, match="ccsds122"):
        simulate(cfg, tmp_path, "SPOT-6", "2026-11-29T10:03:27Z", 0.5, "reduced",
                 compression="ccsds121", ccsds122_bpp=2.0)
    assert not any(tmp_path.glob("*.json"))
