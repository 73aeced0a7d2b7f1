"""Property tests of the CCSDS 122 codec (hypothesis) and its error handling."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decode import ccsds122
from decode.ccsds122 import headers
from srd.errors import CompressionError


@st.composite
def images(draw):
    rows = draw(st.integers(17, 72))
    cols = draw(st.integers(17, 72))
    bits = draw(st.integers(1, 16))
    signed = draw(st.booleans()) if bits > 1 else False
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    kind = draw(st.sampled_from(["noise", "smooth", "flat", "extremes"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        a = rng.integers(lo, hi + 1, (rows, cols))
    elif kind == "smooth":
        y, x = np.mgrid[:rows, :cols]
        a = lo + (hi - lo) * (0.5 + 0.5 * np.sin(x / 7.0 + rng.random()) * np.cos(y / 5.0))
        a = np.clip(np.round(a + rng.normal(0, 2, a.shape)), lo, hi)
    elif kind == "flat":
        a = np.full((rows, cols), rng.integers(lo, hi + 1))
    else:
        a = rng.choice([lo, hi], (rows, cols))
    dtype = np.int16 if signed else np.uint16
    return a.astype(dtype), bits, signed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), st.sampled_from([16, 17, 23, 40, 64, 1000]))
def test_lossless_round_trip(case, S):
    img, bits, signed = case
    data = ccsds122.encode(img, segment=S, bits=bits, signed=signed)
    out = ccsds122.decode(data)
    assert out.dtype == img.dtype
    np.testing.assert_array_equal(out, img)
    inf = ccsds122.info(data)
    assert inf.segments == -(-inf.blocks // S) and sum(
        s["length"] for s in inf.segment_list) == len(data)


@settings(max_examples=25, deadline=None)
@given(images(), st.sampled_from([16, 33, 64]), st.sampled_from([0.25, 1.0, 3.0]),
       st.sampled_from(["int", "float"]))
def test_byte_limited_segments_respect_limit(case, S, bpp, dwt):
    img, bits, signed = case
    nblocks = -(-img.shape[0] // 8) * -(-img.shape[1] // 8)
    sizes = [S] * (nblocks // S) + ([nblocks % S] if nblocks % S else [])
    hdr = [3 + (16 if g == 0 else 0) + (1 if g == len(sizes) - 1 else 0)
           + (8 if g and g == len(sizes) - 1 and sizes[g] != S else 0) for g in range(len(sizes))]
    if any(int(bpp * n * 8) <= h for n, h in zip(sizes, hdr)):   # header would not fit
        with pytest.raises(CompressionError, match="no room"):
            ccsds122.encode(img, segment=S, bits=bits, signed=signed, dwt=dwt, bpp=bpp)
        return
    data = ccsds122.encode(img, segment=S, bits=bits, signed=signed, dwt=dwt, bpp=bpp)
    inf = ccsds122.info(data)
    for s in inf.segment_list:
        assert s["length"] <= int(bpp * s["blocks"] * 8)
        assert s["status"] in ("ok", "truncated")
    out = ccsds122.decode(data)
    assert out.shape == img.shape


def test_float_dwt_high_rate_is_near_lossless():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:64, :96]
    img = (2000 + 800 * np.sin(x / 9) * np.cos(y / 6) + rng.normal(0, 20, x.shape)).astype(np.uint16)
    out = ccsds122.decode(ccsds122.encode(img, segment=32, bits=12, dwt="float"))
    assert np.abs(out.astype(int) - img).max() <= 2


def test_lossy_rate_distortion_monotonic():
    rng = np.random.default_rng(2)
    y, x = np.mgrid[:96, :96]
    img = (2000 + 800 * np.sin(x / 9) * np.cos(y / 6) + rng.normal(0, 30, x.shape)).astype(np.uint16)
    errs = []
    for bpp in (0.5, 1, 2, 4):
        out = ccsds122.decode(ccsds122.encode(img, segment=64, bits=12, bpp=bpp))
        errs.append(np.mean((out.astype(float) - img) ** 2))
    assert errs == sorted(errs, reverse=True) and errs[-1] < errs[0] / 10


def test_header_table_round_trip():
    f = {"StartImgFlag": 1, "EndImgFlag": 1, "SegmentCount": 255, "BitDepthDC": 31,
         "BitDepthAC": 17, "Part2Flag": 1, "Part3Flag": 1, "Part4Flag": 1, "PadRows": 7,
         "SegByteLimit": (1 << 27) - 1, "StageStop": 3, "S": 1 << 19, "OptDCSelect": 1,
         "OptACSelect": 1, "DWTtype": 1, "SignedPixels": 1, "PixelBitDepth": 12,
         "ImageWidth": (1 << 20) - 1}
    raw = headers.pack(f)
    assert len(raw) == 3 + 1 + 5 + 3 + 8
    back, n = headers.unpack(raw)
    assert n == len(raw)
    assert {k: back[k] for k in f} == f
    with pytest.raises(ValueError, match="SegmentCount"):
        headers.pack({**f, "SegmentCount": 256})


def _stream():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 4096, (40, 48)).astype(np.uint16)
    return img, ccsds122.encode(img, segment=16, bits=12)


def test_truncated_stream_reports_segment():
    img, data = _stream()
    inf = ccsds122.info(data)
    cut = inf.segment_list[1]["offset"] + 40
    with pytest.raises(CompressionError) as e:
        ccsds122.decode(data[:cut])
    assert e.value.context["segment"] == 1 and e.value.offset == inf.segment_list[1]["offset"]
    out, rep = ccsds122.decode_report(data[:cut])
    # blocks of segment 0 (16 blocks = the first 2 block rows of 6 columns + 4) are intact
    assert rep.block_rows_ok[:2].all() and not rep.block_rows_ok[2:].any()
    assert out.shape == img.shape
    out, rep = ccsds122.decode_report(data[:inf.segment_list[1]["offset"]], rows=40)
    assert out.shape == img.shape and rep.block_rows_ok[:2].all() and not rep.rows_ok[32:].any()
    # a header cut short after a good first segment is reported the same way
    out, rep = ccsds122.decode_report(data[:inf.segment_list[1]["offset"] + 5])
    assert rep.errors and "segment 1" in rep.errors[0] and not rep.block_rows_ok[2:].any()
    assert rep.block_rows_ok[:2].all()


def test_bad_inputs_raise_typed_errors():
    img = np.zeros((20, 20), np.uint16)
    with pytest.raises(CompressionError, match="smaller than"):
        ccsds122.encode(np.zeros((16, 40), np.uint16))
    with pytest.raises(CompressionError, match="range"):
        ccsds122.encode(img + 4096, bits=12)
    with pytest.raises(CompressionError, match="segment size"):
        ccsds122.encode(img, segment=8)
    with pytest.raises(CompressionError, match="dwt"):
        ccsds122.encode(img, dwt="haar")
    with pytest.raises(CompressionError, match="first segment"):
        ccsds122.decode(b"\x00" * 40)
    with pytest.raises(CompressionError, match="header"):
        ccsds122.decode(b"\x80\x00")


def test_decode_many_threads_match_sequential():
    rng = np.random.default_rng(9)
    imgs = [rng.integers(0, 4096, (24 + 8 * i, 40)).astype(np.uint16) for i in range(5)]
    streams = [ccsds122.encode(im, segment=16, bits=12) for im in imgs]
    for out, im in zip(ccsds122.decode_many(streams, workers=2), imgs):
        np.testing.assert_array_equal(out, im)
    pairs = ccsds122.decode_many([streams[0][:30], streams[1]], workers=2, reports=True)
    assert pairs[0][1].errors and not pairs[1][1].errors


def test_corrupted_streams_never_crash():
    """Random bit flips and cuts: a typed error or a report, never a crash or another error."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[:40, :48]
    img = (2000 + 600 * np.sin(x / 7.0) * np.cos(y / 5.0) + rng.normal(0, 25, x.shape)).astype(np.uint16)
    streams = [ccsds122.encode(img, segment=16, bits=12),
               ccsds122.encode(img, segment=16, bits=12, dwt="float", bpp=2)]
    damaged = 0
    for it in range(400):
        d = bytearray(streams[it % 2])
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, 24 if rng.random() < 0.3 else len(d)))
            d[i] ^= 1 << int(rng.integers(0, 8))
        if rng.random() < 0.2:
            d = d[:int(rng.integers(1, len(d)))]
        try:
            out, rep = ccsds122.decode_report(bytes(d))
            damaged += bool(rep.errors)
            assert out.ndim == 2
        except CompressionError:
            damaged += 1
    assert damaged > 50          # the damage is seen (flips in refinement bits may go unnoticed)


