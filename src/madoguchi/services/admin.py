"""Use cases of the in-app admin tab (管理): staff, permission matrix, terminals, import history, audit log.

Every call checks the actor's permission first and every change writes an audit event. In PostgreSQL
the database still enforces data access by group role (table privileges fixed by the migration); the
permission matrix stored here decides what the app's screens offer.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from madoguchi.domain.jst import JST
from madoguchi.errors import ConnectionFailed, InputError, PermissionDenied
from madoguchi.services import audit, staff
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import AuditEvent, GroupPermission, ImportIssue, ImportRun, StaffGroup, Terminal
from madoguchi.store.security import PERMISSION_LABELS


STAFF_ADMIN = "admin.staff"
SETTINGS_ADMIN = "admin.settings"
AUDIT_READ = "audit.read"
# Without these in the 管理者 group nobody could repair the matrix from the app again.
LOCKOUT_GUARD = {("admin", STAFF_ADMIN), ("admin", SETTINGS_ADMIN)}

ACTION_LABELS = {
    "login": "ログイン",
    "person.search": "宛名の検索",
    "person.view": "宛名の閲覧",
    "person.unmask": "支援措置対象者の住所表示",
    "case.open": "対応の開始",
    "case.take_over": "対応の引継ぎ",
    "certificate.refused": "証明書交付の拒否",
    "identity.check": "本人確認",
    "identity.attach": "本人確認の記録",
    "notice.post": "お知らせの投稿",
    "rpa.export": "RPA用データの書出し",
    "demo.seed": "デモデータの作成",
    "staff.add": "職員の登録",
    "staff.grant": "グループへの追加",
    "staff.revoke": "グループからの削除",
    "staff.disable": "職員の利用停止",
    "staff.enable": "職員の利用再開",
    "staff.password": "パスワードの再設定",
    "permission.grant": "権限の付与",
    "permission.revoke": "権限の取消",
    "terminal.add": "端末の登録",
    "terminal.edit": "端末設定の変更",
    "terminal.delete": "端末の削除",
    "audit.search": "操作ログの検索",
    "audit.verify": "操作ログの検証",
    "audit.export": "操作ログの書出し",
}


def action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    if action.startswith("case."):  # case.<event kind>, labelled as the case screen labels its events
        from madoguchi.services.cases import EVENT_LABELS
        kind = action.removeprefix("case.")
        return f"対応（{EVENT_LABELS.get(kind, kind)}）"
    return action


def can_open(actor: Actor) -> bool:
    """Whether the admin tab is shown at all."""
    return any(p.startswith("admin.") for p in actor.permissions) or actor.can(AUDIT_READ)


def _require_any(actor: Actor, *permissions: str) -> None:
    if not any(actor.can(p) for p in permissions):
        labels = "」または「".join(PERMISSION_LABELS.get(p, p) for p in permissions)
        raise PermissionDenied(f"この操作には「{labels}」の権限が必要です。管理者に依頼してください。")


F = TypeVar("F", bound=Callable[..., Any])


def db_rights(fn: F) -> F:
    """PostgreSQL refusing for lack of a table/role privilege (SQLSTATE 42501) → a Japanese PermissionDenied;
    an unreachable or vanished server → ConnectionFailed.

    The permission matrix shapes the screens; the group roles' database privileges are fixed by the
    migration. A matrix entry the roles do not back ends here instead of in a traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) not in (None, "") and not exc.connection_invalidated:
                raise
            raise ConnectionFailed("データベースに接続できないか、応答がありません。ネットワークとサーバの状態を確かめて、"
                                   "もう一度操作してください。", detail=str(exc.orig)) from exc
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "42501":
                raise
            raise PermissionDenied(
                "データベースがこの操作を許可しませんでした。所属グループのデータベース権限が足りません"
                "（権限表を変えても、データベースの権限は変わりません）。情報システム担当に連絡してください。",
                detail=str(exc.orig)) from exc

    return wrapper  # type: ignore[return-value]


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)  # SQLite keeps naive UTC


# --- staff (the work itself is services/staff.py; here: permission and self-protection) ----------------


@db_rights
def list_staff(db: Database, actor: Actor) -> list[staff.StaffInfo]:
    actor.require(STAFF_ADMIN)
    return staff.list_staff(db)


