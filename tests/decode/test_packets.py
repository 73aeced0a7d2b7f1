"""M_PDU reassembly, FHP resync, segmentation, per-APID accounting, ancillary merge."""
from __future__ import annotations

import numpy as np
import pytest

from decode import formats as F
from decode.frames import FrameDemux
from decode.packets import AncillaryMerger, ApidTracker, Packet, PacketAssembler, SegmentAssembler
from _synth import ZONE, mux, packet, random_packets


def _assemble(frames, ok=None, splits=None, apid_ok=None):
    """Feed frames through FrameDemux + PacketAssembler in batches split at ``splits``."""
    d = FrameDemux(166)
    asm = {}
    out = []
    ok = np.ones(len(frames), bool) if ok is None else ok
    bounds = [0, *(splits or []), len(frames)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        for run in d.feed(frames[a:b], ok[a:b]):
            pa = asm.setdefault(run.vcid, PacketAssembler(run.vcid, ZONE, apid_ok))
            out += pa.feed(run)
    return out, asm, d


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bit_exact_any_batch_split(seed):
    rng = np.random.default_rng(seed)
    pkts = random_packets(rng, 200, lo=1, hi=4000) + random_packets(rng, 30, apid=0x101, lo=60000, hi=65530)
    frames, _ = mux(pkts, vcid=1)
    splits = sorted(rng.choice(np.arange(1, len(frames)), 25, replace=False).tolist())
    out, asm, _ = _assemble(frames, splits=splits)
    assert [p.data for p in out] == pkts
    st = asm[1].stats
    assert (st.packets, st.fhp_errors, st.header_errors, st.packets_cut, st.idle_packets) == (230, 0, 0, 0, 1)


def test_packet_ending_exactly_at_frame_boundary_across_batches():
    # packets of exactly one zone (header at offset 0 of every frame), batch = 1 frame
    pkts = [packet(0x100, i, bytes([i]) * (ZONE - 13)) for i in range(5)]
    frames, _ = mux(pkts, vcid=1)
    assert (frames[:, 6:8] == 0).all()
    out, asm, _ = _assemble(frames, splits=list(range(1, len(frames))))
    assert [p.data for p in out] == pkts and asm[1].stats.fhp_errors == 0


def _surviving(pkts, starts, lost_frames):
    lost = set(lost_frames)
    keep = []
    for p, s in zip(pkts, starts):
        if not any((s // ZONE) <= j <= ((s + len(p) - 1) // ZONE) for j in lost):
            keep.append(p)
    return keep


@pytest.mark.parametrize("seed", [3, 4])
def test_gap_loses_only_packets_touching_lost_frames(seed):
    rng = np.random.default_rng(seed)
    pkts = random_packets(rng, 300, lo=1, hi=3000)
    frames, starts = mux(pkts, vcid=1)
    lost = sorted(set(rng.choice(np.arange(2, len(frames) - 2), 12, replace=False).tolist()) | {40, 41, 42})
    ok = np.ones(len(frames), bool)
    ok[lost] = False                                       # RS-uncorrectable: dropped, count gap
    out, asm, d = _assemble(frames, ok=ok, splits=[7, 100, 101, 250])
    want = _surviving(pkts, starts, lost)
    assert [p.data for p in out] == want
    vc = d.stats.vcs[1]
    assert vc.frames_missing == len(lost)
    assert asm[1].stats.fhp_errors == 0 and asm[1].stats.header_errors == 0
    # every lost packet is visible as a sequence-count gap
    tr = ApidTracker()
    for p in out:
        tr.add(p)
    assert tr.stats[0x100].packets_missing == len(pkts) - len(want)


def test_frames_removed_entirely_are_a_gap_too():
    rng = np.random.default_rng(5)
    pkts = random_packets(rng, 100, lo=1, hi=2000)
    frames, starts = mux(pkts, vcid=1)
    keep = np.r_[0:30, 34:len(frames)]
    out, _, d = _assemble(frames[keep])
    assert [p.data for p in out] == _surviving(pkts, starts, [30, 31, 32, 33])
    assert (d.stats.vcs[1].gaps, d.stats.vcs[1].frames_missing) == (1, 4)


def test_corrupt_length_is_caught_by_fhp_and_resynchronised():
    rng = np.random.default_rng(6)
    pkts = random_packets(rng, 80, lo=200, hi=1500)
    frames, starts = mux(pkts, vcid=1)
    k = 20                                                 # packet 20's length field + 100
    s = starts[k] + 4
    j, o = divmod(s, ZONE)
    ln = int.from_bytes(bytes(frames[j, 8 + o:8 + o + 2]), "big") + 100 if o + 1 < ZONE else None
    assert ln is not None
    frames[j, 8 + o:8 + o + 2] = (ln >> 8, ln & 0xFF)
    out, asm, _ = _assemble(frames)
    st = asm[1].stats
    assert st.fhp_errors == 1 and st.packets_cut == 1
    got = [p.data for p in out]
    assert got[:k] == pkts[:k]
    # after the resync every packet that starts at or after the next FHP comes out exact
    assert all(p in pkts for p in got) and len(got) >= len(pkts) - 4
    assert got[-30:] == pkts[-30:]


def test_impossible_header_resync_and_apid_map():
    rng = np.random.default_rng(7)
    pkts = random_packets(rng, 40, lo=300, hi=900)
    pkts[10] = packet(0x123, 10, bytes(500))               # APID not allowed on this VC
    frames, starts = mux(pkts, vcid=1)
    out, asm, _ = _assemble(frames, apid_ok=lambda a: a == 0x100)
    assert asm[1].stats.header_errors == 1
    got = [p.data for p in out]
    assert got[:10] == pkts[:10] and got[-25:] == pkts[-25:]
    assert all(Packet(g, 1, False).apid == 0x100 for g in got)


def test_idle_data_frame_breaks_chain():
    rng = np.random.default_rng(8)
    pkts = random_packets(rng, 60, lo=100, hi=2500)
    frames, starts = mux(pkts, vcid=1)
    j = 25
    frames[j, 6:8] = (0x07, 0xFE)                          # idle data
    out, asm, _ = _assemble(frames)
    assert asm[1].stats.idle_data_frames == 1
    assert [p.data for p in out] == _surviving(pkts, starts, [j])


def test_segment_assembler_units_and_losses():
    segs = [packet(0x100, 0, b"a" * 10, F.SEQ_FIRST), packet(0x100, 1, b"b" * 5, F.SEQ_CONTINUATION),
            packet(0x100, 2, b"c" * 3, F.SEQ_LAST), packet(0x100, 3, b"u", F.SEQ_UNSEGMENTED),
            packet(0x100, 4, b"x", F.SEQ_FIRST),          # its continuation (5) is lost
            packet(0x100, 6, b"y", F.SEQ_LAST),           # orphan
            packet(0x100, 7, b"p", F.SEQ_FIRST), packet(0x100, 8, b"q", F.SEQ_LAST)]
    sa = SegmentAssembler()
    units = [u for s in segs for u in sa.add(Packet(s, 1, False))] + sa.finish()
    got = [(u.data, u.segments, u.complete) for u in units]
    assert got == [(b"a" * 10 + b"b" * 5 + b"c" * 3, 3, True), (b"u", 1, True), (b"x", 1, False), (b"pq", 2, True)]
    assert sa.incomplete == 2


def test_apid_tracker_sequence_wrap_and_lengths():
    tr = ApidTracker(expected_length=lambda a: 57 if a == 0x010 else None)
    seqs = [16382, 16383, 0, 1, 5]
    for s in seqs:
        tr.add(Packet(packet(0x100, s, b"z"), 1, False))
    st = tr.stats[0x100]
    assert (st.packets, st.sequence_gaps, st.packets_missing) == (5, 1, 3)
    assert tr.add(Packet(packet(0x010, 0, bytes(50)), 0, False)) is True
    assert tr.add(Packet(packet(0x010, 1, bytes(49)), 0, False)) is False
    assert tr.stats[0x010].length_errors == 1


def test_ancillary_merge_dedup_and_conflict():
    from srd.timescale import cuc_encode
    m = AncillaryMerger()
    mk = lambda seq, t, body: Packet(packet(0x011, seq, body, cuc=cuc_encode(t)[0].tobytes()), 0, False)
    a = [mk(i, 1000 + i / 16, bytes([i]) * 45) for i in range(10)]
    b = [mk(i, 1000 + i / 16, bytes([i]) * 45) for i in range(5, 14)]   # overlaps 5..9
    for p in a[:7] + b + a[7:]:
        m.add(p)
    m.add(mk(3, 1000 + 3 / 16, b"\xff" * 45))              # same key, other content
    got = list(m.merged())
    assert [p.seq_count for p in got] == list(range(14))
    assert m.duplicates[0x011] == 5 and m.conflicts[0x011] == 1
    assert got[3].data == a[3].data


def test_cuc_scalar_fast_path_matches_timescale():
    from decode.packets import cuc_seconds
    from srd.timescale import cuc_decode, cuc_encode
    t = np.array([0.0, 1479981824.000325, 1479981824.5, 2 ** 32 - 1e-6])
    enc = cuc_encode(t)
    for row in enc:
        assert cuc_seconds(row.tobytes()) == float(cuc_decode(row))
    p = Packet(packet(0x100, 5, b"x", cuc=enc[1].tobytes()), 1, False)
    assert p.gps_time() == float(cuc_decode(enc[1])) and abs(p.gps_time() - t[1]) < 1e-7
    assert (p.apid, p.seq_count, p.seq_flags, p.has_secondary) == (0x100, 5, F.SEQ_UNSEGMENTED, True)


@pytest.mark.parametrize("seed", range(4))
def test_garbage_zones_never_crash_and_emit_only_whole_packets(seed):
    """RS-valid frames can still carry on-board garbage: random FHPs and zone bytes, random
    batch splits and gaps must neither raise nor emit a packet whose length disagrees with its
    header."""
    rng = np.random.default_rng(100 + seed)
    pkts = random_packets(rng, 60, lo=1, hi=3000)
    frames, _ = mux(pkts, vcid=1)
    n = len(frames)
    bad = rng.choice(n, n // 3, replace=False)
    frames[bad, 8:] = rng.integers(0, 256, (bad.size, ZONE), dtype=np.uint8)
    frames[bad[::2], 6:8] = rng.integers(0, 256, (bad[::2].size, 2), dtype=np.uint8) & [0x07, 0xFF]
    ok = rng.random(n) > 0.1
    splits = sorted(set(rng.integers(1, n, 10).tolist()))
    out, asm, _ = _assemble(frames, ok=ok, splits=splits)
    for p in out:
        assert len(p.data) == 7 + int.from_bytes(p.data[4:6], "big")
    st = asm[1].stats
    assert st.packets == len(out) and st.fhp_errors + st.header_errors + st.packets_cut > 0
