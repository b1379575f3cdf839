"""Shared fixtures for the data tests: every cache lives under pytest's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $SPIKELITE_CACHE at a per-test folder so nothing touches ~/.cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPIKELITE_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder shared by the read-only digits-dvs tests (generated once)."""
    return tmp_path_factory.mktemp("shared-cache")
