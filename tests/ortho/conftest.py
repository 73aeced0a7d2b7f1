"""Fixtures of the ortho tests: the real Pléiades crop (../shared), reference tools' outputs."""
from __future__ import annotations

from pathlib import Path

import pytest

from ortho_refs import gdalwarp_rpc, write_rpc_copy


@pytest.fixture(scope="session")
def ventoux(shared_dir) -> dict[str, Path]:
    d = shared_dir / "data"
    return {"pan": d / "pleiades_ventoux" / "left_image.tif",
            "pan_geom": d / "pleiades_ventoux" / "left_image.geom",
            "ms": d / "pleiades_ventoux" / "lowres_color_image.tif",
            "ms_geom": d / "pleiades_ventoux" / "lowres_color_image.geom",
            "dimap": d / "pleiades_ventoux" / "RPC_PHR1B_P_201308051042194_SEN_690908101-001.XML",
            "hgt": d / "dem" / "N44E005.hgt", "dem_dir": d / "dem", "geoid": d / "dem" / "egm96_15.gtx"}


@pytest.fixture(scope="session")
def pan_rpc(ventoux, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rpc")
    return write_rpc_copy(ventoux["pan"], ventoux["pan_geom"], d / "pan_rpc.tif")


@pytest.fixture(scope="session")
def gdal_pan(ventoux, pan_rpc, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("gdal")
    return gdalwarp_rpc(pan_rpc, d / "gdal_pan.tif", ventoux, "cubic", ["-dstnodata", "0"])


@pytest.fixture(scope="session")
def ref_grid(gdal_pan):
    """The output grid of the gdalwarp reference (UTM 31N, 0.5 m) as an OutputGrid."""
    import rasterio
    from ortho.grid_algo import OutputGrid
    with rasterio.open(gdal_pan) as ds:
        return OutputGrid(ds.crs, ds.transform, ds.width, ds.height)
