"""ortho stage: Level 1 (or any RPC image) + DEM → orthorectified, pansharpened COGs.

Entry point: :func:`ortho.stage.run` (``srd ortho``). Modules, in pipeline order:

* :mod:`ortho.source` — input rasters and their RPCs (GDAL tags, ``.geom``, ``_RPC.TXT``, DIMAP);
* :mod:`level1.dem` — DEM tiles + geoid → ellipsoidal heights, void filling, constant-height
  fallback (shared with level1);
* :mod:`ortho.grid_algo` — output map grid, 3-D inverse-location grid with measured error;
* :mod:`level1.resample_kernels` — Numba location and resampling kernels (shared with level1);
* :mod:`ortho.tiling` — Dask tiles (threads or ``dask.distributed``), streamed writing;
* :mod:`ortho.pansharpen_algo` / :mod:`ortho.pansharpen_kernels` — Brovey, GSA, MTF-GLP-HPM;
* :mod:`ortho.quality_algo` — sub-pixel matching, ERGAS, SAM, Q4, QNR;
* :mod:`ortho.cog` — COG, quicklook, thumbnail writers; :mod:`ortho.fusion` — tiled
  pansharpening of co-gridded files.
"""
