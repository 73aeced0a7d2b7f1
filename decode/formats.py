"""Binary formats of the downlink ICD, defined once (``../shared/ICD.md`` §2–§4).

Each header or record is one ``np.dtype`` (big-endian, packed), used by the decoder to
read and by the simulator (:mod:`telemetry`) to write — the pytroll/satpy way. Bit
fields inside a word are described by :class:`BitField` tables with vectorised
``get``/``put`` so both sides share one definition of every bit position.

Sizes that depend on the profile (frame length = 223·I) are computed from
:class:`station_config.models.ChannelCoding`; everything else here is fixed by the ICD.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BitField:
    """``bits`` wide field at ``shift`` (LSB position) inside an unsigned big-endian word."""

    shift: int
    bits: int

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1

    def get(self, word):
        """Extract the field (works on scalars and numpy arrays)."""
        return (word >> self.shift) & self.mask

    def put(self, value) -> int:
        """Position ``value`` (range-checked for scalars) in the word."""
        if np.isscalar(value) and not 0 <= int(value) <= self.mask:
            raise ValueError(f"value {value} does not fit in {self.bits} bits")
        return (np.asarray(value).astype(np.uint64) & self.mask) << self.shift if not np.isscalar(value) \
            else (int(value) & self.mask) << self.shift


# ----------------------------------------------------------------- §2 CADU (CCSDS 131.0-B)
ASM_LENGTH = 4


def cadu_dtype(codeblock_length: int) -> np.dtype:
    """ASM (u32) + RS codeblock (255·I bytes)."""
    return np.dtype([("asm", ">u4"), ("codeblock", "u1", (codeblock_length,))])


# ----------------------------------------------------------------- §3 AOS frame (CCSDS 732.0-B)
#: 6-byte AOS primary header: word0 = version(2) SCID(8) VCID(6); 24-bit VC frame count;
#: signalling field (replay flag in its MSB, "bit 0" in CCSDS numbering, then 7 spare/zero bits).
AOS_HEADER = np.dtype([("id", ">u2"), ("vc_count", "u1", (3,)), ("signalling", "u1")])
AOS_VERSION = BitField(14, 2)       # '01' = AOS (value 1)
AOS_SCID = BitField(6, 8)
AOS_VCID = BitField(0, 6)
AOS_REPLAY = BitField(7, 1)         # in the signalling byte
AOS_VERSION_VALUE = 1
VC_COUNT_MODULUS = 1 << 24

#: M_PDU header: 5 spare bits (zero) + 11-bit first header pointer.
MPDU_HEADER = np.dtype([("fhp", ">u2")])
MPDU_FHP = BitField(0, 11)
MPDU_SPARE = BitField(11, 5)
FHP_NO_PACKET_START = 0x7FF
FHP_IDLE_DATA = 0x7FE
AOS_HEADER_LENGTH = AOS_HEADER.itemsize         # 6
MPDU_HEADER_LENGTH = MPDU_HEADER.itemsize       # 2


def frame_dtype(frame_length: int) -> np.dtype:
    """AOS frame of ``frame_length`` bytes (223·I): header, M_PDU header, packet zone."""
    zone = frame_length - AOS_HEADER_LENGTH - MPDU_HEADER_LENGTH
    return np.dtype([("hdr", AOS_HEADER), ("mpdu", MPDU_HEADER), ("zone", "u1", (zone,))])


def vc_count(hdr: np.ndarray) -> np.ndarray:
    """24-bit VC frame counts of an array of AOS headers."""
    c = hdr["vc_count"].astype(np.uint32)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def pack_aos_header(scid: int, vcid: int, count: int, replay: bool = False) -> np.ndarray:
    """One AOS primary header as a structured scalar array (shape ())."""
    h = np.zeros((), AOS_HEADER)
    h["id"] = AOS_VERSION.put(AOS_VERSION_VALUE) | AOS_SCID.put(scid) | AOS_VCID.put(vcid)
    count %= VC_COUNT_MODULUS
    h["vc_count"] = ((count >> 16) & 0xFF, (count >> 8) & 0xFF, count & 0xFF)
    h["signalling"] = AOS_REPLAY.put(int(replay))
    return h


# ----------------------------------------------------------------- §4 space packets (CCSDS 133.0-B)
#: 6-byte primary header: word0 = version(3)=0 type(1)=0 secflag(1) APID(11);
#: word1 = sequence flags(2) sequence count(14); word2 = data length − 1.
PACKET_HEADER = np.dtype([("id", ">u2"), ("seq", ">u2"), ("length", ">u2")])
PKT_VERSION = BitField(13, 3)
PKT_TYPE = BitField(12, 1)
PKT_SECHDR = BitField(11, 1)
PKT_APID = BitField(0, 11)
PKT_SEQFLAGS = BitField(14, 2)
PKT_SEQCOUNT = BitField(0, 14)
SEQ_CONTINUATION, SEQ_FIRST, SEQ_LAST, SEQ_UNSEGMENTED = 0b00, 0b01, 0b10, 0b11
SEQ_COUNT_MODULUS = 1 << 14
PACKET_HEADER_LENGTH = PACKET_HEADER.itemsize   # 6

#: 7-byte secondary header: CUC, 4 coarse + 3 fine octets, GPS time (see srd.timescale).
SECONDARY_HEADER = np.dtype([("cuc", "u1", (7,))])
SECONDARY_HEADER_LENGTH = SECONDARY_HEADER.itemsize


def pack_packet_header(apid: int, seq_flags: int, seq_count: int, data_length: int,
                       secondary: bool = True) -> bytes:
    """Primary header bytes; ``data_length`` is the true length of the data field (≥ 1)."""
    if not 1 <= data_length <= 65536:
        raise ValueError(f"packet data field length {data_length} outside 1..65536")
    w0 = PKT_SECHDR.put(int(secondary)) | PKT_APID.put(apid)
    w1 = PKT_SEQFLAGS.put(seq_flags) | PKT_SEQCOUNT.put(seq_count % SEQ_COUNT_MODULUS)
    return np.array([(w0, w1, data_length - 1)], PACKET_HEADER).tobytes()


# ----------------------------------------------------------------- §4.1 image block header
IMAGE_BLOCK_HEADER = np.dtype([
    ("line", ">u4"),            # line counter of the block's first line
    ("lines", ">u2"),
    ("columns", ">u2"),
    ("compression", "u1"),      # 0 raw, 1 CCSDS 121, 2 CCSDS 122
    ("params", "u1", (3,)),
    ("key_id", "u1"),           # 0 = clear
    ("datatake", ">u4"),
    ("reserved", "u1"),
])
assert IMAGE_BLOCK_HEADER.itemsize == 18
COMPRESSION_RAW, COMPRESSION_CCSDS121, COMPRESSION_CCSDS122 = 0, 1, 2
#: libaec flags of the CCSDS 121 image stream (docs/developing.md: fixed by the profile):
#: AEC_DATA_PREPROCESS (8) | AEC_DATA_MSB (4, big-endian samples, 2 bytes each) — libaec.h values,
#: spelled out because imagecodecs does not export AEC_DATA_MSB.
AEC_DATA_MSB, AEC_DATA_PREPROCESS = 4, 8
CCSDS121_AEC_FLAGS = AEC_DATA_PREPROCESS | AEC_DATA_MSB

# ----------------------------------------------------------------- §4.2 ancillary records
#: after the secondary header (whose CUC is the fix/sample time)
EPHEMERIS = np.dtype([("position", ">f8", (3,)), ("velocity", ">f8", (3,)),
                      ("quality", "u1"), ("satellites", "u1")])
ATTITUDE = np.dtype([("q", ">f8", (4,)), ("rate", ">f4", (3,)), ("status", "u1")])
HOUSEKEEPING = np.dtype([("line_period_ns", ">u4"), ("tdi", "u1"), ("fp_temp_c", ">f4"),
                         ("gain_code", "u1", (20,))])
DATATAKE_START = np.dtype([("datatake", ">u4"), ("mode", "u1"), ("start", "u1", (7,)),
                           ("stop", "u1", (7,)), ("target", "S32"), ("key_id", "u1"),
                           ("kcv", "u1", (4,))])
assert (EPHEMERIS.itemsize, ATTITUDE.itemsize, HOUSEKEEPING.itemsize, DATATAKE_START.itemsize) == (50, 45, 29, 56)
DATATAKE_MODES = {0: "mono", 1: "stereo-fore", 2: "stereo-aft"}


def aes_ctr_counter_block(apid: int, line: int, datatake: int) -> bytes:
    """Initial 16-byte AES-CTR counter block of an image block (ICD §4.1):
    APID (u16) ‖ line counter (u32) ‖ datatake id (u32) ‖ six zero bytes."""
    return (int(apid).to_bytes(2, "big") + int(line).to_bytes(4, "big")
            + int(datatake).to_bytes(4, "big") + bytes(6))
