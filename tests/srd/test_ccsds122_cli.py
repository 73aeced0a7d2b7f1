"""``srd ccsds122 encode|decode|info`` on files: reference stream reproduced, JSON keys, exit codes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from srd.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def test_encode_reproduces_reference_and_decodes(shared_dir, tmp_path, capsys):
    d = shared_dir / "data/ccsds122"
    out = tmp_path / "p.bin"
    assert main(["ccsds122", "encode", str(d / "panblock12_128x1024_S128_lossless.npy"), str(out),
                 "--segment", "128", "--bits", "12", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert out.read_bytes() == (d / "panblock12_128x1024_S128_lossless.bin").read_bytes()
    assert res["lossless"] and res["bytes"] == out.stat().st_size and res["segments"] == 16
    assert res["ratio"] == pytest.approx(128 * 1024 * 12 / 8 / res["bytes"], rel=1e-3)
    tif = tmp_path / "p.tif"
    assert main(["ccsds122", "decode", str(out), str(tif), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["rows"], res["cols"], res["dtype"]) == (128, 1024, "uint16")
    import warnings

    import rasterio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # srd.cli.main resets the filters; no georef here
        ds = rasterio.open(tif)
    with ds:
        np.testing.assert_array_equal(ds.read(1),
                                      np.load(d / "panblock12_128x1024_S128_lossless.npy"))
    assert not list(tmp_path.glob(".*tmp*"))          # outputs renamed into place


def test_info_json_keys(shared_dir, capsys):
    f = shared_dir / "data/ccsds122/pleiades12_500x500_S256_int_2bpp.bin"
    assert main(["ccsds122", "info", str(f), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"width", "height", "bits", "signed", "dwt", "segment_size", "segments", "blocks",
            "pad_rows", "seg_byte_limit", "bytes", "bpp", "segment_list"} <= set(res)
    assert res["seg_byte_limit"] == 4096 and res["segments"] == 16
    assert res["segment_list"][-1]["blocks"] == 129


def test_bpp_and_tif_input(tmp_path, capsys):
    import rasterio
    rng = np.random.default_rng(5)
    img = (1000 + rng.normal(0, 40, (64, 80))).astype(np.uint16)
    tif = tmp_path / "in.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=64, width=80, count=1,
                       dtype="uint16") as ds:
        ds.write(img, 1)
    out = tmp_path / "o.bin"
    assert main(["ccsds122", "encode", str(tif), str(out), "--segment", "16", "--dwt", "float",
                 "--bpp", "2", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["seg_byte_limit"] == 256 and res["bpp"] <= 2.0 and not res["lossless"]


def test_exit_codes(tmp_path, shared_dir, capsys):
    assert main(["ccsds122", "decode", str(tmp_path / "none.bin"), str(tmp_path / "x.npy")]) == 8
    data = (shared_dir / "data/ccsds122/rand12_64x64_S16_lossless.bin").read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[:2000])
    assert main(["ccsds122", "decode", str(cut), str(tmp_path / "x.npy"), "--json"]) == 6
    err = json.loads(capsys.readouterr().out)
    assert err["error"] == "CompressionError" and "segment" in err["message"]
    assert not (tmp_path / "x.npy").exists()
    # --partial: the decodable part is written with its row mask, exit 10
    assert main(["ccsds122", "decode", str(cut), str(tmp_path / "x.npy"), "--partial",
                 "--json"]) == 10
    res = json.loads(capsys.readouterr().out)
    mask = np.load(tmp_path / "x.rows_ok.npy")
    assert res["rows_lost"] == int((~mask).sum()) > 0 and res["damaged_segments"] >= 1
    assert np.load(tmp_path / "x.npy").shape[1] == 64      # height: what the blocks seen cover
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((10, 40), np.uint16))
    assert main(["ccsds122", "encode", str(bad), str(tmp_path / "b.bin")]) == 6
    assert "smaller than 17" in capsys.readouterr().err
