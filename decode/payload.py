"""Image payload (ICD §4.1): AES-256-CTR decryption, key check, decompression, band images.

* Decryption: key id ≠ 0 → the payload after the 18-byte block header is one AES-256-CTR
  stream per block, initial counter block :func:`decode.formats.aes_ctr_counter_block`
  (APID ‖ line ‖ datatake ‖ zeros), keys from ``cfg.key(key_id)`` (never logged).
* Key check (ICD §4.2 datatake start): KCV = first 4 bytes of AES-256-ECB(key, 16 zero bytes).
  A missing key or a KCV mismatch is an error *for that datatake*: its packets stay in the
  Level 0 packet files exactly as transmitted, its image lines are masked status 2.
* Decompression: raw 12-bit (Numba :func:`decode.payload_kernels.unpack12`), CCSDS 121.0-B
  via libaec (``imagecodecs.aec_decode``), CCSDS 122.0-B via :mod:`decode.ccsds122` when
  present (otherwise a :class:`~srd.errors.CompressionError`, lines masked status 3).

:func:`build_images` reads the Level 0 packet files of the image APIDs (streaming, twice: a
header scan to size each band image, then the decode) and writes ``image/M<m>_<band>.npy``,
``_mask.npy`` and ``.json`` as docs/formats.md describes.
"""
from __future__ import annotations

import json
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from decode import formats as F
from decode.packets import PH, SH, Packet, SegmentAssembler, cuc_seconds
from decode.payload_kernels import unpack12
from srd.errors import CompressionError, DecodeError, KeyMissingError
from srd.timescale import cuc_decode

BH = F.IMAGE_BLOCK_HEADER.itemsize
MASK_OK, MASK_MISSING, MASK_UNDECRYPTABLE, MASK_DECOMPRESSION = 0, 1, 2, 3


# ---------------------------------------------------------------------------- crypto

def key_check_value(key: bytes) -> bytes:
    """ICD §4.2: first 4 bytes of AES-256-ECB(key, 16 zero bytes)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (enc.update(bytes(16)) + enc.finalize())[:4]


def aes_ctr(key: bytes, apid: int, line: int, datatake: int, payload: bytes) -> bytes:
    """AES-256-CTR of one block payload (ICD §4.1; encryption and decryption are the same)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    iv = F.aes_ctr_counter_block(apid, line, datatake)
    c = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    return c.update(payload) + c.finalize()


@dataclass
class Datatake:
    """One datatake announced by APID 0x013 (ICD §4.2) and the station's verdict on its key."""

    datatake: int
    mode: str
    start_gps: float
    stop_gps: float
    target: str
    key_id: int
    kcv: bytes
    kcv_ok: bool | None = None      # None: clear data, or key not checked
    error: str | None = None

    def to_dict(self) -> dict:
        return {"datatake": self.datatake, "mode": self.mode, "start_gps": self.start_gps,
                "stop_gps": self.stop_gps, "target": self.target, "key_id": self.key_id,
                "kcv_ok": self.kcv_ok, "error": self.error}


def parse_datatake(pkt: Packet) -> Datatake:
    """Datatake-start record of a packet (caller checked the length)."""
    r = np.frombuffer(pkt.data, F.DATATAKE_START, count=1, offset=PH + SH)[0]
    return Datatake(datatake=int(r["datatake"]), mode=F.DATATAKE_MODES.get(int(r["mode"]), str(int(r["mode"]))),
                    start_gps=float(cuc_decode(r["start"])), stop_gps=float(cuc_decode(r["stop"])),
                    target=bytes(r["target"]).rstrip(b"\0").decode("ascii", "replace"),
                    key_id=int(r["key_id"]), kcv=bytes(r["kcv"]))


