"""telemetry/channel.py: CADUs checked by independent means — reedsolo with the CCSDS code
parameters (dual basis converted here with the CCSDS 131.0-B Annex F matrix), a test-side
LFSR for the randomiser — and every recorded impairment found at its offset in the file."""
from __future__ import annotations

import numpy as np
import pytest

from srd.errors import ConfigError
from telemetry.channel import ChannelCoder, ChannelWriter, Impairments

ASM = bytes.fromhex("1ACFFC1D")
RATE = 40e6


@pytest.fixture(scope="module")
def coding(cfg):
    return cfg.satellite("SPOT-6").coding


@pytest.fixture(scope="module")
def coder(coding):
    return ChannelCoder(coding)


# ---------------------------------------------------------------- independent references

def lfsr_pn(n_bytes):
    """CCSDS 131.0-B §10: h(x)=x^8+x^7+x^5+x^3+1, all-ones seed (Fibonacci form, bit by bit)."""
    reg, out = [1] * 8, []
    for _ in range(8 * n_bytes):
        out.append(reg[0])
        reg = reg[1:] + [reg[0] ^ reg[3] ^ reg[5] ^ reg[7]]
    return np.packbits(np.array(out, np.uint8))


#: CCSDS 131.0-B-3 Annex F, conventional → Berlekamp dual basis, row i selected by bit (7−i).
T_CONV_TO_DUAL = (0x8D, 0xEF, 0xEC, 0x86, 0xFA, 0x99, 0xAF, 0x7B)


def conv_to_dual_table():
    t = np.zeros(256, np.uint8)
    for c in range(256):
        v = 0
        for i in range(8):
            if c >> (7 - i) & 1:
                v ^= T_CONV_TO_DUAL[i]
        t[c] = v
    return t


def reedsolo_codec():
    import reedsolo
    # β = α^11 in GF(2^8) mod x^8+x^7+x^2+x+1; generator roots β^j, j = 112..143
    beta = 1
    for _ in range(11):
        beta <<= 1
        if beta & 0x100:
            beta ^= 0x187
    return reedsolo.RSCodec(32, nsize=255, fcr=112, prim=0x187, generator=beta, c_exp=8)


def frames_rng(n, coding, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, coding.frame_length), dtype=np.uint8)


# ---------------------------------------------------------------- coding

def test_randomiser_head_and_sequence(coder):
    assert bytes(coder.pn[:8]) == bytes.fromhex("FF480EC09A0D70BC")
    assert np.array_equal(coder.pn, lfsr_pn(1020))


def test_rs_parity_verified_by_reedsolo(coder, coding):
    frames = frames_rng(3, coding)
    cadus = coder.encode(frames)
    assert cadus.shape == (3, 1024)
    c2d = conv_to_dual_table()
    d2c = np.argsort(c2d).astype(np.uint8)
    assert len(set(c2d.tolist())) == 256
    rsc = reedsolo_codec()
    for f, c in zip(frames, cadus):
        assert bytes(c[:4]) == ASM
        block = c[4:] ^ lfsr_pn(1020)
        assert np.array_equal(block[:892], f)                     # systematic: the frame first
        for k in range(4):
            cw = d2c[block[k::4]]                                 # codeword k: bytes k, k+4, ...
            msg = bytes(cw[:223])
            parity = bytes(rsc.encode(msg))[223:]
            assert parity == bytes(cw[223:]), f"codeword {k}: parity differs from reedsolo"
            assert rsc.check(bytes(cw))[0]
    # and the conventional-basis parity would NOT match (the basis conversion matters)
    cw = (cadus[0, 4:] ^ lfsr_pn(1020))[0::4]
    assert bytes(rsc.encode(bytes(cw[:223])))[223:] != bytes(cw[223:])


# ---------------------------------------------------------------- channel impairments

