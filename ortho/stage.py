"""The ortho stage: ``run(l1_dir_or_image, out_dir, cfg, ...) -> OrthoReport``.

One pass (see ``docs/formats.md`` for the product layout)::

    inputs + RPCs ─▶ footprint, map grid ─▶ DEM (+ geoid) ─▶ inverse-location grids
      ─▶ PAN ortho (tiles) ─▶ MS ortho (tiles) ─▶ PAN/MS co-registration check
      ─▶ pansharpening (tiles) ─▶ COGs ─▶ quicklook, thumbnail ─▶ ortho_report.json

Everything is written under ``<out_dir>/.<name>.tmp-<pid>`` and renamed to
``<out_dir>/<name>`` when complete.

Products (``<name>`` = input stem): ``<name>_PAN.tif`` (or ``<name>_ORTHO.tif`` for a single
image), ``<name>_MS.tif`` at the MS resolution on the PAN grid's corner, ``<name>_PMS.tif``
pansharpened on the PAN grid; all COGs (512² tiles, internal overviews, internal mask,
DEFLATE). ``<name>_quicklook.png`` (RGB, 2–98 % stretch, ≤ 1024 px) and
``<name>_thumbnail.png`` (≤ 256 px).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from srd.errors import GeometryError, ProductError

RESAMPLING = ("nearest", "bilinear", "cubic", "lanczos")


@dataclass(frozen=True)
class OrthoReport:
    """What ``run`` did (JSON-able via :meth:`to_dict`, written as ``ortho_report.json``)."""

    input: str
    product_dir: str
    products: dict
    crs: str
    resolution_m: dict
    grids: dict
    rpc: dict
    heights: str
    location_grids: dict
    resampling: str
    pansharpening: dict | None
    coregistration: dict | None
    fallback_height_pixels: int | None     # None: counted on distributed workers, not here
    valid_fraction: dict
    tiles: int
    tile_size: int
    workers: int
    scheduler: str
    timings_s: dict
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["warnings"] = list(self.warnings)
        return d


@dataclass(frozen=True, eq=False)
class _Input:
    path: Path
    rpc: object
    rpc_note: str
    bands: int
    height: int
    width: int
    dtype: np.dtype
    band_names: tuple[str, ...]


def _open_input(path: Path, rpc_path=None) -> _Input:
    import rasterio
    from ortho.source import find_rpc
    rpc, note = find_rpc(path, rpc_path)
    with rasterio.open(path) as ds:
        names = tuple(d or f"b{i + 1}" for i, d in enumerate(ds.descriptions))
        return _Input(path, rpc, note, ds.count, ds.height, ds.width, np.dtype(ds.dtypes[0]), names)


def find_level1_images(d: Path) -> tuple[Path, Path | None]:
    """(PAN image, MS image or None) of a Level-1 scene directory (``docs/formats.md``:
    ``IMG_<SAT>_P_*.TIF`` and ``IMG_<SAT>_MS_*.TIF``; ``MSK_*`` flag rasters are not images).
    Other directories: rasters told apart by name (``PAN``/``_P_`` vs ``MS``/``_M_``) or band
    count (1 = PAN)."""
    cands = sorted(p for p in d.iterdir() if p.suffix.lower() in (".tif", ".tiff", ".jp2", ".vrt")
                   and not p.name.startswith(".") and not p.name.upper().startswith("MSK_"))
    imgs = [p for p in cands if p.name.upper().startswith("IMG_")]
    if imgs:
        pan = next((p for p in imgs if "_P_" in p.name.upper()), None)
        ms = next((p for p in imgs if "_MS_" in p.name.upper()), None)
        if pan is None and ms is None:
            raise ProductError("IMG_* files are neither PAN (_P_) nor MS (_MS_)", path=d)
        return (pan, ms) if pan is not None else (ms, None)
    if not cands:
        raise ProductError("Level-1 directory holds no image (.tif/.jp2)", path=d)
    import rasterio
    pan = ms = None
    for p in cands:
        n = p.name.upper()
        if "MASK" in n or "QUICKLOOK" in n or "THUMB" in n:
            continue
        try:
            with rasterio.open(p) as ds:
                count = ds.count
        except Exception:
            continue
        if pan is None and ("PAN" in n or "_P_" in n or (count == 1 and "MS" not in n)):
            pan = p
        elif ms is None and ("MS" in n or "_M_" in n or count >= 3):
            ms = p
    if pan is None and ms is None:
        raise ProductError("no PAN or MS image recognised in the Level-1 directory", path=d)
    return (pan, ms) if pan is not None else (ms, None)


@dataclass(frozen=True)
class OrthoPassReport:
    """``run`` on a Level-1 pass directory: one :class:`OrthoReport` per scene."""

    input: str
    product_dir: str
    pass_id: str
    scenes: tuple
    wall_time_s: float

    def to_dict(self) -> dict:
        return {"input": self.input, "product_dir": self.product_dir, "pass_id": self.pass_id,
                "scenes": [s.to_dict() for s in self.scenes], "wall_time_s": self.wall_time_s}


def _run_pass(source: Path, out_dir: Path, cfg, kw) -> OrthoPassReport:
    """Every scene of a Level-1 pass directory into ``<out_dir>/<pass_id>/<scene>/``."""
    t0 = time.perf_counter()
    try:
        rep = json.loads((source / "level1_report.json").read_text())
    except (OSError, ValueError) as e:
        raise ProductError(f"unreadable Level-1 report ({e})", path=source / "level1_report.json") from None
    pass_id = str(rep.get("pass_id") or source.name)
    scenes = [sc.get("directory") or sc.get("name") for sc in rep.get("scenes", [])]
    if not scenes:
        raise ProductError("Level-1 report lists no scene", path=source / "level1_report.json",
                           field="scenes")
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / pass_id
    tmp = out_dir / f".{pass_id}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        reports = []
        for sc in scenes:
            d = Path(sc) if Path(sc).is_absolute() else source / Path(sc).name
            reports.append(run(d, tmp, cfg, **kw))
        pr = OrthoPassReport(str(source), str(final), pass_id, tuple(reports),
                             round(time.perf_counter() - t0, 3))
        for r in reports:                       # scene products now live under the final name
            object.__setattr__(r, "product_dir", str(final / Path(r.product_dir).name))
        (tmp / "ortho_report.json").write_text(json.dumps(pr.to_dict(), indent=2, default=str))
        if final.exists():
            old = out_dir / f".{pass_id}.old-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
        return pr
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _footprint_on_terrain(inp: _Input, heights, n: int = 64, iterations: int = 6):
    """Ground positions of the image border intersected with the terrain (fixed-point
    iteration h ← DEM(localise(col, row, h))) → (lon, lat) arrays."""
    t = np.linspace(0, 1, n)
    W, H = inp.width, inp.height
    c = np.concatenate([t * W, np.full(n, W), t[::-1] * W, np.zeros(n)]) - 0.5
    r = np.concatenate([np.zeros(n), t * H, np.full(n, H), t[::-1] * H]) - 0.5
    lo, hi = heights.range()
    h = np.full(c.shape, 0.5 * (lo + hi))
    for _ in range(iterations):
        lon, lat = inp.rpc.localise(c, r, h)
        h = heights.at(lon, lat)
    return inp.rpc.localise(c, r, h)


def _footprint_lonlat(inp: _Input, h_lo: float, h_hi: float, n: int = 16):
    """Ground positions of the image border at heights ``h_lo``/``h_hi`` → (lon, lat) arrays."""
    t = np.linspace(0, 1, n)
    W, H = inp.width, inp.height
    c = np.concatenate([t * (W - 1), np.full(n, W - 1.0), t[::-1] * (W - 1), np.zeros(n)])
    r = np.concatenate([np.zeros(n), t * (H - 1), np.full(n, H - 1.0), t[::-1] * (H - 1)])
    # pixel edges, not centres
    c = np.clip(c + np.where(c <= 0, -0.5, 0.5), -0.5, W - 0.5)
    r = np.clip(r + np.where(r <= 0, -0.5, 0.5), -0.5, H - 0.5)
    lons, lats = [], []
    for h in (h_lo, h_hi):
        lon, lat = inp.rpc.localise(c, r, np.full(c.shape, h))
        lons.append(lon)
        lats.append(lat)
    return np.concatenate(lons), np.concatenate(lats)


def _gsd(inp: _Input, h: float) -> float:
    """Ground sampling distance (m) at the image centre: √ of the ground area of one pixel."""
    from pyproj import Geod
    c0, r0 = (inp.width - 1) / 2.0, (inp.height - 1) / 2.0
    lon, lat = inp.rpc.localise(np.array([c0, c0 + 1, c0]), np.array([r0, r0, r0 + 1]), np.full(3, h))
    g = Geod(ellps="WGS84")
    _, _, dx = g.inv(lon[0], lat[0], lon[1], lat[1])
    az1, _, dy = g.inv(lon[0], lat[0], lon[2], lat[2])
    az0, _, _ = g.inv(lon[0], lat[0], lon[1], lat[1])
    return math.sqrt(abs(dx * dy * math.sin(math.radians(az1 - az0))))


def _nice_resolution(gsd: float) -> float:
    """Round a GSD to a product resolution: 0.1 m steps below 2 m, 0.5 m below 10 m, else 1 m."""
    step = 0.1 if gsd < 2 else (0.5 if gsd < 10 else 1.0)
    return max(step, round(gsd / step) * step)


def run(source: str | Path, out_dir: str | Path, cfg=None, *, ms: str | Path | None = None,
        crs: str | None = None, resolution: float | None = None, resampling: str | None = None,
        dem: str | Path | None = None, height: float | None = None, geoid: str | Path | None = None,
        pansharpen: str | None = None, rpc: str | Path | None = None, ms_rpc: str | Path | None = None,
        bounds: tuple[float, float, float, float] | None = None, tile: int | None = None,
        workers: int | None = None, client=None, name: str | None = None,
        mtf_pan: float | None = None, mtf_ms=None, grid_tolerance_px: float | None = None,
        progress: Callable[[str, int, int], None] | None = None) -> "OrthoReport | OrthoPassReport":
    """Orthorectify (and pansharpen) a Level-1 directory or any RPC image into ``out_dir``.

    ``source``: a Level-1 pass directory (``level1_report.json``: every scene, into
    ``<out_dir>/<pass_id>/<scene>/``, returns :class:`OrthoPassReport`), a Level-1 scene
    directory (PAN + MS found inside) or an image with RPCs; ``ms``: the MS
    image for pansharpening when ``source`` is a PAN image. ``crs`` (default: UTM zone of the
    scene), ``resolution`` (m, PAN; default: the GSD rounded), ``bounds`` (left, bottom, right,
    top in ``crs``; default: the footprint), ``resampling`` (nearest|bilinear|cubic|lanczos),
    ``dem`` (file/dir) + ``geoid`` (``.gtx``) or constant ``height`` (m above the ellipsoid),
    ``pansharpen`` (brovey|gsa|mtf-glp-hpm|none), ``tile`` (output pixels), ``workers``
    (threads) or ``client`` (``dask.distributed.Client``). Defaults come from ``cfg.ortho``.
    ``progress(step, done, total)`` is called after each tile.
    """
    from ortho import cog as C
    from ortho import pansharpen_algo as PS
    from level1.dem import load_heights
    from ortho.grid_algo import OutputGrid, build_location_grid, from_lonlat, utm_crs
    from ortho.source import FileSource
    from ortho.tiling import TileStats, ortho_dask, stream_to

    oc = getattr(cfg, "ortho", None)
    resampling = resampling or (oc.resampling if oc else "cubic")
    if resampling not in RESAMPLING:
        raise ProductError(f"unknown resampling {resampling!r} (known: {', '.join(RESAMPLING)})",
                           field="resampling")
    tile = int(tile or (oc.tile_size if oc else 1024))
    tol = float(grid_tolerance_px or (oc.grid_tolerance_px if oc else 0.01))
    if client is None and oc is not None and oc.dask_scheduler:
        from distributed import Client
        with Client(oc.dask_scheduler) as c:             # ours: closed when done
            return run(source, out_dir, cfg, ms=ms, crs=crs, resolution=resolution,
                       resampling=resampling, dem=dem, height=height, geoid=geoid,
                       pansharpen=pansharpen, rpc=rpc, ms_rpc=ms_rpc, bounds=bounds, tile=tile,
                       workers=workers, client=c, name=name, mtf_pan=mtf_pan, mtf_ms=mtf_ms,
                       grid_tolerance_px=grid_tolerance_px, progress=progress)
    workers = int(workers or (oc.workers if oc and oc.workers else os.cpu_count() or 1))
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    warn_list: list[str] = []

    source = Path(source)
    if not source.exists():
        raise ProductError("input not found", path=source)
    if source.is_dir() and (source / "level1_report.json").is_file():
        return _run_pass(source, Path(out_dir), cfg, dict(
            ms=ms, crs=crs, resolution=resolution, resampling=resampling, dem=dem, height=height,
            geoid=geoid, pansharpen=pansharpen, rpc=rpc, ms_rpc=ms_rpc, bounds=bounds, tile=tile,
            workers=workers, client=client, mtf_pan=mtf_pan, mtf_ms=mtf_ms,
            grid_tolerance_px=grid_tolerance_px, progress=progress))
    if source.is_dir():
        pan_path, ms_found = find_level1_images(source)
        ms = ms or ms_found
    else:
        pan_path = source
    main = _open_input(pan_path, rpc)
    msi = _open_input(Path(ms), ms_rpc) if ms is not None else None
    method = pansharpen if pansharpen is not None else (oc.pansharpen if oc else "mtf-glp-hpm")
    if method in (None, "none") or msi is None:
        method = None
    elif method not in PS.METHODS:
        raise ProductError(f"unknown pansharpening method {method!r} (known: {', '.join(PS.METHODS)})",
                           field="pansharpen")
    name = name or (source.name if source.is_dir() else pan_path.stem)

    # ---- heights over the approximate footprint, then the exact footprint
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        r = main.rpc
        lon, lat = _footprint_lonlat(main, r.height_off - r.height_scale, r.height_off + r.height_scale)
        bl = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
        heights = load_heights(dem, geoid=geoid, height=height, bounds_lonlat=bl,
                               default_height=r.height_off)
    from level1.dem import HeightWarning
    for w in wl:
        if issubclass(w.category, HeightWarning):
            warn_list.append(str(w.message))
            warnings.warn(w.message, w.category, stacklevel=2)
    h_lo, h_hi = heights.range()
    lon, lat = _footprint_on_terrain(main, heights)
    from rasterio.crs import CRS
    out_crs = CRS.from_user_input(crs) if crs else utm_crs(float(np.mean(lon)), float(np.mean(lat)))
    gsd = _gsd(main, 0.5 * (h_lo + h_hi))
    res = float(resolution) if resolution else _nice_resolution(gsd)
    ratio = 1
    if msi is not None:
        ratio = max(1, int(round(_gsd(msi, 0.5 * (h_lo + h_hi)) / gsd)))
    if bounds is None:
        x, y = from_lonlat(out_crs, lon, lat)
        bounds = (float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y)))
    if method is not None:
        # PAN grid edges on the MS lattice so that MS pixels tile PAN pixels exactly
        l, b, rr, t = bounds
        q = res * ratio
        bounds = (math.floor(l / q) * q, math.floor(b / q) * q, math.ceil(rr / q) * q, math.ceil(t / q) * q)
    grid = OutputGrid.from_bounds(out_crs, bounds, res)
    if grid.width * grid.height > 4e9:
        raise GeometryError(f"output grid {grid.width}×{grid.height} is implausibly large "
                            "(check --crs/--resolution)", field="resolution")
    ms_grid = grid.scaled(ratio) if msi is not None else None
    timings["setup"] = time.perf_counter() - t_start

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / name
    tmp = out_dir / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    stats = TileStats()
    n_tiles = [0]
    products: dict[str, str] = {}
    loc_reports: dict[str, dict] = {}
    valid_frac: dict[str, float] = {}
    sched = f"distributed {client.scheduler.address}" if client is not None else f"threads x{workers}"
    try:
        def ortho_product(kind, inp: _Input, g, ms_tags=None):
            t0 = time.perf_counter()
            lg = build_location_grid(inp.rpc.project, g, heights, tol_px=tol)
            loc_reports[kind] = lg.to_dict()
            timings[f"grid_{kind}"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            arr = ortho_dask(FileSource(str(inp.path)), g, lg, heights, resampling, inp.dtype, tile,
                             stats, inp.band_names, as_xarray=False)
            fname = f"{name}_{kind}.tif"
            sink = C.TiledSink(tmp / f".{fname}.raw", g, inp.bands, inp.dtype, inp.band_names,
                               tags={"SRD_PRODUCT": kind, "SRD_RESAMPLING": resampling,
                                     "SRD_HEIGHTS": heights.description, **(ms_tags or {})})
            nblocks = arr.numblocks[1] * arr.numblocks[2]
            done = [0]
            valid = [0]

            def write(y0, x0, block):
                sink.write(y0, x0, block)
                valid[0] += int(np.count_nonzero(block[-1]))
                done[0] += 1
                n_tiles[0] += 1
                if progress:
                    progress(kind, done[0], nblocks)
            stream_to(arr, write, workers=workers, client=client)
            sink.close()
            valid_frac[kind] = valid[0] / (g.width * g.height)
            C.to_cog(sink.path, tmp / fname)
            products[kind] = fname
            timings[f"ortho_{kind}"] = time.perf_counter() - t0
            return lg

        kind_main = "PAN" if msi is not None else "ORTHO"
        ortho_product(kind_main, main, grid)
        coreg = None
        ps_report = None
        if msi is not None:
            ortho_product("MS", msi, ms_grid)
        if method is not None:
            t0 = time.perf_counter()
            g_ms = _mtf_ms(cfg, msi, mtf_ms)
            g_pan = _mtf_pan(cfg, mtf_pan)
            lg_up = build_location_grid(msi.rpc.project, grid, heights, tol_px=tol)
            loc_reports["MS_on_PAN_grid"] = lg_up.to_dict()
            ms_src = FileSource(str(msi.path))
            params, coreg = _estimate_fusion(method, tmp / products["PAN"], ms_src, grid, lg_up,
                                             heights, resampling, ratio, g_ms, g_pan)
            limit = oc.coregistration_max_px if oc else 2.0
            coreg["limit_ms_px"] = limit
            if coreg["mean_px"] > limit:
                raise ProductError(f"PAN/MS co-registration residual {coreg['mean_px']:.2f} MS px "
                                   f"exceeds {limit} MS px: fusion would blur/ghost; check the RPCs",
                                   path=msi.path, field="coregistration", **coreg)
            shift = (0.0, 0.0)
            # correct only a residual that is both material and measured (> 3 standard errors)
            if ((oc.coregistration_correct if oc else True) and coreg["mean_px"] > 0.1
                    and coreg["mean_px"] > 3 * coreg.get("standard_error_px", 0.0)):
                # sample the MS where the PAN sees the same ground (PAN px), then re-measure
                shift = (coreg["mean_dy_ms_px"] * ratio, coreg["mean_dx_ms_px"] * ratio)
                params, after = _estimate_fusion(method, tmp / products["PAN"], ms_src, grid, lg_up,
                                                 heights, resampling, ratio, g_ms, g_pan, shift=shift)
                coreg["applied_shift_pan_px"] = [round(v, 3) for v in shift]
                coreg["after_correction_mean_px"] = after["mean_px"]
                coreg["after_correction_max_px"] = after["max_px"]
                warn_list.append(f"PAN/MS co-registration residual {coreg['mean_px']:.2f} MS px "
                                 f"corrected before fusion (after: {after['mean_px']:.2f})")
            timings["fusion_estimate"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            fname = f"{name}_PMS.tif"
            sink = C.TiledSink(tmp / f".{fname}.raw", grid, msi.bands, msi.dtype, msi.band_names,
                               tags={"SRD_PRODUCT": "PMS", "SRD_PANSHARPEN": method})
            arr = _fusion_dask(params, tmp / products["PAN"], ms_src, grid, lg_up,
                               heights, resampling, msi.dtype, tile, stats, shift)
            nblocks = arr.numblocks[1] * arr.numblocks[2]
            done = [0]

            def write(y0, x0, block):
                sink.write(y0, x0, block)
                done[0] += 1
                n_tiles[0] += 1
                if progress:
                    progress("PMS", done[0], nblocks)
            stream_to(arr, write, workers=workers, client=client)
            sink.close()
            C.to_cog(sink.path, tmp / fname)
            products["PMS"] = fname
            ps_report = {"method": method, "params": params.to_dict(), "mtf_pan": g_pan}
            timings["pansharpen"] = time.perf_counter() - t0
        # quicklooks from the richest product
        t0 = time.perf_counter()
        ql_src = products.get("PMS") or products.get("MS") or products[kind_main]
        ql_inp = msi if (msi is not None and ql_src != products[kind_main]) else main
        products.update(C.write_quicklooks(tmp / ql_src, tmp, name, _rgb_bands(ql_inp)))
        timings["quicklooks"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        report = OrthoReport(
            input=str(source), product_dir=str(final), products=products, crs=out_crs.to_string(),
            resolution_m={"PAN" if msi is not None else "ORTHO": res, **({"MS": res * ratio} if msi else {})},
            grids={kind_main: grid.to_dict(), **({"MS": ms_grid.to_dict()} if msi else {})},
            rpc={kind_main: main.rpc_note, **({"MS": msi.rpc_note} if msi else {})},
            heights=heights.description, location_grids=loc_reports, resampling=resampling,
            pansharpening=ps_report, coregistration=coreg,
            fallback_height_pixels=stats.fallback_height_pixels if client is None else None,
            valid_fraction=valid_frac, tiles=n_tiles[0], tile_size=tile, workers=workers, scheduler=sched,
            timings_s={k: round(v, 3) for k, v in timings.items()}, warnings=tuple(warn_list))
        (tmp / "ortho_report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
        if final.exists():
            old = out_dir / f".{name}.old-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
        return report
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _rgb_bands(inp) -> tuple[int, int, int]:
    """1-based R, G, B bands: SPOT/Pléiades band names B2, B1, B0 when present, else 1, 2, 3."""
    names = [n.upper() for n in inp.band_names]
    if all(b in names for b in ("B0", "B1", "B2")):
        return tuple(names.index(b) + 1 for b in ("B2", "B1", "B0"))
    return (1, 2, 3) if inp.bands >= 3 else (1, 1, 1)


def _mtf_ms(cfg, msi, given):
    from ortho import pansharpen_algo as PS
    if given is not None:
        return np.broadcast_to(np.asarray(given, np.float64), (msi.bands,)).copy()
    if cfg is not None:
        for inst in getattr(cfg, "instruments", {}).values():
            names = [n.upper() for n in msi.band_names]
            try:
                return np.array([inst.band(n).mtf_nyquist for n in names])
            except KeyError:
                continue
    return np.full(msi.bands, PS.GENERIC_MTF_MS)


def _mtf_pan(cfg, given):
    from ortho import pansharpen_algo as PS
    return float(given) if given is not None else PS.GENERIC_MTF_PAN


def _read_window(path, y0, x0, ny, nx, H, W) -> tuple[np.ndarray, np.ndarray]:
    """Window of a single-band raster with out-of-grid parts mirrored (data) / invalid (mask)."""
    import rasterio
    from rasterio.windows import Window
    ya, yb = max(0, y0), min(H, y0 + ny)
    xa, xb = max(0, x0), min(W, x0 + nx)
    with rasterio.open(path) as ds:
        a = ds.read(1, window=Window(xa, ya, xb - xa, yb - ya)).astype(np.float64)
        m = ds.dataset_mask(window=Window(xa, ya, xb - xa, yb - ya)) != 0
    pad = ((ya - y0, y0 + ny - yb), (xa - x0, x0 + nx - xb))
    if any(p for pp in pad for p in pp):
        a = np.pad(a, pad, mode="symmetric")
        m = np.pad(m, pad, mode="constant")
    return a, m


def _estimate_fusion(method, pan_path, ms_src, grid, lg_up, heights, resampling, ratio, g_ms, g_pan,
                     max_side: int = 2048, shift=(0.0, 0.0)):
    """Fusion parameters and the PAN/MS co-registration residual from a central window of the
    scene (≤ ``max_side``² PAN pixels, a multiple of ``ratio``)."""
    from ortho import pansharpen_algo as PS
    from ortho import quality_algo as Q
    from ortho.tiling import ortho_block
    ny = min(grid.height, max_side) // ratio * ratio
    nx = min(grid.width, max_side) // ratio * ratio
    y0 = (grid.height - ny) // 2 // ratio * ratio
    x0 = (grid.width - nx) // 2 // ratio * ratio
    pan, pv = _read_window(pan_path, y0, x0, ny, nx, grid.height, grid.width)
    b = ortho_block(y0, x0, ny, nx, ms_src, lg_up, heights, resampling, np.float64, shift=shift)
    ms_up, mv = b[:-1], b[-1] > 0
    v = pv & mv
    if v.mean() < 0.05:
        raise ProductError("PAN and MS overlap too little to estimate the fusion", field="pansharpen")
    params = PS.estimate(method, pan, ms_up, ratio, mtf_ms=g_ms, mtf_pan=g_pan, valid=v)
    # co-registration: MTF-degraded PAN against the regressed MS intensity, at the MS scale
    pan_lr = PS.degrade(np.where(v, pan, pan[v].mean()), ratio, g_pan)
    ms_lr = PS.decimate(ms_up, ratio)
    vl = PS.decimate(v.astype(np.float64), ratio) > 0.999
    X = np.hstack([ms_lr[:, vl].T, np.ones((int(vl.sum()), 1))])
    w, *_ = np.linalg.lstsq(X, pan_lr[vl], rcond=None)
    inten = np.tensordot(w[:-1], ms_lr, axes=1) + w[-1]
    win = 32 if min(vl.shape) >= 64 else max(8, min(vl.shape) // 2 // 8 * 8)
    try:
        s = Q.windowed_shifts(pan_lr, inten, vl, window=win)
        # median over windows: robust to windows matched on a repetitive pattern
        coreg = {"windows": s.windows, "rejected_windows": s.rejected,
                 "mean_dy_ms_px": round(s.median_dy, 3), "mean_dx_ms_px": round(s.median_dx, 3),
                 "mean_px": round(math.hypot(s.median_dy, s.median_dx), 3),
                 "max_px": round(s.max_px, 3), "window_ms_px": win, "statistic": "median",
                 "standard_error_px": round(math.hypot(s.se_dy, s.se_dx), 3)}
    except ValueError:
        coreg = {"windows": 0, "mean_px": 0.0, "note": "no textured window: not measured"}
    return params, coreg


def _fusion_dask(params, pan_path, ms_src, grid, lg_up, heights, resampling, out_dtype, tile, stats,
                 shift=(0.0, 0.0)):
    """Lazy PMS (bands + 1, H, W): per tile, PAN read with a halo from the PAN product, MS
    resampled onto the PAN grid (same halo), fused, cast to ``out_dtype``; last plane validity."""
    import dask.array as da
    from ortho import pansharpen_algo as PS
    from ortho.tiling import _split, dtype_range, ortho_block
    r = params.ratio
    tile = max(r, tile // r * r)
    m = PS.halo(r, params.mtf_ms) if params.method == "mtf-glp-hpm" else 0
    nb = ms_src.info()[0]
    lo, hi, rnd = dtype_range(out_dtype)

    def fn(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"][1:]
        ny, nx = y1 - y0, x1 - x0
        pan, pv = _read_window(pan_path, y0 - m, x0 - m, ny + 2 * m, nx + 2 * m, grid.height, grid.width)
        b = ortho_block(y0 - m, x0 - m, ny + 2 * m, nx + 2 * m, ms_src, lg_up, heights, resampling,
                        np.float64, shift=shift)
        ms_up, mv = b[:-1], b[-1] > 0
        # holes (outside a footprint, nodata) must not meet the filters as zeros: MS holes take
        # the band means, PAN holes the MS-synthesised PAN (mean where the MS is missing too)
        ms_up = np.where(mv[None], ms_up, params.ms_mean[:, None, None])
        pan = np.where(pv, pan, np.where(mv, params.synthetic_pan(ms_up), params.pan_mean))
        f = PS.apply(params, pan, ms_up, m)
        sl = (slice(m, m + ny), slice(m, m + nx))
        valid = pv[sl] & mv[sl]
        out = np.zeros((nb + 1, ny, nx), out_dtype)
        if rnd:
            f = np.floor(f + 0.5)
        out[:nb] = np.where(valid[None], np.clip(f, lo, hi), 0).astype(out_dtype)
        out[nb] = valid.astype(out_dtype) * 255
        return out

    chunks = ((nb + 1,), _split(grid.height, tile), _split(grid.width, tile))
    import uuid
    return da.map_blocks(fn, dtype=np.dtype(out_dtype), chunks=chunks, meta=np.empty((0, 0, 0), out_dtype),
                         name=f"pansharpen-{uuid.uuid4().hex}")