@db_rights
def add_staff(db: Database, actor: Actor, login: str, display_name: str, password: str,
              groups: Iterable[str]) -> None:
    actor.require(STAFF_ADMIN)
    display_name = display_name.strip()
    if not display_name:
        raise InputError("氏名を入力してください。")
    groups = list(groups)
    if not groups:
        raise InputError("グループを1つ以上選んでください（グループのない職員はシステムを利用できません）。")
    staff.add_staff(db, actor.info, login.strip(), display_name, password, groups)


@db_rights
def set_groups(db: Database, actor: Actor, login: str, groups: Iterable[str]) -> tuple[list[str], list[str]]:
    """Make the staff member's groups exactly `groups`; returns (added, removed). Each change is audited."""
    actor.require(STAFF_ADMIN)
    wanted = set(groups)
    current = {s.login: s for s in staff.list_staff(db)}.get(login)
    if current is None:
        raise InputError(f"職員ID「{login}」は登録されていません。")
    if login == actor.login and "admin" in current.groups and "admin" not in wanted:
        raise InputError("自分自身を管理者グループから外すことはできません。別の管理者に依頼してください。")
    added = sorted(wanted - set(current.groups))
    removed = sorted(set(current.groups) - wanted)
    for code in added:
        staff.grant(db, actor.info, login, code)
    for code in removed:
        staff.revoke(db, actor.info, login, code)
    return added, removed


@db_rights
def set_disabled(db: Database, actor: Actor, login: str, disabled: bool) -> None:
    actor.require(STAFF_ADMIN)
    if disabled and login == actor.login:
        raise InputError("自分自身を利用停止にすることはできません。")
    staff.set_disabled(db, actor.info, login, disabled)


@db_rights
def reset_password(db: Database, actor: Actor, login: str, password: str, confirm: str | None = None) -> None:
    actor.require(STAFF_ADMIN)
    if confirm is not None and password != confirm:
        raise InputError("確認用のパスワードが一致しません。もう一度入力してください。")
    staff.set_password(db, actor.info, login, password)


# --- permission matrix ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupInfo:
    code: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class PermissionMatrix:
    groups: tuple[GroupInfo, ...]
    permissions: tuple[str, ...]
    granted: frozenset[tuple[str, str]]  # (group_code, permission)

    def has(self, group_code: str, permission: str) -> bool:
        return (group_code, permission) in self.granted

    @staticmethod
    def label(permission: str) -> str:
        return PERMISSION_LABELS.get(permission, permission)


@db_rights
def permission_matrix(db: Database, actor: Actor) -> PermissionMatrix:
    _require_any(actor, SETTINGS_ADMIN, STAFF_ADMIN, AUDIT_READ)
    with db.session() as s:
        groups = tuple(GroupInfo(g.code, g.name, g.description or "") for g in s.scalars(select(StaffGroup)))
        granted = frozenset((r.group_code, r.permission) for r in s.scalars(select(GroupPermission)))
    order = {code: i for i, code in enumerate(("clerk", "cert", "shien", "admin", "audit"))}
    groups = tuple(sorted(groups, key=lambda g: (order.get(g.code, 99), g.code)))
    perms = list(PERMISSION_LABELS)
    perms += sorted({p for _g, p in granted} - set(perms))  # keep rows a newer version may have added
    return PermissionMatrix(groups, tuple(perms), granted)


@db_rights
def set_permission(db: Database, actor: Actor, group_code: str, permission: str, granted: bool) -> bool:
    """Grant or take away one permission of a group; returns False when nothing changed."""
    actor.require(SETTINGS_ADMIN)
    if permission not in PERMISSION_LABELS:
        raise InputError(f"権限「{permission}」はありません。")
    if not granted and (group_code, permission) in LOCKOUT_GUARD:
        raise InputError(f"管理者グループから「{PERMISSION_LABELS[permission]}」は外せません"
                         "（外すとアプリから誰も管理できなくなります）。")
    with db.uow(actor.info) as uow:
        s = uow.session
        if s.get(StaffGroup, group_code) is None:
            raise InputError(f"グループ「{group_code}」はありません。")
        row = s.get(GroupPermission, (group_code, permission))
        if (row is not None) == granted:
            return False
        if granted:
            s.add(GroupPermission(group_code=group_code, permission=permission))
        else:
            s.execute(delete(GroupPermission).where(GroupPermission.group_code == group_code,
                                                    GroupPermission.permission == permission))
        s.flush()
        audit.record(s, actor.info, "permission.grant" if granted else "permission.revoke", "group", group_code,
                     {"permission": permission})
        uow.commit()
    return True


