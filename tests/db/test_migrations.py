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


def test_key_columns_share_byte_order_on_postgresql():
    """Every column the models declare as a Code is "C" in the migrated database (the staging tables
    copy the models' types), and so is every other column holding a 宛名番号 or 町字コード: a join
    across two collations could not use the other side's index."""
    from sqlalchemy import text
    name = pgtools.create_database()
    try:
        db = Database.connect(pgtools.url_for(name))
        migrate.upgrade(db.engine)
        with db.engine.connect() as c:
            got = {(t, col): coll for t, col, coll in c.execute(text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type = 'character varying'"))}
        declared = {(t.name, col.name) for t in Base.metadata.tables.values() for col in t.c
                    if getattr(col.type.dialect_impl(db.engine.dialect), "collation", None) == "C"}
        assert ("persons", "atena_no") in declared and ("qualifications", "kind") in declared
        assert {k: got[k] for k in declared} == {k: "C" for k in declared}
        keys = {k for k in got if k[1].endswith("atena_no") or k[1] in ("town_code", "household_no")}
        assert len(keys) >= 12
        assert {k: got[k] for k in keys} == {k: "C" for k in keys}
        db.dispose()
    finally:
        pgtools.drop_database(name)