class KeyRing:
    """Keys per (datatake, key id), checked once against the datatake's KCV.

    ``get`` returns the key or raises :class:`KeyMissingError` (missing key, wrong KCV); the
    verdict is recorded on the :class:`Datatake` (or in ``unannounced`` for a datatake whose
    start packet was lost — its key cannot be verified and is used as configured).
    """

    def __init__(self, cfg, datatakes: dict[int, Datatake]) -> None:
        self.cfg = cfg
        self.datatakes = datatakes
        self._cache: dict[tuple[int, int], bytes | KeyMissingError] = {}
        self.unverified: set[int] = set()

    def verify_all(self) -> None:
        """Check the KCV of every announced encrypted datatake (report even if no image came)."""
        for d in self.datatakes.values():
            if d.key_id:
                try:
                    self.get(d.datatake, d.key_id)
                except KeyMissingError:
                    pass
            elif d.kcv != bytes(4):
                d.error = "clear datatake with a non-zero key check value"

    def get(self, datatake: int, key_id: int) -> bytes:
        k = (datatake, key_id)
        if k not in self._cache:
            self._cache[k] = self._load(datatake, key_id)
        v = self._cache[k]
        if isinstance(v, KeyMissingError):
            raise v
        return v

    def _load(self, datatake: int, key_id: int):
        d = self.datatakes.get(datatake)
        try:
            key = self.cfg.key(key_id)
        except KeyMissingError as e:
            if d is not None:
                d.kcv_ok, d.error = False, f"key id {key_id}: {e.message}"
            return KeyMissingError(f"datatake {datatake}: {e.message}; image lines masked "
                                   f"undecryptable, packets kept as transmitted", path=e.path,
                                   field=e.field, key_id=key_id, datatake=datatake)
        if d is None:
            self.unverified.add(datatake)
            return key
        if d.key_id != key_id:
            d.kcv_ok, d.error = False, f"image blocks use key id {key_id}, datatake start announces {d.key_id}"
            return KeyMissingError(f"datatake {datatake}: {d.error}", field="key_id", key_id=key_id,
                                   datatake=datatake)
        if key_check_value(key) != d.kcv:
            d.kcv_ok, d.error = False, f"key id {key_id} fails the key check value (wrong key)"
            return KeyMissingError(f"datatake {datatake}: configured key id {key_id} does not match "
                                   f"the datatake's key check value; image lines masked "
                                   f"undecryptable, packets kept as transmitted", field="kcv",
                                   key_id=key_id, datatake=datatake)
        d.kcv_ok = True
        return key


# ---------------------------------------------------------------------------- decompression

def decompress(compression: int, params: bytes, payload: bytes, lines: int, columns: int,
               sample_bits: int = 12) -> np.ndarray:
    """Block payload → (lines, columns) uint16 DN; :class:`CompressionError` on any mismatch."""
    n = lines * columns
    if compression == F.COMPRESSION_RAW:
        need = (n * sample_bits + 7) // 8
        if sample_bits != 12:
            raise CompressionError(f"raw samples of {sample_bits} bits not supported (ICD: 12)")
        if len(payload) != need:
            raise CompressionError(f"raw block of {lines}x{columns} needs {need} bytes, has {len(payload)}",
                                   field="payload")
        return unpack12(np.frombuffer(payload, np.uint8), n).reshape(lines, columns)
    if compression == F.COMPRESSION_CCSDS121:
        import imagecodecs
        bits, j, rsi = params[0], params[1], params[2]
        if bits != sample_bits or j not in (8, 16, 32, 64) or rsi == 0:
            raise CompressionError(f"CCSDS 121 parameters bits={bits} J={j} rsi={rsi} invalid "
                                   f"(profile {sample_bits} bits; J in 8/16/32/64)", field="params")
        try:
            raw = imagecodecs.aec_decode(payload, bitspersample=bits, blocksize=j, rsi=rsi,
                                         flags=F.CCSDS121_AEC_FLAGS, out=bytearray(2 * n))
        except Exception as e:      # imagecodecs raises its own AecError
            raise CompressionError(f"libaec: {e}", field="payload") from None
        if len(raw) != 2 * n:
            raise CompressionError(f"CCSDS 121 stream decodes to {len(raw) // 2} samples, block "
                                   f"needs {n}", field="payload")
        out = np.frombuffer(bytes(raw), ">u2").astype(np.uint16).reshape(lines, columns)
        if out.max(initial=0) >> sample_bits:
            raise CompressionError(f"CCSDS 121 samples exceed {sample_bits} bits", field="payload")
        return out
    if compression == F.COMPRESSION_CCSDS122:
        try:
            from decode import ccsds122
            ccsds122_decode = ccsds122.decode
        except (ImportError, AttributeError):
            raise CompressionError("CCSDS 122.0-B block: decoder decode.ccsds122 not available in "
                                   "this build", field="compression") from None
        try:
            img = ccsds122_decode(payload)
        except CompressionError:
            raise
        except Exception as e:
            raise CompressionError(f"CCSDS 122: {e}", field="payload") from None
        img = np.asarray(img)
        if img.shape != (lines, columns):
            raise CompressionError(f"CCSDS 122 image {img.shape}, block header says {(lines, columns)}")
        return np.clip(img, 0, (1 << sample_bits) - 1).astype(np.uint16)
    raise CompressionError(f"unknown compression id {compression} (ICD: 0, 1, 2)", field="compression")


