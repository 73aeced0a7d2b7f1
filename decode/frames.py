"""AOS transfer frames (ICD §3, CCSDS 732.0-B-4 §4.1): header checks and VC demultiplexing.

Input: RS-corrected, derandomised frames from :class:`decode.sync.ChannelDecoder` (``ok`` says
which ones Reed-Solomon could correct; an uncorrectable frame's header is never trusted, the
frame is simply lost and shows up as a VC frame-count gap on the next good frame of its VC).

Checks, per frame (§4.1.2): transfer frame version '01', spacecraft id = the profile's SCID,
VCID in the channel's VC map (unless ``allowed_vcids`` is None: other missions), the 24-bit VC
frame count continuing by +1 mod 2^24 per VC (gaps counted, wrap handled, backwards steps and
repeats flagged), the replay flag (signalling field bit 0) counted, idle VC 63 dropped.

Output: :class:`VcRun` — consecutive frames of one VC with no count gap inside, their packet
zones concatenated in one array, ready for the M_PDU layer (:mod:`decode.packets`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from decode import formats as F


@dataclass
class VcStats:
    """Counters of one virtual channel on one physical channel."""

    frames: int = 0
    gaps: int = 0                   # count discontinuities with frames missing
    frames_missing: int = 0         # sum of the missing counts (mod 2^24 arithmetic)
    count_errors: int = 0           # repeated or backwards VC counts (order lost)
    replay_frames: int = 0
    first_count: int | None = None
    last_count: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FrameStats:
    """Header-level counters of one physical channel (frames that RS accepted)."""

    frames: int = 0
    wrong_version: int = 0
    wrong_scid: int = 0
    unexpected_vcid: int = 0
    idle_frames: int = 0
    scids_seen: dict[int, int] = field(default_factory=dict)
    vcs: dict[int, VcStats] = field(default_factory=dict)


@dataclass(frozen=True)
class VcRun:
    """Consecutive frames of VC ``vcid`` (VC counts step by +1 inside the run).

    ``zones`` (k, Z) uint8 packet zones, ``fhp`` (k,) first header pointers (11 bits),
    ``counts`` (k,) VC frame counts; ``missing_before`` frames were lost between the previous
    frame of this VC and this run (0: continuous; -1: continuity unknown — first frame of the
    VC, or a repeated/backwards count), ``replay`` (k,) bool.
    """

    vcid: int
    zones: np.ndarray
    fhp: np.ndarray
    counts: np.ndarray
    missing_before: int
    replay: np.ndarray


def parse_headers(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised AOS primary + M_PDU header fields of ``frames`` (n, frame_length) uint8."""
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    n = frames.shape[0]
    hdr = frames[:, :F.AOS_HEADER_LENGTH].copy().view(F.AOS_HEADER).reshape(n)
    word = hdr["id"].astype(np.uint32)
    mp = frames[:, F.AOS_HEADER_LENGTH:F.AOS_HEADER_LENGTH + F.MPDU_HEADER_LENGTH].copy() \
        .view(F.MPDU_HEADER).reshape(n)["fhp"].astype(np.uint32)
    return {
        "version": F.AOS_VERSION.get(word).astype(np.int64),
        "scid": F.AOS_SCID.get(word).astype(np.int64),
        "vcid": F.AOS_VCID.get(word).astype(np.int64),
        "count": F.vc_count(hdr).astype(np.int64),
        "replay": F.AOS_REPLAY.get(hdr["signalling"].astype(np.uint32)).astype(bool),
        "fhp": F.MPDU_FHP.get(mp).astype(np.int64),
        "mpdu_spare": F.MPDU_SPARE.get(mp).astype(np.int64),
    }