@pytest.mark.parametrize("dwt,bpp", [("int", None), ("float", 2.0)])
def test_damaged_segment_is_skipped_and_following_segments_decode(dwt, bpp):
    """A corrupted segment in the middle: reported, its blocks flagged, the next segments exact."""
    rng = np.random.default_rng(12)
    y, x = np.mgrid[:64, :128]
    img = (2000 + 600 * np.sin(x / 9.0) * np.cos(y / 6.0) + rng.normal(0, 25, x.shape)).astype(np.uint16)
    data = ccsds122.encode(img, segment=16, bits=12, dwt=dwt, bpp=bpp)      # 8 segments
    good = ccsds122.decode(data)
    inf = ccsds122.info(data)
    s3 = inf.segment_list[3]
    bad = bytearray(data)
    for k in range(s3["header_bytes"] + 5, s3["length"] - 2, 7):     # wreck segment 3's body
        bad[s3["offset"] + k] ^= 0x5A
    out, rep = ccsds122.decode_report(bytes(bad))
    assert rep.errors and any("segment 3" in e for e in rep.errors)
    st = [s["status"] for s in rep.info.segment_list]
    assert st[:3] == [st[0]] * 3 and st[3].startswith("error")
    assert all(not s.startswith("error") for s in st[4:]) and len(st) == 8
    # blocks of segment 3 are block row 3 (16 blocks per row): flagged; the rows it reaches
    # through the inverse DWT (24-21 .. 24+35) are flagged, every other row is exact
    assert list(rep.block_rows_ok) == [True, True, True, False, True, True, True, True]
    assert not rep.rows_ok[3:60].any() and rep.rows_ok[:3].all() and rep.rows_ok[60:].all()
    np.testing.assert_array_equal(out[rep.rows_ok], good[rep.rows_ok])
    assert np.abs(out[:3].astype(int) - good[:3]).max() == 0
    with pytest.raises(CompressionError, match="segment 3"):
        ccsds122.decode(bytes(bad))
    # a whole segment missing: its blocks are lost, counting resumes on SegmentCount
    cut = data[:s3["offset"]] + data[s3["offset"] + s3["length"]:]
    out, rep = ccsds122.decode_report(cut)
    assert list(rep.block_rows_ok) == [True, True, True, False, True, True, True, True]
    np.testing.assert_array_equal(out[rep.rows_ok], good[rep.rows_ok])


