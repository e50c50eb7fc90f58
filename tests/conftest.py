"""Shared fixtures. Real data comes from one setting: $PPT_EDGE_SHARED (default ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from broker_fixtures import *  # noqa: F401,F403  (mosquitto on a free port, TLS CA)
from pg_fixtures import *  # noqa: F401,F403  (PostgreSQL cluster on a free port)

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PPT_EDGE_SHARED", REPO.parent / "shared")).resolve()


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set PPT_EDGE_SHARED to the folder that holds data/ and models/)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def images_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "data" / "images")


@pytest.fixture(scope="session")
def videos_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "data" / "videos")


@pytest.fixture(scope="session")
def fer_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "data" / "fer2013")


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return REPO / "models" / "quantized"
