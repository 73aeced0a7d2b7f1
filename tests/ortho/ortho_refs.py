"""Helpers of the ortho tests: run the reference tools (gdal-bin, otb-bin) on the shared data."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def need(tool: str) -> str:
    """Path of an external reference tool; a missing tool fails the test (run.sh installs it)."""
    p = shutil.which(tool)
    if p is None:
        pytest.fail(f"{tool} not found: install the Debian packages of run.sh (gdal-bin, otb-bin)")
    return p


def geoid_srs(geoid: Path) -> str:
    """PROJ string of WGS84 heights above the geoid grid (GDAL RPC_DEM_SRS)."""
    return f"+proj=longlat +datum=WGS84 +geoidgrids={geoid} +vunits=m +no_defs"


def write_rpc_copy(src: Path, geom: Path, dst: Path, data: np.ndarray | None = None) -> Path:
    """``src`` pixels (or ``data``) with the crop-shifted ``.geom`` RPC as GDAL RPC tags, no
    geotransform: the form ``gdalwarp -rpc`` reads."""
    import rasterio
    from level1.rpc import read_geom
    with rasterio.open(src) as s:
        a = s.read() if data is None else data
        t = s.transform
    rpc = read_geom(geom).shifted(t.c, t.f)
    with rasterio.open(dst, "w", driver="GTiff", width=a.shape[2], height=a.shape[1], count=a.shape[0],
                       dtype=a.dtype.name) as d:
        d.write(a)
        d.rpcs = rpc.to_rasterio()
    return dst


def run_tool(args: list[str]) -> None:
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"{args[0]} failed ({r.returncode}): {r.stderr[-2000:]}")


def gdalwarp_rpc(src: Path, dst: Path, ventoux, resampling: str, extra=()) -> Path:
    """Single-threaded, exact (-et 0) gdalwarp with the SRTM DEM referenced to the geoid."""
    run_tool([need("gdalwarp"), "-q", "-overwrite", "-rpc", "-to", f"RPC_DEM={ventoux['hgt']}",
              "-to", f"RPC_DEM_SRS={geoid_srs(ventoux['geoid'])}", "-et", "0", "-wo", "NUM_THREADS=1",
              "-t_srs", "EPSG:32631", "-tr", "0.5", "0.5", "-tap", "-r", resampling, *extra, str(src), str(dst)])
    return dst
