"""Streaming channel decoder: raw bits → derandomised, RS-corrected transfer frames (ICD §1–§2).

``ChannelDecoder(coding)`` takes the raw channel stream of one downlink channel (hard bits
after Viterbi, packed MSB first, CADUs at any bit offset, possibly inverted, with bit slips
and noise before AOS / after LOS) in chunks of any size and returns, per chunk, the CADUs it
could frame (:class:`CaduBatch`). Memory is bounded: it keeps at most the undecided tail of
the stream (one CADU plus the flywheel lookahead, ≈ (flywheel+2)·CADU bytes) between calls.

The state machine (search / lock / flywheel, CCSDS 131.0-B-3 §9) and its safety rules are
described in :mod:`decode.sync_kernels`. Results do not depend on how the stream is cut into
chunks.

>>> dec = ChannelDecoder(cfg.satellite("SPOT-6").coding)
>>> for chunk in iter(lambda: f.read(1 << 22), b""):
...     batch = dec.work(chunk)          # frames, ok, corrected, offset, bit, inverted
>>> last = dec.flush()
>>> dec.stats.sync_losses                # [(byte offset, reason), ...]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from decode import sync_kernels as SK
from decode.randomiser import coding_pn
from decode.reed_solomon import ReedSolomon
from srd.errors import ConfigError, DecodeError


@dataclass(frozen=True)
class CaduBatch:
    """CADUs framed in one :meth:`ChannelDecoder.work` / :meth:`~ChannelDecoder.flush` call.

    ``frames`` (n, kk·I) uint8 transfer frames (derandomised, polarity-corrected,
    RS-corrected); ``ok`` (n,) bool: every RS codeword valid and the framing confirmed (never
    True for a frame that failed RS; also False for a decodable frame that a polarity flip or
    a bit slip inside the CADU makes untrustworthy, see :mod:`decode.sync_kernels`); ``corrected`` (n, I) int16 symbols corrected per codeword (-1 uncorrectable);
    ``offset`` (n,) int64 byte offset of the ASM's first bit in the channel stream, ``bit``
    (n,) int8 its bit within that byte (0 = MSB); ``inverted`` (n,) bool: the CADU arrived
    bit-inverted.
    """

    frames: np.ndarray
    ok: np.ndarray
    corrected: np.ndarray
    offset: np.ndarray
    bit: np.ndarray
    inverted: np.ndarray

    def __len__(self) -> int:
        return int(self.ok.shape[0])

    @property
    def bit_position(self) -> np.ndarray:
        """Absolute bit position of each ASM in the stream (offset·8 + bit)."""
        return self.offset * 8 + self.bit

    @staticmethod
    def empty(frame_length: int, interleave: int) -> "CaduBatch":
        return CaduBatch(np.empty((0, frame_length), np.uint8), np.empty(0, bool), np.empty((0, interleave), np.int16),
                         np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, bool))

    @staticmethod
    def concat(batches: list["CaduBatch"]) -> "CaduBatch":
        return CaduBatch(*(np.concatenate([getattr(b, f) for b in batches]) for f in
                           ("frames", "ok", "corrected", "offset", "bit", "inverted")))


@dataclass
class SyncStats:
    """Running accounting of one channel (all offsets are byte offsets in the channel stream).

    ``cadus`` CADUs framed (``cadus_ok`` of them ok, ``cadus_uncorrectable`` flagged);
    ``acquisitions`` [(offset, bytes searched before it)] each time lock was (re)acquired;
    ``sync_losses`` [(offset, reason)] each loss of lock (offset of the first missing CADU);
    ``slips`` [(offset, bits)] lattice shifts of −2..+2 bits (negative = bits deleted);
    ``inverted_stretches`` [(first offset, last offset, CADUs)] runs of inverted CADUs;
    ``flywheel_cadus`` CADUs framed without ASM and without a decodable block (flagged);
    ``rs_corrected_symbols``; ``rs_uncorrectable_codewords``; ``bytes_in``; ``noise_bytes``
    bytes not covered by any framed CADU (before AOS, after LOS, between losses and
    re-acquisitions; set by :meth:`ChannelDecoder.flush`); ``truncated`` (offset, bytes
    present) of a last CADU cut by the end of the stream (reported, not returned), else None.
    """

    cadus: int = 0
    cadus_ok: int = 0
    cadus_uncorrectable: int = 0
    acquisitions: list = field(default_factory=list)
    sync_losses: list = field(default_factory=list)
    slips: list = field(default_factory=list)
    inverted_stretches: list = field(default_factory=list)
    flywheel_cadus: int = 0
    rs_corrected_symbols: int = 0
    rs_uncorrectable_codewords: int = 0
    bytes_in: int = 0
    noise_bytes: int = 0
    truncated: tuple | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("acquisitions", "sync_losses", "slips", "inverted_stretches"):
            d[k] = [list(x) for x in d[k]]
        d["truncated"] = list(self.truncated) if self.truncated else None
        return d


class ChannelDecoder:
    """Search/lock/flywheel frame synchroniser + derandomiser + RS decoder of one channel.

    ``coding``: :class:`~station_config.models.ChannelCoding` (ASM, RS code and interleave,
    randomiser, ``asm_max_bit_errors`` lock tolerance, ``flywheel_frames``).
    ``max_frames_per_call`` bounds the output arrays of one kernel call (memory).
    """

    def __init__(self, coding, *, max_frames_per_call: int = 8192) -> None:
        self.coding = coding
        self.rs = ReedSolomon(coding)
        asm = coding.asm_bytes
        if not 1 <= len(asm) <= 7:
            raise ConfigError(f"ASM of {len(asm)} bytes: 1..7 supported", field="asm")
        self.asm_bits = 8 * len(asm)
        if 2 * coding.asm_max_bit_errors >= self.asm_bits // 2:
            raise ConfigError(f"asm_max_bit_errors={coding.asm_max_bit_errors} too large for a "
                              f"{self.asm_bits}-bit ASM", field="asm_max_bit_errors")
        t = self.rs.tables
        self.cadu_length = coding.cadu_length
        self.cadu_bits = 8 * self.cadu_length
        self.frame_length = self.rs.frame_length
        self.interleave = t.interleave
        self._params = np.array([int.from_bytes(asm, "big"), self.asm_bits, coding.asm_max_bit_errors,
                                 self.cadu_bits, self.rs.block_length, coding.flywheel_frames,
                                 t.interleave, t.nn, t.kk, t.nroots, t.fcr], np.int64)
        assert self._params.size == SK.N_PARAMS
        pn = coding_pn(coding)
        self._xor = np.ascontiguousarray(np.stack([pn, pn ^ 0xFF]).astype(np.uint8))
        self._block = np.empty(self.rs.block_length, np.uint8)
        self._cw = np.empty(t.nn, np.uint8)
        self._work = np.empty(5 * (t.nroots + 1) + t.nn + 32, np.int64)
        self._max_frames = int(max_frames_per_call)
        self._buf = np.empty(0, np.uint8)
        self._buf_start = 0                     # absolute byte offset of self._buf[0]
        self._state = np.zeros(SK.N_STATE, np.int64)   # SEARCH from bit 0, normal polarity
        self._covered_bits = 0
        self._finished = False
        self._inv_run: list | None = None       # open inverted stretch [first, last, count]
        self.stats = SyncStats()

    # ------------------------------------------------------------------ public API
    def work(self, chunk) -> CaduBatch:
        """Feed the next ``chunk`` (bytes-like or uint8 array) of the raw channel stream; returns
        the CADUs that could be decided so far (possibly none)."""
        if self._finished:
            raise DecodeError("ChannelDecoder.work() after flush()", field="chunk")
        data = self._as_bytes(chunk)
        self.stats.bytes_in += data.size
        if data.size:
            self._buf = np.concatenate([self._buf, data]) if self._buf.size else data.copy()
        return self._run(final=False)

    def flush(self) -> CaduBatch:
        """End of stream: decide everything pending. A CADU cut by the end of the stream is
        reported in ``stats.truncated`` and not returned."""
        if self._finished:
            return CaduBatch.empty(self.frame_length, self.interleave)
        out = self._run(final=True)
        self._finished = True
        if self._inv_run is not None:
            self.stats.inverted_stretches.append(tuple(self._inv_run))
            self._inv_run = None
        self.stats.noise_bytes = max(0, self.stats.bytes_in - self._covered_bits // 8)
        self._buf = np.empty(0, np.uint8)
        return out

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _as_bytes(chunk) -> np.ndarray:
        if isinstance(chunk, (bytes, bytearray, memoryview)):
            return np.frombuffer(chunk, np.uint8)
        a = np.asarray(chunk)
        if a.dtype != np.uint8 or a.ndim != 1:
            raise DecodeError(f"chunk must be bytes or a 1-D uint8 array, got {a.dtype} {a.shape}", field="chunk")
        return a

    def _run(self, final: bool) -> CaduBatch:
        batches = []
        st = self._state
        while True:
            buf = self._buf
            nbytes = buf.size
            cap = min(self._max_frames, nbytes * 8 // (self.cadu_bits - 2) + 2)
            frames = np.empty((cap, self.frame_length), np.uint8)
            ok = np.empty(cap, np.bool_)
            corr = np.empty((cap, self.interleave), np.int16)
            bitpos = np.empty(cap, np.int64)
            inv = np.empty(cap, np.int8)
            ecap = 8 * cap + 16
            ev_kind = np.empty(ecap, np.int64)
            ev_bit = np.empty(ecap, np.int64)
            ev_val = np.empty(ecap, np.int64)
            cov0 = st[SK.S_COVERED]
            code, n, ne = SK.sync_scan(buf, nbytes, final, self._params, st, self._xor, self.rs.tables.to_conv,
                                       self.rs.tables.to_dual, self.rs.tables.gtab, self.rs.tables.expb,
                                       self.rs.tables.logb, frames, ok, corr, bitpos, inv, ev_kind, ev_bit,
                                       ev_val, self._block, self._cw, self._work)
            self._covered_bits += int(st[SK.S_COVERED] - cov0)
            st[SK.S_COVERED] = 0
            base_bit = self._buf_start * 8
            self._account(ev_kind[:ne], ev_bit[:ne] + base_bit, ev_val[:ne])
            if n:
                b = CaduBatch(frames[:n], ok[:n].copy(), corr[:n], (bitpos[:n] + base_bit) // 8,
                              ((bitpos[:n] + base_bit) % 8).astype(np.int8), inv[:n].astype(bool))
                self._account_frames(b)
                batches.append(b)
            # drop consumed bytes: keep from 2 bits before the current position
            keep_from = max(0, int(st[SK.S_POS]) - 2) // 8
            keep_from = min(keep_from, nbytes)
            if keep_from:
                self._buf = buf[keep_from:]
                self._buf_start += keep_from
                st[SK.S_POS] -= 8 * keep_from
                st[SK.S_SEARCH_FROM] -= 8 * keep_from
            if code != SK.R_FULL:
                break
        if self._buf.base is not None:          # never pin a large consumed chunk in memory
            self._buf = self._buf.copy()
        if not batches:
            return CaduBatch.empty(self.frame_length, self.interleave)
        return batches[0] if len(batches) == 1 else CaduBatch.concat(batches)

    def _account(self, kind, bit, val) -> None:
        s = self.stats
        for k, b, v in zip(kind.tolist(), bit.tolist(), val.tolist()):
            if k == SK.EV_ACQUIRE:
                s.acquisitions.append((b // 8, v // 8))
            elif k == SK.EV_LOSS:
                s.sync_losses.append((b // 8, f"no ASM and no decodable block at this CADU or the next {v}"))
            elif k == SK.EV_SLIP:
                s.slips.append((b // 8, v))
            elif k == SK.EV_TRUNCATED:
                s.truncated = (b // 8, v // 8)
            elif k == SK.EV_FLYWHEEL:
                s.flywheel_cadus += 1

    def _account_frames(self, b: CaduBatch) -> None:
        s = self.stats
        s.cadus += len(b)
        s.cadus_ok += int(b.ok.sum())
        s.cadus_uncorrectable += int((~b.ok).sum())
        c = b.corrected
        s.rs_corrected_symbols += int(c[c > 0].sum())
        s.rs_uncorrectable_codewords += int((c < 0).sum())
        # inverted stretches (runs of consecutive inverted CADUs, across calls)
        inv = b.inverted
        if not inv.any() and self._inv_run is None:
            return
        for i in range(len(b)):
            if inv[i]:
                if self._inv_run is None:
                    self._inv_run = [int(b.offset[i]), int(b.offset[i]), 0]
                self._inv_run[1] = int(b.offset[i])
                self._inv_run[2] += 1
            elif self._inv_run is not None:
                s.inverted_stretches.append(tuple(self._inv_run))
                self._inv_run = None
