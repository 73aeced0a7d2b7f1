"""Synthetic packets and AOS frames for decoder unit tests, built from decode.formats only
(an independent, deliberately simple multiplexer: one VC, packets back to back)."""
from __future__ import annotations

import numpy as np

from decode import formats as F

ZONE = 892 - 8


def packet(apid: int, seq: int, user: bytes, flags: int = F.SEQ_UNSEGMENTED, cuc: bytes | None = None,
           secondary: bool = True) -> bytes:
    """Space packet: primary header + (7-byte CUC secondary header) + user data."""
    body = (cuc if cuc is not None else bytes(7)) + user if secondary else user
    return F.pack_packet_header(apid, flags, seq, len(body), secondary=secondary) + body


def idle_packet(total: int) -> bytes:
    """Idle packet (APID 0x7FF, no secondary header) of ``total`` bytes (>= 7)."""
    return F.pack_packet_header(0x7FF, F.SEQ_UNSEGMENTED, 0, total - 6, secondary=False) + bytes([0x55]) * (total - 6)


def random_packets(rng, n: int, apid: int = 0x100, lo: int = 1, hi: int = 3000, seq0: int = 0) -> list[bytes]:
    out = []
    for i in range(n):
        size = int(rng.integers(lo, hi))
        out.append(packet(apid, (seq0 + i) % F.SEQ_COUNT_MODULUS, rng.integers(0, 256, size, dtype=np.uint8).tobytes()))
    return out


def mux(packets: list[bytes], vcid: int, scid: int = 166, count0: int = 0, zone: int = ZONE,
        replay: bool = False) -> tuple[np.ndarray, list[int]]:
    """Frames (n, zone+8) carrying ``packets`` back to back on one VC, padded with an idle
    packet; returns the frames and each packet's byte offset in the VC stream."""
    starts, pos = [], 0
    for p in packets:
        starts.append(pos)
        pos += len(p)
    pad = (-pos) % zone
    if 0 < pad < 7:
        pad += zone
    stream = b"".join(packets) + (idle_packet(pad) if pad else b"")
    all_starts = starts + ([pos] if pad else [])
    n = len(stream) // zone
    frames = np.zeros((n, zone + 8), np.uint8)
    s = np.array(all_starts)
    for j in range(n):
        inside = s[(s >= j * zone) & (s < (j + 1) * zone)]
        fhp = int(inside[0] - j * zone) if inside.size else F.FHP_NO_PACKET_START
        hdr = F.pack_aos_header(scid, vcid, count0 + j, replay)
        frames[j, :6] = np.frombuffer(hdr.tobytes(), np.uint8)
        frames[j, 6:8] = np.frombuffer(np.array([(fhp,)], F.MPDU_HEADER).tobytes(), np.uint8)
        frames[j, 8:] = np.frombuffer(stream[j * zone:(j + 1) * zone], np.uint8)
    return frames, starts
