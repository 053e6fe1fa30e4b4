"""The database is the wall: roles, row-level security and the append-only audit log, on real PostgreSQL."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from sqlalchemy import text

from madoguchi.errors import AuthError, ConnectionFailed
from madoguchi.services import audit, auth, staff
from madoguchi.store.db import Database, SessionInfo

ADMIN = SessionInfo("it_admin", "server")


def _seed_people(db: Database) -> None:
    with db.engine.begin() as c:
        for atena, name, restricted in (("0000000001", "山田　花子", True), ("0000000002", "𠮷田　太郎", False)):
            c.execute(text("INSERT INTO persons (atena_no, household_no, is_householder, relationship, resident_kind,"
                           " status, name, name_kana, kana_key, former_surname, alias, alias_kana, alias_kana_key,"
                           " romaji_name, birth_date, sex, honseki, hittousha, nationality, residence_status,"
                           " removal_reason, restricted, juminhyo_code)"
                           " VALUES (:a, :a, true, '世帯主', '1', '1', :n, '', '', '', '', '', '', '', :b, '2', '', '',"
                           " '', '', '', :r, '')"), {"a": atena, "n": name, "b": date(1980, 1, 2), "r": restricted})
            c.execute(text("INSERT INTO person_addresses (atena_no, restricted, postal_code, town_code, banchi,"
                           " katagaki, address_key, moved_in_from) VALUES (:a, :r, '0740001', '001', '3番12号',"
                           " '', '', '')"), {"a": atena, "r": restricted})


@pytest.fixture
def cluster_db(scram_cluster):
    name = scram_cluster.create_database()
    url = scram_cluster.url(name)
    db = Database.connect(url)
    from madoguchi.store import migrate
    migrate.upgrade(db.engine)
    _seed_people(db)
    created: list[str] = []
    yield scram_cluster, name, db, created
    db.dispose()
    with psycopg.connect(scram_cluster.url(name).replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as c:
        for login in created:
            c.execute(f'DROP OWNED BY "{login}"')
    import pgtools
    pgtools.drop_database(name, host="127.0.0.1", port=scram_cluster.port, user="postgres",
                          password=scram_cluster.password)
    pgtools.drop_roles(created, host="127.0.0.1", port=scram_cluster.port, user="postgres",
                       password=scram_cluster.password)


def _add(db: Database, created: list[str], login: str, groups: list[str], password: str = "correct-horse-1") -> str:
    staff.add_staff(db, ADMIN, login, f"{login} 職員", password, groups)
    created.append(login)
    return password


def test_clerk_cannot_read_restricted_address_with_plain_sql(cluster_db):
    cluster, name, db, created = cluster_db
    pw = _add(db, created, "clerk_sato", ["clerk"])
    pw2 = _add(db, created, "shien_ito", ["clerk", "shien"])
    clerk = Database.connect(cluster.url(name, "clerk_sato", pw))
    with clerk.engine.connect() as c:
        visible = {r.atena_no for r in c.execute(text("SELECT atena_no FROM person_addresses"))}
        assert visible == {"0000000002"}
        # The person exists for the clerk (a neutral flag), only the whereabouts are hidden.
        assert c.execute(text("SELECT restricted FROM persons WHERE atena_no='0000000001'")).scalar() is True
        with pytest.raises(Exception, match="permission denied"):
            c.execute(text("SELECT * FROM support_measures"))
    clerk.dispose()
    permitted = Database.connect(cluster.url(name, "shien_ito", pw2))
    with permitted.engine.connect() as c:
        row = c.execute(text("SELECT banchi FROM person_addresses WHERE atena_no='0000000001'")).one()
        assert row.banchi == "3番12号"
    permitted.dispose()


def test_login_errors_are_japanese(cluster_db):
    cluster, name, db, created = cluster_db
    pw = _add(db, created, "clerk_kato", ["clerk"])
    with pytest.raises(AuthError, match="職員IDまたはパスワードが違います"):
        auth.login_server(cluster.url(name, "clerk_kato", "wrong-password"), "clerk_kato", "pc01")
    db2, actor = auth.login_server(cluster.url(name, "clerk_kato", pw), "clerk_kato", "pc01", "3")
    assert actor.groups == frozenset({"clerk"}) and actor.can("case.write") and not actor.can("support_measure.unmask")
    db2.dispose()
    staff.set_disabled(db, ADMIN, "clerk_kato", True)
    with pytest.raises(AuthError, match="利用停止"):
        auth.login_server(cluster.url(name, "clerk_kato", pw), "clerk_kato", "pc01")
    with pytest.raises(ConnectionFailed, match="接続できません"):
        auth.login_server(cluster.url(name, "clerk_kato", pw).replace(str(cluster.port), "1"), "clerk_kato", "pc01")


def test_login_writes_audit_with_session_user_and_terminal(cluster_db):
    cluster, name, db, created = cluster_db
    pw = _add(db, created, "clerk_abe", ["clerk"])
    db2, _ = auth.login_server(cluster.url(name, "clerk_abe", pw), "clerk_abe", "madoguchi-pc07")
    db2.dispose()
    with db.engine.connect() as c:
        row = c.execute(text("SELECT actor, terminal, action FROM audit_events WHERE action='login'")).one()
    assert (row.actor, row.terminal, row.action) == ("clerk_abe", "madoguchi-pc07", "login")


def test_no_app_role_can_change_audit_rows_and_owner_edit_is_caught(cluster_db):
    cluster, name, db, created = cluster_db
    pw = _add(db, created, "audit_mori", ["audit", "admin", "clerk", "shien", "cert"])
    for i in range(3):
        with db.uow(ADMIN) as uow:
            audit.record(uow.session, ADMIN, "test.event", "case", str(i), {"n": i})
            uow.commit()
    app = Database.connect(cluster.url(name, "audit_mori", pw))
    for stmt in ("UPDATE audit_events SET detail = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events",
                 "UPDATE audit_events_2026 SET detail = 'x'",
                 "INSERT INTO audit_events (action, actor) VALUES ('forged', 'someone_else')"):
        with app.engine.connect() as c, pytest.raises(Exception, match="permission denied"):
            c.execute(text(stmt))
    # An app role may append, but cannot choose who it claims to be.
    with app.engine.begin() as c:
        c.execute(text("INSERT INTO audit_events (action, detail) VALUES ('note', 'by app')"))
    app.dispose()
    with db.session() as s:
        assert audit.verify(s).ok
        assert s.execute(text("SELECT actor FROM audit_events WHERE action='note'")).scalar() == "audit_mori"
    # The owner (superuser) can edit rows — and the chain shows exactly where.
    with db.engine.begin() as c:
        target = c.execute(text("SELECT id FROM audit_events WHERE object_id='1'")).scalar()
        c.execute(text("UPDATE audit_events SET detail = '{\"n\": 99}' WHERE id = :i"), {"i": target})
    with db.session() as s:
        result = audit.verify(s)
    assert result.first_broken_id == target
    assert "壊れています" in result.message()


def test_audit_chain_on_sqlite_detects_deletion(sqlite_db):
    who = SessionInfo("demo", "pc")
    for i in range(4):
        with sqlite_db.uow(who) as uow:
            audit.record(uow.session, who, "x", "t", str(i))
            uow.commit()
    with sqlite_db.session() as s:
        assert audit.verify(s).ok and audit.verify(s).checked == 4
    with sqlite_db.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE object_id = '2'"))
    with sqlite_db.session() as s:
        r = audit.verify(s)
    assert not r.ok and r.first_broken_id == 4


def test_audit_is_partitioned_by_year(pg_db):
    with pg_db.engine.connect() as c:
        parts = set(c.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits "
                                   "WHERE inhparent = 'audit_events'::regclass")).scalars())
    assert {"audit_events_2026", "audit_events_2031", "audit_events_default"} <= parts


def test_audit_year_export_carries_the_chain(pg_db, tmp_path):
    import io
    import json
    from datetime import datetime
    who = SessionInfo("it", "server")
    for i in range(3):
        with pg_db.uow(who) as uow:
            audit.record(uow.session, who, "x", "t", str(i), {"i": i})
            uow.commit()
    buf = io.StringIO()
    with pg_db.session() as s:
        count, last = audit.export_year(s, datetime.now().year, buf)
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert count == 3 and lines[-1]["hash"] == last
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(lines, lines[1:], strict=False))
    recomputed = audit.chain_hash(lines[1]["prev_hash"], lines[1]["id"],
                                  datetime.fromisoformat(lines[1]["occurred_at"]), lines[1]["actor"],
                                  lines[1]["terminal"], "x", "t", "1", lines[1]["detail"])
    assert recomputed == lines[1]["hash"]
