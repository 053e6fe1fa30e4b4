"""Migrations take an empty database to head and back, on both dialects."""

from __future__ import annotations

from sqlalchemy import inspect

import pgtools
from madoguchi.store import migrate
from madoguchi.store.db import Database
from madoguchi.store.models import Base


def _roundtrip(url: str) -> None:
    db = Database.connect(url)
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    migrate.downgrade(db.engine, "base")
    assert migrate.current_revision(db.engine) is None
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    db.dispose()


def test_sqlite_up_and_down(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'm.sqlite3'}")


def test_postgresql_up_and_down():
    name = pgtools.create_database()
    try:
        _roundtrip(pgtools.url_for(name))
    finally:
        pgtools.drop_database(name)


def test_schema_check_reports_old_database(tmp_path):
    import pytest

    from madoguchi.errors import SchemaMismatch
    from madoguchi.services.auth import check_schema
    db = Database.connect(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with pytest.raises(SchemaMismatch, match="初期化されていません"):
        check_schema(db)
    migrate.upgrade(db.engine, "0001")
    with pytest.raises(SchemaMismatch, match="古いです"):
        check_schema(db)
    migrate.upgrade(db.engine)
    check_schema(db)
    db.dispose()
