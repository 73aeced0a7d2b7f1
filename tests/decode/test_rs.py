"""decode/reed_solomon.py + decode/rs_kernels.py: CCSDS RS(255,223), interleaved, dual basis."""
from __future__ import annotations

import numpy as np
import pytest
import reedsolo

from decode import rs_kernels as K
from decode.randomiser import pn_sequence
from decode.reed_solomon import ReedSolomon, dual_basis_tables
from srd.errors import ConfigError, DecodeError


@pytest.fixture(scope="module")
def coding(cfg):
    return cfg.satellite("SPOT-6").coding


@pytest.fixture(scope="module")
def rs(coding):
    return ReedSolomon(coding)


def _codec(rs):
    """reedsolo in the conventional basis with the CCSDS parameters: generator β = α^11 in the
    0x187 field, first consecutive root β^112, 32 roots."""
    t = rs.tables
    return reedsolo.RSCodec(t.nroots, t.nn, fcr=t.fcr, prim=0x187, generator=int(t.expb[1]), c_exp=8)


def _corrupt(blocks, rng, n_err, interleave=4, nn=255):
    """XOR random non-zero values into ``n_err[f, k]`` distinct symbols of codeword k of block f."""
    out = blocks.copy()
    for f in range(blocks.shape[0]):
        for k in range(interleave):
            pos = rng.choice(nn, int(n_err[f, k]), replace=False)
            out[f, pos * interleave + k] ^= rng.integers(1, 256, pos.size).astype(np.uint8)
    return out


def test_dual_basis_matrix_is_the_icd_one():
    """ICD §2 / 131.0-B Annex F: conventional→dual matrix rows 8D EF EC 86 FA 99 AF 7B, row 0
    selected by the MSB (libfec's Taltab starts 00 7B AF D4 99 E2 36 4D)."""
    to_dual, to_conv = dual_basis_tables()
    rows = (0x8D, 0xEF, 0xEC, 0x86, 0xFA, 0x99, 0xAF, 0x7B)
    for bit in range(8):
        assert to_dual[1 << (7 - bit)] == rows[bit]
    assert bytes(to_dual[:8]).hex() == "007bafd499e2364d"
    assert np.array_equal(to_conv[to_dual], np.arange(256))
    # GF(2)-linear
    a, b = np.meshgrid(np.arange(256), np.arange(256))
    assert np.array_equal(to_dual[a ^ b], to_dual[a] ^ to_dual[b])


def test_encode_matches_reedsolo(rs):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (6, 892), dtype=np.uint8)
    blocks = rs.encode(frames)
    t, codec = rs.tables, _codec(rs)
    assert np.array_equal(blocks[:, :892], frames)
    for f in range(frames.shape[0]):
        for k in range(4):
            conv = t.to_conv[frames[f].reshape(223, 4)[:, k]]
            ref = np.frombuffer(bytes(codec.encode(bytes(conv))), np.uint8)
            assert np.array_equal(blocks[f].reshape(255, 4)[:, k], t.to_dual[ref]), (f, k)


@pytest.mark.parametrize("interleave", [1, 5])
def test_other_interleave_depths(coding, interleave):
    rs = ReedSolomon(coding.model_copy(update={"interleave": interleave}))
    rng = np.random.default_rng(interleave)
    frames = rng.integers(0, 256, (4, 223 * interleave), dtype=np.uint8)
    blocks = rs.encode(frames)
    t, codec = rs.tables, _codec(rs)
    for k in range(interleave):
        conv = t.to_conv[frames[0].reshape(223, interleave)[:, k]]
        ref = np.frombuffer(bytes(codec.encode(bytes(conv))), np.uint8)
        assert np.array_equal(blocks[0].reshape(255, interleave)[:, k], t.to_dual[ref])
    bad = _corrupt(blocks, rng, np.full((4, interleave), 16), interleave)
    res = rs.decode(bad)
    assert res.ok.all() and np.array_equal(res.data, frames) and (res.corrected == 16).all()


