"""level1 stage: Level 0 directory → Level-1 scenes in sensor geometry with a sensor model.

Follow one datatake through :func:`level1.run.run`:

1. :mod:`level1.level0` reads the Level 0 directory (docs/formats.md) — images memory-mapped;
2. :mod:`level1.geometry` dates every line (block CUC times + housekeeping line period) and
   builds one :class:`level1.sensor_model.PushbroomModel` per module × band (ephemeris fit,
   attitude gyro/star-tracker fusion, detector lines of sight from the instrument profile);
3. the *perfect sensor* (one virtual array over the whole swath, 1.5 m PAN / 6 m MS) is
   located on the DEM (:mod:`level1.dem`) at sparse nodes, each module's model inverse-locates
   the nodes (:mod:`level1.resample_algo`);
4. raw lines are equalised (:mod:`level1.radiometry_algo`: dark, relative gain, masks) and
   cubic-resampled onto the perfect grid tile by tile (:mod:`level1.resample_kernels`),
   modules feathered across their overlaps;
5. the strip is cut into scenes; per scene an RPC00B is fitted to the perfect sensor
   (:mod:`level1.rpc`, residuals reported), cloud mask and band misregistration are measured
   (:mod:`level1.quality_algo`), sun/view angles computed (:mod:`level1.angles`), and COGs +
   masks + RPC side files + DIMAP-like XML written (:mod:`level1.product`).

The RPC module is also the project's RPC library (read DIMAP/.geom/_RPC.TXT/GDAL, evaluate,
invert, write, fit) used by ``ortho/``; so are the terrain module (:mod:`level1.dem`: DEM tiles,
EGM96 geoid, nearest-valid void filling), the resampling kernels
(:mod:`level1.resample_kernels`) and the sub-pixel registration (:mod:`level1.quality_algo`).
``level1`` never imports ``ortho``.
"""
