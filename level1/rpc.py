"""RPC00B rational function model: read, evaluate, invert, write, fit.

The model (NITF STDI-0002 vol. 1 App. E "RPC00B"; the same form as DIMAP V2 ``Inverse_Model``
and GDAL's RPC metadata domain) maps WGS84 geodetic longitude/latitude (degrees) and height
above the **WGS84 ellipsoid** (metres) to image sample/line::

    L = (lon − LONG_OFF)/LONG_SCALE,  P = (lat − LAT_OFF)/LAT_SCALE,  H = (h − HEIGHT_OFF)/HEIGHT_SCALE
    row = LINE_NUM(L,P,H)/LINE_DEN(L,P,H) · LINE_SCALE + LINE_OFF
    col = SAMP_NUM(L,P,H)/SAMP_DEN(L,P,H) · SAMP_SCALE + SAMP_OFF

with 20 cubic monomials per polynomial (:data:`MONOMIALS`), 78 free coefficients in all
(each denominator's constant term is normalised to 1).

**Pixel convention** (everywhere in this module): ``(col, row) = (0, 0)`` is the *centre* of
the first pixel, as in RPC00B/GDAL metadata. GDAL's transformer pixel/line (corner of the
first pixel = 0) are ``col + 0.5, row + 0.5``. DIMAP V2 files count from 1 (the first
pixel's centre is (1, 1)); :func:`read_dimap` converts.

Readers: GDAL RPC metadata (dict / rasterio ``tags(ns="RPC")`` / ``dataset.rpcs``),
``*_RPC.TXT``, ``.RPB``, DIMAP V2 RPC XML (``Global_RFM``), OTB/OSSIM ``.geom`` keyword lists. Writers:
GDAL metadata dict, rasterio :class:`rasterio.rpc.RPC`, ``_RPC.TXT``. Fitting:
:func:`fit_rpc` by weighted, Tikhonov-regularised linear least squares on a 3-D grid
(Tao & Hu 2001, "A comprehensive study of the rational function model for photogrammetric
processing", PE&RS 67(12)).
"""
from __future__ import annotations

import dataclasses
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from level1 import rpc_kernels as K
from srd.errors import GeometryError, ProductError

#: RPC00B monomial order (STDI-0002 App. E), L = longitude, P = latitude, H = height.
MONOMIALS = ("1", "L", "P", "H", "LP", "LH", "PH", "L2", "P2", "H2", "PLH", "L3", "LP2",
             "LH2", "L2P", "P3", "PH2", "L2H", "P2H", "H3")

#: scalar fields in the order of the kernels' ``norm`` vector
NORM_FIELDS = ("line_off", "samp_off", "lat_off", "long_off", "height_off",
               "line_scale", "samp_scale", "lat_scale", "long_scale", "height_scale")
COEF_FIELDS = ("line_num", "line_den", "samp_num", "samp_den")


def monomials(L, P, H) -> np.ndarray:
    """RPC00B monomials of normalised coordinates (broadcast arrays) → array (..., 20)."""
    L, P, H = np.broadcast_arrays(np.asarray(L, np.float64), np.asarray(P, np.float64),
                                  np.asarray(H, np.float64))
    return np.stack([np.ones_like(L), L, P, H, L * P, L * H, P * H, L * L, P * P, H * H,
                     P * L * H, L ** 3, L * P * P, L * H * H, L * L * P, P ** 3, P * H * H,
                     L * L * H, P * P * H, H ** 3], axis=-1)


