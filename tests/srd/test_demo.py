"""The README's main command (`srd demo`): a simulated pass goes through the Prefect flow
and ends in the catalogue, found by a search over its footprint."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from station_config.loader import DEFAULT_CONFIG

pytestmark = pytest.mark.slow


def test_demo_end_to_end(tmp_path, shared_dir):
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONFIG.parent, conf)
    st = conf / "station.toml"
    st.write_text(st.read_text().replace('root = "srd-data"', f'root = "{tmp_path / "data"}"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    dem = shared_dir / "data" / "dem"
    r = subprocess.run([sys.executable, "-m", "srd.cli", "--config", str(st), "demo", "--duration", "0.5s",
                        "--dem", str(dem / "N44E005.hgt"), "--geoid", str(dem / "egm96_15.gtx"), "--json"],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["stages"] == {"ingest": "archived", "decode": "ok", "level1": "1 scenes", "ortho": "1 scenes"}
    cols = sorted(i["collection"] for i in out["search"]["items"])
    assert cols == ["spot-6-ortho", "spot-6-primary"], out["search"]
    # the raw pass is archived read-only, and nothing is left in landing
    arch = tmp_path / "data" / "archive" / "SPOT-6"
    assert list(arch.rglob(f"{out['pass_id']}_A.bin"))
    assert not list((tmp_path / "data" / "landing").glob("*.bin"))
