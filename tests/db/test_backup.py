"""Backup and restore through madoguchi-admin on real PostgreSQL (N4)."""

from __future__ import annotations

from sqlalchemy import text

import pgtools
from madoguchi.cli import cmd_backup
from madoguchi.services import audit
from madoguchi.store.db import Database, SessionInfo


class _Args:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_backup_then_restore_into_empty_database(pg_db, pg_url, tmp_path, capsys):
    who = SessionInfo("it", "server")
    with pg_db.uow(who) as uow:
        audit.record(uow.session, who, "case.open", "case", "1", {"名前": "𠮷田"})
        uow.commit()
    dump = tmp_path / "m.dump"
    assert cmd_backup._create(_Args(database=pg_url, out=dump)) == 0
    target = pgtools.create_database("mdg_restore")
    try:
        url = pgtools.url_for(target)
        assert cmd_backup._restore(_Args(database=url, file=dump)) == 0
        assert "改ざん・欠落は見つかりませんでした" in capsys.readouterr().out
        restored = Database.connect(url)
        with restored.engine.connect() as c:
            assert "𠮷田" in c.execute(text("SELECT detail FROM audit_events")).scalar()
        # A second restore into the now-populated database is refused and changes nothing.
        import pytest

        from madoguchi.errors import KnownError
        with pytest.raises(KnownError, match="空ではありません"):
            cmd_backup._restore(_Args(database=url, file=dump))
        restored.dispose()
    finally:
        pgtools.drop_database(target)
