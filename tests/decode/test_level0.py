"""Level 0 products from packet files: band images (raw, CCSDS 121, encrypted, wrong/missing key),
masks, metadata and ancillary arrays — packets made by the simulator's packetizer
(telemetry/, an independent implementation of ICD §4)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from decode import formats as F
from decode.level0 import PacketFiles, apid_of_file, packet_file_name, write_ancillary
from decode.packets import Packet
from decode.payload import (MASK_MISSING, MASK_OK, MASK_UNDECRYPTABLE, Datatake, KeyRing,
                            build_images, parse_datatake)

import telemetry.packetizer as telemetry_packetizer


def _blocks(rng, nblocks, lines, cols):
    base = rng.integers(100, 3000)
    return [(base + np.cumsum(rng.integers(-30, 31, (lines, cols)), axis=1)).clip(0, 4095).astype(np.uint16)
            for _ in range(nblocks)]


@pytest.fixture
def sat(cfg):
    return cfg.satellite("SPOT-6")


def _write(tmp_path, units):
    pf = PacketFiles(tmp_path / "packets")
    for u in units:
        for p in u.packets:
            pf.write(Packet(p, 1, False))
    pf.close()
    (tmp_path / "image").mkdir(exist_ok=True)


@pytest.mark.parametrize("compression,key_id", [("raw", 0), ("ccsds121", 0), ("ccsds121", 1), ("raw", 1)])
def test_band_image_bit_exact(tmp_path, cfg, sat, compression, key_id):
    rng = np.random.default_rng(11)
    key = cfg.key(1) if key_id else None
    pk = telemetry_packetizer.Packetizer(sat, compression=compression, key_id=key_id, key=key)
    pan = _blocks(rng, 6, 32, 256)
    ms = _blocks(rng, 6, 8, 64)
    units, dt_unit = [], pk.datatake_unit(1e9, 42, 0, 1e9, 1e9 + 10, "TEST")
    t0, period = 1e9 + 1, 325e-6
    for b in range(6):
        if b == 3:
            continue                                    # block 3 lost in transmission
        units.append(pk.image_unit(2, "PAN", 1000 + 32 * b, t0 + 32 * b * period, pan[b], 42))
        units.append(pk.image_unit(2, "B3", 250 + 8 * b, t0 + 32 * b * period, ms[b], 42))
    _write(tmp_path, units)
    ring = KeyRing(cfg, {42: parse_datatake(Packet(dt_unit.packets[0], 0, False))})
    res = {r.band: r for r in build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, ring)}
    for band, blocks, nl, first in (("PAN", pan, 32, 1000), ("B3", ms, 8, 250)):
        img = np.load(tmp_path / "image" / f"M2_{band}.npy")
        mask = np.load(tmp_path / "image" / f"M2_{band}_mask.npy")
        meta = json.loads((tmp_path / "image" / f"M2_{band}.json").read_text())
        assert img.dtype == np.uint16 and img.shape == (6 * nl, blocks[0].shape[1])
        for b in range(6):
            rows = slice(b * nl, (b + 1) * nl)
            if b == 3:
                assert (mask[rows] == MASK_MISSING).all() and (img[rows] == 0).all()
            else:
                assert (mask[rows] == MASK_OK).all() and np.array_equal(img[rows], blocks[b])
        assert meta["first_line"] == first and meta["lines"] == 6 * nl and meta["block_lines"] == nl
        assert meta["apid"] == sat.apids.image(2, band) and meta["datatake"] == 42 and meta["key_id"] == key_id
        assert meta["compression"] == {"raw": 0, "ccsds121": 1}[compression]
        assert [round(t, 6) for _, t in meta["block_times"]][:2] == [round(t0, 6), round(t0 + 32 * period, 6)]
        r = res[band]
        assert (r.lines_ok, r.lines_missing, r.blocks) == (5 * nl, nl, 5)
        if compression == "raw":
            assert r.compression_ratio == 1.0
        else:
            assert r.compression_ratio > 1.2
    if key_id:
        assert ring.datatakes[42].kcv_ok is True


def test_wrong_key_masks_lines_and_keeps_packets(tmp_path, cfg, sat):
    rng = np.random.default_rng(12)
    other_key = bytes(range(32))                        # the satellite used another key for id 1
    pk = telemetry_packetizer.Packetizer(sat, compression="raw", key_id=1, key=other_key)
    dt_unit = pk.datatake_unit(1e9, 5, 0, 1e9, 1e9 + 10, "X")
    units = [pk.image_unit(1, "PAN", 32 * b, 1e9 + b, blk, 5) for b, blk in enumerate(_blocks(rng, 3, 32, 256))]
    _write(tmp_path, units)
    before = (tmp_path / "packets" / packet_file_name(0x100)).read_bytes()
    ring = KeyRing(cfg, {5: parse_datatake(Packet(dt_unit.packets[0], 0, False))})
    ring.verify_all()
    assert ring.datatakes[5].kcv_ok is False and "wrong key" in ring.datatakes[5].error
    (r,) = build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, ring)
    mask = np.load(tmp_path / "image" / "M1_PAN_mask.npy")
    assert (mask == MASK_UNDECRYPTABLE).all() and r.lines_undecryptable == 96
    assert (np.load(tmp_path / "image" / "M1_PAN.npy") == 0).all()          # never garbled pixels
    assert (tmp_path / "packets" / packet_file_name(0x100)).read_bytes() == before == b"".join(
        p for u in units for p in u.packets)


def test_ancillary_arrays(tmp_path, sat):
    pk = telemetry_packetizer.Packetizer(sat)
    n = 5
    eph = np.zeros(n, [("gps_time", "f8"), ("position", "f8", (3,)), ("velocity", "f8", (3,)),
                       ("quality", "u1"), ("satellites", "u1")])
    eph["gps_time"] = 1.4e9 + np.arange(n)
    eph["position"] = [[7e6, i, -i] for i in range(n)]
    eph["velocity"] = [[0, 7500.5, i] for i in range(n)]
    eph["quality"], eph["satellites"] = 1, 9
    att = np.zeros(3, [("gps_time", "f8"), ("q", "f8", (4,)), ("rate", "f4", (3,)), ("status", "u1")])
    att["gps_time"] = 1.4e9 + np.arange(3) / 16
    att["q"] = [1, 0, 0, 0]
    att["rate"] = [1e-3, -2e-3, 0]
    pkts = [Packet(p, 0, False) for u in pk.ephemeris_units(eph)[::-1] + pk.attitude_units(att) for p in u.packets]
    dts = [Datatake(1, "mono", 1.0, 2.0, "T", 0, bytes(4)).to_dict()]
    rows = write_ancillary(tmp_path, pkts, sat.apids, dts)
    assert rows == {"ephemeris": 5, "attitude": 3, "housekeeping": 0}
    e = np.load(tmp_path / "ephemeris.npy")
    assert e.dtype.isnative and np.array_equal(e["gps_time"], eph["gps_time"])      # time order
    assert np.array_equal(e["position"], eph["position"]) and np.array_equal(e["velocity"], eph["velocity"])
    a = np.load(tmp_path / "attitude.npy")
    assert np.allclose(a["gps_time"], att["gps_time"], atol=1e-7) and np.array_equal(a["rate"], att["rate"])
    assert json.loads((tmp_path / "datatakes.json").read_text())[0]["datatake"] == 1


def test_packet_file_names():
    assert packet_file_name(0x10) == "APID_0x010.pkt" and apid_of_file(packet_file_name(0x322)) == 0x322


def test_ccsds122_blocks_through_level0(tmp_path, cfg, sat):
    """CCSDS 122 blocks (the project's codec, lossless integer DWT; 4× taller blocks), one with a
    corrupted stream: bit-exact lines where ok, status 3 where the stream is bad."""
    from decode import ccsds122
    from decode.payload import MASK_DECOMPRESSION
    from _synth import packet
    rng = np.random.default_rng(13)
    blocks = _blocks(rng, 3, 128, 256)
    pf = PacketFiles(tmp_path / "packets")
    apid = sat.apids.image(3, "PAN")
    for b, blk in enumerate(blocks):
        stream = ccsds122.encode(blk, segment=128, bits=12)
        if b == 1:
            stream = stream[: len(stream) // 3]                 # truncated: undecodable
        hdr = np.zeros((), F.IMAGE_BLOCK_HEADER)
        hdr["line"], hdr["lines"], hdr["columns"], hdr["compression"] = 128 * b, 128, 256, 2
        hdr["datatake"] = 9
        pf.write(Packet(packet(apid, b, hdr.tobytes() + stream), 3, False))
    pf.close()
    (tmp_path / "image").mkdir()
    (r,) = build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, KeyRing(cfg, {}))
    img = np.load(tmp_path / "image" / "M3_PAN.npy")
    mask = np.load(tmp_path / "image" / "M3_PAN_mask.npy")
    assert np.array_equal(img[:128], blocks[0]) and np.array_equal(img[256:], blocks[2])
    assert (mask[128:256] == MASK_DECOMPRESSION).all() and (img[128:256] == 0).all()
    assert (r.lines_ok, r.lines_decompression_error) == (256, 128) and r.errors[0]["line"] == 128


def test_two_datatakes_on_one_apid_get_suffixes(tmp_path, cfg, sat):
    """Line counters restart with a datatake: each datatake gets its own image set (_DT<id>)."""
    rng = np.random.default_rng(14)
    pk = telemetry_packetizer.Packetizer(sat, compression="raw")
    a, b = _blocks(rng, 2, 32, 256), _blocks(rng, 3, 32, 256)
    units = [pk.image_unit(1, "PAN", 32 * i, 1e9 + i, blk, 7) for i, blk in enumerate(a)]
    units += [pk.image_unit(1, "PAN", 32 * i, 2e9 + i, blk, 8) for i, blk in enumerate(b)]
    _write(tmp_path, units)
    res = build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, KeyRing(cfg, {}))
    assert sorted(r.file for r in res) == ["M1_PAN_DT7.npy", "M1_PAN_DT8.npy"]
    assert np.array_equal(np.load(tmp_path / "image" / "M1_PAN_DT7.npy"), np.concatenate(a))
    assert np.array_equal(np.load(tmp_path / "image" / "M1_PAN_DT8.npy"), np.concatenate(b))
    assert json.loads((tmp_path / "image" / "M1_PAN_DT8.json").read_text())["datatake"] == 8


def test_block_key_id_differs_from_datatake_announcement(tmp_path, cfg, sat):
    rng = np.random.default_rng(15)
    key = cfg.key(1)
    pk = telemetry_packetizer.Packetizer(sat, compression="raw", key_id=1, key=key)
    announce = Datatake(3, "mono", 0, 1, "T", 0, bytes(4))            # announced as clear
    _write(tmp_path, [pk.image_unit(1, "PAN", 0, 1e9, _blocks(rng, 1, 32, 256)[0], 3)])
    ring = KeyRing(cfg, {3: announce})
    (r,) = build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, ring)
    assert r.lines_undecryptable == 32 and announce.kcv_ok is False
    assert "datatake start announces 0" in announce.error


def test_band_extents_aligned_across_bands(tmp_path, cfg, sat):
    """PAN's first block lost, MS's last block lost: both images still cover the datatake's span
    on the PAN grid (MS = PAN/4), the lost blocks masked — not silently shorter images."""
    rng = np.random.default_rng(16)
    pk = telemetry_packetizer.Packetizer(sat, compression="raw")
    pan, ms = _blocks(rng, 4, 32, 256), _blocks(rng, 4, 8, 64)
    units = [pk.image_unit(1, "PAN", 320 + 32 * b, 1e9 + b, pan[b], 1) for b in range(1, 4)]
    units += [pk.image_unit(1, "B0", 80 + 8 * b, 1e9 + b, ms[b], 1) for b in range(0, 3)]
    _write(tmp_path, units)
    res = {r.band: r for r in build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, KeyRing(cfg, {}))}
    assert (res["PAN"].first_line, res["PAN"].lines) == (320, 128)
    assert (res["B0"].first_line, res["B0"].lines) == (80, 32)
    pm = np.load(tmp_path / "image" / "M1_PAN_mask.npy")
    bm = np.load(tmp_path / "image" / "M1_B0_mask.npy")
    assert (pm[:32] == MASK_MISSING).all() and (pm[32:] == MASK_OK).all()
    assert (bm[24:] == MASK_MISSING).all() and (bm[:24] == MASK_OK).all()
    assert np.array_equal(np.load(tmp_path / "image" / "M1_PAN.npy")[32:], np.concatenate(pan[1:]))


@pytest.mark.parametrize("key_id", [0, 1])
def test_segmented_nominal_width_blocks(tmp_path, cfg, sat, key_id):
    """Nominal-width PAN blocks (32 × 7000 raw = 336 kB) span 6 segments each; a block with a
    lost middle segment is counted incomplete: the whole lines of its received prefix are
    salvaged (raw only), the rest masked missing; its neighbours bit-exact."""
    rng = np.random.default_rng(17)
    pk = telemetry_packetizer.Packetizer(sat, compression="raw", key_id=key_id, key=cfg.key(1) if key_id else None)
    blocks = [rng.integers(0, 4096, (32, 7000)).astype(np.uint16) for _ in range(3)]
    units = [pk.image_unit(4, "PAN", 32 * b, 1e9 + b, blk, 2) for b, blk in enumerate(blocks)]
    assert [len(u.packets) for u in units] == [6, 6, 6]
    pf = PacketFiles(tmp_path / "packets")
    for b, u in enumerate(units):
        for i, p in enumerate(u.packets):
            if not (b == 1 and i == 3):
                pf.write(Packet(p, 4, False))
    pf.close()
    (tmp_path / "image").mkdir()
    (r,) = build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, KeyRing(cfg, {}))
    img = np.load(tmp_path / "image" / "M4_PAN.npy")
    mask = np.load(tmp_path / "image" / "M4_PAN_mask.npy")
    assert img.shape == (96, 7000) and r.incomplete_units == 1
    assert np.array_equal(img[:32], blocks[0]) and np.array_equal(img[64:], blocks[2])
    # 3 segments of 65529 user bytes - 18 header bytes = 196569 bytes = 131046 samples = 18 lines
    assert r.lines_salvaged == 18 and np.array_equal(img[32:50], blocks[1][:18])
    assert (mask[32:50] == MASK_OK).all() and (mask[50:64] == MASK_MISSING).all() and (img[50:64] == 0).all()
    assert (mask[:32] == MASK_OK).all()


def test_corrupt_line_counter_does_not_blow_up_the_image(tmp_path, cfg, sat):
    rng = np.random.default_rng(18)
    pk = telemetry_packetizer.Packetizer(sat, compression="raw")
    blocks = _blocks(rng, 4, 32, 256)
    lines = [0, 32, 4_000_000_000, 64]                       # one header with a wild line counter
    _write(tmp_path, [pk.image_unit(1, "PAN", ln, 1e9 + i, blocks[i], 1) for i, ln in enumerate(lines)])
    (r,) = build_images(tmp_path / "packets", tmp_path / "image", cfg, sat, KeyRing(cfg, {}))
    assert (r.first_line, r.lines, r.lines_ok) == (0, 96, 96)
    assert "outside the datatake's span" in r.errors[0]["message"] and r.errors[0]["line"] == 4_000_000_000
    img = np.load(tmp_path / "image" / "M1_PAN.npy")
    assert np.array_equal(img, np.concatenate([blocks[0], blocks[1], blocks[3]]))