def test_icd_block_parameters():
    assert ccsds122.icd_params() == bytes(3)
    assert ccsds122.icd_params("float", 4096) == b"\x01\x01\x00"
    assert ccsds122.parse_icd_params(b"\x01\x01\x00") == ("float", 4096)
    with pytest.raises(CompressionError, match="multiple of 16"):
        ccsds122.icd_params("int", 1000)
    with pytest.raises(CompressionError, match="DWT type"):
        ccsds122.parse_icd_params(b"\x02\x00\x00")


def test_one_bit_dc_and_one_plane_ac_paths():
    """Near-empty images reach the rare branches: DC coded on N = 1 bit (§4.3.2, no split code)
    and BitDepthAC = 1 (one bit per block instead of the AC depth code)."""
    from decode.ccsds122 import bpe_kernels as B
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(300):
        signed = bool(rng.integers(0, 2))
        img = np.zeros((24, 24), np.int64)
        for _ in range(int(rng.integers(0, 4))):
            img[rng.integers(0, 24), rng.integers(0, 24)] = rng.choice([-1, 1]) if signed else 1
        if rng.random() < 0.3:
            img -= 1 if signed else 0
        img = img.astype(np.int16 if signed else np.uint16)
        blocks = ccsds122.forward(img, "int")
        dcd, acd = B.segment_depths(blocks, 0, 9)
        seen.add((acd == 1, max(dcd - B.dc_q(dcd, acd, True, 3), 1) == 1))
        out = ccsds122.decode(ccsds122.encode(img, segment=16, bits=2 if signed else 1,
                                              signed=signed))
        np.testing.assert_array_equal(out, img)
    assert (True, True) in seen and (False, True) in seen