# ---------------------------------------------------------------------------- packet files

def iter_packets(path: Path, chunk: int = 1 << 22) -> Iterator[tuple[int, bytes]]:
    """Stream (file offset, packet bytes) from a Level 0 packet file (concatenated packets).

    Raises :class:`DecodeError` naming the file and offset on a truncated packet.
    """
    off = 0
    buf = b""
    with open(path, "rb") as f:
        while True:
            more = f.read(chunk)
            buf += more
            p = 0
            while p + PH <= len(buf):
                total = PH + ((buf[p + 4] << 8) | buf[p + 5]) + 1
                if p + total > len(buf):
                    break
                yield off + p, buf[p:p + total]
                p += total
            off += p
            buf = buf[p:]
            if not more:
                break
    if buf:
        raise DecodeError(f"truncated packet ({len(buf)} bytes) at the end of the packet file",
                          path=path, offset=off)


def _block_header(unit_data: bytes) -> np.void:
    return np.frombuffer(unit_data, F.IMAGE_BLOCK_HEADER, count=1)[0]


@dataclass
class BandResult:
    """Outcome of one band image (one APID, one datatake)."""

    apid: int
    module: int
    band: str
    datatake: int
    file: str
    first_line: int
    lines: int
    columns: int
    blocks: int = 0
    lines_ok: int = 0
    lines_missing: int = 0
    lines_undecryptable: int = 0
    lines_decompression_error: int = 0
    compressed_bytes: int = 0
    compression: list[int] = field(default_factory=list)
    key_id: int = 0
    incomplete_units: int = 0
    lines_salvaged: int = 0         # whole raw lines recovered from incomplete units
    errors: list[dict] = field(default_factory=list)

    @property
    def compression_ratio(self) -> float | None:
        """12-bit raw size / transmitted payload size of the blocks that arrived."""
        done = self.lines_ok + self.lines_undecryptable + self.lines_decompression_error
        return round(done * self.columns * 1.5 / self.compressed_bytes, 4) if self.compressed_bytes else None

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items()}
        d["compression_ratio"] = self.compression_ratio
        return d


def _units(path: Path, sh: int) -> Iterator:
    seg = SegmentAssembler(sh)
    for _, data in iter_packets(path):
        yield from seg.add(Packet(data, -1, False))
    yield from seg.finish()


