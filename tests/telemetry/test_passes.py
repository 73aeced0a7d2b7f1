"""Pass prediction agrees with an independent SGP4 propagation (pyorbital)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pyorbital.orbital import Orbital

from telemetry.passes import predict_passes

START = dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)


def test_spot6_passes_agree_with_pyorbital(cfg):
    sat, st = cfg.satellite("SPOT-6"), cfg.station
    tle = sat.tle()
    ours = predict_passes(cfg, ["SPOT-6"], START, 48)
    ref = Orbital("SPOT 6", line1=tle.line1, line2=tle.line2).get_next_passes(
        START.replace(tzinfo=None), 48, st.longitude_deg, st.latitude_deg, st.altitude_m / 1000,
        tol=0.001, horizon=st.min_elevation_deg)
    assert len(ours) == len(ref) >= 8       # sun-synchronous LEO: ~4-6 passes a day at 43.6° N
    for p, (rise, fall, culm) in zip(ours, ref):
        assert abs((p.aos.replace(tzinfo=None) - rise).total_seconds()) < 2.0
        assert abs((p.los.replace(tzinfo=None) - fall).total_seconds()) < 2.0
        assert p.aos < p.culmination < p.los
        assert st.min_elevation_deg < p.max_elevation_deg <= 90


def test_demo_pass_flies_over_ventoux(cfg):
    """The demo datatake time (2026-11-29T10:03:26Z) is within a high SPOT-6 pass."""
    t = dt.datetime(2026, 11, 29, 10, 3, 26, tzinfo=dt.timezone.utc)
    (p,) = [p for p in predict_passes(cfg, ["SPOT-6"], START, 24) if p.aos < t < p.los]
    assert p.max_elevation_deg > 60


def test_passes_cli_json(capsys):
    from srd.cli import main
    assert main(["passes", "--start", "2026-11-29T00:00:00Z", "--hours", "12", "--satellite", "SPOT-7", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passes"] and {"satellite", "aos", "culmination", "los", "max_elevation_deg"} <= set(out["passes"][0])
    assert all(p["satellite"] == "SPOT-7" for p in out["passes"])


def test_passes_cli_errors(capsys):
    from srd.cli import main
    assert main(["passes", "--satellite", "SPOT-9"]) == 3
    assert "unknown satellite" in capsys.readouterr().err
    assert main(["passes", "--start", "yesterday"]) == 3
    with pytest.raises(SystemExit):
        main(["passes", "--hours", "x"])
