"""Level-1 stage: ``run(l0_dir, out_dir, cfg) -> Level1Report`` (docs/developing.md stage contract).

Level 0 directory → for each datatake: line timing, physical models, perfect sensor, radiometric
equalisation + resampling of every module and band onto the perfect-sensor grid (on the DEM),
cut into scenes; per scene: RPC fit, cloud mask, misregistration and striping measures, COGs +
masks + metadata. Output::

    <out_dir>/<pass_id>/                      written as <out_dir>/.<pass_id>.tmp-<pid>, renamed
      level1_report.json
      <scene name>/ IMG_*_P_*.TIF IMG_*_MS_*.TIF MSK_*.TIF DIM_*.XML RPC_*_RPC.TXT

Stage functions never print; ``progress(stage, fraction)`` is called when given.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from level1 import radiometry_algo as RA
from level1.angles import sun_angles, view_angles
from level1.dem import Dem
from level1.geometry import PerfectSensor, build_perfect_sensor, housekeeping_period, line_timing, swath_limits
from level1.level0 import Level0, read_level0
from level1.product import datetime_code, write_cog, write_dimap
from level1.cloud_algo import METHOD as CLOUD_METHOD
from level1.cloud_algo import cloud_cover, cloud_mask
from level1.quality_algo import block_mean, misregistration
from level1.resample_algo import ground_nodes, module_nodes, node_axis, resample_band
from level1.rpc import fit_rpc
from level1.sensor_model import Attitude, DetectorArray, Ephemeris, PushbroomModel, geodetic_to_ecef, \
    instrument_to_body
from srd.errors import ConfigError, ProductError
from srd.timescale import gps_to_utc, iso_utc

MS_BANDS = ("B0", "B1", "B2", "B3")


@dataclass(frozen=True)
class Level1Options:
    """Processing options (product choices, not instrument profile values).

    ``pan_gsd_m``: perfect-sensor PAN sampling (ICD §5: products at 1.5 m / 6 m);
    ``output``: pixel values — ``"dn"`` equalised DN uint16 (calibration in the metadata, the
    DIMAP convention), ``"radiance"`` or ``"reflectance"`` float32 TOA values;
    ``scene_length_m``/``scene_overlap_m``: scene cutting along track;
    ``dem``/``geoid``: terrain for registration and the RPC height range (none: ellipsoid +
    ``default_height_m``); ``grid_step``: node spacing of the resampling grids (PAN pixels).
    """

    pan_gsd_m: float = 1.5
    output: str = "dn"
    scene_length_m: float = 60_000.0
    scene_overlap_m: float = 3_000.0
    dem: str | None = None
    geoid: str | None = None
    default_height_m: float = 0.0
    height_margin_m: float = 150.0
    grid_step: int = 32
    instrument: str | None = None
    satellite: str | None = None
    tile_rows: int = 1024

    def __post_init__(self):
        if self.output not in ("dn", "radiance", "reflectance"):
            raise ConfigError(f"output must be dn, radiance or reflectance, got {self.output!r}",
                              field="output")
        if self.pan_gsd_m <= 0 or self.scene_length_m <= 0 or self.grid_step < 4:
            raise ConfigError("pan_gsd_m and scene_length_m must be > 0, grid_step ≥ 4",
                              field="options")


@dataclass(frozen=True)
class Level1Report:
    pass_id: str
    satellite: str
    instrument: str
    level0_dir: str
    output_dir: str
    output: str                       # = output_dir (the pipeline's generic key)
    status: str                       # "ok" | "data_loss" (masked pixels) | "failed"
    options: dict
    datatakes: list
    scenes: list
    errors: list
    warnings: list
    wall_time_s: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------- helpers


def _satellite(cfg, l0: Level0, opt: Level1Options):
    if opt.satellite:
        return cfg.satellite(opt.satellite)
    name = l0.report.get("satellite")
    if name:
        return cfg.satellite(str(name))
    scid = l0.report.get("scid")
    if scid is not None:
        s = cfg.satellite_by_scid(int(scid))
        if s is not None:
            return s
    raise ProductError("cannot tell the satellite: decode_report.json has no satellite/scid "
                       "(give options.satellite)", path=l0.path / "decode_report.json", field="satellite")


def _instrument(cfg, sat, l0: Level0, opt: Level1Options):
    """The instrument profile whose PAN width matches the Level 0 images."""
    if opt.instrument:
        return cfg.instrument(opt.instrument)
    widths = {bd.columns for (d, m, b), bd in l0.bands.items() if b == "PAN"}
    cands = [cfg.instrument(sat.instrument)] + [i for n, i in cfg.instruments.items() if n != sat.instrument]
    for ins in cands:
        if widths <= {ins.bands[0].detectors}:
            return ins
    raise ProductError(f"no instrument profile has {sorted(widths)} PAN detectors per module "
                       f"(profiles: {sorted(cfg.instruments)})", path=l0.path / "image", field="columns")


def _sanitize(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", s)[:24] or "PASS"


def _iso(gps: float) -> str:
    return iso_utc(gps_to_utc(gps), 3)


# ---------------------------------------------------------------------------- stage


def run(l0_dir, out_dir, cfg, options: Level1Options | None = None,
        progress: Callable[[str, float], None] | None = None, *, dem=None, geoid=None,
        **overrides) -> Level1Report:
    """Process a Level 0 directory into Level-1 scenes under ``out_dir/<pass_id>/``.

    ``dem``/``geoid`` and any :class:`Level1Options` field given as keyword override
    ``options``. Raises :class:`ProductError`/:class:`GeometryError` on unusable input."""
    opt = options or Level1Options()
    if dem is not None:
        overrides["dem"] = str(dem)
    if geoid is not None:
        overrides["geoid"] = str(geoid)
    if overrides:
        opt = dataclasses.replace(opt, **overrides)
    t_wall = time.time()
    prog = progress or (lambda s, f: None)
    l0 = read_level0(l0_dir)
    sat = _satellite(cfg, l0, opt)
    ins = _instrument(cfg, sat, l0, opt)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / l0.pass_id
    tmp = out_dir / f".{l0.pass_id}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    warnings: list[str] = []
    errors: list[dict] = []
    scenes: list[dict] = []
    dts: list[dict] = []
    try:
        for k, dtk in enumerate(l0.datatake_ids()):
            info = l0.datatake_info(dtk)
            eph, att = ancillary_models(l0, dtk, sat)
            if info.get("error"):
                errors.append({"error": "DatatakeError", "message": str(info["error"]),
                               "path": str(l0.path / "ancillary" / "datatakes.json"),
                               "field": f"datatake {dtk}"})
            res = _process_datatake(l0, dtk, info, sat, ins, eph, att, opt, tmp, warnings,
                                    lambda s, f: prog(s, (k + f) / len(l0.datatake_ids())))
            dts.append(res["datatake"])
            scenes.extend(res["scenes"])
        lost = any(s["missing_pct"] > 0 for s in scenes) or bool(errors)
        report = Level1Report(l0.pass_id, sat.name, ins.name, str(l0.path), str(final), str(final),
                              "data_loss" if lost else "ok", dataclasses.asdict(opt), dts, scenes,
                              errors, warnings, round(time.time() - t_wall, 3))
        (tmp / "level1_report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
        if final.exists():
            old = out_dir / f".{l0.pass_id}.old-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
        prog("done", 1.0)
        return report
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: ancillary kept around a datatake (s): enough samples to average the noise down, short
#: enough that the attitude/ephemeris laws stay smooth polynomials (a whole pass is minutes)
ANCILLARY_MARGIN_S = 15.0


def ancillary_models(l0: Level0, dtk: int, sat) -> tuple[Ephemeris, Attitude]:
    """Ephemeris and attitude models for datatake ``dtk`` from the records within its image
    time span ± :data:`ANCILLARY_MARGIN_S` (all records if fewer than 4 fall inside)."""
    times = [bd.block_times[:, 1] for (d, m, b), bd in l0.bands.items() if d == dtk and len(bd.block_times)]
    if times:
        t = np.concatenate(times)
        lo, hi = float(t.min()) - ANCILLARY_MARGIN_S, float(t.max()) + ANCILLARY_MARGIN_S
    else:
        lo, hi = -np.inf, np.inf

    def window(rec):
        sel = rec[(rec["gps_time"] >= lo) & (rec["gps_time"] <= hi)]
        return sel if len(sel) >= 4 else rec

    eph = Ephemeris.from_records(window(l0.ephemeris), sigma_pos_m=sat.ephemeris_noise_m,
                                 sigma_vel_mps=sat.velocity_noise_mps)
    att = Attitude.from_records(window(l0.attitude))
    return eph, att


def fill_missing_bands(l0: Level0, dtk: int, ins) -> list[str]:
    """A module × band with no image at all in the Level 0 directory (every block lost) becomes
    an all-missing band — same lines and timing as that band in another module, DN 0, every
    line flagged missing — so the scene is still produced with that part masked, never
    silently dropped. Returns the warnings. No module has the band: :class:`ProductError`."""
    from level1.level0 import BandData
    out = []
    for b in ins.band_names:
        have = [m for m in range(1, ins.modules + 1) if (dtk, m, b) in l0.bands]
        if not have:
            raise ProductError(f"datatake {dtk}: no module has band {b}", path=l0.path / "image", field=b)
        ref = max((l0.bands[(dtk, m, b)] for m in have), key=lambda x: x.lines)
        for m in range(1, ins.modules + 1):
            if (dtk, m, b) in l0.bands:
                continue
            n = ins.band(b).detectors
            l0.bands[(dtk, m, b)] = BandData(m, b, dtk, ref.first_line, np.zeros((ref.lines, n), np.uint16),
                                             np.ones(ref.lines, np.uint8), ref.block_times,
                                             {"synthesised": True}, l0.path / "image" / f"M{m}_{b}.npy")
            out.append(f"datatake {dtk}: no image for module {m} band {b} in Level 0: masked as missing")
    return out


def band_models(l0: Level0, dtk: int, ins, eph: Ephemeris, att: Attitude, dem=None):
    """Physical model of every module × band of datatake ``dtk``: (``{(module, band):
    PushbroomModel}``, ``{(module, band): (t0, period, max timing residual)}``). Row ``i`` of the
    Level 0 image is line ``i`` of the model."""
    R_ib = instrument_to_body(ins.instrument_to_body_rad)
    T_pan = housekeeping_period(l0.housekeeping, ins.pan_line_period_s)
    models: dict[tuple[int, str], PushbroomModel] = {}
    timing: dict = {}
    for m in range(1, ins.modules + 1):
        for b in ins.band_names:
            bd = l0.band(dtk, m, b)
            if bd.columns != ins.band(b).detectors:
                raise ProductError(f"{bd.columns} columns, profile {ins.name!r} has "
                                   f"{ins.band(b).detectors} detectors", path=bd.path, field="columns")
            period = T_pan * (1 if b == "PAN" else ins.ms_ratio)
            t0, period, resid = line_timing(bd, period)
            timing[(m, b)] = (t0, period, resid)
            models[(m, b)] = PushbroomModel(eph, att, DetectorArray.from_instrument(ins, b, m), t0,
                                            period, R_ib, dem)
    return models, timing


def load_geometry(l0_dir, cfg, *, satellite: str | None = None, instrument: str | None = None,
                  dem=None, geoid=None):
    """(Level0, satellite, instrument, ephemeris, attitude, models per datatake) of a Level 0
    directory — the physical models level1 uses, for tests and benchmarks against a truth."""
    l0 = read_level0(l0_dir)
    opt = Level1Options(satellite=satellite, instrument=instrument)
    sat = _satellite(cfg, l0, opt)
    ins = _instrument(cfg, sat, l0, opt)
    d = Dem.open(dem, geoid=geoid) if dem else None
    models = {}
    for k in l0.datatake_ids():
        eph, att = ancillary_models(l0, k, sat)
        models[k] = band_models(l0, k, ins, eph, att, d)[0]
    return l0, sat, ins, eph, att, models


def _process_datatake(l0: Level0, dtk: int, info: dict, sat, ins, eph, att, opt: Level1Options,
                      tmp: Path, warnings: list, prog) -> dict:
    T_pan = housekeeping_period(l0.housekeeping, ins.pan_line_period_s)
    if abs(T_pan - ins.pan_line_period_s) > 1e-3 * ins.pan_line_period_s:
        warnings.append(f"housekeeping PAN line period {T_pan * 1e6:.3f} µs differs from the profile "
                        f"{ins.pan_line_period_s * 1e6:.3f} µs: housekeeping used")
    bands = ins.band_names
    for w in fill_missing_bands(l0, dtk, ins):
        warnings.append(w)
    models, timing = band_models(l0, dtk, ins, eph, att)
    prog("geometry", 0.05)
    # DEM over a rough footprint (ellipsoid, first/last PAN lines, outer detectors)
    pan_models = {m: models[(m, "PAN")] for m in range(1, ins.modules + 1)}
    t_start = min(mo.t0 for mo in pan_models.values())
    t_stop = max(mo.t0 + (l0.band(dtk, m, "PAN").lines - 1) * mo.line_period for m, mo in pan_models.items())
    corners = []
    for m in (1, ins.modules):
        mo = pan_models[m]
        nl = l0.band(dtk, m, "PAN").lines
        lo, la, _ = mo.direct_grid(np.array([0.0, 0.5 * (nl - 1), nl - 1.0]),
                                   np.array([0.0, mo.detectors.n - 1.0]), opt.default_height_m)
        corners += list(zip(lo.ravel(), la.ravel()))
    lons, lats = np.array(corners).T
    pad = 0.05
    bounds = (lons.min() - pad, lats.min() - pad, lons.max() + pad, lats.max() + pad)
    if opt.dem:
        dem = Dem.open(opt.dem, geoid=opt.geoid, bounds=bounds)
        dem_name = Path(opt.dem).name + (f" + {Path(opt.geoid).name}" if opt.geoid else "")
    else:
        dem = Dem.constant(opt.default_height_m, bounds)
        dem_name = f"ellipsoid + {opt.default_height_m} m"
        warnings.append(f"datatake {dtk}: no DEM given: bands registered on a flat surface "
                        f"{opt.default_height_m} m above the ellipsoid (relief parallax between the "
                        f"MS and PAN arrays not corrected) — pass dem=/--dem for real terrain")
    models = {k: dataclasses.replace(v, dem=dem) for k, v in models.items()}
    pan_models = {m: models[(m, "PAN")] for m in range(1, ins.modules + 1)}
    pan_psi_x = float(ins.band("PAN").along_track_rad)
    psi_range = swath_limits([(models[(1, b)].detectors, models[(ins.modules, b)].detectors) for b in bands])
    ps = build_perfect_sensor(pan_models, pan_psi_x, ins.ms_ratio, t_start, t_stop, opt.pan_gsd_m, dem,
                              psi_range)
    r = ins.ms_ratio
    step_pan = int(opt.grid_step)
    step_ms = max(2, step_pan // r)

    # --- node grids: ground of every output band's nodes, then every module's raw (line, det)
    nodes = {}
    ground = {}
    lon_p, lat_p, h_p = ground_nodes(ps.pan, ps.rows, ps.cols, step_pan)
    ground["PAN"] = (lon_p, lat_p, h_p)
    if opt.dem:
        outside = 1.0 - float(dem.inside(lon_p, lat_p).mean())
        if outside > 0:
            warnings.append(f"datatake {dtk}: {100 * outside:.1f} % of the footprint lies outside the DEM "
                            f"({dem_name}): edge heights extended there")
    ms_rows, ms_cols = ps.ms_shape()
    if any(b != "PAN" for b in bands):
        ground["MS"] = ground_nodes(ps.ms, ms_rows, ms_cols, step_ms)
    # ψy of every node column of the perfect sensor (extrapolated past the last column)
    node_psi = {"PAN": ps.pan.detectors.angles(node_axis(ps.cols, step_pan))[1],
                "MS": ps.ms.detectors.angles(node_axis(ms_cols, step_ms))[1]}
    for b in bands:
        kind = "PAN" if b == "PAN" else "MS"
        for m in range(1, ins.modules + 1):
            nodes[(m, b)] = module_nodes(models[(m, b)], *ground[kind], node_psi_y=node_psi[kind])
    prog("geometry", 0.2)

    # --- coverage: perfect PAN rows where every band has a module covering every node column
    row_lo, row_hi = 0, ps.rows - 1
    for b in bands:
        step = step_pan if b == "PAN" else step_ms
        nr = node_axis(ps.rows if b == "PAN" else ms_rows, step)
        nc = node_axis(ps.cols if b == "PAN" else ms_cols, step)
        real_c = nc <= (ps.cols if b == "PAN" else ms_cols) - 1      # nodes past the edge are
        cov = np.zeros(nodes[(1, b)][0].shape, bool)                 # only interpolation supports
        for m in range(1, ins.modules + 1):
            gl, gd = nodes[(m, b)]
            nl = l0.band(dtk, m, b).lines
            n = ins.band(b).detectors
            cov |= (gl >= 2) & (gl <= nl - 4) & (gd >= 1) & (gd <= n - 3)
        cov = cov[:, real_c]
        cov[nr > (ps.rows if b == "PAN" else ms_rows) - 1] = False
        full = np.flatnonzero(cov.all(axis=1))
        if full.size == 0:
            raise ProductError(f"band {b}: no row of the perfect sensor is covered by all modules",
                               path=l0.path / "image", field=b)
        scale = 1 if b == "PAN" else r
        row_lo = max(row_lo, int(np.ceil(nr[full[0]] * scale)))
        row_hi = min(row_hi, int(np.floor(nr[full[-1]] * scale)))
    row_lo = int(np.ceil(row_lo / r) * r)
    n_rows = ((row_hi - row_lo + 1) // r) * r
    if n_rows < 8 * r:
        raise ProductError(f"datatake {dtk}: only {n_rows} rows covered by every band", field="coverage")

    # --- radiometric equalisation loaders and striping measures on the raw module images
    striping = {}

    def loader(b):
        def load(m, a, z):
            bd = l0.band(dtk, m, b)
            dark, gain = ins.detector_calibration(b, m)
            return RA.equalise(np.asarray(bd.dn[a:z]), bd.line_status[a:z], dark, gain, ins.bits)
        return load

    for b in bands:
        raw_s, cor_s, noise = [], [], []
        for m in range(1, ins.modules + 1):
            bd = l0.band(dtk, m, b)
            ok = np.flatnonzero(bd.line_status == 0)
            sel = ok[: min(ok.size, 4096)]
            if sel.size < 16:
                continue
            raw = np.asarray(bd.dn[sel], np.float32)
            raw[(raw <= 0) | (raw >= (1 << ins.bits) - 1)] = np.nan
            dark, gain = ins.detector_calibration(b, m)
            cor, _ = RA.equalise(np.asarray(bd.dn[sel]), bd.line_status[sel], dark, gain, ins.bits)
            raw_s.append(RA.column_spread(raw))
            cor_s.append(RA.column_spread(cor))
            noise.append(RA.column_noise(cor))
        if raw_s:
            striping[b] = {"raw_column_spread_dn": float(np.nanmax(raw_s)),
                           "corrected_column_spread_dn": float(np.nanmax(cor_s)),
                           "column_mean_noise_dn": float(np.nanmax(noise))}
    prog("radiometry", 0.3)

    # --- resample every band onto the perfect grid (memory-mapped datatake strips)
    work = tmp / f".work-DT{dtk}"
    work.mkdir()
    strips = {}
    for bi, b in enumerate(bands):
        if b == "PAN":
            shape, step, off = (n_rows, ps.cols), step_pan, row_lo
        else:
            shape, step, off = (n_rows // r, ms_cols), step_ms, row_lo // r
        vals = np.lib.format.open_memmap(work / f"{b}.npy", "w+", np.float32, shape)
        flg = np.lib.format.open_memmap(work / f"{b}_flags.npy", "w+", np.uint8, shape)
        mods = []
        for m in range(1, ins.modules + 1):
            gl, gd = nodes[(m, b)]
            mods.append((gl, gd, l0.band(dtk, m, b).lines, m))
        ramp = max(1.0, 0.5 * ins.module_overlap_pan / (1 if b == "PAN" else r) - 2.0)
        resample_band(shape, step, off, mods, loader(b), ramp, opt.tile_rows, vals, flg)
        strips[b] = (vals, flg)
        prog("resampling", 0.3 + 0.5 * (bi + 1) / len(bands))

    # --- scenes
    scene_rows = max(8 * r, int(round(opt.scene_length_m / opt.pan_gsd_m / r)) * r)
    overlap = int(round(opt.scene_overlap_m / opt.pan_gsd_m / r)) * r
    starts = [0]
    while starts[-1] + scene_rows < n_rows:
        starts.append(min(starts[-1] + scene_rows - overlap, n_rows - scene_rows))
    sat_code = sat.name.replace("-", "").upper()
    ps_dt = ps.cropped(row_lo, n_rows)
    scenes = []
    for k, s0 in enumerate(starts):
        rows = min(scene_rows, n_rows - s0)
        scenes.append(_write_scene(ps_dt, s0, rows, strips, bands, ins, sat_code, l0, dtk, info, k,
                                   dem, dem_name, eph, att, striping, opt, tmp))
        prog("scenes", 0.8 + 0.2 * (k + 1) / len(starts))
    shutil.rmtree(work)
    dt_rep = {"datatake": dtk, "mode": info.get("mode"), "target": info.get("target"),
              "instrument": ins.name, "pan_line_period_s": T_pan,
              "timing_max_residual_s": max(v[2] for v in timing.values()),
              "lines": {f"M{m}_{b}": {"first_line": l0.band(dtk, m, b).first_line,
                                      "lines": l0.band(dtk, m, b).lines,
                                      "lines_missing": int(np.count_nonzero(l0.band(dtk, m, b).line_status)),
                                      "line_period_s": timing[(m, b)][1],
                                      "first_line_utc": _iso(timing[(m, b)][0]),
                                      "last_line_utc": _iso(timing[(m, b)][0] + (l0.band(dtk, m, b).lines - 1)
                                                            * timing[(m, b)][1])}
                        for (m, b) in sorted(timing)},
              "perfect_sensor": {"rows": n_rows, "cols": ps.cols, "gsd_m": ps.gsd_m,
                                 "native_gsd_across_m": ps.native_gsd_across_m,
                                 "native_gsd_along_m": ps.native_gsd_along_m,
                                 "first_row_time": _iso(ps_dt.pan.t0),
                                 "line_period_s": ps.pan.line_period},
              "ephemeris": {"method": eph.method, "residual_m": eph.residual_pos_m, "samples": int(len(eph.t))},
              "attitude": {"method": att.method, "residual_urad": att.residual_rad * 1e6,
                           "samples": int(len(att.t))},
              "dem": dem_name, "striping": striping, "scenes": [s["name"] for s in scenes]}
    return {"datatake": dt_rep, "scenes": scenes}


def _write_scene(ps: PerfectSensor, s0: int, rows: int, strips, bands, ins, sat_code, l0, dtk, info,
                 k, dem, dem_name, eph, att, striping, opt, tmp) -> dict:
    r = ins.ms_ratio
    sc = ps.cropped(s0, rows)
    cols = ps.cols
    t_first = sc.pan.t0
    t_last = sc.pan.t0 + (rows - 1) * sc.pan.line_period
    t_mid = 0.5 * (t_first + t_last)
    code = datetime_code(gps_to_utc(t_first))
    sid = f"{_sanitize(l0.pass_id)}{dtk:03d}-{k + 1:03d}"
    scene_name = f"{sat_code}_{code}_{sid}"
    d = tmp / scene_name
    d.mkdir()
    # footprint and angles (perfect sensor on the DEM)
    edge_r = np.linspace(0, rows - 1, 9)
    edge_c = np.linspace(0, cols - 1, 9)
    ring = ([(0.0, c) for c in edge_c] + [(rr, cols - 1.0) for rr in edge_r[1:]]
            + [(rows - 1.0, c) for c in edge_c[::-1][1:]] + [(rr, 0.0) for rr in edge_r[::-1][1:]])
    rr, cc = np.array(ring).T
    flo, fla, fh = sc.pan.direct(rr, cc)
    clo, cla, ch = sc.pan.direct(np.array([0.5 * (rows - 1)]), np.array([0.5 * (cols - 1)]))
    pos, _ = eph.state(np.array([t_mid]))
    inc, vaz = view_angles(clo, cla, geodetic_to_ecef(clo, cla, ch), pos)
    sz, saz, dist = sun_angles(t_mid, clo, cla)
    sz, saz, dist = float(sz[0]), float(saz[0]), float(np.ravel(dist)[0])
    # heights for the RPC: DEM over the footprint, with a margin
    g = np.linspace(0, 1, 25)
    Lg, Cg = np.meshgrid(g * (rows - 1), g * (cols - 1), indexing="ij")
    glo, gla, gh = sc.pan.direct(Lg, Cg)
    h_lo = float(np.nanmin(gh)) - opt.height_margin_m
    h_hi = float(np.nanmax(gh)) + opt.height_margin_m
    rpc_p, fit = fit_rpc(sc.pan.direct_function(), cols, rows, h_lo, h_hi)
    # independent validation: random image points and heights, physical model → RPC
    rng = np.random.default_rng(dtk * 1000 + k)
    vr, vc = rng.uniform(0, rows - 1, 2000), rng.uniform(0, cols - 1, 2000)
    vh = rng.uniform(h_lo, h_hi, 2000)
    vlo, vla, _ = sc.pan.direct(vr, vc, vh)
    pc_, pr_ = rpc_p.project(vlo, vla, vh)
    rpc_validation_px = float(np.max(np.hypot(pc_ - vc, pr_ - vr)))
    # MS pixel (i, j) centre = PAN (r·i + (r−1)/2, r·j + (r−1)/2) → exact rescaling of the PAN RPC
    half = 0.5 * (r - 1)
    rpc_ms = dataclasses.replace(rpc_p, line_off=(rpc_p.line_off - half) / r, line_scale=rpc_p.line_scale / r,
                                 samp_off=(rpc_p.samp_off - half) / r, samp_scale=rpc_p.samp_scale / r)
    # pixel values: PAN streams from the memory-mapped strip; MS (16× fewer samples) in memory
    pan_v, pan_f = strips["PAN"]
    m0, m1 = s0 // r, (s0 + rows) // r
    MS = {b: np.array(strips[b][0][m0:m1]) for b in bands if b != "PAN"}
    MF = {b: np.array(strips[b][1][m0:m1]) for b in bands if b != "PAN"}
    ms_bands = [b for b in MS_BANDS if b in MS]
    cal = {b: ins.band(b) for b in bands}
    chunk = 4096 - 4096 % r
    n_miss = n_sat = 0
    pan_ms = np.empty((rows // r, cols // r), np.float32)      # PAN block-averaged to the MS grid
    for a in range(0, rows, chunk):
        z = min(rows, a + chunk)
        f = np.asarray(pan_f[s0 + a:s0 + z])
        n_miss += int(np.count_nonzero(f & RA.MISSING))
        n_sat += int(np.count_nonzero(f & RA.SATURATED))
        pan_ms[a // r:z // r] = block_mean(np.asarray(pan_v[s0 + a:s0 + z]), r)
    miss = 100.0 * n_miss / (rows * cols)
    satp = 100.0 * n_sat / (rows * cols)

    def to_refl(b, v):
        return RA.reflectance(RA.radiance(v, cal[b].absolute_gain, cal[b].bias), cal[b].solar_irradiance, sz, dist)

    ms_shape = (rows // r, cols // r)
    cloud = np.zeros(ms_shape, bool)
    if all(b in MS for b in MS_BANDS):
        step_c = 2048                                     # per-pixel test: row chunks bound the memory
        for a in range(0, ms_shape[0], step_c):
            z = min(ms_shape[0], a + step_c)
            cloud[a:z] = cloud_mask(*(to_refl(b, MS[b][a:z]) for b in MS_BANDS))
    ms_flags = np.zeros(ms_shape, np.uint8)
    for b in ms_bands:
        ms_flags |= MF[b]
    ms_flags[cloud] |= RA.CLOUD
    valid_ms = np.ones(ms_shape, bool)
    for b in ms_bands:
        valid_ms &= np.isfinite(MS[b])
    cloud_pct = cloud_cover(cloud, valid_ms)
    mis = misregistration(pan_ms, MS, 1) if MS else {}
    # output values
    if opt.output == "dn":
        def enc(v):
            o = np.where(np.isfinite(v), np.clip(np.rint(v), 1, 65535), 0)
            return o.astype(np.uint16)
        nodata, dtype_name = 0, "uint16"
    else:
        def enc(v):
            return v.astype(np.float32)
        nodata, dtype_name = float("nan"), "float32"

    def conv(b, v):
        if opt.output == "radiance":
            return RA.radiance(v, cal[b].absolute_gain, cal[b].bias)
        if opt.output == "reflectance":
            return to_refl(b, v)
        return v

    names = {kind: f"IMG_{sat_code}_{kind}_{code}_SEN_{sid}" for kind in ("P", "MS")}
    tags = {"SATELLITE": sat_code, "PASS_ID": l0.pass_id, "DATATAKE": dtk, "SCENE": scene_name,
            "ACQUISITION_START": _iso(t_first), "ACQUISITION_CENTER": _iso(t_mid),
            "ACQUISITION_END": _iso(t_last), "SUN_ZENITH": f"{sz:.4f}", "SUN_AZIMUTH": f"{saz:.4f}",
            "INCIDENCE_ANGLE": f"{float(inc[0]):.4f}", "VIEWING_AZIMUTH": f"{float(vaz[0]):.4f}",
            "CLOUD_COVER": f"{cloud_pct:.2f}", "PIXEL_VALUES": opt.output}

    def btags(b):
        return {"GAIN": repr(cal[b].absolute_gain), "BIAS": repr(cal[b].bias),
                "SOLAR_IRRADIANCE": repr(cal[b].solar_irradiance), "CENTRE_NM": cal[b].centre_nm}

    f_p = write_cog(d / f"{names['P']}.TIF",
                    lambda a, z: enc(conv("PAN", np.asarray(pan_v[s0 + a:s0 + z])))[None],
                    shape=(1, rows, cols), dtype=dtype_name, nodata=nodata, rpc=rpc_p,
                    descriptions=["PAN"], tags=tags, band_tags=[btags("PAN")])
    write_cog(d / f"MSK_{names['P'][4:]}.TIF", lambda a, z: np.asarray(pan_f[s0 + a:s0 + z])[None],
              shape=(1, rows, cols), dtype=np.uint8, nodata=None, rpc=rpc_p, descriptions=["flags"],
              tags={"FLAGS": "1 missing, 2 saturated, 8 outside coverage"})
    rpc_p.write_rpc_txt(d / f"RPC_{names['P'][4:]}_RPC.TXT")
    rpc_p.write_geom(d / f"{names['P']}.geom")                 # OTB reads the model from here
    f_ms = None
    if ms_bands:
        f_ms = write_cog(d / f"{names['MS']}.TIF", np.stack([enc(conv(b, MS[b])) for b in ms_bands]),
                         nodata=nodata, rpc=rpc_ms, descriptions=ms_bands, tags=tags,
                         band_tags=[btags(b) for b in ms_bands])
        write_cog(d / f"MSK_{names['MS'][4:]}.TIF", ms_flags[None], nodata=None, rpc=rpc_ms,
                  descriptions=["flags"], tags={"FLAGS": "1 missing, 2 saturated, 4 cloud, 8 outside coverage"})
        rpc_ms.write_rpc_txt(d / f"RPC_{names['MS'][4:]}_RPC.TXT")
        rpc_ms.write_geom(d / f"{names['MS']}.geom")
    footprint = [(float(a), float(b)) for a, b in zip(flo, fla)]
    area = _area_km2(np.array(footprint))
    md = {"satellite": sat_code, "name": scene_name, "id": sid, "pass_id": l0.pass_id, "datatake": dtk,
          "area_km2": area, "cloud_cover_pct": cloud_pct, "cloud_method": CLOUD_METHOD,
          "footprint": footprint + [footprint[0]], "centre": (float(clo[0]), float(cla[0])),
          "production_date": iso_utc(dt.datetime.now(dt.timezone.utc), 0),
          "radiometric_processing": {"dn": "EQUALIZED_DN", "radiance": "TOA_RADIANCE",
                                     "reflectance": "TOA_REFLECTANCE"}[opt.output],
          "images": {"P": {"file": f_p.name, "mask": f"MSK_{names['P'][4:]}.TIF",
                           "rpc_file": f"RPC_{names['P'][4:]}_RPC.TXT", "rows": rows, "cols": cols,
                           "bands": ["PAN"], "dtype": dtype_name, "nodata": nodata, "gsd_m": ps.gsd_m},
                     "MS": {"file": f_ms.name if f_ms else "", "mask": f"MSK_{names['MS'][4:]}.TIF",
                            "rpc_file": f"RPC_{names['MS'][4:]}_RPC.TXT", "rows": rows // r,
                            "cols": cols // r, "bands": ms_bands, "dtype": dtype_name, "nodata": nodata,
                            "gsd_m": ps.gsd_m * r}},
          "bands": [{"name": b, "gain": cal[b].absolute_gain, "bias": cal[b].bias,
                     "solar_irradiance": cal[b].solar_irradiance, "centre_nm": cal[b].centre_nm} for b in bands],
          "sun_distance_au": dist, "time_first_line": _iso(t_first), "time_center": _iso(t_mid),
          "time_last_line": _iso(t_last), "incidence_deg": float(inc[0]), "view_azimuth_deg": float(vaz[0]),
          "sun_zenith_deg": sz, "sun_azimuth_deg": saz, "line_period_s": sc.pan.line_period,
          "ephemeris_method": eph.method, "ephemeris_residual_m": eph.residual_pos_m,
          "attitude_method": att.method, "attitude_residual_urad": att.residual_rad * 1e6, "dem": dem_name,
          "rpc_check_max_px": fit.check_max_px, "rpc_check_rms_px": fit.check_rms_px,
          "missing_pct": miss, "saturated_pct": satp, "misregistration": mis, "striping": striping}
    xml = write_dimap(d / f"DIM_{sat_code}_PMS_{code}_SEN_{sid}.XML", md)
    return {"name": scene_name, "id": sid, "datatake": dtk, "directory": str(Path(scene_name)),
            "files": sorted(p.name for p in d.iterdir()), "metadata": xml.name,
            "pan": {"file": f_p.name, "rows": rows, "cols": cols},
            "ms": {"file": f_ms.name if f_ms else None, "rows": rows // r, "cols": cols // r, "bands": ms_bands},
            "first_row": s0, "time_first_line": _iso(t_first), "time_center": _iso(t_mid),
            "time_last_line": _iso(t_last), "footprint": footprint + [footprint[0]],
            "centre": [float(clo[0]), float(cla[0])], "area_km2": area,
            "incidence_deg": float(inc[0]), "view_azimuth_deg": float(vaz[0]),
            "sun_zenith_deg": sz, "sun_azimuth_deg": saz, "sun_distance_au": dist,
            "cloud_cover_pct": cloud_pct, "missing_pct": miss, "saturated_pct": satp,
            "gsd_m": ps.gsd_m, "rpc_fit": fit.to_dict() | {"gsd_m": ps.gsd_m},
            "rpc_validation_max_px": rpc_validation_px, "height_range_m": [h_lo, h_hi], "misregistration_ms_px": mis}


def _area_km2(lonlat: np.ndarray) -> float:
    """Area of a lon/lat ring (km²), local equirectangular projection (fine at scene scale)."""
    lon0, lat0 = lonlat[:, 0].mean(), lonlat[:, 1].mean()
    x = (lonlat[:, 0] - lon0) * 111.195 * np.cos(np.radians(lat0))
    y = (lonlat[:, 1] - lat0) * 111.195
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
