"""telemetry/packetizer.py against independent readers: bit-level unpacking of the raw 12-bit
format, libaec (imagecodecs) for CCSDS 121, AES via raw ECB keystream, ccsdspy for the packet
headers and ancillary records."""
from __future__ import annotations

import io
import logging

import numpy as np
import pytest

from decode import formats as F
from srd.errors import ConfigError, TelemetryError
from srd.timescale import cuc_decode
from telemetry.packetizer import (Packetizer, aes_ctr, compress_block, key_check_value, pack12,
                                  unpack12)

logging.getLogger("ccsdspy").setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def sat(cfg):
    return cfg.satellite("SPOT-6")


def textured(lines, cols, seed=0):
    """Smooth-ish 12-bit image (compressible, like real land) with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:lines, 0:cols]
    img = 1500 + 800 * np.sin(x / 17.0) * np.cos(y / 11.0) + rng.normal(0, 6, (lines, cols))
    return np.clip(img, 0, 4095).astype(np.uint16)


def test_pack12_bit_layout():
    # ICD §4.1: s0[11:4] | s0[3:0] s1[11:8] | s1[7:0]
    assert pack12(np.array([[0xABC, 0x123]], np.uint16)) == bytes([0xAB, 0xC1, 0x23])
    dn = np.random.default_rng(1).integers(0, 4096, (8, 64)).astype(np.uint16)
    raw = pack12(dn)
    # independent reader: the bit string, 12 bits per sample MSB first
    bits = np.unpackbits(np.frombuffer(raw, np.uint8)).reshape(-1, 12)
    values = bits @ (1 << np.arange(11, -1, -1))
    assert np.array_equal(values.reshape(dn.shape), dn)
    assert np.array_equal(unpack12(raw, dn.size).reshape(dn.shape), dn)


def test_pack12_rejects_bad_input():
    with pytest.raises(TelemetryError, match="even number"):
        pack12(np.zeros((1, 3), np.uint16))
    with pytest.raises(TelemetryError, match="12 bits"):
        pack12(np.full((2, 2), 4096, np.uint16))


def test_ccsds121_decoded_by_libaec():
    import imagecodecs
    dn = textured(32, 256)
    data, params = compress_block(dn, F.COMPRESSION_CCSDS121)
    bits, j, rsi = params
    assert bits == 12
    out = imagecodecs.aec_decode(data, bitspersample=bits, blocksize=j, rsi=rsi,
                                 flags=F.CCSDS121_AEC_FLAGS)
    assert np.array_equal(np.frombuffer(out, ">u2").reshape(dn.shape), dn)
    assert len(data) < 0.8 * dn.size * 1.5          # really compressed, not stored


def test_ccsds122_block_round_trip(sat):
    from decode import ccsds122
    dn = textured(128, 256, seed=4)                # a CCSDS 122 PAN block is 4x taller (ICD 4.1)
    data, params = compress_block(dn, F.COMPRESSION_CCSDS122)
    assert params == bytes(3) and len(data) < 0.7 * dn.size * 1.5
    assert np.array_equal(ccsds122.decode(data), dn)
    assert Packetizer(sat, compression="ccsds122").block_scale == sat.packets.ccsds122_block_scale == 4


def aes_ecb(key, blocks):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(blocks) + e.finalize()


def test_aes_ctr_matches_ecb_keystream_and_kcv(cfg):
    key = cfg.key(1)
    cb = F.aes_ctr_counter_block(0x100, 4096, 7)
    assert cb == bytes.fromhex("0100" "00001000" "00000007") + bytes(6)
    data = bytes(range(256)) * 3 + b"tail"
    n = -(-len(data) // 16)
    ctr = int.from_bytes(cb, "big")
    stream = aes_ecb(key, b"".join(((ctr + i) % (1 << 128)).to_bytes(16, "big") for i in range(n)))
    expect = bytes(a ^ b for a, b in zip(data, stream))
    assert aes_ctr(key, cb, data) == expect
    assert key_check_value(key) == aes_ecb(key, bytes(16))[:4]


def test_image_packets_segmented_and_read_by_ccsdspy(sat):
    from ccsdspy.utils import read_primary_headers
    pk = Packetizer(sat, compression="raw")
    dn = np.random.default_rng(2).integers(0, 4096, (32, 7000)).astype(np.uint16)   # nominal PAN block
    u = pk.image_unit(3, "PAN", 64, 1_000_000_000.25, dn, 9)
    stream = b"".join(u.packets)
    h = read_primary_headers(io.BytesIO(stream))
    unit_len = 18 + dn.size * 3 // 2
    n = -(-unit_len // (65536 - 7))
    assert len(u.packets) == n == 6
    assert list(h["CCSDS_APID"]) == [sat.apids.image(3, "PAN")] * n == [0x120] * n
    assert list(h["CCSDS_SEQUENCE_FLAG"]) == [1] + [0] * (n - 2) + [2]
    assert list(h["CCSDS_SEQUENCE_COUNT"]) == list(range(n))
    assert set(h["CCSDS_SECONDARY_FLAG"]) == {1} and set(h["CCSDS_VERSION_NUMBER"]) == {0}
    lengths = [int(x) + 1 for x in h["CCSDS_PACKET_LENGTH"]]
    assert max(lengths) == 65536 and sum(lengths) == 7 * n + unit_len
    # every segment repeats the CUC; payload reassembles to block header + raw data
    cucs = {p[6:13] for p in u.packets}
    assert len(cucs) == 1 and cuc_decode(np.frombuffer(cucs.pop(), np.uint8)) == pytest.approx(1e9 + 0.25, abs=1e-7)
    unit = b"".join(p[13:] for p in u.packets)
    hdr = np.frombuffer(unit[:18], F.IMAGE_BLOCK_HEADER)[0]
    assert (hdr["line"], hdr["lines"], hdr["columns"], hdr["compression"], hdr["key_id"],
            hdr["datatake"], hdr["reserved"]) == (64, 32, 7000, 0, 0, 9, 0)
    assert unit[18:] == pack12(dn)
    # counts continue per APID
    u2 = pk.image_unit(3, "PAN", 96, 1e9 + 0.26, dn, 9)
    assert read_primary_headers(io.BytesIO(u2.packets[0]))["CCSDS_SEQUENCE_COUNT"][0] == n


def test_encrypted_block_decrypts_to_payload(cfg, sat):
    import imagecodecs
    key = cfg.key(1)
    pk = Packetizer(sat, compression="ccsds121", key_id=1, key=key)
    dn = textured(8, 64, seed=3)
    u = pk.image_unit(1, "B2", 16, 1e9, dn, 5)
    assert len(u.packets) == 1
    unit = u.packets[0][13:]
    hdr = np.frombuffer(unit[:18], F.IMAGE_BLOCK_HEADER)[0]
    assert hdr["key_id"] == 1 and hdr["compression"] == 1
    apid = sat.apids.image(1, "B2")
    clear = aes_ctr(key, F.aes_ctr_counter_block(apid, 16, 5), unit[18:])
    assert clear != unit[18:]
    bits, j, rsi = hdr["params"]
    out = imagecodecs.aec_decode(clear, bitspersample=int(bits), blocksize=int(j), rsi=int(rsi),
                                 flags=F.CCSDS121_AEC_FLAGS)
    assert np.array_equal(np.frombuffer(out, ">u2").reshape(dn.shape), dn)


def test_ancillary_packets_read_by_ccsdspy(sat):
    import ccsdspy
    from ccsdspy import PacketField, PacketArray
    pk = Packetizer(sat)
    rec = np.zeros(3, [("gps_time", "f8"), ("position", "f8", (3,)), ("velocity", "f8", (3,)),
                       ("quality", "u1"), ("satellites", "u1")])
    rec["gps_time"] = 1e9 + np.arange(3)
    rec["position"] = [[4.1e6, 3e5, 5.4e6]] * 3
    rec["velocity"] = [[-5.9e3, -1.2e2, 4.6e3]] * 3
    rec["quality"], rec["satellites"] = 1, 11
    units = pk.ephemeris_units(rec)
    stream = b"".join(p for u in units for p in u.packets)
    pkt = ccsdspy.FixedLength([
        PacketField("coarse", "uint", 32), PacketField("fine", "uint", 24),
        PacketArray("position", "float", 64, array_shape=3), PacketArray("velocity", "float", 64, array_shape=3),
        PacketField("quality", "uint", 8), PacketField("satellites", "uint", 8)])
    got = pkt.load(io.BytesIO(stream), include_primary_header=True)
    assert list(got["CCSDS_APID"]) == [0x010] * 3 and list(got["CCSDS_PACKET_LENGTH"]) == [7 + 50 - 1] * 3
    assert np.allclose(got["coarse"] + got["fine"] / 2 ** 24, rec["gps_time"])
    assert np.array_equal(np.stack(got["position"]), rec["position"])
    assert np.array_equal(np.stack(got["velocity"]), rec["velocity"])
    assert list(got["satellites"]) == [11] * 3


def test_datatake_packet_kcv(cfg, sat):
    key = cfg.key(1)
    u = Packetizer(sat, key_id=1, key=key).datatake_unit(1e9, 42, 1, 1e9 + 1, 1e9 + 9, "VENTOUX")
    body = np.frombuffer(u.packets[0][13:], F.DATATAKE_START)[0]
    assert len(u.packets[0]) == 6 + 7 + 56
    assert (body["datatake"], body["mode"], body["key_id"], body["target"]) == (42, 1, 1, b"VENTOUX")
    assert bytes(body["kcv"]) == aes_ecb(key, bytes(16))[:4]
    assert cuc_decode(body["stop"]) - cuc_decode(body["start"]) == pytest.approx(8.0)
    clear = Packetizer(sat).datatake_unit(1e9, 1, 0, 1e9, 1e9 + 1, "X")
    assert bytes(np.frombuffer(clear.packets[0][13:], F.DATATAKE_START)[0]["kcv"]) == bytes(4)


def test_configuration_errors(sat):
    with pytest.raises(ConfigError, match="unknown compression"):
        Packetizer(sat, compression="jpeg")
    with pytest.raises(ConfigError, match="32-byte"):
        Packetizer(sat, key_id=1, key=b"short")
    with pytest.raises(TelemetryError, match="uint16"):
        Packetizer(sat).image_unit(1, "PAN", 0, 1e9, np.zeros((4, 4), np.float32), 1)