@dataclass(frozen=True, eq=False)
class RPC:
    """An RPC00B model (offsets/scales in pixels, degrees, metres; coefficient arrays (20,)).

    ``valid_lon``/``valid_lat`` (min, max) are the ground validity domain when known.
    ``direct`` holds a DIMAP ``Direct_Model`` (image → ground rational functions) when the
    source had one; it is informative only (localisation is always the exact iterative
    inverse of the ground → image model, as GDAL does).
    """

    line_off: float
    samp_off: float
    lat_off: float
    long_off: float
    height_off: float
    line_scale: float
    samp_scale: float
    lat_scale: float
    long_scale: float
    height_scale: float
    line_num: np.ndarray
    line_den: np.ndarray
    samp_num: np.ndarray
    samp_den: np.ndarray
    err_bias: float | None = None
    err_rand: float | None = None
    valid_lon: tuple[float, float] | None = None
    valid_lat: tuple[float, float] | None = None
    direct: "DirectRFM | None" = field(default=None, repr=False)
    source: str | None = None

    def __post_init__(self) -> None:
        where = self.source
        for name in COEF_FIELDS:
            a = np.ascontiguousarray(np.asarray(getattr(self, name), dtype=np.float64).ravel())
            if a.shape != (20,):
                raise ProductError(f"RPC {name.upper()} needs 20 coefficients, got {a.size}",
                                   path=where, field=name.upper() + "_COEFF")
            if not np.all(np.isfinite(a)):
                raise ProductError("RPC coefficient is not finite", path=where,
                                   field=name.upper() + "_COEFF")
            object.__setattr__(self, name, a)
        for name in NORM_FIELDS:
            v = float(getattr(self, name))
            if not math.isfinite(v) or (name.endswith("scale") and v == 0.0):
                raise ProductError(f"RPC {name.upper()} = {v} is invalid", path=where,
                                   field=name.upper())
            object.__setattr__(self, name, v)

    # ------------------------------------------------------------------ arrays for kernels
    @property
    def coef(self) -> np.ndarray:
        """(4, 20): LINE_NUM, LINE_DEN, SAMP_NUM, SAMP_DEN."""
        return np.stack([self.line_num, self.line_den, self.samp_num, self.samp_den])

    @property
    def norm(self) -> np.ndarray:
        """(10,) offsets and scales in :data:`NORM_FIELDS` order."""
        return np.array([getattr(self, n) for n in NORM_FIELDS], dtype=np.float64)

    # ------------------------------------------------------------------ evaluation
    def project(self, lon, lat, h, *, engine: str = "numpy") -> tuple[np.ndarray, np.ndarray]:
        """Ground → image. ``lon``, ``lat`` WGS84 degrees, ``h`` metres above the ellipsoid
        (broadcast) → ``(col, row)`` pixels, RPC convention (0 = centre of first pixel).
        ``engine="numba"`` runs :func:`level1.rpc_kernels.rpc_project`."""
        lon, lat, h = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64),
                                          np.asarray(h, np.float64))
        shape = lon.shape
        if engine == "numba":
            col = np.empty(lon.size)
            row = np.empty(lon.size)
            K.rpc_project(np.ascontiguousarray(lon).ravel(), np.ascontiguousarray(lat).ravel(),
                          np.ascontiguousarray(h).ravel(), self.coef, self.norm, col, row)
            return col.reshape(shape), row.reshape(shape)
        if engine != "numpy":
            raise ValueError(f"engine must be 'numpy' or 'numba', got {engine!r}")
        m = monomials((lon - self.long_off) / self.long_scale, (lat - self.lat_off) / self.lat_scale,
                      (h - self.height_off) / self.height_scale)
        row = (m @ self.line_num) / (m @ self.line_den) * self.line_scale + self.line_off
        col = (m @ self.samp_num) / (m @ self.samp_den) * self.samp_scale + self.samp_off
        return col, row

    def localise(self, col, row, h, *, tol_px: float = 1e-8, max_iter: int = 30,
                 engine: str = "numba", strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Image → ground at ellipsoidal height ``h`` (m): iterative inverse of :meth:`project`
        (Newton, analytic Jacobian) → ``(lon, lat)`` degrees. Converges to ``tol_px`` pixels.

        With ``strict`` a point that does not converge raises :class:`GeometryError` naming it;
        otherwise its lon/lat are NaN. NaN inputs give NaN outputs (never an error).
        """
        col, row, h = np.broadcast_arrays(np.asarray(col, np.float64), np.asarray(row, np.float64),
                                          np.asarray(h, np.float64))
        shape = col.shape
        c, r, z = (np.ascontiguousarray(a).ravel() for a in (col, row, h))
        lon = np.empty(c.size)
        lat = np.empty(c.size)
        iters = np.empty(c.size, np.int64)
        fn = K.rpc_localise if engine == "numba" else K.rpc_localise.py_func
        fn(c, r, z, self.coef, self.norm, float(tol_px), int(max_iter), lon, lat, iters)
        bad = (iters < 0) & np.isfinite(c) & np.isfinite(r) & np.isfinite(z)
        if strict and bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise GeometryError(f"RPC localisation did not converge at col {c[i]:.3f}, "
                                f"row {r[i]:.3f}, h {z[i]:.1f} m ({int(bad.sum())} points)",
                                path=self.source, field="localise")
        return lon.reshape(shape), lat.reshape(shape)

    # ------------------------------------------------------------------ transforms
    def shifted(self, dcol: float, drow: float) -> "RPC":
        """The RPC of a crop whose first pixel is pixel (``dcol``, ``drow``) of this image."""
        return dataclasses.replace(self, samp_off=self.samp_off - dcol, line_off=self.line_off - drow,
                                   direct=None)

    # ------------------------------------------------------------------ writers
    def to_gdal(self) -> dict[str, str]:
        """GDAL ``RPC`` metadata domain (values as strings, full double precision)."""
        d = {n.upper(): repr(getattr(self, n)) for n in NORM_FIELDS}
        for n in COEF_FIELDS:
            d[n.upper() + "_COEFF"] = " ".join(repr(float(v)) for v in getattr(self, n))
        if self.err_bias is not None:
            d["ERR_BIAS"] = repr(float(self.err_bias))
        if self.err_rand is not None:
            d["ERR_RAND"] = repr(float(self.err_rand))
        if self.valid_lon is not None and self.valid_lat is not None:
            d["MIN_LONG"], d["MAX_LONG"] = (repr(float(v)) for v in self.valid_lon)
            d["MIN_LAT"], d["MAX_LAT"] = (repr(float(v)) for v in self.valid_lat)
        return d

    def to_rasterio(self):
        """:class:`rasterio.rpc.RPC` (assign to ``dataset.rpcs`` of a dataset opened for writing)."""
        from rasterio.rpc import RPC as RioRPC
        return RioRPC(height_off=self.height_off, height_scale=self.height_scale,
                      lat_off=self.lat_off, lat_scale=self.lat_scale,
                      line_den_coeff=list(self.line_den), line_num_coeff=list(self.line_num),
                      line_off=self.line_off, line_scale=self.line_scale,
                      long_off=self.long_off, long_scale=self.long_scale,
                      samp_den_coeff=list(self.samp_den), samp_num_coeff=list(self.samp_num),
                      samp_off=self.samp_off, samp_scale=self.samp_scale,
                      err_bias=self.err_bias, err_rand=self.err_rand)

    def to_rpc_txt(self) -> str:
        """Text of a GDAL/DigitalGlobe-style ``_RPC.TXT`` file."""
        units = {"off": {"line": "pixels", "samp": "pixels", "lat": "degrees", "long": "degrees",
                         "height": "meters"}}
        lines = []
        for n in NORM_FIELDS:
            kind, what = n.split("_")
            unit = units["off"][kind]
            lines.append(f"{n.upper()}: {getattr(self, n)!r} {unit}")
        for n in COEF_FIELDS:
            for k, v in enumerate(getattr(self, n), start=1):
                lines.append(f"{n.upper()}_COEFF_{k}: {float(v)!r}")
        if self.err_bias is not None:
            lines.insert(0, f"ERR_BIAS: {float(self.err_bias)!r} meters")
        if self.err_rand is not None:
            lines.insert(1 if self.err_bias is not None else 0, f"ERR_RAND: {float(self.err_rand)!r} meters")
        return "\n".join(lines) + "\n"

    def to_geom(self) -> str:
        """OTB/OSSIM keyword list (``ossimRpcModel``, RPC00B ``polynomial_format: B``, 0-based
        pixel centres): OTB 8 reads a sensor model from ``<image basename>.geom``."""
        lines = ["type:  ossimRpcModel", "polynomial_format:  B"]
        for n in NORM_FIELDS:
            lines.append(f"{n}:  {getattr(self, n)!r}")
        for n in COEF_FIELDS:
            for k, v in enumerate(getattr(self, n)):
                lines.append(f"{n}_coeff_{k:02d}:  {float(v)!r}")
        return "\n".join(lines) + "\n"

    def write_geom(self, path: str | Path) -> Path:
        """Write :meth:`to_geom` to ``path`` (temp name then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_geom())
        tmp.replace(path)
        return path

    def write_rpc_txt(self, path: str | Path) -> Path:
        """Write :meth:`to_rpc_txt` to ``path`` (temp name then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_rpc_txt())
        tmp.replace(path)
        return path


@dataclass(frozen=True, eq=False)
class DirectRFM:
    """DIMAP V2 ``Direct_Model``: lon = LON_NUM/LON_DEN(x, y, z), lat = LAT_NUM/LAT_DEN with
    x = (col − SAMP_OFF)/SAMP_SCALE, y = (row − LINE_OFF)/LINE_SCALE, z = (h − HEIGHT_OFF)/HEIGHT_SCALE
    in the RPC00B monomial order (x, y, z in place of L, P, H). Pixels in this module's
    0-based convention."""

    coef: np.ndarray          # (4, 20): LON_NUM, LON_DEN, LAT_NUM, LAT_DEN
    norm: np.ndarray          # (10,) as RPC.norm

    def localise(self, col, row, h) -> tuple[np.ndarray, np.ndarray]:
        n = self.norm
        m = monomials((np.asarray(col, np.float64) - n[1]) / n[6],
                      (np.asarray(row, np.float64) - n[0]) / n[5],
                      (np.asarray(h, np.float64) - n[4]) / n[9])
        c = self.coef
        lon = (m @ c[0]) / (m @ c[1]) * n[8] + n[3]
        lat = (m @ c[2]) / (m @ c[3]) * n[7] + n[2]
        return lon, lat


# ---------------------------------------------------------------------------- readers

_GDAL_SCALARS = {n.upper(): n for n in NORM_FIELDS}


def _num(text, *, path, fld) -> float:
    """Leading number of a metadata value ('+0189.000 meters' → 189.0)."""
    s = str(text).strip()
    mt = re.match(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", s)
    if not mt:
        raise ProductError(f"not a number: {s[:40]!r}", path=path, field=fld)
    return float(mt.group(0))


def from_gdal(md: Mapping, *, source: str | None = None) -> RPC:
    """RPC from a GDAL ``RPC`` metadata mapping (``dataset.tags(ns="RPC")``, a
    :class:`rasterio.rpc.RPC` via ``to_gdal()``, or an ``_RPC.TXT`` parsed to a dict).
    Coefficients may be one 20-value string/list per polynomial or ``*_COEFF_1..20`` keys.
    Missing keys raise :class:`ProductError` naming the key."""
    md = {str(k).upper().strip(): v for k, v in md.items()}
    kw: dict = {}
    for key, name in _GDAL_SCALARS.items():
        if key not in md:
            raise ProductError("RPC metadata lacks a required key", path=source, field=key)
        kw[name] = _num(md[key], path=source, fld=key)
    for name in COEF_FIELDS:
        key = name.upper() + "_COEFF"
        if key in md:
            v = md[key]
            vals = v.split() if isinstance(v, str) else list(v)
            kw[name] = [_num(x, path=source, fld=key) for x in vals]
        else:
            try:
                kw[name] = [_num(md[f"{key}_{k}"], path=source, fld=f"{key}_{k}") for k in range(1, 21)]
            except KeyError as e:
                raise ProductError("RPC metadata lacks a coefficient", path=source,
                                   field=e.args[0]) from None
    for key in ("ERR_BIAS", "ERR_RAND"):
        if key in md:
            kw[key.lower()] = _num(md[key], path=source, fld=key)
    if all(k in md for k in ("MIN_LONG", "MAX_LONG", "MIN_LAT", "MAX_LAT")):
        kw["valid_lon"] = (_num(md["MIN_LONG"], path=source, fld="MIN_LONG"),
                           _num(md["MAX_LONG"], path=source, fld="MAX_LONG"))
        kw["valid_lat"] = (_num(md["MIN_LAT"], path=source, fld="MIN_LAT"),
                           _num(md["MAX_LAT"], path=source, fld="MAX_LAT"))
    return RPC(**kw, source=source)


def _read_keyvalue(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise ProductError(f"cannot read RPC file ({e})", path=path) from None
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def read_rpc_txt(path: str | Path) -> RPC:
    """``*_RPC.TXT`` (``KEY: value [unit]`` lines, ``*_COEFF_1..20``)."""
    path = Path(path)
    return from_gdal(_read_keyvalue(path), source=str(path))


def read_geom(path: str | Path) -> RPC:
    """OTB/OSSIM ``.geom`` keyword list of an ``ossimRpcModel``/``ossimPleiadesModel`` with
    ``polynomial_format: B`` (RPC00B order; keys ``line_num_coeff_00..19``, 0-based pixel
    centres as GDAL)."""
    path = Path(path)
    kv = _read_keyvalue(path)
    fmt = kv.get("polynomial_format", "B").strip().strip('"')
    if fmt != "B":
        raise ProductError(f"unsupported RPC polynomial format {fmt!r} (only RPC00B 'B')",
                           path=path, field="polynomial_format")
    md = {}
    for n in NORM_FIELDS:
        if n not in kv:
            raise ProductError("geom file lacks an RPC key", path=path, field=n)
        md[n.upper()] = kv[n]
    for n in COEF_FIELDS:
        for k in range(20):
            key = f"{n}_coeff_{k:02d}"
            if key not in kv:
                raise ProductError("geom file lacks an RPC coefficient", path=path, field=key)
            md[f"{n.upper()}_COEFF_{k + 1}"] = kv[key]
    return from_gdal(md, source=str(path))


_RPB_KEYS = {"lineOffset": "LINE_OFF", "sampOffset": "SAMP_OFF", "latOffset": "LAT_OFF",
             "longOffset": "LONG_OFF", "heightOffset": "HEIGHT_OFF", "lineScale": "LINE_SCALE",
             "sampScale": "SAMP_SCALE", "latScale": "LAT_SCALE", "longScale": "LONG_SCALE",
             "heightScale": "HEIGHT_SCALE", "errBias": "ERR_BIAS", "errRand": "ERR_RAND",
             "lineNumCoef": "LINE_NUM_COEFF", "lineDenCoef": "LINE_DEN_COEFF",
             "sampNumCoef": "SAMP_NUM_COEFF", "sampDenCoef": "SAMP_DEN_COEFF"}


def read_rpb(path: str | Path) -> RPC:
    """DigitalGlobe/GDAL ``.RPB`` (``key = value;`` and ``key = ( c1, …, c20 );`` in an
    ``IMAGE`` group; RPC00B, 0-based pixel centres as GDAL)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ProductError(f"cannot read RPB file ({e})", path=path) from None
    md = {}
    for key, val in re.findall(r"(\w+)\s*=\s*(\([^)]*\)|[^;]*);", text):
        if key in _RPB_KEYS:
            v = val.strip()
            md[_RPB_KEYS[key]] = v.strip("()").replace(",", " ").split() if v.startswith("(") else v
    return from_gdal(md, source=str(path))


def read_dimap(path: str | Path) -> RPC:
    """DIMAP V2 RPC XML (``Rational_Function_Model/Global_RFM``): the ``Inverse_Model``
    (ground → image) becomes the RPC, the ``Direct_Model`` is kept in ``.direct``. DIMAP counts
    pixels from 1 (first pixel centre = (1, 1)): offsets are shifted by −1 to this module's
    0-based convention."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise ProductError(f"cannot parse DIMAP XML ({e})", path=path) from None
    rfm = root.find(".//Rational_Function_Model/Global_RFM")
    if rfm is None:
        raise ProductError("no Rational_Function_Model/Global_RFM element", path=path,
                           field="Global_RFM")
    val = rfm.find("RFM_Validity")
    if val is None:
        raise ProductError("no RFM_Validity element", path=path, field="RFM_Validity")

    def get(parent, tag):
        e = parent.find(tag)
        if e is None or e.text is None:
            raise ProductError("DIMAP RPC element missing", path=path, field=tag)
        return _num(e.text, path=path, fld=tag)

    md = {k: get(val, k) for k in ("LONG_SCALE", "LONG_OFF", "LAT_SCALE", "LAT_OFF",
                                   "HEIGHT_SCALE", "HEIGHT_OFF", "SAMP_SCALE", "LINE_SCALE")}
    md["SAMP_OFF"] = get(val, "SAMP_OFF") - 1.0
    md["LINE_OFF"] = get(val, "LINE_OFF") - 1.0
    inv = rfm.find("Inverse_Model")
    if inv is None:
        raise ProductError("no Inverse_Model element", path=path, field="Inverse_Model")
    for n in COEF_FIELDS:
        md[n.upper() + "_COEFF"] = [get(inv, f"{n.upper()}_COEFF_{k}") for k in range(1, 21)]
    ivd = val.find("Inverse_Model_Validity_Domain")
    if ivd is not None:
        md.update(MIN_LONG=get(ivd, "FIRST_LON"), MAX_LONG=get(ivd, "LAST_LON"),
                  MIN_LAT=get(ivd, "FIRST_LAT"), MAX_LAT=get(ivd, "LAST_LAT"))
    rpc = from_gdal(md, source=str(path))
    dm = rfm.find("Direct_Model")
    if dm is not None:
        coef = np.array([[get(dm, f"{n}_COEFF_{k}") for k in range(1, 21)]
                         for n in ("SAMP_NUM", "SAMP_DEN", "LINE_NUM", "LINE_DEN")])
        object.__setattr__(rpc, "direct", DirectRFM(coef=coef, norm=rpc.norm))
    return rpc


def read_rpc(path: str | Path) -> RPC:
    """Read an RPC from any supported file: DIMAP XML, ``.geom``, ``_RPC.TXT``, ``.RPB``, or a raster
    carrying GDAL RPC metadata (TIFF RPC tag, ``.RPB``, ``_RPC.TXT`` side file)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".xml"):
        return read_dimap(path)
    if name.endswith(".geom"):
        return read_geom(path)
    if name.endswith("_rpc.txt") or name.endswith(".rpc.txt"):
        return read_rpc_txt(path)
    if name.endswith(".rpb"):
        return read_rpb(path)
    import rasterio
    from rasterio.errors import RasterioIOError
    try:
        with rasterio.open(path) as ds:
            md = ds.tags(ns="RPC")
    except RasterioIOError as e:
        raise ProductError(f"cannot open raster ({e})", path=path) from None
    if not md:
        raise ProductError("raster has no RPC metadata", path=path, field="RPC")
    return from_gdal(md, source=str(path))