# --- terminals -------------------------------------------------------------------------------------------

DUPLEX_LABELS = {"none": "片面", "long": "両面（長辺とじ）", "short": "両面（短辺とじ）", "auto": "プリンタの設定どおり"}
_SETTING_FIELDS = {"printer": str, "tray": str, "duplex": str, "copies": int, "color": bool, "dpi": int}
GUIDE_KIND = ("guide", "手続き案内書")


def form_kinds() -> list[tuple[str, str]]:
    """(form kind, title) of every printable form: the shipped templates and the guide."""
    from madoguchi.printing.template import available_templates, load_template
    kinds = [(t, load_template(t).title) for t in available_templates()]
    return [*kinds, GUIDE_KIND]


def _check_setting(where: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError(f"{where}の印刷設定の形式が正しくありません。")
    unknown = set(data) - set(_SETTING_FIELDS)
    if unknown:
        raise InputError(f"{where}の印刷設定に不明な項目 {', '.join(sorted(unknown))} があります。")
    out: dict[str, Any] = {}
    for key, kind in _SETTING_FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"{where}の「{key}」は整数で指定してください。")
        if kind is not int and not isinstance(value, kind):
            raise InputError(f"{where}の「{key}」の値が正しくありません。")
        out[key] = value.strip() if isinstance(value, str) else value
    if out.get("duplex", "none") not in DUPLEX_LABELS:
        raise InputError(f"{where}の両面印刷の指定「{out['duplex']}」は使えません。")
    if not 1 <= out.get("copies", 1) <= 99:
        raise InputError(f"{where}の印刷部数は1から99の間で設定してください。")
    if not 72 <= out.get("dpi", 300) <= 600:
        raise InputError(f"{where}の印刷の解像度は72から600dpiの間で設定してください。")
    return out


