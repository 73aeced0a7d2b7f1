"""Geometry of a datatake: line timing, one physical model per module × band, and the
"perfect sensor" onto which every band of a scene is resampled.

Perfect sensor (as in SPOT 6/7 and Pléiades "Primary"/sensor products): a single virtual
linear array covering the whole swath, without optical distortion, module offsets or band
along-track offsets — ψx = the PAN along-track angle for every detector, ψy uniformly spaced
at the product sampling — flying the smoothed attitude and ephemeris of the real
satellite. PAN pixel (row r, col c) of the perfect sensor is exposed at ``t0 + r·Tp`` through
``ψy = ψy0 + c·δ``; MS pixel (i, j) covers PAN pixels 4i..4i+3 × 4j..4j+3, its centre is
PAN (4i + 1.5, 4j + 1.5) — so one RPC serves PAN, and the MS RPC is an exact rescaling.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from level1.level0 import BandData
from level1.sensor_model import DetectorArray, PushbroomModel
from srd.errors import ProductError


def line_timing(bd: BandData, nominal_period: float) -> tuple[float, float, float]:
    """(GPS time of row 0, line period s, max residual s) of a Level 0 band from its block
    times (CUC of each block's first line, ICD §4.1 clarification) and the line period.

    The period is the housekeeping one (PAN; × ms_ratio for MS); the block times fix the
    origin (median, robust to a corrupted CUC). A block time off by more than half a line
    from that law is inconsistent telemetry: :class:`ProductError`.
    """
    bt = np.asarray(bd.block_times, np.float64).reshape(-1, 2)
    if bt.shape[0] == 0:
        raise ProductError("no block times: cannot date the lines", path=bd.path.with_suffix(".json"),
                           field="block_times")
    rows = bt[:, 0] - bd.first_line
    t0s = bt[:, 1] - rows * nominal_period
    t0 = float(np.median(t0s))
    resid = np.abs(t0s - t0)
    if resid.max() > 0.5 * nominal_period:
        i = int(np.argmax(resid))
        raise ProductError(f"block time of line {int(bt[i, 0])} is {resid[i] * 1e6:.1f} µs off the "
                           f"line-period law ({nominal_period * 1e6:.3f} µs per line)",
                           path=bd.path.with_suffix(".json"), field="block_times")
    return t0, float(nominal_period), float(resid.max())


def housekeeping_period(hk: np.ndarray, fallback_s: float) -> float:
    """PAN line period (s): median of the housekeeping ``line_period_ns`` (fallback: profile)."""
    if hk is not None and len(hk) and "line_period_ns" in (hk.dtype.names or ()):
        v = np.asarray(hk["line_period_ns"], np.float64)
        v = v[v > 0]
        if v.size:
            return float(np.median(v)) * 1e-9
    return float(fallback_s)


@dataclass(frozen=True, eq=False)
class PerfectSensor:
    """The virtual PAN array of a datatake and its MS counterpart (see module docstring)."""

    pan: PushbroomModel
    ms: PushbroomModel
    rows: int                 # PAN rows (multiple of ms_ratio)
    cols: int                 # PAN columns (multiple of ms_ratio)
    ratio: int
    gsd_m: float
    native_gsd_across_m: float
    native_gsd_along_m: float

    def ms_shape(self) -> tuple[int, int]:
        return self.rows // self.ratio, self.cols // self.ratio

    def cropped(self, row0: int, rows: int) -> "PerfectSensor":
        """The perfect sensor of PAN rows ``row0 .. row0+rows-1`` (row0, rows multiples of
        the ratio), as a scene cut."""
        pan = dataclasses.replace(self.pan, t0=self.pan.t0 + row0 * self.pan.line_period)
        ms = dataclasses.replace(self.ms, t0=self.ms.t0 + row0 * self.pan.line_period)
        return dataclasses.replace(self, pan=pan, ms=ms, rows=rows)


def swath_limits(arrays: list[tuple[DetectorArray, DetectorArray]]) -> tuple[float, float]:
    """ψy range (rad) seen by every band: for each band, (first module's array, last module's
    array); inset by 2 detectors since the cubic kernel needs a neighbour each side."""
    lo = max(float(a.psi_y[2]) for a, _ in arrays)
    hi = min(float(b.psi_y[-3]) for _, b in arrays)
    return lo, hi


def build_perfect_sensor(pan_models: dict[int, PushbroomModel], pan_psi_x: float, ratio: int,
                         t_start: float, t_stop: float, gsd_m: float, dem=None,
                         psi_range: tuple[float, float] | None = None) -> PerfectSensor:
    """Perfect sensor spanning ``psi_range`` (default: the PAN modules' swath) and
    [t_start, t_stop] at ``gsd_m``.

    The native sampling is measured at the centre of the swath on the ellipsoid (h = 0 m
    or the DEM mean) and the angular step / line period scaled by gsd / native.
    """
    mods = sorted(pan_models)
    first = pan_models[mods[0]]
    last = pan_models[mods[-1]]
    psi0, psi1 = psi_range or swath_limits([(first.detectors, last.detectors)])
    centre = pan_models[mods[len(mods) // 2]]
    tm = 0.5 * (t_start + t_stop)
    lm = (tm - centre.t0) / centre.line_period
    dm = 0.5 * (centre.detectors.n - 1)
    h0 = 0.0 if dem is None else float(np.nanmean(dem.heights))
    lo, la, _ = centre.direct(np.array([lm, lm, lm + 1]), np.array([dm, dm + 1, dm]), h0)
    from level1.sensor_model import geodetic_to_ecef
    X = geodetic_to_ecef(lo, la, np.full(3, h0))
    across = float(np.linalg.norm(X[1] - X[0]))
    along = float(np.linalg.norm(X[2] - X[0]))
    ifov = float(np.median(np.diff(centre.detectors.psi_y)))
    delta = ifov * gsd_m / across
    period = centre.line_period * gsd_m / along
    cols = int(np.floor((psi1 - psi0) / delta)) + 1
    cols -= cols % ratio
    rows = int(np.floor((t_stop - t_start) / period)) + 1
    rows -= rows % ratio
    if cols < 2 * ratio or rows < 2 * ratio:
        raise ProductError(f"datatake too small for a product ({rows} rows × {cols} columns)",
                           field="datatake")
    j = np.arange(cols, dtype=np.float64)
    pan_det = DetectorArray(np.full(cols, pan_psi_x), psi0 + j * delta)
    jm = np.arange(cols // ratio, dtype=np.float64)
    ms_det = DetectorArray(np.full(cols // ratio, pan_psi_x), psi0 + (ratio * jm + 0.5 * (ratio - 1)) * delta)
    pan = PushbroomModel(first.ephemeris, first.attitude, pan_det, t_start, period,
                         first.instrument_to_body, dem)
    ms = PushbroomModel(first.ephemeris, first.attitude, ms_det, t_start + 0.5 * (ratio - 1) * period,
                        ratio * period, first.instrument_to_body, dem)
    return PerfectSensor(pan, ms, rows, cols, ratio, float(gsd_m), across, along)
