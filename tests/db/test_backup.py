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


def test_backup_over_the_unix_socket_keeps_the_whole_url(pg_url, tmp_path):
    """A server job connects through the Unix socket (?host=/run/postgresql, peer or trust): the dump
    tools must get that socket, not a guessed TCP host."""
    import os

    from sqlalchemy.engine import make_url

    from madoguchi.sync.backup import _libpq

    args, _env = _libpq("postgresql+psycopg://job@/madoguchi?host=/run/postgresql&sslmode=disable")
    assert args == ["--dbname=host=/run/postgresql sslmode=disable user=job dbname=madoguchi"]
    db = Database.connect(pg_url)
    with db.engine.connect() as c:
        dirs = [d.strip() for d in c.execute(text("SHOW unix_socket_directories")).scalar().split(",")]
    db.dispose()
    socket_dir = next((d for d in dirs if os.path.exists(os.path.join(d, ".s.PGSQL.5432"))), None)
    if socket_dir is None:
        return  # a server without a local socket: the conninfo above is what matters
    u = make_url(pg_url)
    url = f"postgresql+psycopg://{u.username}@/{u.database}?host={socket_dir}"
    dump = tmp_path / "s.dump"
    assert cmd_backup._create(_Args(database=url, out=dump)) == 0
    assert dump.stat().st_size > 0
