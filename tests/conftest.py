"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evenhand.core.pipeline import build_warehouse
from helpers import need_shared_data


@pytest.fixture(scope="session")
def shared_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse of the whole ../shared/data, built once per test session (strict: any bad
    value in any file fails the build). Read it only: the file and its raw layer are made
    read-only, so a test that tried to change it would fail instead of changing it for others."""
    wh = tmp_path_factory.mktemp("shared-warehouse") / "evenhand.duckdb"
    build_warehouse(need_shared_data(), wh)
    for p in [wh, *wh.parent.glob(wh.name + ".raw-*/*")]:
        os.chmod(p, 0o444)
    return wh
