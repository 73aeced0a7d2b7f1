"""AOS frame layer: header fields, SCID/version checks, VC demux, count gaps and 2^24 wrap."""
from __future__ import annotations

import numpy as np
import pytest

from decode import formats as F
from decode.frames import FrameDemux, parse_headers
from _synth import mux, random_packets


def _frames(counts, vcid=1, scid=166, replay=False):
    f = np.zeros((len(counts), 892), np.uint8)
    for i, c in enumerate(counts):
        f[i, :6] = np.frombuffer(F.pack_aos_header(scid, vcid, c, replay).tobytes(), np.uint8)
        f[i, 6:8] = (0x07, 0xFF)
    return f


def test_parse_headers_bit_positions():
    f = np.zeros((1, 892), np.uint8)
    # version 01, SCID 166 = 0b10100110, VCID 3, count 0x123456, replay 1, FHP 0x2A5
    word = (1 << 14) | (166 << 6) | 3
    f[0, :8] = [word >> 8, word & 0xFF, 0x12, 0x34, 0x56, 0x80, 0x02, 0xA5]
    h = parse_headers(f)
    assert (h["version"][0], h["scid"][0], h["vcid"][0], h["count"][0]) == (1, 166, 3, 0x123456)
    assert h["replay"][0] and h["fhp"][0] == 0x2A5 and h["mpdu_spare"][0] == 0
    assert f[0, 0] == 0x69 and f[0, 1] == 0x83      # 01 10100110 000011 by hand


def test_count_gap_and_wrap():
    m = F.VC_COUNT_MODULUS
    d = FrameDemux(166)
    runs = d.feed(_frames([m - 3, m - 2, m - 1, 0, 1, 4, 5]), np.ones(7, bool))
    s = d.stats.vcs[1]
    assert (s.frames, s.gaps, s.frames_missing, s.count_errors) == (7, 1, 2, 0)
    assert [r.missing_before for r in runs] == [-1, 2]
    assert [len(r.counts) for r in runs] == [5, 2]
    # continuity carries across batches, also through the wrap
    runs = d.feed(_frames([6, 7]), np.ones(2, bool))
    assert runs[0].missing_before == 0 and s.gaps == 1
    runs = d.feed(_frames([10]), np.ones(1, bool))
    assert runs[0].missing_before == 2 and (s.gaps, s.frames_missing) == (2, 4)


def test_wrap_with_gap_across_zero():
    m = F.VC_COUNT_MODULUS
    d = FrameDemux(166)
    d.feed(_frames([m - 2, 1]), np.ones(2, bool))            # m-1 and 0 lost
    assert (d.stats.vcs[1].gaps, d.stats.vcs[1].frames_missing) == (1, 2)


def test_backwards_and_repeat_are_count_errors_not_gaps():
    d = FrameDemux(166)
    runs = d.feed(_frames([10, 11, 11, 5, 6]), np.ones(5, bool))
    s = d.stats.vcs[1]
    assert (s.gaps, s.frames_missing, s.count_errors) == (0, 0, 2)
    assert [r.missing_before for r in runs] == [-1, -1, -1]


def test_wrong_scid_version_idle_unexpected_and_uncorrectable():
    good = _frames([0, 1, 2])
    other = _frames([3], scid=157)
    idle = _frames([0], vcid=63)
    unexpected = _frames([0], vcid=5)
    badver = _frames([4]).copy()
    badver[0, 0] &= 0x3F                                     # version 00
    frames = np.concatenate([good[:1], other, idle, good[1:2], unexpected, badver, good[2:]])
    ok = np.ones(len(frames), bool)
    ok[3] = False                                            # frame count 1 uncorrectable
    d = FrameDemux(166, 63, allowed_vcids={0, 1, 2, 63})
    runs = d.feed(frames, ok)
    st = d.stats
    assert (st.frames, st.wrong_scid, st.wrong_version, st.idle_frames, st.unexpected_vcid) == (6, 1, 1, 1, 1)
    assert st.scids_seen == {166: 5, 157: 1}
    assert st.vcs[1].frames == 2 and st.vcs[1].frames_missing == 1      # the RS loss is a gap
    assert 63 not in st.vcs and 5 not in st.vcs
    assert [list(r.counts) for r in runs] == [[0], [2]]


def test_demux_interleaved_vcs_keeps_zones(rng=np.random.default_rng(1)):
    fa, _ = mux(random_packets(rng, 20, 0x100), vcid=1)
    fb, _ = mux(random_packets(rng, 20, 0x110), vcid=2)
    frames = np.empty((len(fa) + len(fb), 892), np.uint8)
    order = rng.permutation(len(frames))
    ia, ib = np.sort(order[:len(fa)]), np.sort(order[len(fa):])
    frames[ia], frames[ib] = fa, fb
    d = FrameDemux(166, 63, {0, 1, 2, 63})
    runs = d.feed(frames, np.ones(len(frames), bool))
    got = {1: [], 2: []}
    for r in runs:
        got[r.vcid].append(r.zones)
    assert np.array_equal(np.concatenate(got[1]), fa[:, 8:])
    assert np.array_equal(np.concatenate(got[2]), fb[:, 8:])
    assert d.stats.vcs[1].gaps == d.stats.vcs[2].gaps == 0


def test_replay_flag_counted():
    d = FrameDemux(166)
    d.feed(_frames([0, 1], replay=True), np.ones(2, bool))
    assert d.stats.vcs[1].replay_frames == 2
