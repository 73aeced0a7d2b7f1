"""On-board formatting, frame layer: space packets → AOS transfer frames of one channel.

Implements ``../shared/ICD.md`` §3 (CCSDS 732.0-B-4 AOS frames, M_PDU of CCSDS 732.0-B §4.1.4):

* One :class:`ChannelFramer` per physical channel (``A``, ``B``). Its virtual channels are
  those of the profile's VC map (``virtual_channels.vcids_of_channel``): the ancillary VC
  (fed on **both** channels with the same packets), the image VCs of the channel's detector
  modules, and the idle VC.
* Each VC is a byte stream of whole packets. A frame carries the next ``zone`` bytes of one VC
  (zone = frame length − 6-byte AOS header − 2-byte M_PDU header); its first header pointer
  (FHP) is the offset of the first packet that *starts* in the zone, ``0x7FF`` when none does.
  Packets span frames freely.
* **Pacing**: frame slot ``i`` is transmitted at ``t0 + i·τ`` with τ = CADU bits / channel rate.
  At each slot the framer sends a frame of the VC that has a full zone ready (oldest data
  first); a VC whose oldest data has waited ``latency_s`` is completed with an idle packet
  (APID 0x7FF) and sent; if nothing is ready the slot carries an **idle frame** (VC 63,
  FHP 0x7FE "idle data", zone filled with the idle pattern). So the stream is continuous and
  data leave the satellite in real time (replay flag 0).
* VC frame counts: 24 bits, one counter per VC per channel (idle VC included).

No I/O: :meth:`ChannelFramer.advance` returns frames as a (n, frame_length) uint8 array.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from decode import formats as F
from telemetry.packetizer import idle_packet

IDLE_FILL = 0x55


class ByteFifo:
    """A byte FIFO (append at the tail, read from the head) with bounded memory: beyond
    ``spill_bytes`` in memory, further data go to an anonymous temporary file (the on-board
    mass memory of a satellite that images faster than it downlinks) and are read back in
    order. Consumed bytes are compacted away."""

    def __init__(self, spill_bytes: int = 64 << 20, spill_dir: str | None = None) -> None:
        self._buf = bytearray()
        self._head = 0
        self._spill = int(spill_bytes)
        self._dir = spill_dir
        self._file = None
        self._fread = self._fwrite = 0
        self.spilled_bytes = 0

    def __len__(self) -> int:
        return len(self._buf) - self._head + self._fwrite - self._fread

    def append(self, data: bytes) -> None:
        if self._file is None and len(self._buf) - self._head + len(data) <= self._spill:
            self._buf += data
            return
        if self._file is None:
            import tempfile
            self._file = tempfile.TemporaryFile(dir=self._dir)
        self._file.seek(self._fwrite)
        self._file.write(data)
        self._fwrite += len(data)
        self.spilled_bytes += len(data)

    def read(self, n: int) -> bytes:
        out = bytes(self._buf[self._head:self._head + n])
        self._head += len(out)
        if self._head > (1 << 20) and self._head * 2 > len(self._buf):
            del self._buf[:self._head]
            self._head = 0
        if len(out) < n and self._file is not None:
            self._file.seek(self._fread)
            more = self._file.read(n - len(out))
            self._fread += len(more)
            out += more
            if self._fread == self._fwrite:
                self._file.close()
                self._file, self._fread, self._fwrite = None, 0, 0
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class VcState:
    """One virtual channel's queue: packet bytes not yet framed, where packets start, and
    the age of the data waiting."""

    vcid: int
    count: int = 0
    fifo: ByteFifo = field(default_factory=ByteFifo)
    consumed: int = 0                       # absolute VC-stream position of the fifo head
    appended: int = 0                       # absolute position of the tail
    starts: deque = field(default_factory=deque)    # absolute packet start positions not yet framed
    waiting: deque = field(default_factory=deque)   # (end position, available time) of data units
    frames: int = 0
    idle_packets: int = 0
    data_bytes: int = 0

    @property
    def pending(self) -> int:
        return self.appended - self.consumed


class ChannelFramer:
    """AOS framer of one physical channel.

    ``sat``: the satellite profile; ``channel``: ``"A"``/``"B"``; ``rate_bps``: CADU bit rate
    of the channel; ``t0``: GPS time (s) of the first frame slot; ``latency_s``: how long a
    partial zone may wait before it is completed with an idle packet and sent.
    """

    def __init__(self, sat, channel: str, rate_bps: float, t0: float, *, latency_s: float = 0.02,
                 replay: bool = False, spill_bytes: int = 64 << 20, spill_dir: str | None = None) -> None:
        vcmap = sat.virtual_channels
        coding = sat.coding
        self.channel = channel
        self.scid = sat.scid
        self.frame_length = coding.frame_length
        self.zone = self.frame_length - F.AOS_HEADER_LENGTH - F.MPDU_HEADER_LENGTH
        self.slot_s = coding.cadu_length * 8 / float(rate_bps)
        self.t0 = float(t0)
        self.latency_s = float(latency_s)
        self.replay = bool(replay)
        self.idle_vcid = vcmap.idle
        self.vcs = {v: VcState(v, fifo=ByteFifo(spill_bytes, spill_dir))
                    for v in vcmap.vcids_of_channel(channel) if v != vcmap.idle}
        self.slot = 0
        self.idle_frames = 0
        self.idle_count = 0
        self._hdr = {v: bytearray(F.pack_aos_header(self.scid, v, 0, replay).tobytes())
                     for v in [*self.vcs, self.idle_vcid]}
        #: the idle frame (VC 63, FHP 0x7FE "idle data", idle pattern) with VC count 0
        self.idle_frame_template = (bytes(self._hdr[self.idle_vcid]) + F.MPDU_FHP.put(F.FHP_IDLE_DATA)
                                    .to_bytes(2, "big") + bytes([IDLE_FILL]) * self.zone)

    # ------------------------------------------------------------------ input
    def push(self, vcid: int, packets, available: float) -> None:
        """Queue ``packets`` (bytes objects, whole packets) on VC ``vcid``; they may leave in
        frames whose slot starts at or after ``available`` (GPS s)."""
        vc = self.vcs[vcid]
        for p in packets:
            vc.starts.append(vc.appended)
            vc.fifo.append(p)
            vc.appended += len(p)
            vc.data_bytes += len(p)
        vc.waiting.append((vc.appended, float(available)))

    def slot_time(self, slot: int | None = None) -> float:
        """GPS time (s) at which frame slot ``slot`` (default: the next one) starts."""
        return self.t0 + (self.slot if slot is None else slot) * self.slot_s

    @property
    def backlog_bytes(self) -> int:
        return sum(v.pending for v in self.vcs.values())

    # ------------------------------------------------------------------ output
    def _pad(self, vc: VcState) -> None:
        """Complete the current partial zone of ``vc`` with one idle packet (≥ 7 bytes; when
        fewer bytes are left in the zone, the idle packet spills into the next frame)."""
        room = self.zone - vc.pending % self.zone
        if room == self.zone:
            return
        n = room if room >= F.PACKET_HEADER_LENGTH + 1 else room + F.PACKET_HEADER_LENGTH + 1
        vc.starts.append(vc.appended)
        vc.fifo.append(idle_packet(n, IDLE_FILL))
        vc.appended += n
        vc.idle_packets += 1

    def _frame(self, vc: VcState) -> bytes:
        a = vc.consumed
        zone = vc.fifo.read(self.zone)
        vc.consumed += len(zone)
        while vc.starts and vc.starts[0] < a:
            vc.starts.popleft()
        fhp = vc.starts[0] - a if vc.starts and vc.starts[0] < a + self.zone else F.FHP_NO_PACKET_START
        while vc.waiting and vc.waiting[0][0] <= vc.consumed:
            vc.waiting.popleft()
        hdr = self._hdr[vc.vcid]
        c = vc.count
        hdr[2], hdr[3], hdr[4] = (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF
        vc.count = (c + 1) % F.VC_COUNT_MODULUS
        vc.frames += 1
        return bytes(hdr) + F.MPDU_FHP.put(fhp).to_bytes(2, "big") + zone

    def _choose(self, t: float, drain: bool) -> VcState | None:
        best, best_age = None, None
        for vc in self.vcs.values():
            if not vc.pending:
                continue
            oldest = vc.waiting[0][1] if vc.waiting else t
            if vc.pending < self.zone:
                if not (drain or (vc.waiting and t - oldest >= self.latency_s)):
                    continue
                self._pad(vc)
            if best is None or oldest < best_age:
                best, best_age = vc, oldest
        return best

    def _emit(self, frames: list, drain: bool) -> None:
        vc = self._choose(self.slot_time(), drain)
        if vc is None:
            frames.append(self._idle_frames(1))
        else:
            frames.append(self._frame(vc))
            self.slot += 1

    def _next_ready(self) -> float:
        """Earliest time at which some VC will have a frame to send without new input
        (−inf: now; +inf: never)."""
        t = np.inf
        for vc in self.vcs.values():
            if vc.pending >= self.zone:
                return -np.inf
            if vc.pending and vc.waiting:
                t = min(t, vc.waiting[0][1] + self.latency_s)
        return t

    def _idle_frames(self, n: int) -> np.ndarray:
        """``n`` consecutive idle frames at once (they differ only in their VC count)."""
        c = (self.idle_count + np.arange(n, dtype=np.int64)) % F.VC_COUNT_MODULUS
        out = np.empty((n, self.frame_length), np.uint8)
        out[:] = np.frombuffer(self.idle_frame_template, np.uint8)
        out[:, 2], out[:, 3], out[:, 4] = c >> 16, (c >> 8) & 0xFF, c & 0xFF
        self.idle_count = int((self.idle_count + n) % F.VC_COUNT_MODULUS)
        self.idle_frames += n
        self.slot += n
        return out

    def advance(self, until: float) -> np.ndarray:
        """Frames of every slot that starts before ``until`` (GPS s), (n, frame_length) uint8."""
        frames: list = []
        while self.slot_time() < until:
            quiet_until = min(until, self._next_ready())
            n = 0
            if np.isfinite(quiet_until):
                n = int(np.ceil((quiet_until - self.t0) / self.slot_s - 1e-9)) - self.slot
            if n > 1:                        # nothing can be ready before quiet_until: idle frames in bulk
                frames.append(self._idle_frames(n))
                continue
            self._emit(frames, drain=False)
        return self._as_array(frames)

    def drain(self, max_frames: int | None = None) -> np.ndarray:
        """Frames that empty every VC queue (partial zones completed with idle packets);
        at most ``max_frames`` (call again while :attr:`backlog_bytes` > 0)."""
        frames: list = []
        while self.backlog_bytes and (max_frames is None or len(frames) < max_frames):
            self._emit(frames, drain=True)
        return self._as_array(frames)

    def _as_array(self, frames: list) -> np.ndarray:
        """One (n, frame_length) array from single frames (bytes) and bulk idle arrays."""
        parts, run = [], []
        for f in frames:
            if isinstance(f, np.ndarray):
                if run:
                    parts.append(np.frombuffer(b"".join(run), np.uint8).reshape(-1, self.frame_length))
                    run = []
                parts.append(f)
            else:
                run.append(f)
        if run:
            parts.append(np.frombuffer(b"".join(run), np.uint8).reshape(-1, self.frame_length))
        if not parts:
            return np.zeros((0, self.frame_length), np.uint8)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        """Release spill files."""
        for vc in self.vcs.values():
            vc.fifo.close()

    def stats(self) -> dict:
        return {"frames": self.slot, "idle_frames": self.idle_frames,
                "spilled_bytes": sum(v.fifo.spilled_bytes for v in self.vcs.values()),
                "end_gps": self.slot_time(),
                "vcs": {v: {"frames": s.frames, "packet_bytes": s.data_bytes, "idle_packets": s.idle_packets}
                        for v, s in self.vcs.items()}}
