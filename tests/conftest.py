"""Shared fixtures: real PostgreSQL databases, SQLite databases, offscreen Qt."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import pgtools  # noqa: E402

from madoguchi.store import migrate  # noqa: E402
from madoguchi.store.db import Database  # noqa: E402

# Where tests save screenshots and rendered samples for a person to look at (README names it).
ARTIFACTS = Path(os.environ.get("MADOGUCHI_ARTIFACTS", ROOT / "artifacts"))


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def pg_url():
    """A fresh, migrated database on the local PostgreSQL; dropped afterwards. Superuser URL."""
    name = pgtools.create_database()
    url = pgtools.url_for(name)
    db = Database.connect(url)
    migrate.upgrade(db.engine)
    db.dispose()
    yield url
    pgtools.drop_database(name)


@pytest.fixture
def pg_db(pg_url):
    db = Database.connect(pg_url)
    yield db
    db.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'madoguchi.sqlite3'}"
    db = Database.connect(url)
    migrate.upgrade(db.engine)
    db.dispose()
    return url


@pytest.fixture
def sqlite_db(sqlite_url):
    db = Database.connect(sqlite_url)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request):
    """Run a test on both dialects: the same code path must serve demo and production."""
    yield request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


@pytest.fixture(scope="session")
def scram_cluster():
    cluster = pgtools.ScramCluster().start()
    yield cluster
    cluster.stop()
