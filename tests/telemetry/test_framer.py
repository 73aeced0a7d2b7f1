"""telemetry/framer.py: AOS frames and M_PDUs read back by a test-side parser written from
CCSDS 732.0-B (header bit positions spelled out here, not taken from decode.formats) and
ccsdspy splitting the reassembled packet streams."""
from __future__ import annotations

import io
import logging

import numpy as np
import pytest

from telemetry.framer import ChannelFramer
from telemetry.packetizer import space_packet

logging.getLogger("ccsdspy").setLevel(logging.WARNING)

T0 = 1_000_000_000.0


@pytest.fixture(scope="module")
def sat(cfg):
    return cfg.satellite("SPOT-6")


def headers(frames):
    f = frames.astype(np.int64)
    return {"version": f[:, 0] >> 6, "scid": ((f[:, 0] & 0x3F) << 2) | (f[:, 1] >> 6), "vcid": f[:, 1] & 0x3F,
            "count": (f[:, 2] << 16) | (f[:, 3] << 8) | f[:, 4], "replay": f[:, 5] >> 7,
            "spare": f[:, 6] >> 3, "fhp": ((f[:, 6] & 7) << 8) | f[:, 7]}


def vc_streams(frames):
    """Per VC: the packet-zone bytes from the first packet header on, and a check of every FHP
    by walking the packet lengths (CCSDS 732.0-B §4.1.4.2.2)."""
    h = headers(frames)
    out = {}
    for v in np.unique(h["vcid"]):
        if v == 63:
            continue
        k = np.flatnonzero(h["vcid"] == v)
        assert np.array_equal(h["count"][k], np.arange(len(k))), f"VC {v} counts not 0,1,2..."
        zones = frames[k, 8:]
        zl = zones.shape[1]
        z = zones.tobytes()
        first = int(h["fhp"][k[0]])
        pos, starts = first, []
        while pos + 6 <= len(z):
            starts.append(pos)
            pos += int.from_bytes(z[pos + 4:pos + 6], "big") + 7
        starts = np.array(starts)
        for i, j in enumerate(k):
            inside = starts[(starts >= i * zl) & (starts < (i + 1) * zl)]
            expect = int(inside[0] - i * zl) if inside.size else 0x7FF
            assert h["fhp"][j] == expect, f"VC {v} frame {i}: FHP {h['fhp'][j]:#x}, packets say {expect:#x}"
        out[int(v)] = z[first:]
    return out


def split_packets(stream):
    from ccsdspy.utils import split_packet_bytes
    return [bytes(p) for p in split_packet_bytes(io.BytesIO(stream))]


def random_packets(rng, apid, n, lo=1, hi=3000):
    return [space_packet(apid, 3, i, bytes(7), rng.integers(0, 256, int(rng.integers(lo, hi)),
                                                            dtype=np.uint8).tobytes()) for i in range(n)]


@pytest.mark.parametrize("spill", [64 << 20, 4096])
def test_round_trip_and_headers(sat, spill, tmp_path):
    rng = np.random.default_rng(0)
    fr = ChannelFramer(sat, "A", 40e6, T0, latency_s=0.002, spill_bytes=spill, spill_dir=str(tmp_path))
    sent = {0: [], 1: [], 2: []}
    frames = []
    t = T0
    for step in range(40):
        t += 0.001
        frames.append(fr.advance(t))
        for vc, apid in ((0, 0x011), (1, 0x100), (2, 0x112)):
            if rng.random() < 0.6:
                p = random_packets(rng, apid, int(rng.integers(1, 4)), hi=65000 if vc else 60)
                fr.push(vc, p, t)
                sent[vc] += p
    frames.append(fr.advance(t + 0.01))
    frames.append(fr.drain())
    frames = np.concatenate(frames)
    assert fr.backlog_bytes == 0
    assert (fr.stats()["spilled_bytes"] > 0) == (spill == 4096)      # bounded memory path exercised
    h = headers(frames)
    assert set(h["version"]) == {1} and set(h["scid"]) == {166} and set(h["replay"]) == {0}
    assert set(h["spare"]) == {0} and set(h["vcid"]) <= {0, 1, 2, 63}
    idle = h["vcid"] == 63
    assert idle.any() and set(h["fhp"][idle]) == {0x7FE}
    assert np.array_equal(h["count"][idle], np.arange(idle.sum()))
    streams = vc_streams(frames)
    for vc, packets in sent.items():
        got = [p for p in split_packets(streams[vc]) if (p[0] & 7) << 8 | p[1] != 0x7FF]
        assert got == packets, f"VC {vc}: packets differ"
    # frame count is the slot count: the stream is continuous
    assert len(frames) == fr.slot


def test_pacing_and_availability(sat):
    fr = ChannelFramer(sat, "B", 40e6, T0)
    slot = sat.coding.cadu_length * 8 / 40e6
    assert fr.vcs.keys() == {0, 3, 4}
    early = fr.advance(T0 + 0.01)
    assert len(early) == int(np.ceil(0.01 / slot))
    assert set(headers(early)["vcid"]) == {63}                     # nothing to send yet: idle frames
    fr.push(3, random_packets(np.random.default_rng(1), 0x120, 5, 2000, 2001), T0 + 0.01)
    f = fr.advance(T0 + 0.02)
    h = headers(f)
    n3 = int((h["vcid"] == 3).sum())
    assert n3 >= 5 * 2013 // 884                                    # full zones sent at once, in order
    first = np.flatnonzero(h["vcid"] == 3)[0]
    assert first == 0 and fr.slot_time(len(early)) >= T0 + 0.01     # not before the data existed


def test_short_remainder_padded_with_spilling_idle_packet(sat):
    fr = ChannelFramer(sat, "A", 40e6, T0, latency_s=0.0)
    zone = sat.coding.frame_length - 8
    # one packet leaving 3 bytes in the zone: the idle packet (≥ 7 bytes) spills into the next frame
    p = space_packet(0x100, 3, 0, bytes(7), bytes(zone - 3 - 13))
    fr.push(1, [p], T0)
    frames = np.concatenate([fr.advance(T0 + 1e-3), fr.drain()])
    h = headers(frames)
    k = np.flatnonzero(h["vcid"] == 1)
    assert len(k) == 2 and h["fhp"][k[0]] == 0 and h["fhp"][k[1]] == 7     # 7 idle bytes carried over
    streams = vc_streams(frames)
    pk = split_packets(streams[1])
    assert pk[0] == p and all((q[0] & 7) << 8 | q[1] == 0x7FF for q in pk[1:])