def test_conventional_basis_profile(coding):
    rs = ReedSolomon(coding.model_copy(update={"dual_basis": False}))
    frames = np.random.default_rng(3).integers(0, 256, (2, 892), dtype=np.uint8)
    blocks = rs.encode(frames)
    ref = np.frombuffer(bytes(_codec(rs).encode(bytes(frames[1].reshape(223, 4)[:, 2]))), np.uint8)
    assert np.array_equal(blocks[1].reshape(255, 4)[:, 2], ref)


def test_real_snpp_cadus_are_codewords(rs, shared_dir):
    """65 real Suomi-NPP CADUs (RS(255,223) I=4, dual basis): every codeword is valid, with and
    without derandomisation (the interleaved PN sequence is itself a codeword), and none is in
    the conventional basis."""
    raw = np.fromfile(shared_dir / "data/ccsds/snpp_synchronized_cadus.dat", np.uint8).reshape(-1, 1024)
    blocks = raw[:, 4:]
    for b in (blocks, blocks ^ pn_sequence(1020)):
        res = rs.decode(b)
        assert res.ok.all() and (res.corrected == 0).all() and np.array_equal(res.data, b[:, :892])
    # re-encoding the data reproduces the transmitted parity bit for bit
    assert np.array_equal(rs.encode(blocks[:, :892]), blocks)
    conv = ReedSolomon(rs.coding.model_copy(update={"dual_basis": False})).decode(blocks ^ pn_sequence(1020))
    assert not (conv.corrected == 0).any()


def test_corrects_up_to_16_errors_exactly(rs):
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (60, 892), dtype=np.uint8)
    blocks = rs.encode(frames)
    n_err = rng.integers(0, 17, (60, 4))
    n_err[0] = 16
    n_err[1] = 0
    res = rs.decode(_corrupt(blocks, rng, n_err))
    assert res.ok.all()
    assert np.array_equal(res.data, frames)
    assert np.array_equal(res.corrected, n_err)
    assert res.corrected_symbols == n_err.sum() and res.uncorrectable_codewords == 0


def test_errors_in_parity_and_extreme_positions(rs):
    frames = np.zeros((1, 892), np.uint8)
    blocks = rs.encode(frames)
    bad = blocks.copy()
    bad[0, 0] ^= 0x01                 # first symbol of codeword 0
    bad[0, 1019] ^= 0xFF              # last parity symbol of codeword 3
    bad[0, 223 * 4 + 1] ^= 0x80       # first parity symbol of codeword 1
    res = rs.decode(bad)
    assert res.ok[0] and res.corrected.tolist() == [[1, 1, 0, 1]] and not res.data.any()


def test_uncorrectable_flagged_never_passed(rs):
    rng = np.random.default_rng(11)
    frames = rng.integers(0, 256, (50, 892), dtype=np.uint8)
    blocks = rs.encode(frames)
    n_err = rng.integers(17, 60, (50, 4))
    n_err[:, 1] = rng.integers(0, 17, 50)          # codeword 1 stays correctable
    res = rs.decode(_corrupt(blocks, rng, n_err))
    assert not res.ok.any()
    assert (res.corrected[:, [0, 2, 3]] == -1).all()
    assert np.array_equal(res.corrected[:, 1], n_err[:, 1])
    # the correctable codeword is corrected, uncorrectable ones are passed through as received
    assert np.array_equal(res.data.reshape(50, 223, 4)[:, :, 1], frames.reshape(50, 223, 4)[:, :, 1])
    # pure noise blocks: uncorrectable
    noise = rng.integers(0, 256, (40, 1020), dtype=np.uint8)
    r = rs.decode(noise)
    assert not r.ok.any() and (r.corrected == -1).all()


