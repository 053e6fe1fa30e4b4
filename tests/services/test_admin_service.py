"""Admin tab use cases on SQLite and real PostgreSQL: permissions, audit events, refusals."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from residents_seed import drop_test_roles, make_actor
from sqlalchemy import select, text

from madoguchi.errors import ConnectionFailed, InputError, PermissionDenied
from madoguchi.services import admin, auth
from madoguchi.store.db import Database
from madoguchi.store.models import AuditEvent, ImportIssue, ImportRun
from madoguchi.store.security import GROUPS


@pytest.fixture
def people(any_db):
    """(base db as superuser/owner, {name: (db, actor)}, made logins) with roles dropped afterwards."""
    suffix = secrets.token_hex(3)
    spec = {"admin": ["admin"], "clerk": ["clerk"], "auditor": ["audit"]}
    actors = {k: make_actor(any_db, f"{k}_{suffix}", g) for k, g in spec.items()}
    made: list[str] = [f"{k}_{suffix}" for k in spec]
    yield any_db, actors, made, suffix
    for db, _a in actors.values():
        if db is not any_db:
            db.dispose()
    if any_db.dialect == "postgresql":
        drop_test_roles(made)


def events(db, action: str | None = None) -> list[AuditEvent]:
    with db.session() as s:
        q = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            q = q.where(AuditEvent.action == action)
        return list(s.scalars(q))


def test_staff_lifecycle_is_audited(people):
    base, a, made, suffix = people
    adb, adm = a["admin"]
    login = f"new_{suffix}"
    made.append(login)
    admin.add_staff(adb, adm, login, "新人　花子", "hanako-pass-1", ["clerk"])
    info = {s.login: s for s in admin.list_staff(adb, adm)}[login]
    assert info.display_name == "新人　花子" and info.groups == ("clerk",) and not info.disabled

    added, removed = admin.set_groups(adb, adm, login, ["cert", "audit"])
    assert added == ["audit", "cert"] and removed == ["clerk"]
    assert {s.login: s for s in admin.list_staff(adb, adm)}[login].groups == ("audit", "cert")
    assert admin.set_groups(adb, adm, login, ["cert", "audit"]) == ([], [])

    admin.set_disabled(adb, adm, login, True)
    assert {s.login: s for s in admin.list_staff(adb, adm)}[login].disabled
    admin.set_disabled(adb, adm, login, False)
    with pytest.raises(InputError, match="一致しません"):
        admin.reset_password(adb, adm, login, "another-pass", "anothre-pass")
    with pytest.raises(InputError, match="8文字以上"):
        admin.reset_password(adb, adm, login, "short", "short")
    admin.reset_password(adb, adm, login, "another-pass", "another-pass")

    mine = [(e.action, e.object_id) for e in events(base) if e.actor == adm.login and e.action != "login"]
    assert mine == [("staff.add", login), ("staff.grant", login), ("staff.grant", login),
                    ("staff.revoke", login), ("staff.disable", login), ("staff.enable", login),
                    ("staff.password", login)]
    if base.dialect == "postgresql":
        with base.session() as s:
            can_login = s.execute(text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": login}).scalar()
            member = s.execute(text("SELECT pg_has_role(:r, 'madoguchi_cert', 'MEMBER')"), {"r": login}).scalar()
        assert can_login and member
    else:
        new = auth.login_demo(base, login, "another-pass", "pc")
        assert new.groups == {"audit", "cert"} and new.can("certificate.issue")


def test_bad_staff_input_is_refused_in_japanese(people):
    _base, a, _made, suffix = people
    adb, adm = a["admin"]
    with pytest.raises(InputError, match="氏名を入力"):
        admin.add_staff(adb, adm, f"x_{suffix}", "  ", "password-123", ["clerk"])
    with pytest.raises(InputError, match="グループを1つ以上"):
        admin.add_staff(adb, adm, f"x_{suffix}", "名前", "password-123", [])
    with pytest.raises(InputError, match="使えません"):
        admin.add_staff(adb, adm, "Bad-ID", "名前", "password-123", ["clerk"])
    with pytest.raises(InputError, match="既に登録"):
        admin.add_staff(adb, adm, a["clerk"][1].login, "名前", "password-123", ["clerk"])
    with pytest.raises(InputError, match="自分自身を利用停止"):
        admin.set_disabled(adb, adm, adm.login, True)
    with pytest.raises(InputError, match="管理者グループから外す"):
        admin.set_groups(adb, adm, adm.login, ["clerk"])
    with pytest.raises(InputError, match="登録されていません"):
        admin.set_groups(adb, adm, f"nobody_{suffix}", ["clerk"])


def test_clerk_is_refused_everything_and_nothing_is_written(people):
    base, a, _made, suffix = people
    cdb, clerk = a["clerk"]
    before = len(events(base))
    calls = [
        lambda: admin.list_staff(cdb, clerk),
        lambda: admin.add_staff(cdb, clerk, f"evil_{suffix}", "悪", "password-123", ["admin"]),
        lambda: admin.set_groups(cdb, clerk, clerk.login, ["admin"]),
        lambda: admin.set_disabled(cdb, clerk, a["admin"][1].login, True),
        lambda: admin.reset_password(cdb, clerk, a["admin"][1].login, "password-123"),
        lambda: admin.permission_matrix(cdb, clerk),
        lambda: admin.set_permission(cdb, clerk, "clerk", "admin.staff", True),
        lambda: admin.list_terminals(cdb, clerk),
        lambda: admin.save_terminal(cdb, clerk, admin.TerminalInfo("窓口PC-99"), new=True),
        lambda: admin.delete_terminal(cdb, clerk, "窓口PC-99"),
        lambda: admin.recent_import_runs(cdb, clerk),
        lambda: admin.search_audit(cdb, clerk, admin.AuditQuery()),
        lambda: admin.verify_audit(cdb, clerk),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied, match="権限が必要です"):
            call()
    assert len(events(base)) == before
    assert not admin.can_open(clerk)
    assert admin.can_open(a["admin"][1]) and admin.can_open(a["auditor"][1])
    # the admin group does not read the log: that is the audit group's
    with pytest.raises(PermissionDenied, match="操作ログの閲覧"):
        admin.search_audit(*a["admin"], admin.AuditQuery())


def test_permission_matrix_edits_shape_the_next_login(people):
    base, a, made, suffix = people
    adb, adm = a["admin"]
    m = admin.permission_matrix(adb, adm)
    assert [g.code for g in m.groups] == [g.code for g in GROUPS]
    assert m.groups[0].name == "窓口職員"
    assert m.granted == {(g.code, p) for g in GROUPS for p in g.permissions}
    assert m.label("audit.read") == "操作ログの閲覧"

    assert admin.set_permission(adb, adm, "clerk", "certificate.issue", True) is True
    assert admin.set_permission(adb, adm, "clerk", "certificate.issue", True) is False  # no change, no event
    assert admin.permission_matrix(adb, adm).has("clerk", "certificate.issue")
    _db2, clerk2 = make_actor(base, f"clerk2_{suffix}", ["clerk"])
    made.append(clerk2.login)
    if _db2 is not base:
        _db2.dispose()
    assert clerk2.can("certificate.issue")
    assert admin.set_permission(adb, adm, "clerk", "certificate.issue", False) is True
    assert not admin.permission_matrix(adb, adm).has("clerk", "certificate.issue")

    with pytest.raises(InputError, match="外せません"):
        admin.set_permission(adb, adm, "admin", "admin.settings", False)
    with pytest.raises(InputError, match="権限「x.y」はありません"):
        admin.set_permission(adb, adm, "clerk", "x.y", True)
    with pytest.raises(InputError, match="グループ「nogroup」はありません"):
        admin.set_permission(adb, adm, "nogroup", "audit.read", True)
    got = [(e.action, e.object_id, e.detail) for e in events(base) if e.action.startswith("permission.")]
    assert got == [("permission.grant", "clerk", '{"permission": "certificate.issue"}'),
                   ("permission.revoke", "clerk", '{"permission": "certificate.issue"}')]
    assert {e.actor for e in events(base) if e.action.startswith("permission.")} == {adm.login}


def test_terminals_with_printer_mapping(people):
    base, a, _made, _suffix = people
    adb, adm = a["admin"]
    kinds = dict(admin.form_kinds())
    assert kinds["juki_idou"] == "住民異動届" and kinds["guide"] == "手続き案内書"
    settings = {"default": {"printer": "窓口プリンタ", "duplex": "long"},
                "forms": {"juki_idou": {"printer": "帳票プリンタ", "tray": "Lower", "copies": 2}}}
    saved = admin.save_terminal(adb, adm, admin.TerminalInfo(" 窓口PC-03 ", "3", "市民課 3番窓口", settings), new=True)
    assert saved.name == "窓口PC-03"
    assert saved.print_settings["forms"]["juki_idou"] == {"printer": "帳票プリンタ", "tray": "Lower", "copies": 2}
    with pytest.raises(InputError, match="既に登録"):
        admin.save_terminal(adb, adm, admin.TerminalInfo("窓口PC-03"), new=True)
    with pytest.raises(InputError, match="登録されていません"):
        admin.save_terminal(adb, adm, admin.TerminalInfo("窓口PC-77"), new=False)
    with pytest.raises(InputError, match="端末名を入力"):
        admin.save_terminal(adb, adm, admin.TerminalInfo("  "), new=True)
    bad = [({"forms": {"juki_idou": {"copies": 0}}}, "「住民異動届」の印刷部数は1から99"),
           ({"default": {"duplex": "both"}}, "既定の両面印刷の指定「both」"),
           ({"default": {"paper": "A4"}}, "不明な項目 paper"),
           ({"forms": {"guide": {"copies": "2"}}}, "「手続き案内書」の「copies」は整数"),
           ({"extra": {}}, "不明な項目 extra")]
    for value, message in bad:
        with pytest.raises(InputError, match=message):
            admin.save_terminal(adb, adm, admin.TerminalInfo("窓口PC-03", print_settings=value), new=False)
    admin.save_terminal(adb, adm, admin.TerminalInfo("窓口PC-03", "3", "", {"default": {"copies": 1}}), new=False)
    admin.save_terminal(adb, adm, admin.TerminalInfo("窓口PC-01", "1"), new=True)
    listed = admin.list_terminals(adb, adm)
    assert [(t.name, t.counter_no) for t in listed] == [("窓口PC-01", "1"), ("窓口PC-03", "3")]
    # every staff member's app reads its own terminal's mapping
    assert admin.print_settings_for(a["clerk"][0], "窓口PC-03") == {"default": {"copies": 1}, "forms": {}}
    assert admin.print_settings_for(a["clerk"][0], "未登録") == {}
    admin.delete_terminal(adb, adm, "窓口PC-01")
    with pytest.raises(InputError, match="登録されていません"):
        admin.delete_terminal(adb, adm, "窓口PC-01")
    got = [(e.action, e.object_id) for e in events(base) if e.action.startswith("terminal.")]
    assert got == [("terminal.add", "窓口PC-03"), ("terminal.edit", "窓口PC-03"), ("terminal.add", "窓口PC-01"),
                   ("terminal.delete", "窓口PC-01")]


def test_recent_import_runs(people):
    base, a, _made, _suffix = people
    t0 = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    with base.session() as s:
        s.add(ImportRun(kind="full", export_id="E1", actor="system", started_at=t0, finished_at=t0, outcome="ok",
                        message="取込が完了しました", quarantined=1,
                        counts={"persons": {"file": "a.csv", "rows": 100, "loaded": 99, "quarantined": 1},
                                "addresses": {"file": "b.csv", "rows": 10, "loaded": 10, "quarantined": 0}}))
        s.add(ImportRun(kind="full", export_id="E2", actor="system", started_at=t0 + timedelta(days=1),
                        outcome="failed", message="ファイルが見つかりません", counts={}))
        s.commit()
    with base.session() as s:
        first = s.scalar(select(ImportRun.id).where(ImportRun.export_id == "E1"))
        s.add_all([ImportIssue(run_id=first, file="b.csv", line=7, column="生年月日", reason="日付が正しくありません",
                               raw="1002,髙橋,2026-13-01"),
                   ImportIssue(run_id=first, file="a.csv", line=3, column="", reason="列の数が合いません", raw="x")])
        s.commit()
    issues, total = admin.import_issues(*a["admin"], first)
    assert total == 2 and [(i.file, i.line, i.column) for i in issues] == [("a.csv", 3, ""), ("b.csv", 7, "生年月日")]
    assert issues[1].raw == "1002,髙橋,2026-13-01"
    assert admin.import_issues(*a["auditor"], first, limit=1)[0][0].file == "a.csv"
    with pytest.raises(PermissionDenied):
        admin.import_issues(*a["clerk"], first)
    runs = admin.recent_import_runs(*a["admin"])
    assert [(r.export_id, r.outcome_label) for r in runs] == [("E2", "失敗"), ("E1", "完了")]
    assert (runs[1].rows, runs[1].loaded, runs[1].quarantined) == (110, 109, 1)
    assert runs[1].started_at == t0 and runs[0].finished_at is None
    assert [r.export_id for r in admin.recent_import_runs(*a["auditor"], limit=1)] == ["E2"]


def test_audit_search_paging_is_itself_audited_and_verify(people):
    base, a, _made, _suffix = people
    adb, adm = a["admin"]
    udb, auditor = a["auditor"]
    for i in range(5):
        admin.save_terminal(adb, adm, admin.TerminalInfo(f"PC-{i}", str(i)), new=True)
    q = admin.AuditQuery(actor=adm.login, action="terminal.", page_size=2)
    p0 = admin.search_audit(udb, auditor, q)
    assert p0.total == 5 and p0.pages == 3
    assert [e.object_id for e in p0.entries] == ["PC-4", "PC-3"]   # newest first
    assert p0.entries[0].action_label == "端末の登録" and p0.entries[0].actor == adm.login
    assert p0.range_text() == "全 5 件中 1–2 件（1/3 ページ）"
    p2 = admin.search_audit(udb, auditor, admin.AuditQuery(actor=adm.login, action="terminal.", page=2, page_size=2))
    assert [e.object_id for e in p2.entries] == ["PC-0"]
    one = admin.search_audit(udb, auditor, admin.AuditQuery(object_id="PC-2"))
    assert [(e.action, e.object_id) for e in one.entries] == [("terminal.add", "PC-2")]
    assert one.entries[0].occurred_at.tzinfo is not None
    today = datetime.now(admin.JST).date()
    assert admin.search_audit(udb, auditor, admin.AuditQuery(today, today, action="terminal.")).total == 5
    tomorrow = today + timedelta(days=1)
    empty = admin.search_audit(udb, auditor, admin.AuditQuery(tomorrow, None, action="terminal."))
    assert empty.total == 0 and empty.range_text() == "該当する操作ログはありません。"
    with pytest.raises(InputError, match="開始日が終了日より後"):
        admin.search_audit(udb, auditor, admin.AuditQuery(tomorrow, today))
    # "%" is a literal in a prefix, not a wildcard
    assert admin.search_audit(udb, auditor, admin.AuditQuery(action="%")).total == 0

    searches = events(base, "audit.search")
    assert len(searches) == 6 and {e.actor for e in searches} == {auditor.login}
    assert '"object_id": "PC-2"' in searches[2].detail and '"hits": 1' in searches[2].detail

    out = io.StringIO()
    assert admin.export_audit_csv(udb, auditor, admin.AuditQuery(actor=adm.login, action="terminal."), out) == 5
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][:5] == ["ID", "日時", "職員", "端末", "操作"] and len(rows) == 6
    assert [r[7] for r in rows[1:]] == ["PC-0", "PC-1", "PC-2", "PC-3", "PC-4"]  # oldest first, for a report
    assert rows[1][4] == "端末の登録" and len(rows[1][10]) == 64
    assert events(base, "audit.export")[-1].actor == auditor.login
    with pytest.raises(PermissionDenied):
        admin.export_audit_csv(*a["clerk"], admin.AuditQuery(), io.StringIO())

    result = admin.verify_audit(udb, auditor)
    assert result.ok and result.checked >= 5 + 6 + 1 + 3  # terminals, searches, export, logins
    assert "改ざん・欠落は見つかりませんでした" in result.message()
    assert events(base, "audit.verify")[-1].actor == auditor.login

    with base.session() as s:  # the table owner tampers with one row
        target = s.scalar(select(AuditEvent.id).where(AuditEvent.object_id == "PC-2"))
        s.execute(text("UPDATE audit_events SET object_id = 'PC-X' WHERE id = :i"), {"i": target})
        s.commit()
    broken = admin.verify_audit(udb, auditor)
    assert broken.first_broken_id == target and "壊れています" in broken.message()


def test_a_matrix_entry_the_database_does_not_back_is_refused_in_japanese(people):
    """Giving 操作ログの閲覧 to 窓口職員 in the matrix opens the screen, not the table (PostgreSQL)."""
    base, a, made, suffix = people
    adb, adm = a["admin"]
    admin.set_permission(adb, adm, "clerk", "audit.read", True)
    cdb, clerk = make_actor(base, f"peek_{suffix}", ["clerk"])
    made.append(clerk.login)
    try:
        assert clerk.can("audit.read")
        if base.dialect == "postgresql":
            with pytest.raises(PermissionDenied, match="データベースがこの操作を許可しませんでした"):
                admin.search_audit(cdb, clerk, admin.AuditQuery())
            assert events(base, "audit.search") == []
        else:  # the demo on SQLite has no roles: the matrix is all there is
            assert admin.search_audit(cdb, clerk, admin.AuditQuery()).total > 0
    finally:
        if cdb is not base:
            cdb.dispose()


def test_server_gone_is_a_japanese_connection_error():
    import pgtools
    from madoguchi.services.context import Actor
    closed = pgtools._free_port()  # nothing listens there
    db = Database.connect(pgtools.url_for("madoguchi", port=closed), check=False)
    boss = Actor("boss", "管理者", permissions=frozenset({"admin.staff", "audit.read"}))
    try:
        for call in (lambda: admin.list_staff(db, boss), lambda: admin.search_audit(db, boss, admin.AuditQuery())):
            with pytest.raises(ConnectionFailed, match="データベースに接続できない"):
                call()
    finally:
        db.dispose()


def test_action_labels_for_the_log():
    assert admin.action_label("staff.add") == "職員の登録"
    assert admin.action_label("case.memo") == "対応（メモ）"
    assert admin.action_label("case.something_new") == "対応（something_new）"
    assert admin.action_label("unknown.action") == "unknown.action"
