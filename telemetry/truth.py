"""Reader of the simulator's ground-truth sidecar (``<pass_id>.truth/``, docs/developing.md).

Only tests and benchmarks read the truth. :class:`Truth` gives the exact orbit (cubic
Hermite interpolation of ``orbit.npy``, the same interpolation the imaging used),
the exact attitude (spherical linear interpolation of ``attitude.npy``, sampled at
50 Hz: < 1e-9 rad from the attitude law), the images as sent, the sparse geolocation
grids, the reflectance GeoTIFFs and, through :meth:`Truth.acquisition`, the
:class:`~telemetry.acquisition.Acquisition` rebuilt from its recorded inputs — to locate
*any* detector at *any* line exactly (same kernels, same inputs).
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from srd.errors import ProductError


class Truth:
    """The truth sidecar directory ``path`` (``<pass_id>.truth``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        f = self.path / "truth.json"
        if not f.exists():
            raise ProductError("not a truth sidecar (truth.json missing)", path=self.path)
        try:
            self.info = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise ProductError(f"truth.json unreadable ({e})", path=f) from None

    # ----------------------------------------------------------------- orbit / attitude
    @cached_property
    def orbit(self) -> np.ndarray:
        """Structured: gps_time, position (3,) m ITRF, velocity (3,) m/s ITRF."""
        return np.load(self.path / "orbit.npy")

    @cached_property
    def attitude(self) -> np.ndarray:
        """Structured: gps_time, q (4,) body→ITRF scalar first."""
        return np.load(self.path / "attitude.npy")

    @cached_property
    def _table(self):
        from telemetry.orbit import OrbitTable
        o = self.orbit
        return OrbitTable.from_samples(o["gps_time"], o["position"], o["velocity"])

    def state(self, gps_s) -> tuple[np.ndarray, np.ndarray]:
        """Exact ITRF position (m) and velocity (m/s) at GPS times."""
        return self._table.state(gps_s)

    def quaternion(self, gps_s) -> np.ndarray:
        """Exact body→ITRF quaternions (scalar first) at GPS times (slerp of the 50 Hz truth)."""
        a = self.attitude
        t = np.atleast_1d(np.asarray(gps_s, np.float64))
        if np.any(t < a["gps_time"][0]) or np.any(t > a["gps_time"][-1]):
            raise ProductError("time outside the attitude truth", path=self.path / "attitude.npy")
        k = np.clip(np.searchsorted(a["gps_time"], t) - 1, 0, len(a) - 2)
        q0, q1 = a["q"][k], a["q"][k + 1]
        dot = np.sum(q0 * q1, axis=1)
        q1 = np.where(dot[:, None] < 0, -q1, q1)
        dot = np.abs(dot)
        w = ((t - a["gps_time"][k]) / (a["gps_time"][k + 1] - a["gps_time"][k]))[:, None]
        om = np.arccos(np.clip(dot, -1, 1))[:, None]
        so = np.sin(om)
        small = so < 1e-12
        c0 = np.where(small, 1 - w, np.sin((1 - w) * om) / np.where(small, 1, so))
        c1 = np.where(small, w, np.sin(w * om) / np.where(small, 1, so))
        q = c0 * q0 + c1 * q1
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        return q.reshape(np.shape(gps_s) + (4,))

    # ----------------------------------------------------------------- image, geometry
    def line_time(self, band: str, line) -> np.ndarray:
        """Mid-exposure GPS time of ``line`` of ``band``."""
        return (self.info["first_line_gps"][band]
                + np.asarray(line, np.float64) * self.info["line_period_s"][band])

    def image(self, module: int, band: str, mmap: bool = True) -> np.ndarray:
        """uint16 (lines, detectors) DN exactly as sent."""
        return np.load(self.path / "image" / f"M{module}_{band}.npy", mmap_mode="r" if mmap else None)

    def geoloc(self, module: int, band: str) -> dict:
        """Sparse truth grid: line, detector, gps_time, lon, lat (degrees), h (m, WGS84)."""
        with np.load(self.path / "geoloc" / f"M{module}_{band}.npz") as z:
            return {k: z[k] for k in z.files}

    def reflectance_path(self, band: str) -> Path:
        """GeoTIFF (EPSG:4326) of the truth TOA reflectance of ``band`` over the footprint."""
        return self.path / "reflectance" / f"{band}.tif"

    def acquisition(self, cfg):
        """The :class:`~telemetry.acquisition.Acquisition` rebuilt from the recorded inputs
        (needs the same DEM/geoid/texture files). Its ``imager.locate`` gives the exact
        ground point of any detector at any line."""
        from telemetry.acquisition import Acquisition, Pointing
        i = self.info.get("inputs")
        if not i:
            raise ProductError("truth.json has no 'inputs' (older sidecar)", path=self.path)
        acq = Acquisition(cfg, i["satellite"], i["instrument"], i["start_utc"], i["duration_s"],
                          pointing=Pointing(**i["pointing"]), dem=i["dem"], geoid=i["geoid"],
                          texture=i["texture"], clouds=i["clouds"], seed=i["seed"],
                          datatake_id=i["datatake_id"], mode=i["mode"])
        if acq.datatake.start_gps != self.info["datatake"]["start_gps"]:
            raise ProductError("rebuilt acquisition does not match the truth's datatake",
                               path=self.path, field="datatake.start_gps")
        return acq