@pytest.mark.parametrize("weights", [[0] * 10, [3, 3, 3, 3, 2, 2, 2, 1, 1, 0], [1, 2, 0, 3, 1, 0, 2, 3, 0, 1]])
def test_custom_weights_round_trip(weights):
    rng = np.random.default_rng(6)
    y, x = np.mgrid[:40, :56]
    img = (2000 + 500 * np.sin(x / 6) + rng.normal(0, 30, x.shape)).astype(np.uint16)
    data = ccsds122.encode(img, segment=16, bits=12, weights=weights)
    assert ccsds122.info(data).custom_weights
    np.testing.assert_array_equal(ccsds122.decode(data), img)
    lossy = ccsds122.decode(ccsds122.encode(img, segment=16, bits=12, weights=weights, bpp=3))
    assert np.abs(lossy.astype(int) - img).mean() < 40
    with pytest.raises(CompressionError, match="weights"):
        ccsds122.encode(img, weights=[4] * 10)


def test_use_fill_constant_rate():
    """UseFill: every segment exactly SegByteLimit bytes, even when it codes losslessly sooner."""
    rng = np.random.default_rng(8)
    img = np.full((40, 48), 1000, np.uint16)
    img[5:9, 7:30] += rng.integers(0, 50, (4, 23)).astype(np.uint16)
    data = ccsds122.encode(img, segment=16, bits=12, bpp=8, use_fill=True)
    inf = ccsds122.info(data)
    assert [s["length"] for s in inf.segment_list] == [1024, 896]      # 16 and 14 blocks
    assert all(s["status"] == "ok" for s in inf.segment_list)
    np.testing.assert_array_equal(ccsds122.decode(data), img)          # fits: lossless


@pytest.mark.parametrize("damage", [False, True])
def test_parallel_byte_limited_decode_equals_sequential(damage):
    """Byte-limited segments decoded speculatively in threads give exactly the sequential result,
    also when a damaged segment breaks the k·SegByteLimit offsets."""
    rng = np.random.default_rng(13)
    y, x = np.mgrid[:96, :128]
    img = (2000 + 600 * np.sin(x / 9.0) * np.cos(y / 6.0) + rng.normal(0, 25, x.shape)).astype(np.uint16)
    data = bytearray(ccsds122.encode(img, segment=16, bits=12, bpp=1.5))     # 12 segments
    if damage:
        inf = ccsds122.info(bytes(data))
        s = inf.segment_list[5]
        del data[s["offset"] + 30:s["offset"] + 60]                 # segment 5 cut short
    a, ra = ccsds122.decode_report(bytes(data), workers=1)
    b, rb = ccsds122.decode_report(bytes(data), workers=2)
    np.testing.assert_array_equal(a, b)
    assert ra.errors == rb.errors and ra.info == rb.info
    assert bool(ra.errors) == damage


def test_very_low_rate_keeps_decoded_dc(shared_dir):
    """At rates where even the DC code is cut, the decoded DC gaggles are kept and the rest
    of the segment takes the last DC (no black blocks)."""
    img = np.load(shared_dir / "data/ccsds122/pleiades12_500x500_S256_lossless.npy")
    out = ccsds122.decode(ccsds122.encode(img, segment=256, bits=12, bpp=0.06))
    psnr = 10 * np.log10(4095 ** 2 / np.mean((out.astype(float) - img) ** 2))
    assert psnr > 25 and (out > 0).all()