class FrameDemux:
    """Stateful AOS header checker and VC demultiplexer for one physical channel.

    ``scid``: the profile's spacecraft id; ``idle_vcid``: dropped (ICD VC 63);
    ``allowed_vcids``: the VC map of this channel, or None to accept any VC (other missions).
    """

    def __init__(self, scid: int, idle_vcid: int = 63, allowed_vcids=None) -> None:
        self.scid = int(scid)
        self.idle_vcid = int(idle_vcid)
        self.allowed = None if allowed_vcids is None else {int(v) for v in allowed_vcids}
        self.stats = FrameStats()
        self._last: dict[int, int] = {}

    def feed(self, frames: np.ndarray, ok: np.ndarray) -> list[VcRun]:
        """Check the RS-valid frames of one batch and split them into per-VC runs.

        ``frames`` (n, L) uint8, ``ok`` (n,) bool (False: RS uncorrectable, ignored here; the
        loss appears as a count gap). Returns runs in order of their first frame.
        """
        frames = np.asarray(frames, np.uint8)
        ok = np.asarray(ok, bool)
        good = frames[ok]
        st = self.stats
        if good.shape[0] == 0:
            return []
        h = parse_headers(good)
        st.frames += good.shape[0]
        for s, c in zip(*np.unique(h["scid"], return_counts=True)):
            st.scids_seen[int(s)] = st.scids_seen.get(int(s), 0) + int(c)
        bad_version = h["version"] != F.AOS_VERSION_VALUE
        bad_scid = ~bad_version & (h["scid"] != self.scid)
        st.wrong_version += int(bad_version.sum())
        st.wrong_scid += int(bad_scid.sum())
        keep = ~bad_version & ~bad_scid
        idle = keep & (h["vcid"] == self.idle_vcid)
        st.idle_frames += int(idle.sum())
        keep &= ~idle
        if self.allowed is not None:
            unexpected = keep & ~np.isin(h["vcid"], list(self.allowed))
            st.unexpected_vcid += int(unexpected.sum())
            keep &= ~unexpected
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return []
        runs: list[tuple[int, VcRun]] = []
        vc_all = h["vcid"][idx]
        for v in dict.fromkeys(vc_all.tolist()):           # order of first appearance
            k = idx[vc_all == v]
            runs.extend(self._split(v, k, good, h))
        runs.sort(key=lambda r: r[0])
        return [r for _, r in runs]

    def _split(self, v: int, k: np.ndarray, good: np.ndarray, h) -> list[tuple[int, VcRun]]:
        vs = self.stats.vcs.setdefault(v, VcStats())
        cnt = h["count"][k]
        vs.frames += k.size
        vs.replay_frames += int(h["replay"][k].sum())
        if vs.first_count is None:
            vs.first_count = int(cnt[0])
        prev = self._last.get(v)
        # step from the previous frame of this VC to each frame (mod 2^24: the count wraps)
        steps = np.empty(k.size, np.int64)
        steps[0] = -1 if prev is None else (int(cnt[0]) - prev) % F.VC_COUNT_MODULUS
        steps[1:] = np.diff(cnt) % F.VC_COUNT_MODULUS
        self._last[v] = int(cnt[-1])
        vs.last_count = int(cnt[-1])
        # a step of 0 (repeat) or >= 2^23 (backwards) means order was lost, not frames
        backwards = (steps == 0) | (steps >= F.VC_COUNT_MODULUS // 2)
        gap = (steps > 1) & ~backwards
        vs.gaps += int(gap.sum())
        vs.frames_missing += int((steps[gap] - 1).sum())
        vs.count_errors += int(backwards.sum())
        cuts = np.flatnonzero(steps != 1)
        if cuts.size == 0 or cuts[0] != 0:
            cuts = np.r_[0, cuts]
        out = []
        zones = good[:, F.AOS_HEADER_LENGTH + F.MPDU_HEADER_LENGTH:]
        for a, b in zip(cuts, np.r_[cuts[1:], k.size]):
            s = int(steps[a])
            missing = 0 if s == 1 else (s - 1 if gap[a] else -1)
            sel = k[a:b]
            out.append((int(sel[0]), VcRun(vcid=v, zones=zones[sel], fhp=h["fhp"][sel],
                                           counts=cnt[a:b], missing_before=missing,
                                           replay=h["replay"][sel])))
        return out