def build_images(packet_dir: Path, image_dir: Path, cfg, satellite, keyring: KeyRing,
                 max_errors: int = 20, ms_ratio: int | None = None) -> list[BandResult]:
    """Decode every image APID packet file of ``packet_dir`` into ``image_dir`` (see module doc).

    Extents: per datatake (line counters restart with each), aligned across all bands and
    modules of the datatake on the PAN line grid (MS line n = PAN line ``ms_ratio``·n, the
    instrument profile's ratio), so a block lost at the start or end of one band shows up as
    masked lines instead of a shorter image.
    """
    apids = satellite.apids
    sample_bits = satellite.packets.sample_bits
    if ms_ratio is None:
        ms_ratio = cfg.instrument(satellite.instrument).ms_ratio
    results: list[BandResult] = []
    found = []
    starts: dict[int, array] = {}                    # datatake -> block starts, PAN lines
    ends: dict[int, array] = {}
    for path in sorted(packet_dir.glob("APID_0x*.pkt")):
        apid = int(path.stem.split("_0x")[1], 16)
        src = apids.image_source(apid)
        if src is None:
            continue
        r = 1 if src[1] == "PAN" else ms_ratio
        # pass 1: block headers of first/only segments
        ext: dict[int, list[int]] = {}
        blocks: list[tuple[int, int, int]] = []
        for _, pkt in iter_packets(path):
            if pkt[2] >> 6 not in (F.SEQ_FIRST, F.SEQ_UNSEGMENTED) or len(pkt) < PH + SH + BH:
                continue
            h = _block_header(pkt[PH + SH:])
            dt_id, line, nl, nc = int(h["datatake"]), int(h["line"]), int(h["lines"]), int(h["columns"])
            e = ext.setdefault(dt_id, [line, line + nl, nc])
            e[0], e[1] = min(e[0], line), max(e[1], line + nl)
            blocks.append((dt_id, line, nl))
        for dt_id in ext:
            starts.setdefault(dt_id, array("q"))
            ends.setdefault(dt_id, array("q"))
        for dt_id, line, nl in blocks:
            starts[dt_id].append(line * r)
            ends[dt_id].append((line + nl) * r)
        if ext:
            found.append((path, apid, src, r, ext))
    span = {d: _span(starts[d], ends[d]) for d in starts}
    for path, apid, (module, band), r, ext in found:
        multi = len(ext) > 1
        for dt_id, (_, _, ncol) in sorted(ext.items()):
            l0, l1 = span[dt_id][0] // r, -(-span[dt_id][1] // r)
            name = f"M{module}_{band}" + (f"_DT{dt_id}" if multi else "")
            results.append(_build_band(path, apid, module, band, dt_id, l0, l1 - l0, ncol,
                                       image_dir / name, keyring, sample_bits, max_errors))
    return results


