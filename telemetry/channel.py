"""Channel coding and the channel itself: AOS frames → the terminal's raw bit stream.

Coding (``../shared/ICD.md`` §2, CCSDS 131.0-B-3): each frame (223·I bytes) is Reed-Solomon
encoded with the project encoder :class:`decode.reed_solomon.ReedSolomon` (RS(255,223), E=16,
interleave I, Berlekamp dual basis, per the profile), randomised with
:func:`decode.randomiser.coding_pn` (h(x)=x^8+x^7+x^5+x^3+1, all-ones seed, restarted after every
ASM) and prefixed with the ASM: one CADU. CADUs follow each other without gaps.

Then the channel (ICD §1), every impairment configurable, seeded and **recorded** with its
bit/byte offset in the output file (:class:`ImpairmentLog`):

* noise before AOS and after LOS (random bytes; the pre-AOS noise has a random number of
  bits so CADUs land on any bit offset);
* random bit errors at a bit error rate (post-Viterbi hard decisions);
* error bursts (a stretch of random bits — short enough to be corrected by interleaving by
  default, as the interleaver is designed for);
* bit slips: 1 or 2 bits deleted or inserted;
* inverted polarity over a stretch (phase ambiguity of the demodulator);
* a dropped stretch of frames: the codeblocks of consecutive CADUs replaced by random bytes,
  far beyond the 16 correctable symbols per codeword (the frames are lost; ASMs stay).

Positions are "clean" bit indices (the stream before slips) when planned, and converted to
positions in the written file when recorded. Streaming: :class:`ChannelWriter` takes CADUs in
batches and writes them; memory is bounded by the batch.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srd.errors import ConfigError


# ----------------------------------------------------------------------------- coding

class ChannelCoder:
    """Frames → CADUs (RS encode with interleave → randomise → ASM) for one profile.

    ``template``: optionally a frame (e.g. the idle frame) that recurs with only its bytes
    2..4 (the 24-bit VC frame count) changing. Reed-Solomon is linear over GF(2) in either
    basis, so the parity of such a frame is the template's parity XOR the parity
    contribution of each count byte, tabulated once with the same encoder (256 × 3 rows).
    Exact — the tests compare it with the direct encoding — and 4× cheaper for the idle
    frames that fill most of a pass.
    """

    COUNT_BYTES = (2, 3, 4)

    def __init__(self, coding, template: bytes | np.ndarray | None = None) -> None:
        from decode.randomiser import coding_pn
        from decode.reed_solomon import ReedSolomon
        self.coding = coding
        self.rs = ReedSolomon(coding)
        self.pn = np.asarray(coding_pn(coding), np.uint8)
        self.asm = np.frombuffer(coding.asm_bytes, np.uint8)
        self.cadu_length = coding.cadu_length
        self._tpl = None
        if template is not None:
            tpl = np.array(np.frombuffer(bytes(template), np.uint8))
            if tpl.size != coding.frame_length:
                raise ValueError(f"template must be {coding.frame_length} bytes, got {tpl.size}")
            tpl[list(self.COUNT_BYTES)] = 0
            k = coding.frame_length
            unit = np.zeros((256 * len(self.COUNT_BYTES), k), np.uint8)
            for i, pos in enumerate(self.COUNT_BYTES):
                unit[i * 256:(i + 1) * 256, pos] = np.arange(256)
            par = np.asarray(self.rs.encode(np.vstack([tpl[None], unit])), np.uint8)[:, k:]
            self._tpl = tpl
            self._tpl_parity = par[0]
            self._count_parity = par[1:].reshape(len(self.COUNT_BYTES), 256, -1)

    def _template_rows(self, frames: np.ndarray) -> np.ndarray:
        a, b = self.COUNT_BYTES[0], self.COUNT_BYTES[-1] + 1
        return ((frames[:, :a] == self._tpl[:a]).all(1) & (frames[:, b:] == self._tpl[b:]).all(1))

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """(n, 223·I) frames → (n, ASM + 255·I) CADUs, uint8."""
        frames = np.ascontiguousarray(frames, np.uint8)
        k = self.coding.frame_length
        if frames.ndim != 2 or frames.shape[1] != k:
            raise ValueError(f"frames must be (n, {k}), got {frames.shape}")
        out = np.empty((len(frames), self.cadu_length), np.uint8)
        a = self.asm.size
        out[:, :a] = self.asm
        if not len(frames):
            return out
        rows = self._template_rows(frames) if self._tpl is not None else np.zeros(len(frames), bool)
        if rows.any():
            f = frames[rows]
            par = self._tpl_parity ^ self._count_parity[0][f[:, 2]]
            for i, pos in enumerate(self.COUNT_BYTES[1:], start=1):
                par ^= self._count_parity[i][f[:, pos]]
            out[rows, a:a + k] = f
            out[rows, a + k:] = par
        if not rows.all():
            out[~rows, a:] = np.asarray(self.rs.encode(frames[~rows]), np.uint8)
        out[:, a:] ^= self.pn
        return out


# ----------------------------------------------------------------------------- impairments

@dataclass(frozen=True)
class Impairments:
    """What the channel does to one channel's stream (all seeded by ``seed``).

    ``ber``: bit error rate over the CADU stream (the noise is random anyway). ``bursts``:
    number of error bursts, each ``burst_bits`` long (a range (lo, hi) drawn uniformly).
    ``slips``: number of bit slips of ±1..2 bits. ``invert``: ((start_s, length_s), ...) stretches of inverted polarity, seconds
    from the start of the file. ``drop_frames``: length in CADUs of one stretch of frames made
    uncorrectable (0: none). ``noise_before_s`` / ``noise_after_s``: noise before AOS / after LOS.
    """

    ber: float = 0.0
    bursts: int = 0
    burst_bits: tuple[int, int] = (16, 400)
    slips: int = 0
    invert: tuple[tuple[float, float], ...] = ()
    drop_frames: int = 0
    noise_before_s: float = 0.002
    noise_after_s: float = 0.002
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.ber < 0.5:
            raise ConfigError(f"bit error rate {self.ber} outside [0, 0.5)", field="ber")
        for name in ("bursts", "slips", "drop_frames"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}", field=name)
        if self.noise_before_s < 0 or self.noise_after_s < 0:
            raise ConfigError("noise durations must be >= 0", field="noise_before_s")
        lo, hi = self.burst_bits
        if not 1 <= lo <= hi:
            raise ConfigError(f"burst length range {self.burst_bits} invalid", field="burst_bits")
        for s, n in self.invert:
            if s < 0 or n <= 0:
                raise ConfigError(f"inversion stretch {s}:{n} must have start >= 0 and length > 0",
                                  field="invert")


@dataclass
class ImpairmentLog:
    """Every impairment applied to one channel file, positions in the written file."""

    channel: str
    events: list = field(default_factory=list)      # dicts: kind, bit, byte, ...
    bit_errors: list = field(default_factory=list)  # output bit offsets of random bit errors

    def add(self, kind: str, bit: int, **kw) -> None:
        self.events.append({"kind": kind, "bit": int(bit), "byte": int(bit) // 8, **kw})

    def to_dict(self) -> dict:
        return {"channel": self.channel, "random_bit_errors": len(self.bit_errors),
                "events": sorted(self.events, key=lambda e: e["bit"])}


class _Plan:
    """Impairment positions in clean-stream bits, drawn once from the seed."""

    def __init__(self, imp: Impairments, rng: np.random.Generator, pre_bits: int, cadu_bits: int,
                 n_cadus: int, rate_bps: float) -> None:
        span = n_cadus * cadu_bits
        self.drop = None
        if imp.drop_frames and n_cadus > imp.drop_frames + 2:
            first = int(rng.integers(1, n_cadus - imp.drop_frames))
            self.drop = (first, first + imp.drop_frames)           # CADU indices [a, b)
        # bursts and slips avoid the first and last CADU so the lock and the end stay clean
        lo, hi = pre_bits + cadu_bits, pre_bits + max(cadu_bits, span - cadu_bits)
        self.bursts = []
        for _ in range(imp.bursts):
            n = int(rng.integers(imp.burst_bits[0], imp.burst_bits[1] + 1))
            p = int(rng.integers(lo, max(lo + 1, hi - n)))
            pattern = rng.integers(0, 2, n).astype(np.uint8)
            pattern[0] = pattern[-1] = 1                            # the burst spans exactly n bits
            self.bursts.append((p, pattern))
        self.slips = []
        if imp.slips:
            pos = np.sort(rng.choice(np.arange(lo // cadu_bits, max(lo // cadu_bits + 1, hi // cadu_bits)),
                                     size=min(imp.slips, max(1, (hi - lo) // cadu_bits)), replace=False))
            for c in pos:
                p = int(c) * cadu_bits + int(rng.integers(0, cadu_bits))
                d = int(rng.choice([-2, -1, 1, 2]))
                self.slips.append((p, d, rng.integers(0, 2, max(d, 0)).astype(np.uint8)))
        self.inverts = [(int(s * rate_bps), int(s * rate_bps) + max(1, int(n * rate_bps)))
                        for s, n in imp.invert]

    def out_bit(self, clean_bit: int) -> int:
        """Position in the written file of clean bit ``clean_bit``."""
        return clean_bit + sum(d for p, d, _ in self.slips if p < clean_bit)


def _xor_bits(buf: np.ndarray, start_bit: int, bits: np.ndarray) -> None:
    """XOR a 0/1 bit pattern into ``buf`` (uint8, MSB first) from bit ``start_bit`` (clipped)."""
    n_total = buf.size * 8
    a, b = max(0, start_bit), min(n_total, start_bit + bits.size)
    if a >= b:
        return
    pat = bits[a - start_bit:b - start_bit]
    i0, i1 = a // 8, (b + 7) // 8
    u = np.unpackbits(buf[i0:i1])
    u[a - i0 * 8:b - i0 * 8] ^= pat
    buf[i0:i1] = np.packbits(u)


def _invert_bits(buf: np.ndarray, lo: int, hi: int) -> None:
    """Invert bits [lo, hi) of ``buf`` (clipped)."""
    lo, hi = max(lo, 0), min(hi, buf.size * 8)
    if lo >= hi:
        return
    a, b = -(-lo // 8), hi // 8
    if a < b:
        buf[a:b] ^= 0xFF
        _xor_bits(buf, lo, np.ones(a * 8 - lo, np.uint8))
        _xor_bits(buf, b * 8, np.ones(hi - b * 8, np.uint8))
    else:
        _xor_bits(buf, lo, np.ones(hi - lo, np.uint8))


class BitSink:
    """Writes a bit stream (any number of bits at a time) to a binary file, MSB first,
    hashing it (SHA-256) on the way."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "wb")
        self.sha = hashlib.sha256()
        self.nbytes = 0
        self._rest = np.zeros(0, np.uint8)          # < 8 pending bits

    @property
    def bit_position(self) -> int:
        return self.nbytes * 8 + self._rest.size

    def _out(self, b: bytes) -> None:
        self.fh.write(b)
        self.sha.update(b)
        self.nbytes += len(b)

    def write_bytes(self, data: np.ndarray) -> None:
        data = np.asarray(data, np.uint8)
        k = self._rest.size
        if k == 0:
            self._out(data.tobytes())
            return
        if data.size == 0:
            return
        v = int(np.packbits(np.r_[self._rest, np.zeros(8 - k, np.uint8)])[0])   # rest in the top k bits
        out = np.empty_like(data)
        np.right_shift(data, k, out=out)
        out[1:] |= data[:-1] << np.uint8(8 - k)          # uint8 shift drops the bits already sent
        out[0] |= v
        self._out(out.tobytes())
        self._rest = np.unpackbits(data[-1:])[8 - k:]

    def write_bits(self, bits: np.ndarray) -> None:
        bits = np.r_[self._rest, np.asarray(bits, np.uint8)]
        n = bits.size // 8 * 8
        if n:
            self._out(np.packbits(bits[:n]).tobytes())
        self._rest = bits[n:]

    def close(self, pad_bits: np.ndarray | None = None) -> str:
        """Complete the last byte (with ``pad_bits`` or zeros), close; returns the SHA-256 hex."""
        if self._rest.size:
            k = 8 - self._rest.size
            self.write_bits(pad_bits[:k] if pad_bits is not None else np.zeros(k, np.uint8))
        self.fh.close()
        return self.sha.hexdigest()


