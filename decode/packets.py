"""Space packets out of M_PDU packet zones (ICD §3–§4; CCSDS 732.0-B-4 §4.1.4, 133.0-B-2 §4.1).

:class:`PacketAssembler` (one per physical channel and VC) follows the packet chain through
consecutive packet zones: packets span frames freely; the first header pointer (FHP) of every
frame must point where the chain predicts (``0x7FF`` when no header starts in the frame). After a
VC count gap, an idle-data frame (FHP ``0x7FE``) or a broken chain (FHP disagrees, impossible
header), the packet in progress is dropped and the chain restarts at the next frame's FHP
(§4.1.4.2.3: "the FHP allows the receiver to resynchronise"). Idle packets (APID 0x7FF) are
dropped.

:class:`ApidTracker` keeps per-APID accounting: packets, sequence-count gaps (14-bit, wraps),
lost packets, length errors, duplicates. :class:`AncillaryMerger` merges the ancillary VC that
arrives on both channels, de-duplicating by (APID, CUC time, sequence count).

:class:`SegmentAssembler` rebuilds segmented units (sequence flags 01 first, 00 continuation,
10 last, 11 unsegmented) from one APID's packets for the payload layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator


from decode import formats as F
from decode.frames import VcRun
from srd.timescale import CUC_FINE_SCALE

PH = F.PACKET_HEADER_LENGTH
SH = F.SECONDARY_HEADER_LENGTH


@dataclass(frozen=True)
class Packet:
    """One complete space packet exactly as transmitted (``data`` = primary header onwards)."""

    data: bytes
    vcid: int
    replay: bool

    # bit positions from decode.formats (PKT_APID, PKT_SEQFLAGS, PKT_SEQCOUNT, PKT_SECHDR),
    # inlined: these run once per packet
    @property
    def apid(self) -> int:
        return ((self.data[0] << 8) | self.data[1]) & F.PKT_APID.mask

    @property
    def seq_flags(self) -> int:
        return self.data[2] >> 6

    @property
    def seq_count(self) -> int:
        return ((self.data[2] << 8) | self.data[3]) & F.PKT_SEQCOUNT.mask

    @property
    def has_secondary(self) -> bool:
        return bool(self.data[0] & 0x08)

    def cuc(self) -> bytes:
        """The 7 CUC octets of the secondary header (ICD §4)."""
        return self.data[PH:PH + SH]

    def gps_time(self) -> float:
        """Secondary-header CUC time, GPS seconds since 1980-01-06 (ICD §4: 4 coarse + 3 fine)."""
        return cuc_seconds(self.data, PH)


def cuc_seconds(b: bytes, offset: int = 0) -> float:
    """One CUC (4 coarse + 3 fine octets, CCSDS 301.0-B §3.2) → seconds; scalar fast path of
    :func:`srd.timescale.cuc_decode`."""
    return (int.from_bytes(b[offset:offset + 4], "big")
            + int.from_bytes(b[offset + 4:offset + 7], "big") / CUC_FINE_SCALE)


assert (F.PKT_APID.shift, F.PKT_SEQFLAGS.shift, F.PKT_SECHDR.shift) == (0, 14, 11)


@dataclass
class MpduStats:
    """M_PDU layer counters of one VC on one channel."""

    packets: int = 0
    idle_packets: int = 0
    fhp_errors: int = 0             # FHP disagreed with the packet chain: chain restarted
    header_errors: int = 0          # impossible packet header (version/APID): chain restarted
    packets_cut: int = 0            # packet in progress lost to a VC gap / idle data / resync
    bytes_skipped: int = 0          # zone bytes not attributable to a packet (before resync)
    idle_data_frames: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def parse_primary(b: bytes, pos: int = 0) -> tuple[int, int, int, int, int]:
    """(version, secondary flag, APID, sequence flags, total packet length) at ``pos``."""
    w0 = (b[pos] << 8) | b[pos + 1]
    # F.PKT_VERSION (13, 3), PKT_SECHDR (11, 1), PKT_APID (0, 11), PKT_SEQFLAGS (14, 2) inlined
    return w0 >> 13, (w0 >> 11) & 1, w0 & 0x7FF, b[pos + 2] >> 6, PH + ((b[pos + 4] << 8) | b[pos + 5]) + 1


assert (F.PKT_VERSION, F.PKT_SECHDR, F.PKT_APID, F.PKT_SEQFLAGS) == (
    F.BitField(13, 3), F.BitField(11, 1), F.BitField(0, 11), F.BitField(14, 2))


class PacketAssembler:
    """Packet chain of one VC on one channel (see the module docstring).

    ``apid_ok(apid) -> bool``: APIDs allowed on this VC (idle always allowed), or None to
    accept any (other missions).
    """

    def __init__(self, vcid: int, zone_length: int, apid_ok: Callable[[int], bool] | None = None,
                 idle_apid: int = 0x7FF) -> None:
        self.vcid = vcid
        self.Z = zone_length
        self.apid_ok = apid_ok
        self.idle_apid = idle_apid
        self.stats = MpduStats()
        self._buf = b""             # bytes from the start of the pending packet header
        self._synced = False
        self._fragment = False      # inside a headless packet tail already counted as cut

    def _drop_pending(self) -> None:
        if self._synced and self._buf:
            self.stats.packets_cut += 1
            self.stats.bytes_skipped += len(self._buf)
        self._buf, self._synced = b"", False
        self._fragment = False

    def feed(self, run: VcRun) -> list[Packet]:
        """Consume one run of consecutive frames; return the packets completed by it."""
        if run.missing_before != 0:
            self._drop_pending()
        fhp = run.fhp.tolist()
        k = len(fhp)
        out: list[Packet] = []
        # idle-data frames break the chain: process the run piecewise around them
        a = 0
        while a < k:
            b = a
            while b < k and fhp[b] != F.FHP_IDLE_DATA:
                b += 1
            if b > a:
                self._walk(run, a, b, out)
            if b < k:                                    # fhp[b] == idle data
                self.stats.idle_data_frames += 1
                self._drop_pending()
                b += 1
            a = b
        return out

    def _first_start(self, fhp: list[int], j0: int, j1: int) -> int:
        for j in range(j0, j1):
            if fhp[j] < self.Z:
                return j
        return -1

    def _walk(self, run: VcRun, a: int, b: int, out: list[Packet]) -> None:
        """Follow the chain through frames a..b-1 of ``run`` (no idle-data frame among them)."""
        Z = self.Z
        fhp = run.fhp.tolist()
        replay = run.replay.tolist()
        zones = run.zones[a:b].tobytes()
        base = len(self._buf) if self._synced else 0
        data = (self._buf + zones) if self._synced else zones
        n = len(data)

        def start(j: int) -> int:                        # data offset of frame j's zone
            return base + (j - a) * Z

        def restart(j: int, pos: int):
            """Chain restart at the first frame >= j whose FHP points at a header."""
            r = self._first_start(fhp, j, b)
            if r < 0:
                self.stats.bytes_skipped += max(0, n - pos)
                return None, b
            self.stats.bytes_skipped += max(0, start(r) + fhp[r] - pos)
            return start(r) + fhp[r], r + 1

        if self._synced:
            pos, nj = 0, a                               # frames a.. not yet checked
        else:
            pos, nj = restart(a, 0)
            if (pos is None or pos > 0) and not self._fragment:
                self.stats.packets_cut += 1              # the tail of a packet whose head was lost
            self._fragment = pos is None                 # count a long headless tail once
        while pos is not None:
            # frames whose zone starts at or before this header (resuming a chain that ended
            # exactly at the previous run's end) must point at it
            broken = False
            while nj < b and start(nj) <= pos:
                s = start(nj)
                if fhp[nj] != (pos - s if pos < s + Z else F.FHP_NO_PACKET_START):
                    broken = True
                    break
                nj += 1
            if broken:
                self.stats.fhp_errors += 1
                pos, nj = restart(nj, pos)
                continue
            if pos + PH > n:
                break
            ver, sec, apid, flags, total = parse_primary(data, pos)
            if ver != 0 or (self.apid_ok is not None and apid != self.idle_apid
                            and not self.apid_ok(apid)):
                # impossible header where the chain (or an FHP) put one: restart at the next
                # frame's FHP; every frame before nj has been checked against this position
                self.stats.header_errors += 1
                pos, nj = restart(nj, pos)
                continue
            nxt = pos + total
            broken = False
            # every frame whose zone starts inside this packet must point at nxt (or say 0x7FF)
            while nj < b and start(nj) <= nxt:
                s = start(nj)
                exp = nxt - s if nxt < s + Z else F.FHP_NO_PACKET_START
                if fhp[nj] != exp:
                    broken = True
                    break
                nj += 1
            if broken:                                   # wrong length or wrong FHP: trust the FHP
                self.stats.fhp_errors += 1
                self.stats.packets_cut += 1
                pos, nj = restart(nj, pos)
                continue
            if nxt > n:
                break                                    # completes in a later run
            if apid == self.idle_apid:
                self.stats.idle_packets += 1
            else:
                fr = a + (pos - base) // Z if pos >= base else a
                out.append(Packet(data[pos:nxt], self.vcid, bool(replay[fr])))
                self.stats.packets += 1
            pos = nxt
        if pos is None:
            self._buf, self._synced = b"", False
        else:
            self._buf, self._synced = data[pos:], True


# ---------------------------------------------------------------------------- per-APID accounting

@dataclass
class ApidStats:
    """Per-APID counters (after the ancillary merge for the ancillary APIDs)."""

    packets: int = 0
    sequence_gaps: int = 0
    packets_missing: int = 0        # from 14-bit sequence-count gaps
    length_errors: int = 0
    duplicates: int = 0
    out_of_order: int = 0           # time went backwards (replay interleaved with real time)
    bytes: int = 0
    first_seq: int | None = None    # losses before the first / after the last received packet
    last_seq: int | None = None     # are invisible to sequence counts: see the VC counters
    first_gps: float | None = None
    last_gps: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class ApidTracker:
    """Sequence-count continuity and length checks per APID (CCSDS 133.0-B-2 §4.1.3.4).

    ``expected_length(apid) -> int | None``: exact data-field length of fixed-size packets
    (ancillary records), None when variable. ``timed``: decode the CUC secondary header.
    """

    def __init__(self, expected_length: Callable[[int], int | None] | None = None,
                 timed: bool = True) -> None:
        self.stats: dict[int, ApidStats] = {}
        self._seq: dict[int, int] = {}
        self.expected_length = expected_length
        self.timed = timed

    def add(self, pkt: Packet) -> bool:
        """Account for ``pkt``; returns False when its length is wrong for its APID."""
        apid = pkt.apid
        st = self.stats.setdefault(apid, ApidStats())
        st.packets += 1
        st.bytes += len(pkt.data)
        seq = pkt.seq_count
        last = self._seq.get(apid)
        if last is not None:
            miss = (seq - last - 1) % F.SEQ_COUNT_MODULUS
            if miss:
                st.sequence_gaps += 1
                st.packets_missing += miss
        self._seq[apid] = seq
        if st.first_seq is None:
            st.first_seq = seq
        st.last_seq = seq
        ok = True
        if self.expected_length is not None:
            want = self.expected_length(apid)
            if want is not None and len(pkt.data) - PH != want:
                st.length_errors += 1
                ok = False
        if self.timed and pkt.has_secondary and len(pkt.data) >= PH + SH:
            t = pkt.gps_time()
            if st.last_gps is not None and t < st.last_gps:
                st.out_of_order += 1
            st.first_gps = t if st.first_gps is None else min(st.first_gps, t)
            st.last_gps = t if st.last_gps is None else max(st.last_gps, t)
        return ok


class AncillaryMerger:
    """Merge the ancillary VC received on several channels (ICD §3: VC 0 on both).

    Packets are keyed by (APID, CUC octets, sequence count); the first copy is kept, an
    identical later copy is a duplicate, a *different* packet under the same key is counted as
    a conflict (kept apart, never silently chosen). Memory: ancillary rates are ~20 packets/s.
    """

    def __init__(self) -> None:
        self._by_key: dict[tuple[int, bytes, int], Packet] = {}
        self.duplicates: dict[int, int] = {}
        self.conflicts: dict[int, int] = {}

    def add(self, pkt: Packet) -> None:
        key = (pkt.apid, pkt.cuc(), pkt.seq_count)
        old = self._by_key.get(key)
        if old is None:
            self._by_key[key] = pkt
        elif old.data == pkt.data:
            self.duplicates[pkt.apid] = self.duplicates.get(pkt.apid, 0) + 1
        else:
            self.conflicts[pkt.apid] = self.conflicts.get(pkt.apid, 0) + 1

    def merged(self) -> Iterator[Packet]:
        """Unique packets in (APID, GPS time, sequence) order."""
        def k(item):
            (apid, cuc, seq), _ = item
            return apid, bytes(cuc), seq
        for _, p in sorted(self._by_key.items(), key=k):
            yield p


# ---------------------------------------------------------------------------- segmented units

@dataclass
class Unit:
    """One application data unit rebuilt from its segments (§4.1.3.4.2.2).

    ``first``: the first (or only) segment packet; ``data``: the user data after each
    segment's secondary header, concatenated; ``complete``: False if segments were lost.
    """

    first: Packet
    data: bytes
    segments: int
    complete: bool


class SegmentAssembler:
    """Rebuilds units of one APID from its packets in order; counts incomplete units."""

    def __init__(self, secondary_length: int = SH) -> None:
        self.sh = secondary_length
        self._open: list[Packet] = []
        self._last_seq: int | None = None
        self.incomplete = 0

    def _user(self, p: Packet) -> bytes:
        return p.data[PH + self.sh:]

    def add(self, p: Packet) -> list[Unit]:
        """Feed the next packet; returns units it completed or abandoned (complete=False)."""
        out: list[Unit] = []
        flags, seq = p.seq_flags, p.seq_count
        contiguous = self._last_seq is not None and seq == (self._last_seq + 1) % F.SEQ_COUNT_MODULUS
        self._last_seq = seq
        if self._open and (not contiguous or flags in (F.SEQ_FIRST, F.SEQ_UNSEGMENTED)):
            out.append(self._close(False))
        if flags == F.SEQ_UNSEGMENTED:
            out.append(Unit(p, self._user(p), 1, True))
        elif flags == F.SEQ_FIRST:
            self._open = [p]
        elif self._open:                                 # continuation or last, in sequence
            self._open.append(p)
            if flags == F.SEQ_LAST:
                out.append(self._close(True))
        else:                                            # orphan segment: its first was lost
            self.incomplete += 1
        return out

    def _close(self, complete: bool) -> Unit:
        segs, self._open = self._open, []
        if not complete:
            self.incomplete += 1
        return Unit(segs[0], b"".join(self._user(s) for s in segs), len(segs), complete)

    def finish(self) -> list[Unit]:
        return [self._close(False)] if self._open else []
