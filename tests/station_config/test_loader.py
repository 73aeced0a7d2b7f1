"""Configuration validation: every malformed input fails at load naming file, key and reason."""
from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import pytest

from srd.errors import ConfigError, TLEError, UnknownSatelliteError
from station_config import load_config
from station_config.loader import DEFAULT_CONFIG, StaleTLEWarning


@pytest.fixture
def conf(tmp_path) -> Path:
    """A writable copy of the shipped configuration."""
    d = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONFIG.parent, d)
    return d


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_default_config_loads_with_icd_profile(cfg):
    s6 = cfg.satellite("SPOT-6")
    assert (s6.scid, cfg.satellite("spot7").scid) == (166, 167)
    assert s6.coding.frame_length == 892 and s6.coding.cadu_length == 1024
    assert s6.apids.image(3, "B2") == 0x123 and s6.apids.image_source(0x123) == (3, "B2")
    assert s6.virtual_channels.vcids_of_channel("A") == (0, 1, 2, 63)
    red, nom = cfg.instrument("reduced"), cfg.instrument("nominal")
    assert nom.band("PAN").detectors == 7000 and nom.band("B1").detectors == 1750
    assert red.band("PAN").detectors == 4 * red.band("B3").detectors
    # same layout: the module centres scale with the array width, the bands' along-track angles are equal
    assert [b.along_track_rad for b in red.bands] == [b.along_track_rad for b in nom.bands]
    swath = (nom.modules * (7000 - nom.module_overlap_pan) + nom.module_overlap_pan) * nom.band("PAN").ifov_rad * 694e3
    assert 59e3 < swath < 62e3


def test_missing_key_names_file_and_key(conf):
    edit(conf / "satellites" / "SPOT-6.toml", "scid = 166\n", "")
    with pytest.raises(ConfigError) as e:
        load_config(conf)
    assert e.value.field == "scid" and e.value.path.endswith("SPOT-6.toml")
    assert "required key is missing" in str(e.value)


def test_wrong_type_names_nested_key(conf):
    edit(conf / "satellites" / "SPOT-7.toml", "interleave = 4", 'interleave = "four"')
    with pytest.raises(ConfigError) as e:
        load_config(conf)
    assert e.value.field == "coding.interleave" and "SPOT-7.toml" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_out_of_range_and_unknown_keys(conf):
    edit(conf / "station.toml", "latitude_deg = 43.6381", "latitude_deg = 123.0")
    with pytest.raises(ConfigError, match="station.latitude_deg"):
        load_config(conf)
    edit(conf / "station.toml", "latitude_deg = 123.0", "latitude_deg = 43.6\nlattitude = 1")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(conf)


def test_unknown_satellite_lists_known(cfg):
    with pytest.raises(UnknownSatelliteError) as e:
        cfg.satellite("PLEIADES-1A")
    assert "SPOT-6" in str(e.value) and "SPOT-7" in str(e.value)
    assert isinstance(e.value, KeyError) and isinstance(e.value, ConfigError)


def test_unknown_instrument_reference(conf):
    edit(conf / "satellites" / "SPOT-6.toml", 'instrument = "nominal"', 'instrument = "naomi-x"')
    with pytest.raises(ConfigError, match="naomi-x"):
        load_config(conf)


def test_bad_tle_checksum_names_file_and_line(conf):
    tle = conf / "tle" / "SPOT-6.tle"
    lines = tle.read_text().splitlines()
    lines[2] = lines[2][:68] + str((int(lines[2][68]) + 1) % 10)
    tle.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(conf)
    assert "checksum" in str(e.value) and e.value.field == "line 3" and e.value.path.endswith("SPOT-6.tle")


def test_tle_norad_mismatch(conf):
    edit(conf / "satellites" / "SPOT-6.toml", "norad_id = 38755", "norad_id = 38756")
    with pytest.raises(ConfigError, match="does not match norad_id"):
        load_config(conf)


def test_stale_tle_warns(cfg):
    epoch = cfg.satellite("SPOT-6").tle().epoch
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        load_config(now=epoch + dt.timedelta(days=8))
    assert any(issubclass(x.category, StaleTLEWarning) and "SPOT-6" in str(x.message) for x in w)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        load_config(now=epoch + dt.timedelta(days=2))
    assert not [x for x in w if issubclass(x.category, StaleTLEWarning)]


def test_invalid_toml_and_missing_file(conf, tmp_path):
    (conf / "station.toml").write_text("[station\nname = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(conf)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_keys_are_validated_and_never_in_messages(conf, cfg):
    key = cfg.key(1)
    assert len(key) == 32
    (conf / "keys" / "demo-key-01.hex").write_text("abcd")
    c = load_config(conf)
    with pytest.raises(Exception) as e:
        c.key(1)
    assert "32 bytes" in str(e.value) and "abcd" not in str(e.value)
    with pytest.raises(KeyError, match="no key configured for key id 9"):
        c.key(9)
    assert key.hex() not in str(cfg.public_dict())


def test_tle_parser_rejects_short_lines():
    from station_config.tle import parse_tle
    with pytest.raises(TLEError, match="69"):
        parse_tle("1 38755U\n2 38755", "x.tle")


def test_viewing_angles_follow_layout(cfg):
    import numpy as np
    ins = cfg.instrument("reduced")
    for m in range(1, ins.modules):
        _, y0 = ins.viewing_angles("PAN", m)
        _, y1 = ins.viewing_angles("PAN", m + 1)
        # the last overlap detectors of module m look where the first of module m+1 do
        o = ins.module_overlap_pan
        assert np.allclose(y0[-o:], y1[:o], atol=0.02 * ins.band("PAN").ifov_rad)
    x, _ = ins.viewing_angles("B3", 2)
    assert np.all(x >= ins.band("B3").along_track_rad)
    dark, gain = ins.detector_calibration("PAN", 1)
    assert dark.shape == (256,) and abs(gain.mean() - 1) < 1e-12
    assert np.array_equal(dark, ins.detector_calibration("PAN", 1)[0])


def test_dem_section_resolves_and_checks_paths(conf, shared_dir):
    hgt = shared_dir / "data" / "dem" / "N44E005.hgt"
    gtx = shared_dir / "data" / "dem" / "egm96_15.gtx"
    edit(conf / "station.toml", "default_height_m = 0.0", f'path = "{hgt}"\ngeoid = "{gtx}"\ndefault_height_m = 0.0')
    c = load_config(conf)
    assert c.dem.path == hgt and c.dem.geoid == gtx
    edit(conf / "station.toml", f'path = "{hgt}"', 'path = "missing/N44E005.hgt"')
    with pytest.raises(ConfigError) as e:
        load_config(conf)
    assert e.value.field == "dem" and "does not exist" in str(e.value)