def _salvage_raw(u, dt_id, first_line, nlines, ncol, apid, keyring, f, offset, row_bytes, mask, res) -> None:
    """A raw block whose later segments were lost: its received prefix still holds whole lines
    (12-bit samples in raster order; AES-CTR decrypts any prefix). Compressed blocks cannot be
    cut this way and stay missing."""
    if len(u.data) < BH:
        return
    h = _block_header(u.data)
    if int(h["datatake"]) != dt_id or int(h["compression"]) != F.COMPRESSION_RAW or int(h["columns"]) != ncol:
        return
    line, nl, key_id = int(h["line"]), int(h["lines"]), int(h["key_id"])
    payload = u.data[BH:]
    full = min(nl, (len(payload) * 2 // 3) // ncol)          # whole lines of 1.5-byte samples
    r0 = line - first_line
    if full <= 0 or r0 < 0 or r0 + nl > nlines:
        return
    payload = payload[: (full * ncol * 3 + 1) // 2]
    if key_id:
        try:
            payload = aes_ctr(keyring.get(dt_id, key_id), apid, line, dt_id, payload)
        except KeyMissingError:
            mask[r0:r0 + full] = MASK_UNDECRYPTABLE
            return
    img = unpack12(np.frombuffer(payload, np.uint8), full * ncol).reshape(full, ncol)
    f.seek(offset + r0 * row_bytes)
    f.write(img.tobytes())
    mask[r0:r0 + full] = MASK_OK
    res.lines_salvaged += full
    res.compressed_bytes += len(payload)           # keeps compression_ratio = raw size / bytes used


#: longest band image (PAN lines, ≈ 90 min at 325 µs): a corrupted line counter must not make
#: the decoder allocate a 4-billion-line mask; blocks outside the window are rejected as errors
MAX_PAN_LINES = 1 << 24


def _span(starts: array, ends: array) -> tuple[int, int]:
    """[first, end) PAN lines covering the blocks; if wider than :data:`MAX_PAN_LINES` (corrupt
    line counters), the window of that length centred on the median block."""
    a, b = np.frombuffer(starts, np.int64), np.frombuffer(ends, np.int64)
    lo, hi = int(a.min()), int(b.max())
    if hi - lo <= MAX_PAN_LINES:
        return lo, hi
    mid = int(np.median(a))
    lo = max(lo, mid - MAX_PAN_LINES // 2)
    inside = (a >= lo) & (b <= lo + MAX_PAN_LINES)
    return int(a[inside].min()), int(b[inside].max())


def _build_band(path, apid, module, band, dt_id, first_line, nlines, ncol, stem: Path,
                keyring: KeyRing, sample_bits: int, max_errors: int) -> BandResult:
    res = BandResult(apid=apid, module=module, band=band, datatake=dt_id, file=stem.name + ".npy",
                     first_line=first_line, lines=nlines, columns=ncol)
    mask = np.full(nlines, MASK_MISSING, np.uint8)
    times: list[list[float]] = []
    block_lines: dict[int, int] = {}
    npy = stem.with_suffix(".npy")
    mm = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint16, shape=(nlines, ncol))
    offset = mm.offset
    del mm                                      # sparse file of zeros; rows written by seek
    row_bytes = ncol * 2

    def err(msg, line, **kw):
        if len(res.errors) < max_errors:
            res.errors.append({"apid": apid, "line": line, "message": msg, **kw})

    with open(npy, "r+b") as f:
        for u in _units(path, SH):
            if not u.complete:
                res.incomplete_units += 1
                _salvage_raw(u, dt_id, first_line, nlines, ncol, apid, keyring, f, offset, row_bytes, mask, res)
                continue                       # other lines stay MASK_MISSING
            if len(u.data) < BH:
                err("image unit shorter than its block header", None)
                continue
            h = _block_header(u.data)
            if int(h["datatake"]) != dt_id:
                continue
            line, nl, nc = int(h["line"]), int(h["lines"]), int(h["columns"])
            comp, key_id = int(h["compression"]), int(h["key_id"])
            payload = u.data[BH:]
            r0 = line - first_line
            if r0 < 0 or r0 + nl > nlines or nl == 0:
                err(f"block of {nl} lines at line counter {line} outside the datatake's span "
                    f"{first_line}..{first_line + nlines} (corrupt header?)", line)
                continue
            res.blocks += 1
            block_lines.setdefault(nl, 0)
            block_lines[nl] += 1
            res.compressed_bytes += len(payload)
            if comp not in res.compression:
                res.compression.append(comp)
            res.key_id = key_id
            times.append([line, cuc_seconds(u.first.data, PH)])
            if nc != ncol:
                err(f"block of {nc} columns in a band of {ncol}", line)
                mask[r0:r0 + nl] = MASK_DECOMPRESSION
                continue
            if key_id:
                try:
                    key = keyring.get(dt_id, key_id)
                except KeyMissingError:
                    mask[r0:r0 + nl] = MASK_UNDECRYPTABLE
                    continue
                payload = aes_ctr(key, apid, line, dt_id, payload)
            try:
                img = decompress(comp, bytes(h["params"]), payload, nl, nc, sample_bits)
            except CompressionError as e:
                err(e.message, line, compression=comp)
                mask[r0:r0 + nl] = MASK_DECOMPRESSION
                continue
            f.seek(offset + r0 * row_bytes)
            f.write(np.ascontiguousarray(img, np.uint16).tobytes())
            mask[r0:r0 + nl] = MASK_OK
    res.lines_ok = int((mask == MASK_OK).sum())
    res.lines_missing = int((mask == MASK_MISSING).sum())
    res.lines_undecryptable = int((mask == MASK_UNDECRYPTABLE).sum())
    res.lines_decompression_error = int((mask == MASK_DECOMPRESSION).sum())
    np.save(stem.parent / (stem.name + "_mask.npy"), mask)
    meta = {"apid": apid, "module": module, "band": band, "first_line": first_line, "lines": nlines,
            "columns": ncol, "block_lines": max(block_lines, key=block_lines.get) if block_lines else None,
            "datatake": dt_id, "compression": res.compression[0] if len(res.compression) == 1 else res.compression,
            "key_id": res.key_id, "compressed_bytes": res.compressed_bytes,
            "block_times": sorted(times)}
    tmp = stem.parent / f".{stem.name}.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, stem.parent / (stem.name + ".json"))
    return res
