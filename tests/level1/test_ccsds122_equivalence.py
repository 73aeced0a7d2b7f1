"""Issue 9: a pass compressed on board with lossless CCSDS 122 yields exactly the Level-1
pixels of the same pass sent raw (simulate → decode → level1, twice, same seed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

pytestmark = pytest.mark.slow
START = "2026-11-29T10:03:27Z"


def _level1(cfg, base: Path, compression: str) -> Path:
    from decode.run import run as decode
    from level1.run import run as level1
    from telemetry.simulate import run as simulate
    rep = simulate(cfg, base / compression / "landing", "SPOT-6", START, 0.4, "reduced",
                   compression=compression, seed=5)
    drep = decode(base / compression / "landing" / f"{rep.pass_id}.json", base / compression / "l0", cfg)
    assert drep.to_dict()["status"] == "ok"
    return Path(level1(drep.level0_dir, base / compression / "l1", cfg).output_dir)


def test_lossless_ccsds122_level1_equals_raw(cfg, tmp_path):
    raw = _level1(cfg, tmp_path, "raw")
    c122 = _level1(cfg, tmp_path, "ccsds122")
    def tifs(root):
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.suffix.lower() == ".tif")
    rasters = tifs(raw)
    assert len(rasters) >= 3, f"level1 wrote {rasters}"         # PAN, MS and masks at least
    assert rasters == tifs(c122)
    for rel in rasters:
        with rasterio.open(raw / rel) as a, rasterio.open(c122 / rel) as b:
            assert a.shape == b.shape and a.count == b.count
            assert np.array_equal(a.read(), b.read()), rel
            assert a.tags(ns="RPC") == b.tags(ns="RPC")
