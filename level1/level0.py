"""Reader of the Level 0 directory (docs/formats.md "Level 0 directory"): the I/O edge of level1.

Only the documented files are read — never the decoder's Python internals. Every problem is a
:class:`srd.errors.ProductError` naming the file and the field.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srd.errors import ProductError

_IMAGE_RE = re.compile(r"^M(\d+)_(PAN|B[0-9])(?:_DT(\d+))?\.npy$")
_EPH_FIELDS = ("gps_time", "position", "velocity")
_ATT_FIELDS = ("gps_time", "q")


@dataclass(frozen=True, eq=False)
class BandData:
    """One module × band × datatake of the Level 0 directory.

    ``dn`` uint16 (lines, columns), row 0 = line counter ``first_line`` (memory-mapped);
    ``line_status`` uint8 (lines,): 0 ok, 1 missing, 2 undecryptable, 3 decompression error;
    ``block_times`` (n, 2): [line counter, GPS time of that line's mid-exposure].
    """

    module: int
    band: str
    datatake: int
    first_line: int
    dn: np.ndarray
    line_status: np.ndarray
    block_times: np.ndarray
    meta: dict
    path: Path

    @property
    def lines(self) -> int:
        return int(self.dn.shape[0])

    @property
    def columns(self) -> int:
        return int(self.dn.shape[1])


@dataclass(frozen=True, eq=False)
class Level0:
    """A Level 0 directory: ancillary arrays, datatakes and image bands."""

    path: Path
    pass_id: str
    report: dict
    ephemeris: np.ndarray
    attitude: np.ndarray
    housekeeping: np.ndarray
    datatakes: list[dict]
    bands: dict[tuple[int, int, str], BandData] = field(default_factory=dict)   # (datatake, module, band)

    def datatake_ids(self) -> list[int]:
        return sorted({k[0] for k in self.bands})

    def band(self, datatake: int, module: int, band: str) -> BandData:
        try:
            return self.bands[(datatake, module, band)]
        except KeyError:
            raise ProductError(f"Level 0 has no image for datatake {datatake}, module {module}, "
                               f"band {band}", path=self.path / "image", field=f"M{module}_{band}") from None

    def datatake_info(self, datatake: int) -> dict:
        for d in self.datatakes:
            if int(d.get("datatake", -1)) == datatake:
                return d
        return {"datatake": datatake, "mode": "mono", "target": "", "key_id": 0, "kcv_ok": None,
                "error": None, "start_gps": None, "stop_gps": None}


def _load_npy(path: Path, need: tuple[str, ...]) -> np.ndarray:
    if not path.exists():
        raise ProductError("Level 0 file missing", path=path)
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ProductError(f"unreadable .npy ({e})", path=path) from None
    names = a.dtype.names or ()
    for n in need:
        if n not in names:
            raise ProductError("structured array lacks a field", path=path, field=n)
    return a


def _load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ProductError("Level 0 file missing", path=path) from None
    except (OSError, ValueError) as e:
        raise ProductError(f"unreadable JSON ({e})", path=path) from None


def read_level0(l0_dir: str | Path) -> Level0:
    """Open a Level 0 directory (images memory-mapped)."""
    d = Path(l0_dir)
    if not d.is_dir():
        raise ProductError("Level 0 directory not found", path=d)
    report = _load_json(d / "decode_report.json") if (d / "decode_report.json").exists() else {}
    anc = d / "ancillary"
    eph = _load_npy(anc / "ephemeris.npy", _EPH_FIELDS)
    att = _load_npy(anc / "attitude.npy", _ATT_FIELDS)
    hk = _load_npy(anc / "housekeeping.npy", ("gps_time", "line_period_ns")) \
        if (anc / "housekeeping.npy").exists() else None
    dts = _load_json(anc / "datatakes.json") if (anc / "datatakes.json").exists() else []
    if not isinstance(dts, list):
        raise ProductError("datatakes.json must be a list", path=anc / "datatakes.json")
    if len(eph) < 2:
        raise ProductError(f"{len(eph)} ephemeris records: at least 2 are needed",
                           path=anc / "ephemeris.npy", field="gps_time")
    if len(att) < 2:
        raise ProductError(f"{len(att)} attitude records: at least 2 are needed",
                           path=anc / "attitude.npy", field="gps_time")
    bands: dict = {}
    img = d / "image"
    for p in sorted(img.glob("M*.npy")) if img.is_dir() else []:
        m = _IMAGE_RE.match(p.name)
        if not m:
            continue
        module, band = int(m.group(1)), m.group(2)
        meta = _load_json(p.with_suffix(".json"))
        dt_id = int(m.group(3)) if m.group(3) else int(meta.get("datatake", 0))
        try:
            dn = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ProductError(f"unreadable image ({e})", path=p) from None
        if dn.ndim != 2 or dn.dtype != np.uint16:
            raise ProductError(f"image must be uint16 (lines, columns), got {dn.dtype} {dn.shape}",
                               path=p, field="dtype")
        mpath = p.with_name(p.stem + "_mask.npy")
        status = np.load(mpath, allow_pickle=False) if mpath.exists() else None
        if status is None:
            raise ProductError("line mask missing", path=mpath)
        if status.shape != (dn.shape[0],):
            raise ProductError(f"mask has {status.shape} entries for {dn.shape[0]} lines", path=mpath)
        for k in ("first_line", "block_times"):
            if k not in meta:
                raise ProductError("image metadata lacks a key", path=p.with_suffix(".json"), field=k)
        bt = np.asarray(meta["block_times"], np.float64).reshape(-1, 2)
        if int(meta.get("lines", dn.shape[0])) != dn.shape[0] or int(meta.get("columns", dn.shape[1])) != dn.shape[1]:
            raise ProductError(f"metadata lines/columns {meta.get('lines')}×{meta.get('columns')} "
                               f"≠ image {dn.shape}", path=p.with_suffix(".json"), field="lines")
        bands[(dt_id, module, band)] = BandData(module, band, dt_id, int(meta["first_line"]), dn,
                                                np.asarray(status, np.uint8), bt, meta, p)
    if not bands:
        raise ProductError("Level 0 directory has no image bands", path=img)
    return Level0(d, str(report.get("pass_id") or d.name), report, eph, att,
                  hk if hk is not None else np.zeros(0, [("gps_time", "f8"), ("line_period_ns", "u4")]),
                  dts, bands)
