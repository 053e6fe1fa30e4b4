"""GUI fixtures: the shipped fonts, a seeded SQLite database, real staff, screenshots."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from residents_seed import drop_test_roles, make_actor, seed

from madoguchi.config import AppConfig


@pytest.fixture(scope="session")
def fonts(qapp):
    from madoguchi.gui.app import load_fonts
    return load_fonts(qapp)


@pytest.fixture(scope="session")
def screens(artifacts_dir) -> Path:
    d = artifacts_dir / "screens"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def seeded(sqlite_db):
    seed(sqlite_db)
    return sqlite_db


@pytest.fixture
def clerk(seeded):
    _db, actor = make_actor(seeded, "clerk_gui", ["clerk"])
    return actor


@pytest.fixture
def shien(seeded):
    _db, actor = make_actor(seeded, "shien_gui", ["shien", "clerk"])
    return actor


@pytest.fixture
def demo_config(tmp_path) -> AppConfig:
    return AppConfig(data_dir=tmp_path, terminal="窓口PC-03", counter_no="3")


@pytest.fixture
def pg_staff(pg_db):
    """(base db, make(login_prefix, groups) -> (db, actor)) with cleanup of roles and connections."""
    made = []

    def make(prefix: str, groups: list[str]):
        login = f"{prefix}_{secrets.token_hex(3)}"
        db, actor = make_actor(pg_db, login, groups)
        made.append((login, db))
        return db, actor

    yield pg_db, make
    for login, db in made:
        db.dispose()
    drop_test_roles([login for login, _ in made])


def shot(widget, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    assert widget.grab().save(str(path)), path
    return path


def pytest_collection_modifyitems(config, items):
    # The offscreen platform warns that it cannot propagate size hints: harmless, not ours.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"))