def normalize_print_settings(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a terminal's per-form printer mapping; the shape is gui.printing.PrintSettings.to_mapping()."""
    data = dict(data or {})
    unknown = set(data) - {"default", "forms"}
    if unknown:
        raise InputError(f"印刷設定に不明な項目 {', '.join(sorted(unknown))} があります。")
    titles = dict(form_kinds())
    forms = data.get("forms") or {}
    if not isinstance(forms, Mapping):
        raise InputError("印刷設定の帳票別の指定の形式が正しくありません。")
    out_forms = {}
    for kind, setting in forms.items():
        out_forms[str(kind)] = _check_setting(f"「{titles.get(kind, kind)}」", setting)
    return {"default": _check_setting("既定", data.get("default") or {}), "forms": out_forms}


@dataclass(frozen=True)
class TerminalInfo:
    name: str
    counter_no: str = ""
    description: str = ""
    print_settings: dict[str, Any] = field(default_factory=dict)
    last_seen: datetime | None = None


def _terminal_info(t: Terminal) -> TerminalInfo:
    return TerminalInfo(t.name, t.counter_no or "", t.description or "", dict(t.print_settings or {}),
                        _utc(t.last_seen))


@db_rights
def list_terminals(db: Database, actor: Actor) -> list[TerminalInfo]:
    actor.require(SETTINGS_ADMIN)
    with db.session() as s:
        return [_terminal_info(t) for t in s.scalars(select(Terminal).order_by(Terminal.counter_no, Terminal.name))]


def print_settings_for(db: Database, terminal: str) -> dict[str, Any]:
    """This terminal's printer mapping (every staff member may read it); {} when not registered."""
    with db.session() as s:
        t = s.get(Terminal, terminal)
        return dict(t.print_settings or {}) if t else {}


@db_rights
def save_terminal(db: Database, actor: Actor, info: TerminalInfo, *, new: bool) -> TerminalInfo:
    """Register a terminal (new=True) or change an existing one."""
    actor.require(SETTINGS_ADMIN)
    name = info.name.strip()
    if not name:
        raise InputError("端末名を入力してください（例: 窓口PC-03）。")
    if len(name) > 63:
        raise InputError("端末名は63文字以内にしてください。")
    counter_no = info.counter_no.strip()
    if len(counter_no) > 20:
        raise InputError("窓口番号は20文字以内にしてください。")
    settings = normalize_print_settings(info.print_settings)
    with db.uow(actor.info) as uow:
        s = uow.session
        row = s.get(Terminal, name)
        if new and row is not None:
            raise InputError(f"端末「{name}」は既に登録されています。")
        if not new and row is None:
            raise InputError(f"端末「{name}」は登録されていません。")
        if row is None:
            row = Terminal(name=name)
            s.add(row)
        row.counter_no = counter_no
        row.description = info.description.strip()
        row.print_settings = settings
        s.flush()
        audit.record(s, actor.info, "terminal.add" if new else "terminal.edit", "terminal", name,
                     {"counter_no": counter_no, "print_settings": settings})
        result = _terminal_info(row)
        uow.commit()
    return result


@db_rights
def delete_terminal(db: Database, actor: Actor, name: str) -> None:
    actor.require(SETTINGS_ADMIN)
    with db.uow(actor.info) as uow:
        s = uow.session
        if s.get(Terminal, name) is None:
            raise InputError(f"端末「{name}」は登録されていません。")
        s.execute(delete(Terminal).where(Terminal.name == name))
        audit.record(s, actor.info, "terminal.delete", "terminal", name)
        uow.commit()


# --- import history (B1) ---------------------------------------------------------------------------------

OUTCOME_LABELS = {"running": "実行中", "ok": "完了", "unchanged": "変更なし", "failed": "失敗"}


@dataclass(frozen=True)
class ImportRunInfo:
    id: int
    kind: str
    export_id: str
    actor: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    rows: int
    loaded: int
    quarantined: int
    message: str

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)


@db_rights
def recent_import_runs(db: Database, actor: Actor, limit: int = 100) -> list[ImportRunInfo]:
    _require_any(actor, SETTINGS_ADMIN, "import.run", AUDIT_READ)
    out = []
    with db.session() as s:
        for r in s.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)):
            files = [c for c in (r.counts or {}).values() if isinstance(c, Mapping)]
            out.append(ImportRunInfo(
                r.id, r.kind or "", r.export_id or "", r.actor or "", _utc(r.started_at), _utc(r.finished_at),
                r.outcome or "", sum(int(c.get("rows", 0)) for c in files),
                sum(int(c.get("loaded", 0)) for c in files),
                max(int(r.quarantined or 0), sum(int(c.get("quarantined", 0)) for c in files)), r.message or ""))
    return out


@dataclass(frozen=True)
class ImportIssueInfo:
    file: str
    line: int
    column: str
    reason: str
    raw: str


@db_rights
def import_issues(db: Database, actor: Actor, run_id: int, limit: int = 1000) -> tuple[list[ImportIssueInfo], int]:
    """The rows an import rejected or quarantined (file, line, column, reason); returns (first `limit`, total)."""
    _require_any(actor, SETTINGS_ADMIN, "import.run", AUDIT_READ)
    with db.session() as s:
        total = s.execute(select(func.count()).select_from(ImportIssue).where(ImportIssue.run_id == run_id)).scalar_one()
        rows = s.scalars(select(ImportIssue).where(ImportIssue.run_id == run_id)
                         .order_by(ImportIssue.file, ImportIssue.line, ImportIssue.id).limit(limit))
        return [ImportIssueInfo(r.file, r.line, r.column or "", r.reason, r.raw or "") for r in rows], total


