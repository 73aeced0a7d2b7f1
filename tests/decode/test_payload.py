"""Payload layer: 12-bit unpack kernel, CCSDS 121 via libaec, AES-256-CTR, key check value."""
from __future__ import annotations

import numpy as np
import pytest

from decode import formats as F
from decode.payload import (Datatake, KeyRing, aes_ctr, decompress, key_check_value)
from decode.payload_kernels import pack12, unpack12
from srd.errors import CompressionError, KeyMissingError


def _unpack_reference(raw: bytes, n: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(raw, np.uint8))[: 12 * n].reshape(n, 12)
    return (bits.astype(np.uint16) << np.arange(11, -1, -1, dtype=np.uint16)).sum(1).astype(np.uint16)


@pytest.mark.parametrize("jit", [True, False])
def test_unpack12_matches_bit_reference(jit):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, 3 * 500, dtype=np.uint8)
    f = unpack12 if jit else unpack12.py_func
    for n in (1000, 999, 1, 2):
        assert np.array_equal(f(raw, n), _unpack_reference(raw.tobytes(), n))
    assert list(f(np.array([0xAB, 0xCD, 0xEF], np.uint8), 2)) == [0xABC, 0xDEF]


@pytest.mark.parametrize("jit", [True, False])
def test_pack12_roundtrip(jit):
    a = np.random.default_rng(1).integers(0, 4096, 777).astype(np.uint16)
    p = pack12(a) if jit else pack12.py_func(a)
    assert len(p) == (3 * 777 + 1) // 2 and np.array_equal(unpack12(p, 777), a)


def test_decompress_raw_and_length_error():
    img = np.random.default_rng(2).integers(0, 4096, (8, 64)).astype(np.uint16)
    raw = bytes(pack12(img.ravel()))
    assert np.array_equal(decompress(F.COMPRESSION_RAW, b"\0\0\0", raw, 8, 64), img)
    with pytest.raises(CompressionError, match="needs 768 bytes, has 767"):
        decompress(F.COMPRESSION_RAW, b"\0\0\0", raw[:-1], 8, 64)


def test_decompress_ccsds121_libaec():
    import imagecodecs
    rng = np.random.default_rng(3)
    img = (2000 + np.cumsum(rng.integers(-20, 21, (32, 256)), axis=1)).clip(0, 4095).astype(np.uint16)
    stream = imagecodecs.aec_encode(img.astype(">u2").tobytes(), bitspersample=12, blocksize=16, rsi=128,
                                    flags=F.CCSDS121_AEC_FLAGS)
    assert len(stream) < img.size * 1.5                   # it really compressed
    out = decompress(F.COMPRESSION_CCSDS121, bytes([12, 16, 128]), stream, 32, 256)
    assert out.dtype == np.uint16 and np.array_equal(out, img)
    with pytest.raises(CompressionError, match="samples, block needs"):
        decompress(F.COMPRESSION_CCSDS121, bytes([12, 16, 128]), stream[: len(stream) // 2], 32, 256)
    with pytest.raises(CompressionError, match="parameters"):
        decompress(F.COMPRESSION_CCSDS121, bytes([12, 7, 128]), stream, 32, 256)


def test_ccsds122_block(shared_dir):
    """With decode.ccsds122 present: the shared reference PAN block decodes bit-exact through
    decompress(); without it: a clear CompressionError (never garbage)."""
    import importlib
    try:
        has = hasattr(importlib.import_module("decode.ccsds122"), "decode")
    except ImportError:
        has = False
    d = shared_dir / "data" / "ccsds122"
    stream = (d / "panblock12_128x1024_S128_lossless.bin").read_bytes()
    ref = np.load(d / "panblock12_128x1024_S128_lossless.npy")
    if has:
        out = decompress(F.COMPRESSION_CCSDS122, bytes(3), stream, 128, 1024)
        assert np.array_equal(out, ref)
    else:
        with pytest.raises(CompressionError, match="CCSDS 122.0-B block: decoder decode.ccsds122 not available"):
            decompress(F.COMPRESSION_CCSDS122, bytes(3), stream, 128, 1024)
    with pytest.raises(CompressionError, match="unknown compression id 7"):
        decompress(7, bytes(3), b"", 1, 1)


def test_aes_known_answer_and_kcv():
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    # FIPS-197 appendix C.3 (AES-256)
    key = bytes(range(32))
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    assert e.update(bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == "8ea2b7ca516745bfeafc49904b496089"
    # all-zero key: AES-256(0, 0) = dc95c078a2408989ad48a21492842087 (NIST AESAVS KAT)
    assert key_check_value(bytes(32)).hex() == "dc95c078"


def test_aes_ctr_counter_block_layout_and_increment():
    """CTR keystream block i = AES(key, counter0 + i) with the ICD counter layout."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    key = bytes(range(100, 132))
    apid, line, dt = 0x123, 0x01020304, 0xA0B0C0D0
    c0 = F.aes_ctr_counter_block(apid, line, dt)
    assert c0.hex() == "0123" + "01020304" + "a0b0c0d0" + "00" * 6
    payload = np.random.default_rng(4).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    ks = b"".join(ecb.update((int.from_bytes(c0, "big") + i).to_bytes(16, "big")) for i in range(63))
    expected = bytes(a ^ b for a, b in zip(payload, ks))
    assert aes_ctr(key, apid, line, dt, payload) == expected
    assert aes_ctr(key, apid, line, dt, expected) == payload


def test_keyring_kcv_verdicts(cfg):
    key = cfg.key(1)
    good = Datatake(7, "mono", 0, 1, "T", 1, key_check_value(key))
    wrong = Datatake(8, "mono", 0, 1, "T", 1, b"\1\2\3\4")
    missing = Datatake(9, "mono", 0, 1, "T", 2, b"\0\0\0\0")
    ring = KeyRing(cfg, {7: good, 8: wrong, 9: missing})
    ring.verify_all()
    assert ring.get(7, 1) == key and good.kcv_ok is True and good.error is None
    with pytest.raises(KeyMissingError, match="key check value"):
        ring.get(8, 1)
    assert wrong.kcv_ok is False and "wrong key" in wrong.error
    with pytest.raises(KeyMissingError, match="no key configured for key id 2"):
        ring.get(9, 2)
    assert missing.kcv_ok is False
    assert ring.get(10, 1) == key and ring.unverified == {10}    # start packet lost
    assert key.hex() not in str(good.to_dict()) and key.hex() not in str(ring.datatakes)
