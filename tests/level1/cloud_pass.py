"""A simulated cloudy (or clear) reduced-profile pass over Mont Ventoux, decoded and taken
to Level 1, with the simulator's truth cloud mask on the MS product grid — shared by the
level1 cloud tests (tests only: reads ../shared and the simulator's truth)."""
from __future__ import annotations

import functools

import numpy as np
import rasterio

from level1 import radiometry_algo as RA


def cloud_pass(tmp_path, cfg, shared_dir, clouds: float, seed: int, output: str = "dn",
               start=None, duration: float = 0.8):
    """Simulate → decode → level1; returns (scene, scene dir, MS mask, truth cloud mask,
    valid pixels, terrain height m) on the MS grid. ``start`` default: centred on Ventoux."""
    import telemetry.acquisition as TA
    from decode.run import run as decode
    from level1.run import run as level1
    from telemetry.simulate import run as simulate
    from telemetry.truth import Truth
    dem = shared_dir / "data" / "dem" / "N44E005.hgt"
    geoid = shared_dir / "data" / "dem" / "egm96_15.gtx"
    if start is None:
        start = TA.centred_start(cfg, "SPOT-6", *TA.VENTOUX, "2026-11-29T10:03:26Z", duration)
    acq_cls = TA.Acquisition
    # the simulator's stage API has no cloud option: the acquisition is given one
    TA.Acquisition = functools.partial(acq_cls, clouds=clouds)
    try:
        srep = simulate(cfg, tmp_path / "landing", "SPOT-6", start, duration, "reduced", dem=dem,
                        geoid=geoid, seed=seed)
    finally:
        TA.Acquisition = acq_cls
    drep = decode(tmp_path / "landing" / f"{srep.pass_id}.json", tmp_path / "l0", cfg)
    rep = level1(drep.level0_dir, tmp_path / "l1", cfg, dem=dem, geoid=geoid, output=output)
    acq = Truth(tmp_path / "landing" / f"{srep.pass_id}.truth").acquisition(cfg)
    assert len(rep.scenes) == 1
    s = rep.scenes[0]
    d = tmp_path / "l1" / rep.pass_id / s["directory"]
    from level1.rpc import read_rpc
    rpc = read_rpc(d / s["ms"]["file"])
    msk = rasterio.open(next(d.glob("MSK_*_MS_*.TIF"))).read(1)
    R, C = np.mgrid[0:msk.shape[0], 0:msk.shape[1]].astype(np.float64)
    h = np.full(R.shape, float(np.mean(s["height_range_m"])))
    for _ in range(3):                                   # RPC localisation on the terrain
        lon, lat = rpc.localise(C, R, h)
        h = acq.terrain.height(lon, lat)
    truth = acq.scene.cloud_mask(lon, lat)
    valid = (msk & RA.MISSING) == 0
    return s, d, msk, truth, valid, h