class ChannelWriter:
    """Streams one channel file: CADUs in, impaired bits out; :attr:`log` records every
    impairment as applied (complete after :meth:`close`).

    ``expected_cadus`` sizes the impairment plan (positions are drawn over that many CADUs;
    CADUs written beyond it only get random bit errors). ``rate_bps`` converts the
    inversion stretches (seconds) to bits.
    """

    def __init__(self, path: str | Path, channel: str, coding, imp: Impairments, *,
                 expected_cadus: int, rate_bps: float) -> None:
        self.path = Path(path)
        self.channel = channel
        self.imp = imp
        self.cadu_length = coding.cadu_length
        self.cadu_bits = self.cadu_length * 8
        self.asm_length = len(coding.asm_bytes)
        # one stream per channel derived from the seed (channels A, B differ)
        self.rng = np.random.default_rng([imp.seed, 0xC4A, ord(channel[0])])
        self.pre_bits = int(round(imp.noise_before_s * rate_bps)) // 8 * 8 + int(self.rng.integers(1, 8))
        self.plan = _Plan(imp, self.rng, self.pre_bits, self.cadu_bits, expected_cadus, rate_bps)
        self.log = ImpairmentLog(channel)
        self.sink = BitSink(self.path)
        self.rate_bps = rate_bps
        self.clean_bit = 0            # clean-stream bits produced so far
        self.cadus = 0
        self.first_cadu_bit = None
        self._slip_i = 0
        noise = self.rng.integers(0, 256, -(-self.pre_bits // 8), dtype=np.uint8)
        self._write_clean(np.unpackbits(noise)[:self.pre_bits], as_bits=True)
        if self.pre_bits:
            self.log.add("noise_before_aos", 0, bits=self.pre_bits)
        self.first_cadu_bit = self.plan.out_bit(self.clean_bit)
        # what was really applied (the log records only that): clean-bit ranges, CADU indices
        self._inverted: dict[int, list[int]] = {}
        self._dropped: list[int] = []

    # ------------------------------------------------------------------
    def _impair(self, buf: np.ndarray, b0: int) -> np.ndarray:
        """Apply bit-domain impairments to the clean chunk ``buf`` covering clean bits
        [b0, b0 + 8·len); returns the same array (modified)."""
        n = buf.size * 8
        if self.imp.ber > 0:
            k = int(self.rng.binomial(n, self.imp.ber))
            if k:
                pos = np.unique(self.rng.integers(0, n, k))
                np.bitwise_xor.at(buf, pos // 8, (0x80 >> (pos % 8)).astype(np.uint8))
                self.log.bit_errors.extend(int(self.plan.out_bit(b0 + p)) for p in pos)
        for p, pat in self.plan.bursts:
            if p < b0 + n and p + pat.size > b0:
                _xor_bits(buf, p - b0, pat)
                if p >= b0:
                    self.log.add("burst", self.plan.out_bit(p), bits=int(pat.size), errors=int(pat.sum()))
        for i, (lo, hi) in enumerate(self.plan.inverts):
            if lo < b0 + n and hi > b0:
                _invert_bits(buf, lo - b0, hi - b0)
                a, b = max(lo, b0), min(hi, b0 + n)
                r = self._inverted.setdefault(i, [a, b])
                r[0], r[1] = min(r[0], a), max(r[1], b)
        return buf

    def _write_clean(self, data: np.ndarray, as_bits: bool = False) -> None:
        """Write clean-stream data (bytes, or 0/1 bits), applying slips that fall inside."""
        if as_bits:
            bits = data
            n = bits.size
        else:
            n = data.size * 8
        b0 = self.clean_bit
        slips = []
        while self._slip_i < len(self.plan.slips) and self.plan.slips[self._slip_i][0] < b0 + n:
            slips.append(self.plan.slips[self._slip_i])
            self._slip_i += 1
        if not slips:
            if as_bits:
                self.sink.write_bits(bits)
            else:
                self.sink.write_bytes(data)
        else:
            if not as_bits:
                bits = np.unpackbits(data)
            pieces, cur = [], 0
            for p, d, ins in slips:
                self.log.add("slip", self.plan.out_bit(p), delta_bits=d)
                q = max(p - b0, cur)
                pieces.append(bits[cur:q])
                if d > 0:
                    pieces.append(ins)
                    cur = q
                else:
                    cur = min(n, q - d)
            pieces.append(bits[cur:])
            self.sink.write_bits(np.concatenate(pieces))
        self.clean_bit += n

    def write_cadus(self, cadus: np.ndarray) -> None:
        """Append CADUs ((n, cadu_length) uint8) to the stream, impaired."""
        cadus = np.array(cadus, np.uint8, copy=True)
        n = len(cadus)
        if not n:
            return
        if self.plan.drop:
            a, b = self.plan.drop
            lo, hi = max(a, self.cadus), min(b, self.cadus + n)
            if lo < hi:
                cadus[lo - self.cadus:hi - self.cadus, self.asm_length:] = self.rng.integers(
                    0, 256, (hi - lo, self.cadu_length - self.asm_length), dtype=np.uint8)
                self._dropped.extend(range(lo, hi))
        buf = cadus.reshape(-1)
        self._impair(buf, self.clean_bit)
        self._write_clean(buf)
        self.cadus += n

    def close(self) -> dict:
        """Noise after LOS, then close. Returns ``{bytes, sha256, ...}`` of the file."""
        for lo, hi in self._inverted.values():
            self.log.add("inverted", self.plan.out_bit(lo), bits=hi - lo)
        if self._dropped:
            a = self._dropped[0]
            self.log.add("dropped_frames", self.plan.out_bit(self.pre_bits + a * self.cadu_bits),
                         cadus=len(self._dropped), first_cadu=a)
        nb = int(round(self.imp.noise_after_s * self.rate_bps)) // 8
        end_bit = self.sink.bit_position
        if nb:
            self.log.add("noise_after_los", self.plan.out_bit(self.clean_bit), bits=nb * 8)
            self._write_clean(self.rng.integers(0, 256, nb, dtype=np.uint8))
        sha = self.sink.close(self.rng.integers(0, 2, 8).astype(np.uint8))
        return {"bytes": self.sink.nbytes, "sha256": sha, "cadus": self.cadus,
                "dropped_cadus": len(self._dropped),
                "first_cadu_bit": int(self.first_cadu_bit), "cadu_end_bit": int(end_bit)}
