"""On-board formatting, packet layer: image blocks and ancillary records → space packets.

Implements ``../shared/ICD.md`` §4 (CCSDS 133.0-B space packets) and the clarifications of
``docs/developing.md``:

* **Compression** (ICD §4.1): raw (12-bit samples, two in three bytes, big-endian),
  CCSDS 121.0-B via libaec (``imagecodecs.aec_encode``, flags
  :data:`decode.formats.CCSDS121_AEC_FLAGS`, parameters ``[bits, J, rsi]`` in the block
  header), CCSDS 122.0-B-2 via the project codec :mod:`decode.ccsds122` (lossless integer
  DWT; blocks ``ccsds122_block_scale``× taller).
* **Encryption** (ICD §4.1): AES-256-CTR over the payload after the 18-byte block header, one
  stream per block, initial counter block :func:`decode.formats.aes_ctr_counter_block`.
* **Packets**: 6-byte primary header, 7-byte CUC secondary header (GPS time, repeated by every
  segment), segmentation when the data field would exceed ``packets.max_data_field`` bytes
  (flags 01 first, 00 continuation, 10 last, 11 unsegmented), one 14-bit sequence count per
  APID incremented by every packet (segments included).
* **Ancillary** (ICD §4.2): ephemeris, attitude, housekeeping records and the datatake-start
  packet with its key check value (first 4 bytes of AES-256-ECB(key, 0¹²⁸)).

Pure formatting: no I/O, no printing. Every number comes from the satellite profile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from decode import formats as F
from srd.errors import ConfigError, TelemetryError
from srd.timescale import cuc_encode

#: CCSDS 121 encoder choices carried in the block header ``params`` (docs/developing.md):
#: block size J (samples) and reference sample interval (in blocks, ≤ 255 to fit one octet).
CCSDS121_BLOCK_SIZE = 16
CCSDS121_RSI = 128
#: CCSDS 122 encoder choice: S, 8×8 blocks per segment (in the 122 headers, not in ``params``)
CCSDS122_SEGMENT = 128

COMPRESSIONS = {"raw": F.COMPRESSION_RAW, "ccsds121": F.COMPRESSION_CCSDS121,
                "ccsds122": F.COMPRESSION_CCSDS122}


# ----------------------------------------------------------------------------- payload coding

def pack12(dn: np.ndarray) -> bytes:
    """12-bit samples → two samples in three bytes, big-endian, raster order (ICD §4.1):
    ``s0[11:4] | s0[3:0]s1[11:8] | s1[7:0]``. Raises ``TelemetryError`` for an odd sample
    count or a value above 4095."""
    a = np.ascontiguousarray(dn, dtype=np.uint16).ravel()
    if a.size % 2:
        raise TelemetryError(f"raw packing needs an even number of samples, got {a.size}", field="dn")
    if a.size and int(a.max()) > 0xFFF:
        raise TelemetryError(f"sample value {int(a.max())} does not fit in 12 bits", field="dn")
    s0, s1 = a[0::2], a[1::2]
    out = np.empty((a.size // 2, 3), np.uint8)
    out[:, 0] = s0 >> 4
    out[:, 1] = ((s0 & 0xF) << 4) | (s1 >> 8)
    out[:, 2] = s1 & 0xFF
    return out.tobytes()


def unpack12(data: bytes, n_samples: int) -> np.ndarray:
    """Inverse of :func:`pack12` (used by tests and tools): uint16 array of ``n_samples``."""
    b = np.frombuffer(data, np.uint8)
    if b.size != n_samples // 2 * 3:
        raise TelemetryError(f"{b.size} raw bytes for {n_samples} samples (expected {n_samples // 2 * 3})")
    t = b.reshape(-1, 3).astype(np.uint16)
    out = np.empty(n_samples, np.uint16)
    out[0::2] = (t[:, 0] << 4) | (t[:, 1] >> 4)
    out[1::2] = ((t[:, 1] & 0xF) << 8) | t[:, 2]
    return out


def compress_block(dn: np.ndarray, compression: int, bits: int = 12,
                   ccsds122_bpp: float | None = None) -> tuple[bytes, bytes]:
    """Compress one image block (uint16 lines × columns) → (payload, 3 parameter bytes).

    * raw: :func:`pack12`, parameters zero.
    * CCSDS 121 (libaec, Rice/AEC, CCSDS 121.0-B-3): samples big-endian 2 bytes each, raster
      order, flags ``AEC_DATA_PREPROCESS | AEC_DATA_MSB``; parameters ``[bits, J, rsi]``.
    * CCSDS 122 (CCSDS 122.0-B-2): the block as one 122 image via :mod:`decode.ccsds122`
      (S = :data:`CCSDS122_SEGMENT`): integer 9/7 DWT, lossless, unless ``ccsds122_bpp`` asks
      for a rate (bits per pixel): then float 9/7 DWT with segment byte limit
      floor(bpp·S·64/8) rounded down to the ICD's 16-byte unit; parameters ``[DWT type (0
      integer, 1 float), segment byte limit / 16 (u16, 0 = unlimited)]`` (ICD §4.1).
    """
    if compression == F.COMPRESSION_RAW:
        return pack12(dn), bytes(3)
    if compression == F.COMPRESSION_CCSDS121:
        import imagecodecs
        a = np.ascontiguousarray(dn, dtype=">u2")
        data = imagecodecs.aec_encode(a.tobytes(), bitspersample=bits, flags=F.CCSDS121_AEC_FLAGS,
                                      blocksize=CCSDS121_BLOCK_SIZE, rsi=CCSDS121_RSI)
        return bytes(data), bytes([bits, CCSDS121_BLOCK_SIZE, CCSDS121_RSI])
    if compression == F.COMPRESSION_CCSDS122:
        from decode import ccsds122
        dwt, limit = "int", 0
        if ccsds122_bpp:
            dwt, limit = "float", ccsds122_segment_limit(ccsds122_bpp)
        data = _ccsds122_encoder()(np.ascontiguousarray(dn, dtype=np.uint16), bits, dwt, limit)
        return bytes(data), ccsds122.icd_params(dwt, limit)
    raise ConfigError(f"unknown compression id {compression}", field="compression")


def _ccsds122_encoder():
    """The project's CCSDS 122.0-B-2 encoder (:func:`decode.ccsds122.encode`): lossless
    integer 9/7 DWT, :data:`CCSDS122_SEGMENT` blocks per segment."""
    try:
        from decode import ccsds122
    except ModuleNotFoundError:         # pragma: no cover - the codec ships with the project
        raise ConfigError("CCSDS 122 compression is not available in this build (decode.ccsds122 "
                          "missing); use raw or ccsds121", field="compression") from None

    def encode(dn, bits, dwt="int", limit=0):
        return ccsds122.encode(dn, segment=CCSDS122_SEGMENT, bits=bits, dwt=dwt,
                               seg_byte_limit=limit or None)
    return encode


def ccsds122_segment_limit(bpp: float) -> int:
    """Segment byte limit for a rate of ``bpp`` bits/pixel: floor(bpp·S·64/8) (issue 9's
    definition), rounded down to the 16-byte unit the ICD §4.1 header carries."""
    if not 0 < bpp <= 16:
        raise ConfigError(f"--bpp {bpp} outside (0, 16] bits per pixel", field="bpp")
    limit = int(bpp * CCSDS122_SEGMENT * 64 / 8) // 16 * 16
    if limit < 16:
        raise ConfigError(f"--bpp {bpp} gives a segment byte limit below 16 bytes", field="bpp")
    return limit


def key_check_value(key: bytes) -> bytes:
    """ICD §4.2: first 4 bytes of AES-256-ECB(key, 16 zero bytes)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (e.update(bytes(16)) + e.finalize())[:4]


