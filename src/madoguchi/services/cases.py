"""Cases (対応): open, edit, auto-save, hand over to another counter (F15, F16, F17).

Every edit is one service call = one transaction that
  1. checks that this terminal still holds the case and that the caller saw the current version,
  2. applies the change, bumps the case version (SQLAlchemy `version_id_col`),
  3. appends a case event (who/when/what) and an audit event,
  4. on PostgreSQL sends `NOTIFY madoguchi_cases` (delivered at commit) so other terminals refresh.
A stale copy or a taken-over case raises `StaleWrite` with a Japanese sentence saying who changed
it and when; nothing is written, so the caller keeps its edit and can re-apply it.

Other services that add data to a case (answers, certificate requests, outputs) call
`touch_case()` inside their own unit of work so the same rules apply to them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from madoguchi.domain.jst import JST
from madoguchi.domain.move_codec import decode_move, encode_move
from madoguchi.domain.moves import Finding, HouseholdState, Level, Move, MoveMember, Placement, validate
from madoguchi.domain.people import Address, Qualification
from madoguchi.errors import InputError, StaleWrite
from madoguchi.services import audit
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import CaseEvent, CaseMemo, CaseRow, MoveEntryRow, Staff

LOCAL_TZ = JST
NOTIFY_CHANNEL = "madoguchi_cases"

STATUS_LABELS = {"open": "対応中", "waiting": "保留中", "done": "完了", "cancelled": "取消"}
OPEN_STATUSES = ("open", "waiting")
WRITE_PERMISSION = "case.write"

EVENT_LABELS = {
    "open": "受付", "purpose": "用件", "visitor": "来庁者", "move": "異動入力", "memo": "メモ", "status": "進捗",
    "take_over": "引き継ぎ", "identity": "本人確認", "answer": "確認事項", "certificate": "証明書",
    "output": "出力", "procedure": "手続き",
}

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; they were written in UTC.
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def local_time_text(ts: datetime | None) -> str:
    """「11月25日 14:05」 in Japan time, for messages and lists."""
    ts = _aware(ts)
    if ts is None:
        return ""
    t = ts.astimezone(LOCAL_TZ)
    return f"{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}"


@dataclass(frozen=True)
class CaseInfo:
    id: int
    case_no: str
    status: str
    purpose: str
    subject_atena_no: str | None
    visitor: dict
    opened_at: datetime
    opened_by: str
    opened_terminal: str
    holder_login: str | None
    holder_terminal: str | None
    holder_name: str
    held_since: datetime | None
    counter_no: str
    updated_at: datetime
    version: int
    training: bool = False

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def held_by(self, actor: Actor) -> bool:
        return self.holder_login == actor.login and (self.holder_terminal or "") == actor.terminal

    @property
    def holder_text(self) -> str:
        if not self.holder_login:
            return "（なし）"
        return f"{self.holder_name}（端末{self.holder_terminal or '不明'}）"


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    login: str
    display_name: str
    terminal: str
    kind: str
    summary: str
    data: dict = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return EVENT_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class MoveRecord:
    """The stored move of a case with the findings of its last save."""

    move: Move
    findings: list[Finding]
    case: CaseInfo


def _display_names(s: Session, logins: set[str]) -> dict[str, str]:
    logins = {x for x in logins if x}
    if not logins:
        return {}
    rows = s.execute(select(Staff.login, Staff.display_name).where(Staff.login.in_(logins))).all()
    return {r.login: r.display_name for r in rows}


def case_info(s: Session, row: CaseRow) -> CaseInfo:
    names = _display_names(s, {row.holder_login or ""})
    return _info_with(row, names)


def _info_with(row: CaseRow, names: dict[str, str]) -> CaseInfo:
    return CaseInfo(
        id=row.id, case_no=row.case_no, status=row.status, purpose=row.purpose or "",
        subject_atena_no=row.subject_atena_no, visitor=dict(row.visitor or {}),
        opened_at=_aware(row.opened_at), opened_by=row.opened_by,  # type: ignore[arg-type]
        opened_terminal=row.opened_terminal or "", holder_login=row.holder_login,
        holder_terminal=row.holder_terminal,
        holder_name=names.get(row.holder_login or "", row.holder_login or ""),
        held_since=_aware(row.held_since), counter_no=row.counter_no or "",
        updated_at=_aware(row.updated_at), version=row.version, training=bool(row.training))  # type: ignore[arg-type]


def _person_text(s: Session, login: str | None, terminal: str | None) -> str:
    name = _display_names(s, {login or ""}).get(login or "", login or "不明")
    return f"{name}（端末{terminal or '不明'}）"


def _event(s: Session, actor: Actor, case_id: int, kind: str, summary: str, data: dict | None, now: datetime,
           version: int) -> None:
    payload = dict(data or {})
    payload["version"] = version
    s.add(CaseEvent(case_id=case_id, at=now, login=actor.login, terminal=actor.terminal, kind=kind,
                    summary=summary, data=payload))


def _notify(s: Session, case_id: int, version: int, actor: Actor, kind: str) -> None:
    if s.get_bind().dialect.name != "postgresql":
        return
    payload = json.dumps({"case_id": case_id, "version": version, "login": actor.login,
                          "terminal": actor.terminal, "kind": kind})
    # pg_notify inside the transaction: PostgreSQL delivers it only if and when we commit.
    s.execute(text("SELECT pg_notify(:ch, :p)"), {"ch": NOTIFY_CHANNEL, "p": payload})


def _stale_message(s: Session, row: CaseRow) -> str:
    last = s.execute(select(CaseEvent).where(CaseEvent.case_id == row.id)
                     .order_by(CaseEvent.id.desc()).limit(1)).scalar_one_or_none()
    if last is None:
        return ("この対応は他の端末で変更されています。画面を最新の内容に更新してから、もう一度入力してください。"
                "入力中の内容は画面に残っています。")
    who = _person_text(s, last.login, last.terminal)
    what = last.summary or EVENT_LABELS.get(last.kind, last.kind)
    return (f"この対応は {who} が {local_time_text(last.at)} に変更しました（{what}）。"
            "画面を最新の内容に更新してから、もう一度入力してください。入力中の内容は画面に残っています。")


def _taken_message(s: Session, row: CaseRow) -> str:
    who = _person_text(s, row.holder_login, row.holder_terminal)
    when = local_time_text(row.held_since)
    return (f"この対応は {who}に引き継がれました（{when}）。この端末での変更は保存されていません。"
            "続けるには「引き継ぐ」で対応を取り戻してから、もう一度入力してください。入力中の内容は画面に残っています。")


def load_for_write(s: Session, actor: Actor, case_id: int, version: int, *,
                    allow_closed: bool = False) -> CaseRow:
    row = s.get(CaseRow, case_id, populate_existing=True)
    if row is None:
        raise InputError(f"対応（ID {case_id}）が見つかりません。一覧を更新してください。")
    if row.holder_login != actor.login or (row.holder_terminal or "") != actor.terminal:
        if row.holder_login is None:
            raise StaleWrite("この対応はどの端末も担当していません。「引き継ぐ」で担当してから入力してください。"
                             "入力中の内容は画面に残っています。")
        raise StaleWrite(_taken_message(s, row))
    if row.version != version:
        raise StaleWrite(_stale_message(s, row))
    if row.status in ("done", "cancelled") and not allow_closed:
        raise InputError(f"この対応は「{STATUS_LABELS[row.status]}」です。変更するには進捗を「対応中」に戻してください。")
    return row


def bump_case(s: Session, actor: Actor, row: CaseRow, kind: str, summary: str, data: dict | None,
          now: datetime) -> CaseRow:
    row.updated_at = now  # always an UPDATE, so version_id_col bumps the version
    _flush(s, row)
    _event(s, actor, row.id, kind, summary, data, now, row.version)
    audit.record(s, actor.info, f"case.{kind}", "case", row.case_no, {"summary": summary, **(data or {})})
    _notify(s, row.id, row.version, actor, kind)
    s.flush()
    return row


def touch_case(s: Session, actor: Actor, case_id: int, version: int, kind: str, summary: str,
               data: dict | None = None, *, now: datetime | None = None) -> CaseRow:
    """Check holder/version, bump the version, append the case event + audit event, notify.

    For other services that add child rows to a case inside their own unit of work (call it
    after adding the rows). The returned row carries the new version.
    """
    row = load_for_write(s, actor, case_id, version)
    return bump_case(s, actor, row, kind, summary, data, now or _utcnow())


def _flush(s: Session, row: CaseRow) -> None:
    case_id = row.id
    try:
        s.flush()
    except StaleDataError:
        # Another terminal committed between our read and our update.
        s.rollback()
        fresh = s.get(CaseRow, case_id, populate_existing=True)
        raise StaleWrite(_stale_message(s, fresh) if fresh else "この対応は削除されました。") from None


class CaseService:
    """The case use cases for one logged-in actor on one terminal."""

    def __init__(self, db: Database, actor: Actor, *, clock: Clock = _utcnow) -> None:
        self.db = db
        self.actor = actor
        self.clock = clock

    # --- reading -------------------------------------------------------------------------------

    def get_case(self, case_id: int) -> CaseInfo:
        with self.db.session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。")
            return case_info(s, row)

    def find_case(self, case_no: str) -> CaseInfo:
        with self.db.session() as s:
            row = s.execute(select(CaseRow).where(CaseRow.case_no == case_no)).scalar_one_or_none()
            if row is None:
                raise InputError(f"受付番号「{case_no}」の対応は見つかりません。")
            return case_info(s, row)

    def list_open_cases(self, *, include_closed_today: bool = False) -> list[CaseInfo]:
        """Open and waiting cases, newest change first (for the case list and the progress board)."""
        with self.db.session() as s:
            q = select(CaseRow)
            if include_closed_today:
                start = self.clock().astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
                q = q.where((CaseRow.status.in_(OPEN_STATUSES)) | (CaseRow.updated_at >= start))
            else:
                q = q.where(CaseRow.status.in_(OPEN_STATUSES))
            rows = s.execute(q.order_by(CaseRow.updated_at.desc(), CaseRow.id.desc())).scalars().all()
            names = _display_names(s, {r.holder_login or "" for r in rows})
            return [_info_with(r, names) for r in rows]

    def timeline(self, case_id: int) -> list[TimelineEntry]:
        with self.db.session() as s:
            rows = s.execute(select(CaseEvent).where(CaseEvent.case_id == case_id)
                             .order_by(CaseEvent.at, CaseEvent.id)).scalars().all()
            names = _display_names(s, {r.login for r in rows})
            return [TimelineEntry(at=_aware(r.at), login=r.login,  # type: ignore[arg-type]
                                  display_name=names.get(r.login, r.login), terminal=r.terminal,
                                  kind=r.kind, summary=r.summary, data=dict(r.data or {})) for r in rows]

    def memos(self, case_id: int) -> list[tuple[datetime, str, str]]:
        with self.db.session() as s:
            rows = s.execute(select(CaseMemo).where(CaseMemo.case_id == case_id)
                             .order_by(CaseMemo.at, CaseMemo.id)).scalars().all()
            return [(_aware(r.at), r.login, r.text) for r in rows]  # type: ignore[misc]

    def get_move(self, case_id: int) -> MoveRecord | None:
        with self.db.session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。")
            entry = s.execute(select(MoveEntryRow).where(MoveEntryRow.case_id == case_id)
                              .order_by(MoveEntryRow.id.desc()).limit(1)).scalar_one_or_none()
            if entry is None:
                return None
            findings = [Finding(Level(f["level"]), f["message"], f.get("household", ""), f.get("member", ""),
                                f.get("field", "")) for f in (entry.data or {}).get("findings", [])]
            return MoveRecord(decode_move(entry.data), findings, case_info(s, row))

    # --- writing -------------------------------------------------------------------------------

    def open_case(self, *, purpose: str = "", visitor: dict | None = None,
                  subject_atena_no: str | None = None) -> CaseInfo:
        """A new case held by this actor and terminal; case_no = YYYYMMDD-NNN per (Japan) day."""
        self.actor.require(WRITE_PERMISSION)
        for attempt in range(30):
            now = self.clock()
            day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
            with self.db.uow(self.actor.info) as uow:
                s = uow.session
                try:
                    if uow.dialect == "postgresql":
                        # Serialise numbering across terminals for this transaction only.
                        s.execute(text("SELECT pg_advisory_xact_lock(hashtext('madoguchi.case_no'))"))
                    last = s.execute(select(func.max(CaseRow.case_no))
                                     .where(CaseRow.case_no.like(f"{day}-%"))).scalar()
                    seq = int(last.split("-")[1]) + 1 if last else 1
                    row = CaseRow(case_no=f"{day}-{seq:03d}", status="open", purpose=purpose,
                                  subject_atena_no=subject_atena_no, visitor=dict(visitor or {}), opened_at=now,
                                  opened_by=self.actor.login, opened_terminal=self.actor.terminal,
                                  holder_login=self.actor.login, holder_terminal=self.actor.terminal,
                                  held_since=now, counter_no=self.actor.counter_no, training=self.actor.training,
                                  updated_at=now, unmasked=[])
                    s.add(row)
                    s.flush()
                except (IntegrityError, OperationalError) as exc:
                    # Another terminal took this number (or SQLite was busy): try the next one.
                    if isinstance(exc, OperationalError) and "locked" not in str(exc).lower():
                        raise
                    time.sleep(0.01 * (attempt + 1))
                    continue
                summary = f"受付（{purpose}）" if purpose else "受付"
                _event(s, self.actor, row.id, "open", summary, {"purpose": purpose, "visitor": visitor or {}},
                       now, row.version)
                audit.record(s, self.actor.info, "case.open", "case", row.case_no,
                             {"purpose": purpose, "subject": subject_atena_no})
                _notify(s, row.id, row.version, self.actor, "open")
                s.flush()
                info = case_info(s, row)
                try:
                    uow.commit()
                except OperationalError as exc:
                    if "locked" not in str(exc).lower():
                        raise
                    time.sleep(0.01 * (attempt + 1))
                    continue
                return info
        raise StaleWrite("受付番号を採番できませんでした。もう一度「新しい対応」を押してください。")

    def _write(self, case_id: int, version: int, kind: str, summary: str, data: dict | None,
               apply: Callable[[Session, CaseRow, datetime], None] | None = None, *,
               allow_closed: bool = False) -> CaseInfo:
        self.actor.require(WRITE_PERMISSION)
        now = self.clock()
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            row = load_for_write(s, self.actor, case_id, version, allow_closed=allow_closed)
            if apply is not None:
                apply(s, row, now)
            bump_case(s, self.actor, row, kind, summary, data, now)
            info = case_info(s, row)
            uow.commit()
            return info

    def record_event(self, case_id: int, version: int, kind: str, summary: str,
                     data: dict | None = None) -> CaseInfo:
        """A timeline entry for something recorded by another service (e.g. an identity check)."""
        return self._write(case_id, version, kind, summary, data)

    def set_visitor(self, case_id: int, version: int, visitor: dict) -> CaseInfo:
        def apply(s: Session, row: CaseRow, now: datetime) -> None:
            row.visitor = dict(visitor)
        name = visitor.get("name", "")
        return self._write(case_id, version, "visitor", f"来庁者を記録（{name}）" if name else "来庁者を記録",
                           {"visitor": visitor}, apply)

    def set_purpose(self, case_id: int, version: int, purpose: str,
                    subject_atena_no: str | None = None) -> CaseInfo:
        def apply(s: Session, row: CaseRow, now: datetime) -> None:
            row.purpose = purpose
            if subject_atena_no is not None:
                row.subject_atena_no = subject_atena_no
        return self._write(case_id, version, "purpose", f"用件を変更（{purpose}）", {"purpose": purpose}, apply)

    def save_move(self, case_id: int, version: int, move: Move, today: date) -> tuple[CaseInfo, list[Finding]]:
        """Store the move as entered; warnings and errors are stored, never block the save."""
        findings = validate(move, today)
        encoded = encode_move(move)
        stored = dict(encoded)
        stored["findings"] = [{"level": f.level.value, "message": f.message, "household": f.household,
                               "member": f.member, "field": f.field} for f in findings]

        def apply(s: Session, row: CaseRow, now: datetime) -> None:
            entry = s.execute(select(MoveEntryRow).where(MoveEntryRow.case_id == case_id)
                              .order_by(MoveEntryRow.id.desc()).limit(1)).scalar_one_or_none()
            if entry is None:
                entry = MoveEntryRow(case_id=case_id)
                s.add(entry)
            entry.move_type = move.move_type.value
            entry.move_date = move.move_date
            entry.notified_on = move.notified_on
            entry.data = stored
            entry.updated_at = now

        errors = sum(1 for f in findings if f.level is Level.ERROR)
        warnings = len(findings) - errors
        parts = [move.move_type.label]
        if move.change_kind:
            parts.append(move.change_kind.label)
        parts.append(f"{len(move.members)}人")
        parts.append(f"異動後{len(move.after)}世帯")
        if errors:
            parts.append(f"未入力・誤り{errors}件")
        if warnings:
            parts.append(f"警告{warnings}件")
        info = self._write(case_id, version, "move", "異動入力を保存（" + "・".join(parts) + "）",
                           {"move_type": move.move_type.value, "errors": errors, "warnings": warnings}, apply)
        return info, findings

    def add_memo(self, case_id: int, version: int, text_: str) -> CaseInfo:
        body = text_.strip()
        if not body:
            raise InputError("メモが空です。内容を入力してください。")

        def apply(s: Session, row: CaseRow, now: datetime) -> None:
            s.add(CaseMemo(case_id=case_id, at=now, login=self.actor.login, text=body))
        short = body if len(body) <= 40 else body[:40] + "…"
        return self._write(case_id, version, "memo", short, {"text": body}, apply)

    def set_status(self, case_id: int, version: int, status: str, note: str = "") -> CaseInfo:
        """Progress (F17). A closed case can be reopened by its holder (take it over first)."""
        if status not in STATUS_LABELS:
            raise InputError(f"進捗「{status}」はありません。" + "、".join(STATUS_LABELS.values()) + " から選んでください。")

        def apply(s: Session, row: CaseRow, now: datetime) -> None:
            row.status = status
            row.closed_at = now if status in ("done", "cancelled") else None

        summary = f"進捗を「{STATUS_LABELS[status]}」に変更" + (f"（{note}）" if note else "")
        return self._write(case_id, version, "status", summary, {"status": status, "note": note}, apply,
                           allow_closed=True)

    def take_over(self, case_id: int) -> CaseInfo:
        """「引き継ぐ」: this actor and terminal hold the case from now on (recorded in the timeline)."""
        self.actor.require(WRITE_PERMISSION)
        now = self.clock()
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            row = s.get(CaseRow, case_id, populate_existing=True)
            if row is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。")
            before = (row.holder_login, row.holder_terminal)
            if before == (self.actor.login, self.actor.terminal):
                return case_info(s, row)
            prev_text = _person_text(s, row.holder_login, row.holder_terminal) if row.holder_login else "（なし）"
            row.holder_login, row.holder_terminal, row.held_since = self.actor.login, self.actor.terminal, now
            row.updated_at = now
            _flush(s, row)
            me = _person_text(s, self.actor.login, self.actor.terminal)
            summary = f"{prev_text} から {me} へ引き継ぎ"
            data = {"from_login": before[0], "from_terminal": before[1], "to_login": self.actor.login,
                    "to_terminal": self.actor.terminal}
            _event(s, self.actor, case_id, "take_over", summary, data, now, row.version)
            audit.record(s, self.actor.info, "case.take_over", "case", row.case_no, data)
            _notify(s, case_id, row.version, self.actor, "take_over")
            s.flush()
            info = case_info(s, row)
            uow.commit()
            return info


class CaseListener:
    """LISTEN madoguchi_cases on a dedicated PostgreSQL connection; `poll()` returns payloads.

    The GUI polls it from a timer (no thread). On SQLite there is nothing to listen to.
    """

    def __init__(self, db: Database) -> None:
        self._conn = None
        if db.dialect != "postgresql":
            return
        import psycopg

        url = db.engine.url
        self._conn = psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                                     dbname=url.database, autocommit=True, connect_timeout=5)
        self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def poll(self, timeout: float = 0.0) -> list[dict]:
        if self._conn is None:
            return []
        out = []
        for n in self._conn.notifies(timeout=timeout, stop_after=None):
            try:
                out.append(json.loads(n.payload))
            except ValueError:
                out.append({"raw": n.payload})
        return out

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- residents as move members -----------------------------------------------------------------


def household_states(db: Database, atena_nos: list[str]) -> tuple[dict[str, MoveMember], list[HouseholdState]]:
    """The whole current households of the given residents, as the 'before' side of a move.

    Every member of an involved household is returned; the caller marks who moves. A restricted
    person's address is whatever the database lets this login read (RLS), possibly none.
    """
    from madoguchi.store.models import PersonAddressRow, PersonRow, QualificationRow, Town

    with db.session() as s:
        hh_nos = list(dict.fromkeys(
            s.execute(select(PersonRow.household_no).where(PersonRow.atena_no.in_(atena_nos))).scalars()))
        missing = set(atena_nos) - set(s.execute(select(PersonRow.atena_no)
                                                .where(PersonRow.atena_no.in_(atena_nos))).scalars())
        if missing:
            raise InputError("宛名番号 " + "、".join(sorted(missing)) + " の住民は見つかりません。")
        people = s.execute(select(PersonRow).where(PersonRow.household_no.in_(hh_nos), PersonRow.status == "1")
                           .order_by(PersonRow.household_no, PersonRow.is_householder.desc(),
                                     PersonRow.birth_date)).scalars().all()
        keys = [p.atena_no for p in people]
        addrs = {a.atena_no: a for a in s.execute(select(PersonAddressRow)
                                                 .where(PersonAddressRow.atena_no.in_(keys))).scalars()}
        codes = {a.town_code for a in addrs.values()}
        towns = {t.town_code: t for t in s.execute(select(Town).where(Town.town_code.in_(codes))).scalars()}
        quals: dict[str, list[Qualification]] = {}
        for q in s.execute(select(QualificationRow).where(QualificationRow.atena_no.in_(keys))).scalars():
            quals.setdefault(q.atena_no, []).append(Qualification(q.kind, q.start_date, q.end_date, q.role,
                                                                  q.detail))
    members: dict[str, MoveMember] = {}
    households: dict[str, HouseholdState] = {no: HouseholdState(no) for no in hh_nos}
    for p in people:
        members[p.atena_no] = MoveMember(
            key=p.atena_no, name=p.name, name_kana=p.name_kana, birth_date=p.birth_date, sex=p.sex,
            atena_no=p.atena_no, resident_kind=p.resident_kind, qualifications=tuple(quals.get(p.atena_no, ())),
            mynumber_card_expiry=p.mynumber_card_expiry, e_cert_expiry=p.e_cert_expiry,
            restricted=bool(p.restricted), moving=p.atena_no in atena_nos)
        h = households[p.household_no]
        h.placements.append(Placement(p.atena_no, p.relationship or ("世帯主" if p.is_householder else ""),
                                      bool(p.is_householder)))
        a = addrs.get(p.atena_no)
        if a is not None and (h.address is None or p.is_householder):
            t = towns.get(a.town_code)
            h.address = Address(town_name=t.name if t else "", banchi=a.banchi, katagaki=a.katagaki,
                                postal_code=a.postal_code, town_code=a.town_code)
    return members, list(households.values())
