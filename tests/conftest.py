"""Shared fixtures: the configuration and the ../shared data directory (never copied)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (CI lays it there). Missing → the test fails loudly."""
    if not (SHARED / "ICD.md").exists():
        pytest.fail(f"../shared not found at {SHARED}: tests need the shared data beside the repository")
    return SHARED


@pytest.fixture(scope="session")
def cfg():
    """The shipped example station configuration."""
    from station_config import load_config
    return load_config()
