"""Notices: post / unread / read receipts / target groups / expiry; NOTIFY on PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from residents_seed import drop_test_roles, make_actor
from sqlalchemy.engine import make_url

from madoguchi.errors import InputError, PermissionDenied
from madoguchi.services import notices


@pytest.fixture
def staff(any_db):
    suffix = secrets.token_hex(3)
    people = {"clerk": ["clerk"], "cert": ["cert"], "shien": ["shien"]}
    actors = {k: make_actor(any_db, f"{k}_{suffix}", g) for k, g in people.items()}
    yield any_db, actors
    for db, _a in actors.values():
        if db is not any_db:
            db.dispose()
    if any_db.dialect == "postgresql":
        drop_test_roles([f"{k}_{suffix}" for k in people])


def test_post_unread_read_receipts(staff):
    _base, a = staff
    cdb, clerk = a["clerk"]
    tdb, cert = a["cert"]
    n1 = notices.post(cdb, clerk, "戸籍システム停止", "14時から15時まで照会できません", priority="high")
    n2 = notices.post(cdb, clerk, "午後は混雑予想", priority="low")
    unread = notices.unread(tdb, cert)
    assert [n.id for n in unread] == [n1, n2]          # urgent first
    assert unread[0].priority_label == "至急" and unread[0].posted_by_name == clerk.display_name
    notices.mark_read(tdb, cert, n1)
    notices.mark_read(tdb, cert, n1)                     # idempotent
    assert [n.id for n in notices.unread(tdb, cert)] == [n2]
    listed = notices.list_notices(tdb, cert)
    assert [(n.id, n.read) for n in listed] == [(n2, False), (n1, True)]
    rec = notices.receipts(cdb, n1)
    assert [r.login for r in rec] == [cert.login]
    assert notices.receipts(cdb, n2) == []


def test_target_group_and_expiry(staff):
    _base, a = staff
    cdb, clerk = a["clerk"]
    tdb, cert = a["cert"]
    sdb, shien = a["shien"]
    only_cert = notices.post(cdb, clerk, "証明発行の皆さんへ", target_group="cert")
    soon = notices.post(cdb, clerk, "まもなく期限", expires_at=datetime.now(UTC) + timedelta(seconds=2))
    assert {n.id for n in notices.unread(tdb, cert)} == {only_cert, soon}
    assert {n.id for n in notices.unread(sdb, shien)} == {soon}
    import time
    time.sleep(2.2)
    assert {n.id for n in notices.unread(sdb, shien)} == set()
    assert {n.id for n in notices.list_notices(sdb, shien, include_expired=True)} == {soon}


def test_post_validation_and_permission(staff):
    _base, a = staff
    cdb, clerk = a["clerk"]
    sdb, shien = a["shien"]
    with pytest.raises(InputError, match="件名"):
        notices.post(cdb, clerk, "  ")
    with pytest.raises(InputError, match="重要度"):
        notices.post(cdb, clerk, "x", priority="urgent")
    with pytest.raises(InputError, match="過去"):
        notices.post(cdb, clerk, "x", expires_at=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(PermissionDenied):
        notices.post(sdb, shien, "支援措置担当は投稿権限なし")
    with pytest.raises(InputError, match="見つかりません"):
        notices.mark_read(cdb, clerk, 999999)


def test_post_sends_notify_in_postgresql(pg_db, pg_url):
    _db, clerk = make_actor(pg_db, f"clerk_{secrets.token_hex(3)}", ["clerk"])
    u = make_url(pg_url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True) as conn:
        conn.execute(f"LISTEN {notices.CHANNEL}")
        nid = notices.post(_db, clerk, "新しいお知らせ")
        got = next(conn.notifies(timeout=5, stop_after=1))
    assert got.channel == notices.CHANNEL and got.payload == str(nid)
    _db.dispose()
    drop_test_roles([clerk.login])