def write(tmp_path, coder, coding, imp, n=40, name="A", seed=0):
    cadus = coder.encode(frames_rng(n, coding, seed))
    w = ChannelWriter(tmp_path / f"{name}.bin", name, coding, imp, expected_cadus=n, rate_bps=RATE)
    w.write_cadus(cadus[: n // 3])
    w.write_cadus(cadus[n // 3:])
    info = w.close()
    out = np.unpackbits(np.fromfile(tmp_path / f"{name}.bin", np.uint8))
    return cadus, np.unpackbits(cadus.ravel()), out, info, w.log


def test_clean_stream_any_bit_offset_and_noise(tmp_path, coder, coding):
    import hashlib
    imp = Impairments(noise_before_s=1e-4, noise_after_s=1e-4, seed=3)
    cadus, clean, out, info, log = write(tmp_path, coder, coding, imp)
    f = info["first_cadu_bit"]
    assert f % 8 != 0 and f == log.events[0]["bits"]              # CADUs not byte aligned
    assert f // 8 == int(1e-4 * RATE) // 8                        # noise before AOS as configured
    assert np.array_equal(out[f:f + clean.size], clean)
    assert info["bytes"] * 8 - (f + clean.size) >= int(1e-4 * RATE) - 8
    assert info["sha256"] == hashlib.sha256((tmp_path / "A.bin").read_bytes()).hexdigest()


def test_random_bit_errors_logged_exactly(tmp_path, coder, coding):
    imp = Impairments(ber=1e-4, noise_before_s=0, noise_after_s=0, seed=5)
    cadus, clean, out, info, log = write(tmp_path, coder, coding, imp)
    f = info["first_cadu_bit"]
    diff = np.flatnonzero(out[f:f + clean.size] != clean) + f
    assert np.array_equal(diff, np.sort(log.bit_errors))
    assert 0.5 * 1e-4 * clean.size < diff.size < 1.5 * 1e-4 * clean.size


def test_inversion_stretch(tmp_path, coder, coding):
    imp = Impairments(invert=((0.0005, 0.0004),), noise_before_s=0, noise_after_s=0, seed=7)
    cadus, clean, out, info, log = write(tmp_path, coder, coding, imp)
    f = info["first_cadu_bit"]
    diff = out[f:f + clean.size] ^ clean
    (inv,) = [e for e in log.events if e["kind"] == "inverted"]
    lo, hi = inv["bit"] - f, inv["bit"] - f + inv["bits"]
    assert inv["bit"] == int(0.0005 * RATE) and inv["bits"] == int(0.0004 * RATE)  # seconds from file start
    assert diff[lo:hi].all() and not diff[:lo].any() and not diff[hi:].any()


def test_bursts(tmp_path, coder, coding):
    imp = Impairments(bursts=3, noise_before_s=0, noise_after_s=0, seed=8)
    cadus, clean, out, info, log = write(tmp_path, coder, coding, imp)
    f = info["first_cadu_bit"]
    diff = out[f:f + clean.size] ^ clean
    bursts = [e for e in log.events if e["kind"] == "burst"]
    assert len(bursts) == 3
    explained = np.zeros(diff.size, bool)
    for b in bursts:
        seg = slice(b["bit"] - f, b["bit"] - f + b["bits"])
        assert diff[seg][0] and diff[seg][-1] and 16 <= b["bits"] <= 400
        explained[seg] = True
    assert int(diff.sum()) == sum(b["errors"] for b in bursts) and not diff[~explained].any()


def test_dropped_frames_uncorrectable(tmp_path, coder, coding):
    from decode.reed_solomon import ReedSolomon
    imp = Impairments(drop_frames=3, noise_before_s=0, noise_after_s=0, seed=9)
    cadus, clean, out, info, log = write(tmp_path, coder, coding, imp)
    f = info["first_cadu_bit"]
    got = np.packbits(out[f:f + clean.size]).reshape(cadus.shape)
    (d,) = [e for e in log.events if e["kind"] == "dropped_frames"]
    rows = np.arange(d["first_cadu"], d["first_cadu"] + d["cadus"])
    assert d["bit"] == f + rows[0] * 8192
    others = np.setdiff1d(np.arange(len(cadus)), rows)
    assert np.array_equal(got[others], cadus[others])
    assert all(bytes(got[r, :4]) == ASM for r in rows)            # the ASMs stay: frames lost, lock kept
    res = ReedSolomon(coding).decode(got[rows, 4:] ^ lfsr_pn(1020))
    assert not res.ok.any()
    # and reedsolo agrees that codeword 0 of each is beyond its 16-symbol capability
    import reedsolo
    d2c = np.argsort(conv_to_dual_table()).astype(np.uint8)
    for r in rows:
        with pytest.raises(reedsolo.ReedSolomonError):
            reedsolo_codec().decode(bytes(d2c[(got[r, 4:] ^ lfsr_pn(1020))[0::4]]))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_bit_slips_at_logged_offsets(tmp_path, coder, coding, seed):
    imp = Impairments(slips=1, noise_before_s=0, noise_after_s=0, seed=seed)
    cadus, clean, out, info, log = write(tmp_path, coder, coding, imp)
    f = info["first_cadu_bit"]
    (s,) = [e for e in log.events if e["kind"] == "slip"]
    p, d = s["bit"] - f, s["delta_bits"]
    assert np.array_equal(out[f:f + p], clean[:p])
    if d > 0:                                                     # d random bits inserted
        assert np.array_equal(out[f + p + d:f + clean.size + d], clean[p:])
    else:                                                         # |d| bits deleted
        assert np.array_equal(out[f + p:f + clean.size + d], clean[p - d:])


def test_invalid_impairments():
    with pytest.raises(ConfigError, match="bit error rate"):
        Impairments(ber=0.7)
    with pytest.raises(ConfigError, match="inversion"):
        Impairments(invert=((1.0, 0.0),))
    with pytest.raises(ConfigError):
        Impairments(slips=-1)


def test_template_fast_path_equals_direct_encoding(cfg, coding, coder):
    from telemetry.framer import ChannelFramer
    fr = ChannelFramer(cfg.satellite("SPOT-6"), "A", RATE, 0.0)
    fast = ChannelCoder(coding, template=fr.idle_frame_template)
    rng = np.random.default_rng(3)
    idle = np.tile(np.frombuffer(fr.idle_frame_template, np.uint8), (300, 1))
    idle[:, 2:5] = rng.integers(0, 256, (300, 3), dtype=np.uint8)    # any VC count
    mixed = np.vstack([idle[:150], frames_rng(20, coding, 4), idle[150:]])
    assert np.array_equal(fast.encode(mixed), coder.encode(mixed))
    assert fast._template_rows(mixed).sum() == 300
