"""Load and validate the station configuration, once.

A configuration is a ``station.toml`` that lists satellite and instrument profile files
(TOML). :func:`load_config` reads them all, validates every field with the models in
:mod:`station_config.models`, validates each satellite's TLE file, and raises
:class:`srd.errors.ConfigError` naming the file, the key and the reason on the first
problem. Stale TLEs (epoch older than :data:`TLE_MAX_AGE_DAYS`) emit a
:class:`StaleTLEWarning`.
"""
from __future__ import annotations

import datetime as dt
import tomllib
import warnings
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from srd.errors import ConfigError, TLEError
from station_config.models import Instrument, Satellite, StationConfig

#: The configuration shipped with the project (example station, SPOT-6/7, two profiles).
DEFAULT_CONFIG = Path(__file__).resolve().parent / "defaults" / "station.toml"
TLE_MAX_AGE_DAYS = 7.0


class StaleTLEWarning(UserWarning):
    """A satellite's TLE epoch is older than :data:`TLE_MAX_AGE_DAYS` days."""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("configuration file not found", path=path) from None
    except OSError as e:
        raise ConfigError(f"cannot read configuration file ({e.strerror})", path=path) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path=path) from None


def _explain(e: ValidationError, path: Path, prefix: str = "") -> ConfigError:
    err = e.errors()[0]
    key = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown key (misspelt?)"
    more = f" (and {len(e.errors()) - 1} more problem(s))" if len(e.errors()) > 1 else ""
    return ConfigError(f"{msg}{more}", path=path, field=key or None)


def _resolve(base: Path, p: Any) -> Any:
    if isinstance(p, str) and p:
        q = Path(p)
        return str(q if q.is_absolute() else (base / q).resolve())
    return p


def _load_profile(kind: str, file: Path, model):
    data = _read_toml(file)
    if kind == "satellite" and "tle_file" in data:
        data["tle_file"] = _resolve(file.parent, data["tle_file"])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise _explain(e, file) from None


def _dem_section(sec: Any, base: Path) -> Any:
    """[dem] with its file paths resolved against the configuration's directory."""
    if isinstance(sec, dict):
        sec = {k: (_resolve(base, v) if k in ("path", "geoid") else v) for k, v in sec.items()}
    return sec


def load_config(path: str | Path | None = None, *, now: dt.datetime | None = None,
                check_tle: bool = True) -> StationConfig:
    """Read ``station.toml`` (default: the shipped example) and everything it references.

    ``path`` may be the TOML file or a directory holding ``station.toml``. ``now`` (UTC)
    is the instant TLE ages are judged at (default: the wall clock at load).
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if path.is_dir():
        path = path / "station.toml"
    path = path.resolve()
    raw = _read_toml(path)
    base = path.parent

    satellites: dict[str, Satellite] = {}
    instruments: dict[str, Instrument] = {}
    for section, kind, model, dest in (("satellites", "satellite", Satellite, satellites),
                                       ("instruments", "instrument", Instrument, instruments)):
        sec = raw.pop(section, None)
        if not isinstance(sec, dict) or not isinstance(sec.get("files"), list):
            raise ConfigError(f"[{section}] must have 'files = [...]' listing {kind} profiles",
                              path=path, field=f"{section}.files")
        for rel in sec["files"]:
            f = Path(_resolve(base, rel))
            obj = _load_profile(kind, f, model)
            if obj.name in dest:
                raise ConfigError(f"{kind} {obj.name!r} defined twice", path=f, field="name")
            dest[obj.name] = obj

    keys = raw.pop("keys", {})
    if not isinstance(keys, dict):
        raise ConfigError("[keys] must map key ids to files", path=path, field="keys")
    try:
        keys = {int(k): _resolve(base, v) for k, v in keys.items()}
    except ValueError:
        raise ConfigError("key ids must be integers 1..255", path=path, field="keys") from None

    paths = raw.pop("paths", {})
    if isinstance(paths, dict) and "root" in paths and not Path(paths["root"]).is_absolute():
        paths["root"] = str(Path.cwd() / paths["root"])
    cat = raw.pop("catalogue", {})
    data = {"source": str(path), "station": raw.pop("station", None), "paths": paths,
            "satellites": satellites, "instruments": instruments, "keys": keys, "catalogue": cat,
            "ortho": raw.pop("ortho", {}), "dem": _dem_section(raw.pop("dem", {}), base)}
    if raw:
        raise ConfigError(f"unknown section(s) {sorted(raw)}", path=path, field=sorted(raw)[0])
    if data["station"] is None:
        raise ConfigError("required section is missing", path=path, field="station")
    try:
        cfg = StationConfig.model_validate(data)
    except ValidationError as e:
        raise _explain(e, path) from None

    if check_tle:
        now = now or dt.datetime.now(dt.timezone.utc)
        for sat in cfg.satellites.values():
            try:
                tle = sat.tle()
            except TLEError as e:
                raise ConfigError(f"satellite {sat.name}: {e.message}", path=e.path, field=e.field) from None
            if tle.norad_id != sat.norad_id:
                raise ConfigError(f"TLE catalogue number {tle.norad_id} does not match norad_id "
                                  f"{sat.norad_id} of {sat.name}", path=sat.tle_file, field="norad_id")
            age = tle.age_days(now)
            if age > TLE_MAX_AGE_DAYS:
                warnings.warn(f"{sat.name}: TLE epoch {tle.epoch:%Y-%m-%dT%H:%M:%SZ} is {age:.1f} days "
                              f"old (> {TLE_MAX_AGE_DAYS:g}); predictions degrade — update "
                              f"{sat.tle_file}", StaleTLEWarning, stacklevel=2)
    return cfg
