"""GPS/UTC and CUC (ICD §4, CCSDS 301.0-B)."""
from __future__ import annotations

import datetime as dt

import numpy as np

from srd.timescale import cuc_decode, cuc_encode, gps_to_utc, gps_to_utc64, parse_utc, utc_to_gps


def test_gps_utc_offset_is_18s_since_2017():
    t = dt.datetime(2026, 11, 29, 10, 3, 26, tzinfo=dt.timezone.utc)
    g = utc_to_gps(t)
    naive = (t - dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)).total_seconds()
    assert g - naive == 18
    assert gps_to_utc(g) == t
    assert str(gps_to_utc64(np.array([g]))[0]).startswith("2026-11-29T10:03:26")
    # before the 2017-01-01 leap second: 17 s
    assert utc_to_gps(dt.datetime(2016, 6, 1, tzinfo=dt.timezone.utc)) - \
        (dt.datetime(2016, 6, 1, tzinfo=dt.timezone.utc) - dt.datetime(1980, 1, 6, tzinfo=dt.timezone.utc)).total_seconds() == 17


def test_cuc_round_trip_resolution():
    g = np.array([1.4e9 + 0.123456789, 1.4e9 + 0.99999999])
    b = cuc_encode(g)
    assert b.shape == (2, 7)
    assert np.all(np.abs(cuc_decode(b) - g) <= 0.5 / 2 ** 24 + 1e-9)
    assert cuc_decode(cuc_encode(5.0)[0]) == 5.0


def test_parse_utc_rejects_non_utc():
    import pytest
    assert parse_utc("2026-11-29T10:03:26Z").tzinfo is not None
    with pytest.raises(ValueError):
        parse_utc("2026-11-29T10:03:26+02:00")


def test_parse_duration_units():
    import pytest
    from srd.timescale import parse_duration
    assert parse_duration("8s") == 8 and parse_duration("1.5min") == 90 and parse_duration("250ms") == 0.25
    assert parse_duration(" 2 ") == 2 and parse_duration(3) == 3.0
    with pytest.raises(ValueError, match="8 seconds"):
        parse_duration("8 seconds")
