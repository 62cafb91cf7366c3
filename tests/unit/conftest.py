"""Fixtures of the unit tests that need settings and a database file (no mail servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mailtickets.config import load_settings
from mailtickets.db import open_database
from mailtickets.settings import Settings
from tests.conftest import CONFIG_TEMPLATE


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The tests' site, its servers nowhere (port 1), its database new (SQLite unless the
    test asks for both_databases)."""
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG_TEMPLATE.format(
            imap_port=1,
            user="nadie",
            smtp_port=1,
            database_url=database_url,
            policy="open",
            imap_extra="",
            tickets_extra="",
        )
    )
    config.chmod(0o600)
    return load_settings(config)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = open_database(settings.database_url)
    yield engine
    engine.dispose()