# ---------------------------------------------------------------------------- fitting

@dataclass(frozen=True)
class RPCFitReport:
    """Residuals of a fitted RPC against the model it approximates, in pixels, on the fitting
    grid and on an independent check grid (cell centres of the fitting grid, between its
    nodes and height layers)."""

    fit_points: int
    check_points: int
    fit_rms_px: float
    fit_max_px: float
    check_rms_px: float
    check_max_px: float
    check_max_col_px: float
    check_max_row_px: float
    regularisation: float
    iterations: int
    line_form: str = "rational"
    samp_form: str = "rational"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _solve_rational(M: np.ndarray, y: np.ndarray, lam: float, n_iter: int,
                    lam_den: float | None = None, rational: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares RPC polynomial pair for normalised target ``y`` given monomials ``M``
    (n, 20): ``y·(1 + b·m[1:]) = a·m``, linear in (a, b), iteratively reweighted by the
    previous denominator so the residual is the true (image) error (Tao & Hu 2001, §3), with
    Tikhonov damping ``lam`` on the numerator and ``lam_den`` on the denominator unknowns
    (column-normalised). ``rational=False`` fits the numerator alone (denominator ≡ 1)."""
    lam_den = lam if lam_den is None else lam_den
    if not rational:
        s = np.linalg.norm(M, axis=0)
        s[s == 0] = 1.0
        A = M / s
        rhs = y
        if lam > 0:
            A = np.vstack([A, math.sqrt(lam) * np.eye(20)])
            rhs = np.concatenate([y, np.zeros(20)])
        x, *_ = np.linalg.lstsq(A, rhs, rcond=None)
        den = np.zeros(20)
        den[0] = 1.0
        return x / s, den
    A0 = np.hstack([M, -y[:, None] * M[:, 1:]])          # (n, 39)
    damp = np.sqrt(np.concatenate([np.full(20, lam), np.full(19, lam_den)]))
    w = np.ones(len(y))
    sol = None
    for _ in range(n_iter):
        A = A0 * w[:, None]
        rhs = y * w
        s = np.linalg.norm(A, axis=0)
        s[s == 0] = 1.0
        An = np.vstack([A / s, np.diag(damp)])
        rhs = np.concatenate([rhs, np.zeros(39)])
        x, *_ = np.linalg.lstsq(An, rhs, rcond=None)
        sol = x / s
        den = 1.0 + M[:, 1:] @ sol[20:]
        if np.any(np.abs(den) < 1e-6):
            raise GeometryError("RPC fit denominator vanishes inside the fitting grid",
                                field="fit_rpc")
        w = 1.0 / np.abs(den)
    num = sol[:20]
    den = np.concatenate([[1.0], sol[20:]])
    return num, den


#: normalised cube where fitted denominators must stay well away from zero (no poles)
_POLE_GRID = np.stack(np.meshgrid(*(np.linspace(-1.1, 1.1, 15),) * 3, indexing="ij"), -1).reshape(-1, 3)


def _pole_free(den: np.ndarray) -> bool:
    d = monomials(_POLE_GRID[:, 0], _POLE_GRID[:, 1], _POLE_GRID[:, 2]) @ den
    return bool(np.all(d > 0.5) and np.all(d < 2.0))


def fit_rpc(direct_location_fn: Callable[[np.ndarray, np.ndarray, np.ndarray],
                                         tuple[np.ndarray, np.ndarray]],
            cols: int, rows: int, h_min: float, h_max: float, *, n_xy: int = 21, n_h: int = 7,
            regularisation: float = 1e-14, n_iter: int = 3, first_col: float = 0.0,
            first_row: float = 0.0) -> tuple[RPC, RPCFitReport]:
    """Fit an RPC00B model to a physical image → ground function.

    ``direct_location_fn(col, row, h) -> (lon, lat)``: pixels (0 = centre of first pixel,
    1-D float arrays), height above the WGS84 ellipsoid (m) → WGS84 degrees. It is sampled on
    an ``n_xy × n_xy × n_h`` grid spanning columns ``[first_col, first_col + cols − 1]``, rows
    likewise and heights ``[h_min, h_max]``; offsets/scales come from the sampled extents.
    Residuals (image-space, pixels) are reported on the grid and on an independent check grid
    at the centres of the grid cells. ``regularisation`` is the Tikhonov weight on the
    column-normalised design matrix (enough to stabilise the near-redundant denominator terms
    of a pushbroom sensor without biasing the fit).
    """
    if cols < 2 or rows < 2 or n_xy < 4 or n_h < 2:
        raise GeometryError(f"fit_rpc needs an image of at least 2×2 pixels and a 4×4×2 grid "
                            f"(got {cols}×{rows}, n_xy={n_xy}, n_h={n_h})", field="fit_rpc")
    if not h_max > h_min:
        h_max = h_min + 1.0          # flat scene: the height terms still need a spread
    n_h = max(n_h, 4)                # cubic height terms need ≥ 4 layers to be determined

    def grid(n, nh, centres):
        c = np.linspace(first_col, first_col + cols - 1, n)
        r = np.linspace(first_row, first_row + rows - 1, n)
        z = np.linspace(h_min, h_max, nh)
        if centres:
            c, r, z = (0.5 * (a[1:] + a[:-1]) for a in (c, r, z))
        C, R, Z = np.meshgrid(c, r, z, indexing="ij")
        return C.ravel(), R.ravel(), Z.ravel()

    c, r, z = grid(n_xy, n_h, False)
    lon, lat = (np.asarray(a, np.float64) for a in direct_location_fn(c, r, z))
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        i = int(np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)))[0])
        raise GeometryError(f"direct location failed at col {c[i]:.1f}, row {r[i]:.1f}, "
                            f"h {z[i]:.1f} m", field="fit_rpc")

    def half_range(a):
        lo, hi = float(np.min(a)), float(np.max(a))
        return 0.5 * (lo + hi), max(0.5 * (hi - lo), 1e-9)

    lat_off, lat_scale = half_range(lat)
    lon_off, lon_scale = half_range(lon)
    h_off, h_scale = half_range(z)
    line_off, line_scale = half_range(r)
    samp_off, samp_scale = half_range(c)
    M = monomials((lon - lon_off) / lon_scale, (lat - lat_off) / lat_scale, (z - h_off) / h_scale)
    rn = (r - line_off) / line_scale
    cn = (c - samp_off) / samp_scale
    # check grid (cell centres) for model selection and the report
    cc, rr, zz = grid(n_xy, n_h, True)
    lon2, lat2 = (np.asarray(a, np.float64) for a in direct_location_fn(cc, rr, zz))
    M2 = monomials((lon2 - lon_off) / lon_scale, (lat2 - lat_off) / lat_scale, (zz - h_off) / h_scale)

    def check_err(num, den, target, scale_px, off):
        return np.abs((M2 @ num) / (M2 @ den) * scale_px + off - target)

    # Candidates: the cubic polynomial (denominator ≡ 1, pole-free by construction) and the
    # full rational form with increasing damping of the denominator; a rational candidate
    # is kept only if its denominator stays in [0.5, 2] over the (slightly enlarged)
    # normalised cube — a pushbroom RPC must not have a pole near the scene.
    used = {}
    for name, target, tn, scale_px, off in (("line", rr, rn, line_scale, line_off),
                                            ("samp", cc, cn, samp_scale, samp_off)):
        best = _solve_rational(M, tn, regularisation, 1, rational=False)
        best_err = check_err(*best, target, scale_px, off).max()
        best_lam = None
        for lam_den in (regularisation, 1e-10, 1e-8, 1e-6):
            if best_err < 1e-4:
                break
            try:
                cand = _solve_rational(M, tn, regularisation, n_iter, lam_den=lam_den)
            except GeometryError:
                continue
            if not _pole_free(cand[1]):
                continue
            e = check_err(*cand, target, scale_px, off).max()
            if e < best_err:
                best, best_err, best_lam = cand, e, lam_den
        used[name] = (best, best_lam)
    (line_num, line_den), lam_l = used["line"]
    (samp_num, samp_den), lam_s = used["samp"]
    rpc = RPC(line_off=line_off, samp_off=samp_off, lat_off=lat_off, long_off=lon_off,
              height_off=h_off, line_scale=line_scale, samp_scale=samp_scale, lat_scale=lat_scale,
              long_scale=lon_scale, height_scale=h_scale, line_num=line_num, line_den=line_den,
              samp_num=samp_num, samp_den=samp_den,
              valid_lon=(float(lon.min()), float(lon.max())),
              valid_lat=(float(lat.min()), float(lat.max())), source="fit_rpc")

    pc, pr = rpc.project(lon, lat, z)
    e_fit = np.hypot(pc - c, pr - r)
    qc, qr = rpc.project(lon2, lat2, zz)
    e_chk = np.hypot(qc - cc, qr - rr)
    report = RPCFitReport(fit_points=int(c.size), check_points=int(cc.size),
                          fit_rms_px=float(np.sqrt(np.mean(e_fit ** 2))), fit_max_px=float(e_fit.max()),
                          check_rms_px=float(np.sqrt(np.mean(e_chk ** 2))),
                          check_max_px=float(e_chk.max()),
                          check_max_col_px=float(np.abs(qc - cc).max()),
                          check_max_row_px=float(np.abs(qr - rr).max()),
                          regularisation=float(regularisation), iterations=int(n_iter),
                          line_form="polynomial" if lam_l is None else f"rational (denominator damping {lam_l:g})",
                          samp_form="polynomial" if lam_s is None else f"rational (denominator damping {lam_s:g})")
    return rpc, report