# --- audit log (N3/S4) --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    date_from: date | None = None  # local (JST) calendar days, both inclusive
    date_to: date | None = None
    actor: str = ""
    action: str = ""      # a prefix: "staff." finds every staff change
    object_id: str = ""
    page: int = 0
    page_size: int = 100

    def filters(self) -> dict[str, str]:
        d = {"from": self.date_from.isoformat() if self.date_from else "",
             "to": self.date_to.isoformat() if self.date_to else "",
             "actor": self.actor.strip(), "action": self.action.strip(), "object_id": self.object_id.strip()}
        return {k: v for k, v in d.items() if v}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    occurred_at: datetime
    actor: str
    terminal: str
    action: str
    object_type: str
    object_id: str
    detail: str

    @property
    def action_label(self) -> str:
        return action_label(self.action)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def range_text(self) -> str:
        if not self.entries:
            return "該当する操作ログはありません。"
        first = self.page * self.page_size + 1
        return f"全 {self.total} 件中 {first}–{first + len(self.entries) - 1} 件（{self.page + 1}/{self.pages} ページ）"


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), JST).astimezone(UTC)


def _where(query: AuditQuery) -> list:
    t = AuditEvent.__table__
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise InputError("期間の開始日が終了日より後になっています。")
    where = []
    if query.date_from:
        where.append(t.c.occurred_at >= _day_start(query.date_from))
    if query.date_to:
        where.append(t.c.occurred_at < _day_start(query.date_to + timedelta(days=1)))
    if query.actor.strip():
        where.append(t.c.actor == query.actor.strip())
    if query.action.strip():
        where.append(t.c.action.startswith(query.action.strip(), autoescape=True))
    if query.object_id.strip():
        where.append(t.c.object_id == query.object_id.strip())
    return where


@db_rights
def search_audit(db: Database, actor: Actor, query: AuditQuery) -> AuditPage:
    """Newest first. The search itself is recorded (who looked at the log, with which filters)."""
    actor.require(AUDIT_READ)
    if not 1 <= query.page_size <= 1000 or query.page < 0:
        raise InputError("表示件数の指定が正しくありません。")
    t = AuditEvent.__table__
    where = _where(query)
    with db.uow(actor.info) as uow:
        s = uow.session
        total = s.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
        rows = s.execute(select(t).where(*where).order_by(t.c.id.desc())
                         .offset(query.page * query.page_size).limit(query.page_size)).all()
        entries = [AuditEntry(r.id, _utc(r.occurred_at), r.actor, r.terminal, r.action, r.object_type, r.object_id,
                              r.detail) for r in rows]
        audit.record(s, actor.info, "audit.search", "audit", "",
                     {**query.filters(), "page": query.page, "hits": total})
        uow.commit()
    return AuditPage(entries, total, query.page, query.page_size)


EXPORT_HEADERS = ("ID", "日時", "職員", "端末", "操作", "操作コード", "対象", "対象ID", "詳細", "前のハッシュ", "ハッシュ")


@db_rights
def export_audit_csv(db: Database, actor: Actor, query: AuditQuery, out: IO[str]) -> int:
    """Write every event matching the query (oldest first, with hashes) as CSV for a report; returns the count.

    The export is recorded like a search. Open `out` with encoding "utf-8-sig" so that Excel reads it.
    """
    actor.require(AUDIT_READ)
    t = AuditEvent.__table__
    where = _where(query)
    writer = csv.writer(out)
    writer.writerow(EXPORT_HEADERS)
    count = 0
    with db.uow(actor.info) as uow:
        s = uow.session
        for r in s.execute(select(t).where(*where).order_by(t.c.id)).yield_per(2000):
            writer.writerow((r.id, f"{_utc(r.occurred_at).astimezone(JST):%Y-%m-%d %H:%M:%S}", r.actor, r.terminal,
                             action_label(r.action), r.action, r.object_type, r.object_id, r.detail, r.prev_hash,
                             r.hash))
            count += 1
        audit.record(s, actor.info, "audit.export", "audit", "", {**query.filters(), "rows": count})
        uow.commit()
    return count


@db_rights
def verify_audit(db: Database, actor: Actor) -> audit.VerifyResult:
    """Check the hash chain (as `madoguchi-admin audit verify` does); the check is recorded too."""
    actor.require(AUDIT_READ)
    with db.uow(actor.info) as uow:
        result = audit.verify(uow.session)
        audit.record(uow.session, actor.info, "audit.verify", "audit", "",
                     {"checked": result.checked, "ok": result.ok, "first_broken_id": result.first_broken_id})
        uow.commit()
    return result