def aes_ctr(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """AES-256-CTR keystream XOR (encryption = decryption); the 128-bit counter block is
    incremented big-endian per 16-byte block (NIST SP 800-38A §6.5)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    e = Cipher(algorithms.AES(key), modes.CTR(counter_block)).encryptor()
    return e.update(data) + e.finalize()


# ----------------------------------------------------------------------------- packets

def space_packet(apid: int, seq_flags: int, seq_count: int, cuc: bytes, data: bytes) -> bytes:
    """One telemetry space packet: primary header + 7-byte CUC secondary header + ``data``."""
    return F.pack_packet_header(apid, seq_flags, seq_count, len(cuc) + len(data)) + cuc + data


def idle_packet(length: int, fill: int = 0x55) -> bytes:
    """Idle packet (APID 0x7FF, no secondary header) of exactly ``length`` ≥ 7 bytes."""
    if length < F.PACKET_HEADER_LENGTH + 1:
        raise ValueError(f"an idle packet needs at least 7 bytes, asked {length}")
    return (F.pack_packet_header(0x7FF, F.SEQ_UNSEGMENTED, 0, length - F.PACKET_HEADER_LENGTH,
                                 secondary=False) + bytes([fill]) * (length - F.PACKET_HEADER_LENGTH))


@dataclass(frozen=True)
class Unit:
    """The packets of one source unit (image block or ancillary record)."""

    apid: int
    gps_time: float
    packets: tuple[bytes, ...]

    @property
    def nbytes(self) -> int:
        return sum(len(p) for p in self.packets)


class Packetizer:
    """Formats image blocks and ancillary records of one satellite into space packets.

    ``compression``: ``"raw"``, ``"ccsds121"`` or ``"ccsds122"``; ``key_id`` 0 = clear,
    otherwise ``key`` (32 bytes, from ``cfg.key(key_id)``) encrypts every image payload.
    Sequence counts are kept per APID across calls (one Packetizer per downlink).
    """

    def __init__(self, sat, *, compression: str = "raw", key_id: int = 0, key: bytes | None = None,
                 bits: int | None = None, ccsds122_bpp: float | None = None) -> None:
        if compression not in COMPRESSIONS:
            raise ConfigError(f"unknown compression {compression!r}; choose one of "
                              f"{', '.join(COMPRESSIONS)}", field="compression")
        if key_id and (key is None or len(key) != 32):
            raise ConfigError(f"key id {key_id} needs a 32-byte AES-256 key", field="key_id")
        if not 0 <= key_id <= 255:
            raise ConfigError(f"key id {key_id} outside 0..255", field="key_id")
        self.sat = sat
        self.apids = sat.apids
        self.fmt = sat.packets
        self.compression = COMPRESSIONS[compression]
        self.compression_name = compression
        if ccsds122_bpp is not None and compression != "ccsds122":
            raise ConfigError("a bit rate (--bpp) applies to ccsds122 compression only", field="bpp")
        if ccsds122_bpp is not None:
            ccsds122_segment_limit(ccsds122_bpp)        # validate now, before any work
        self.ccsds122_bpp = ccsds122_bpp
        self.key_id = int(key_id)
        self._key = key if key_id else None
        self.bits = int(bits or self.fmt.sample_bits)
        self.seq: dict[int, int] = {}
        self.payload_bytes = 0          # compressed (+encrypted) image payload bytes
        self.image_samples = 0
        if self.compression == F.COMPRESSION_CCSDS122:
            _ccsds122_encoder()         # fail now, before any work, if the codec is absent
        if self.fmt.cuc_coarse_octets != 4 or self.fmt.cuc_fine_octets != 3:
            raise ConfigError("only the 4+3 octet CUC of the ICD is implemented (srd.timescale)",
                              field="packets.cuc_coarse_octets")

    # ------------------------------------------------------------------ helpers
    @property
    def block_scale(self) -> int:
        """Block height multiplier (CCSDS 122 blocks are ``ccsds122_block_scale``× taller)."""
        return self.fmt.ccsds122_block_scale if self.compression == F.COMPRESSION_CCSDS122 else 1

    def _next_seq(self, apid: int) -> int:
        c = self.seq.get(apid, 0)
        self.seq[apid] = (c + 1) % F.SEQ_COUNT_MODULUS
        return c

    def _cuc(self, gps_time: float) -> bytes:
        return cuc_encode(gps_time)[0].tobytes()

    def segment(self, apid: int, gps_time: float, unit: bytes) -> tuple[bytes, ...]:
        """Split one unit into packets whose data fields (7-byte CUC + chunk) are at most
        ``max_data_field`` bytes; every segment repeats the CUC (ICD §4)."""
        cuc = self._cuc(gps_time)
        room = self.fmt.max_data_field - len(cuc)
        if len(unit) <= room:
            return (space_packet(apid, F.SEQ_UNSEGMENTED, self._next_seq(apid), cuc, unit),)
        n = -(-len(unit) // room)
        out = []
        for i in range(n):
            flags = F.SEQ_FIRST if i == 0 else (F.SEQ_LAST if i == n - 1 else F.SEQ_CONTINUATION)
            out.append(space_packet(apid, flags, self._next_seq(apid), cuc, unit[i * room:(i + 1) * room]))
        return tuple(out)

    # ------------------------------------------------------------------ image
    def image_unit(self, module: int, band: str, first_line: int, gps_time: float,
                   dn: np.ndarray, datatake: int) -> Unit:
        """Packets of one image block (ICD §4.1): block header + compressed, optionally
        encrypted payload, segmented. ``first_line``: line counter of the band since the
        datatake start; ``gps_time``: mid-exposure GPS time (s) of that line."""
        dn = np.asarray(dn)
        if dn.ndim != 2 or dn.dtype != np.uint16:
            raise TelemetryError(f"image block M{module} {band} line {first_line}: expected a 2-D "
                                 f"uint16 array, got {dn.dtype} {dn.shape}", field="dn")
        apid = self.apids.image(module, band)
        payload, params = compress_block(dn, self.compression, self.bits, self.ccsds122_bpp)
        if self._key is not None:
            payload = aes_ctr(self._key, F.aes_ctr_counter_block(apid, first_line, datatake), payload)
        hdr = np.zeros((), F.IMAGE_BLOCK_HEADER)
        hdr["line"], hdr["lines"], hdr["columns"] = first_line, dn.shape[0], dn.shape[1]
        hdr["compression"] = self.compression
        hdr["params"] = np.frombuffer(params, np.uint8)
        hdr["key_id"], hdr["datatake"], hdr["reserved"] = self.key_id, datatake, 0
        self.payload_bytes += len(payload)
        self.image_samples += dn.size
        return Unit(apid, float(gps_time), self.segment(apid, gps_time, hdr.tobytes() + payload))

    # ------------------------------------------------------------------ ancillary
    def _records(self, apid: int, fmt: np.dtype, records: np.ndarray) -> list[Unit]:
        names = list(fmt.names)
        missing = [n for n in ["gps_time", *names] if n not in (records.dtype.names or ())]
        if missing:
            raise TelemetryError(f"ancillary records for APID {apid:#05x} lack field(s) {missing}")
        body = np.zeros(len(records), fmt)
        for n in names:
            body[n] = records[n]
        return [Unit(apid, float(t), (space_packet(apid, F.SEQ_UNSEGMENTED, self._next_seq(apid),
                                                   self._cuc(t), b.tobytes()),))
                for t, b in zip(records["gps_time"], body)]

    def ephemeris_units(self, records: np.ndarray) -> list[Unit]:
        """ICD §4.2 ephemeris packets (CUC = fix time); ``records`` carry ``gps_time`` and the
        :data:`decode.formats.EPHEMERIS` fields (ITRF m, m/s)."""
        return self._records(self.apids.ephemeris, F.EPHEMERIS, records)

    def attitude_units(self, records: np.ndarray) -> list[Unit]:
        """ICD §4.2 attitude packets (quaternion body→ITRF scalar first, rate rad/s)."""
        return self._records(self.apids.attitude, F.ATTITUDE, records)

    def housekeeping_units(self, records: np.ndarray) -> list[Unit]:
        """ICD §4.2 instrument housekeeping packets."""
        return self._records(self.apids.housekeeping, F.HOUSEKEEPING, records)

    def datatake_unit(self, gps_time: float, datatake: int, mode: int, start_gps: float,
                      stop_gps: float, target: str) -> Unit:
        """ICD §4.2 datatake-start packet: id, mode, planned start/stop (CUC), target name
        (≤ 32 ASCII), key id of the image data and its key check value (zeros when clear)."""
        name = target.encode("ascii", "replace")
        if len(name) > 32:
            raise TelemetryError(f"datatake target name {target!r} longer than 32 bytes", field="target")
        rec = np.zeros((), F.DATATAKE_START)
        rec["datatake"], rec["mode"] = datatake, mode
        rec["start"] = cuc_encode(start_gps)[0]
        rec["stop"] = cuc_encode(stop_gps)[0]
        rec["target"] = name
        rec["key_id"] = self.key_id
        rec["kcv"] = np.frombuffer(key_check_value(self._key) if self._key is not None else bytes(4), np.uint8)
        apid = self.apids.datatake
        return Unit(apid, float(gps_time), (space_packet(apid, F.SEQ_UNSEGMENTED, self._next_seq(apid),
                                                         self._cuc(gps_time), rec.tobytes()),))