def test_agrees_with_reedsolo_decoder(rs):
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, (4, 892), dtype=np.uint8)
    bad = _corrupt(rs.encode(frames), rng, rng.integers(1, 17, (4, 4)))
    res = rs.decode(bad)
    t, codec = rs.tables, _codec(rs)
    for f in range(4):
        for k in range(4):
            conv = t.to_conv[bad[f].reshape(255, 4)[:, k]]
            dec = np.frombuffer(bytes(codec.decode(bytes(conv))[0]), np.uint8)
            assert np.array_equal(t.to_dual[dec], res.data[f].reshape(223, 4)[:, k])


def test_kernels_py_func(rs):
    """The kernels' Python bodies (not just the jitted code) give the same results."""
    t = rs.tables
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (2, 892), dtype=np.uint8)
    out = np.empty((2, 1020), np.uint8)
    K.rs_encode.py_func(frames, 4, 223, 32, t.to_conv, t.to_dual, t.gtab, out)
    assert np.array_equal(out, rs.encode(frames))
    cw = t.to_conv[out[0].reshape(255, 4)[:, 0]].copy()
    clean = cw.copy()
    cw[[3, 100, 254]] ^= np.array([1, 77, 200], np.uint8)
    work = np.empty(5 * 33 + 255 + 32, np.int64)
    assert K.decode_codeword.py_func(cw, 255, 32, 112, t.gtab, t.expb, t.logb, work) == 3
    assert np.array_equal(cw, clean)
    bad = out.copy()
    bad[1, 40] ^= 9
    data, corr, ok = np.empty((2, 892), np.uint8), np.empty((2, 4), np.int16), np.empty(2, bool)
    K.decode_blocks.py_func(bad, *rs.kernel_args(), data, corr, ok)
    assert ok.all() and np.array_equal(data, frames) and corr.tolist() == [[0, 0, 0, 0], [1, 0, 0, 0]]


def test_bad_input_and_config(rs, coding):
    with pytest.raises(DecodeError, match="blocks"):
        rs.decode(np.zeros((2, 1000), np.uint8))
    with pytest.raises(DecodeError, match="frames"):
        rs.encode(np.zeros((2, 892), np.float32))
    assert rs.decode(np.zeros((0, 1020), np.uint8)).ok.shape == (0,)
    with pytest.raises(ConfigError):
        ReedSolomon(coding.model_copy(update={"root_step": 5}))      # gcd(5, 255) != 1
    with pytest.raises(ConfigError):
        ReedSolomon(coding.model_copy(update={"rs_k": 222}))         # odd parity count
    with pytest.raises(ConfigError):
        ReedSolomon(coding.model_copy(update={"gf_poly": 0x11B}))    # x not primitive in AES field


@pytest.mark.parametrize("first_root,root_step,rs_k", [(0, 1, 223), (1, 1, 239), (120, 7, 247)])
def test_other_codes_against_reedsolo(coding, first_root, root_step, rs_k):
    """The kernels are generic in the generator roots and the parity count (conventional basis)."""
    rs = ReedSolomon(coding.model_copy(update={"first_root": first_root, "root_step": root_step,
                                               "rs_k": rs_k, "dual_basis": False, "interleave": 1}))
    t = rs.tables
    codec = reedsolo.RSCodec(t.nroots, 255, fcr=first_root, prim=0x187, generator=int(t.expb[1]), c_exp=8)
    rng = np.random.default_rng(first_root)
    frames = rng.integers(0, 256, (20, rs_k), dtype=np.uint8)
    blocks = rs.encode(frames)
    for f in range(3):
        assert bytes(blocks[f]) == bytes(codec.encode(bytes(frames[f])))
    n_err = rng.integers(0, t.nroots // 2 + 1, (20, 1))
    res = rs.decode(_corrupt(blocks, rng, n_err, interleave=1))
    assert res.ok.all() and np.array_equal(res.data, frames) and np.array_equal(res.corrected, n_err)
    if t.nroots == 32:      # with small t a bounded-distance decoder may legitimately miscorrect
        res = rs.decode(_corrupt(blocks, rng, np.full((20, 1), t.nroots // 2 + 3), interleave=1))
        assert not res.ok.any()
