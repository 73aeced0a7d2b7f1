"""The ``srd`` entry point: help, config verbs, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

from srd.cli import main


def test_help_lists_verbs_and_examples():
    r = subprocess.run([sys.executable, "-m", "srd.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "passes" in r.stdout and "examples:" in r.stdout


def test_config_check_json(capsys):
    assert main(["config", "check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["satellites"] == ["SPOT-6", "SPOT-7"] and out["keys"] == {"1": "ok"}


def test_config_show_never_prints_key(capsys, cfg):
    assert main(["config", "show", "--json"]) == 0
    text = capsys.readouterr().out
    assert cfg.key(1).hex() not in text and "demo-key-01.hex" in text


def test_config_error_exit_code(tmp_path, capsys):
    bad = tmp_path / "station.toml"
    bad.write_text("[station]\nname = 'x'\n")
    assert main(["--config", str(bad), "config", "check"]) == 3
    assert str(bad) in capsys.readouterr().err
