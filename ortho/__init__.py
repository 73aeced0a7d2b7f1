"""ortho stage: Level 1 (or any RPC image) + DEM → orthorectified, pansharpened COGs.

Entry point: :func:`ortho.stage.run` (``srd ortho``). Modules, in pipeline order:

* :mod:`ortho.source` — input rasters and their RPCs (GDAL tags, ``.geom``, ``_RPC.TXT``, DIMAP);
* :mod:`ortho.dem` — DEM tiles + geoid → ellipsoidal heights, constant-height fallback;
* :mod:`ortho.grid_algo` — output map grid, 3-D inverse-location grid with measured error;
* :mod:`ortho.resample_kernels` — Numba location and resampling kernels;
* :mod:`ortho.tiling` — Dask tiles (threads or ``dask.distributed``), streamed writing;
* :mod:`ortho.pansharpen_algo` / :mod:`ortho.pansharpen_kernels` — Brovey, GSA, MTF-GLP-HPM;
* :mod:`ortho.quality_algo` — sub-pixel matching, ERGAS, SAM, Q4, QNR;
* :mod:`ortho.cog` — COG, quicklook, thumbnail writers; :mod:`ortho.fusion` — tiled
  pansharpening of co-gridded files.
"""
