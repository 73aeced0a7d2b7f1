"""decode/randomiser.py: CCSDS 131.0-B §10 pseudo-randomiser."""
from __future__ import annotations

import numpy as np
import pytest

from decode.randomiser import coding_pn, pn_sequence, randomise
from srd.errors import ConfigError


def _galois_pn(n_bytes: int) -> np.ndarray:
    """Independent formulation: the Galois/"right-shift" LFSR of CCSDS 131.0-B Figure 10-2,
    x^8+x^7+x^5+x^3+1, all-ones start, output = register LSB."""
    bits, reg = [], 0xFF
    for _ in range(8 * n_bytes):
        bits.append(reg & 1)
        reg = (reg >> 1) | (((reg ^ (reg >> 3) ^ (reg >> 5) ^ (reg >> 7)) & 1) << 7)
    return np.packbits(np.array(bits, np.uint8))


def test_ccsds_head():
    # CCSDS 131.0-B-3 §10.4.1 and ICD §2: the sequence starts FF 48 0E C0 9A 0D 70 BC
    assert bytes(pn_sequence(8)).hex().upper() == "FF480EC09A0D70BC"


def test_matches_independent_lfsr_and_period_255():
    pn = pn_sequence(1020)
    assert np.array_equal(pn, _galois_pn(1020))
    bits = np.unpackbits(pn)
    assert np.array_equal(bits[255:510], bits[:255])
    # maximal length: no shorter period divides 255
    for p in (3, 5, 15, 17, 51, 85):
        assert not np.array_equal(bits[p:p + 255], bits[:255])
    assert bits[:255].sum() == 128          # m-sequence balance: 2^(m-1) ones per period


def test_profile_and_involution(cfg):
    coding = cfg.satellite("SPOT-6").coding
    pn = coding_pn(coding)
    assert pn.size == coding.codeblock_length == 1020
    x = np.random.default_rng(0).integers(0, 256, (3, 1020), dtype=np.uint8)
    assert np.array_equal(randomise(randomise(x, pn), pn), x)
    off = coding.model_copy(update={"randomiser": False})
    assert not coding_pn(off).any()


def test_bad_polynomial_or_seed():
    with pytest.raises(ConfigError):
        pn_sequence(4, taps=(8, 7, 5, 3), seed=0xFF)     # no constant term
    with pytest.raises(ConfigError):
        pn_sequence(4, seed=0)
    with pytest.raises(ValueError):
        pn_sequence(-1)


def test_derandomises_real_snpp_headers(shared_dir):
    """The real Suomi-NPP CADUs are randomised: derandomised, their AOS headers read version 01,
    SCID 157, VCID 16 and VC counts +1 (one frame missing); raw they do not."""
    raw = np.fromfile(shared_dir / "data/ccsds/snpp_synchronized_cadus.dat", np.uint8).reshape(-1, 1024)
    assert np.all(raw[:, :4] == np.frombuffer(bytes.fromhex("1ACFFC1D"), np.uint8))
    hdr = raw[:, 4:10] ^ pn_sequence(6)
    word = hdr[:, 0].astype(int) << 8 | hdr[:, 1]
    assert np.all(word >> 14 == 1) and np.all((word >> 6) & 0xFF == 157) and np.all(word & 0x3F == 16)
    count = hdr[:, 2].astype(int) << 16 | hdr[:, 3].astype(int) << 8 | hdr[:, 4]
    steps = np.diff(count)
    assert (steps == 1).sum() == len(steps) - 1 and sorted(set(steps.tolist())) == [1, 2]
    rword = raw[:, 4].astype(int) << 8 | raw[:, 5]
    assert not np.all((rword >> 6) & 0xFF == 157)
