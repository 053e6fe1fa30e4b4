"""Notices among staff (連絡事項): post, list, unread for a staff member, read receipts.

In PostgreSQL a post sends `NOTIFY madoguchi_notices` (delivered at commit), so open counter apps
show it at once; the demo on SQLite polls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, exists, or_, select, text
from sqlalchemy.orm import Session

from madoguchi.errors import InputError
from madoguchi.services import audit
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import NoticeRead, NoticeRow, Staff

CHANNEL = "madoguchi_notices"
PRIORITIES = ("high", "normal", "low")
PRIORITY_LABELS = {"high": "至急", "normal": "通常", "low": "参考"}
_ORDER = {"high": 0, "normal": 1, "low": 2}


@dataclass(frozen=True)
class Notice:
    id: int
    title: str
    body: str
    priority: str
    posted_by: str
    posted_by_name: str
    posted_at: datetime
    expires_at: datetime | None
    target_group: str | None
    read: bool

    @property
    def priority_label(self) -> str:
        return PRIORITY_LABELS.get(self.priority, self.priority)


@dataclass(frozen=True)
class Receipt:
    login: str
    display_name: str
    read_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def post(db: Database, actor: Actor, title: str, body: str = "", *, priority: str = "normal",
         expires_at: datetime | None = None, target_group: str | None = None) -> int:
    """Post a notice; returns its id. target_group None = everyone."""
    actor.require("notice.post")
    title = title.strip()
    if not title:
        raise InputError("お知らせの件名を入力してください。")
    if priority not in PRIORITIES:
        raise InputError(f"重要度「{priority}」は使えません（至急・通常・参考のいずれか）。")
    if expires_at is not None and expires_at <= _now():
        raise InputError("掲示期限が過去になっています。未来の日時を指定してください。")
    with db.uow(actor.info) as uow:
        row = NoticeRow(posted_by=actor.login, posted_at=_now(), priority=priority, title=title, body=body,
                        expires_at=expires_at, target_group=target_group or None)
        uow.session.add(row)
        uow.session.flush()
        audit.record(uow.session, actor.info, "notice.post", "notice", str(row.id),
                     {"title": title, "priority": priority, "target_group": target_group})
        if uow.dialect == "postgresql":
            uow.session.execute(text("SELECT pg_notify(:ch, :id)"), {"ch": CHANNEL, "id": str(row.id)})
        uow.commit()
        return row.id


def _visible(actor: Actor, now: datetime):
    return and_(or_(NoticeRow.expires_at.is_(None), NoticeRow.expires_at > now),
                or_(NoticeRow.target_group.is_(None), NoticeRow.target_group.in_(sorted(actor.groups))))


def _list(s: Session, actor: Actor, *, unread_only: bool, include_expired: bool) -> list[Notice]:
    now = _now()
    read = exists().where(NoticeRead.notice_id == NoticeRow.id, NoticeRead.login == actor.login)
    stmt = (select(NoticeRow, read.label("is_read"), Staff.display_name)
            .outerjoin(Staff, Staff.login == NoticeRow.posted_by))
    if include_expired:
        stmt = stmt.where(or_(NoticeRow.target_group.is_(None),
                              NoticeRow.target_group.in_(sorted(actor.groups))))
    else:
        stmt = stmt.where(_visible(actor, now))
    if unread_only:
        stmt = stmt.where(~read)
    rows = s.execute(stmt.order_by(NoticeRow.posted_at.desc(), NoticeRow.id.desc())).all()
    out = [Notice(n.id, n.title, n.body, n.priority, n.posted_by, name or n.posted_by, n.posted_at,
                  n.expires_at, n.target_group, bool(is_read)) for n, is_read, name in rows]
    # Unread and urgent first; then newest.
    out.sort(key=lambda n: (n.read, _ORDER.get(n.priority, 1)))
    return out


def list_notices(db: Database, actor: Actor, *, include_expired: bool = False) -> list[Notice]:
    with db.session() as s:
        return _list(s, actor, unread_only=False, include_expired=include_expired)


def unread(db: Database, actor: Actor) -> list[Notice]:
    with db.session() as s:
        return _list(s, actor, unread_only=True, include_expired=False)


def mark_read(db: Database, actor: Actor, notice_id: int) -> None:
    """Record a read receipt (once per staff member)."""
    with db.uow(actor.info) as uow:
        s = uow.session
        if s.get(NoticeRow, notice_id) is None:
            raise InputError(f"お知らせ（番号 {notice_id}）は見つかりません。")
        if s.get(NoticeRead, (notice_id, actor.login)) is None:
            s.add(NoticeRead(notice_id=notice_id, login=actor.login, read_at=_now()))
            uow.commit()


def receipts(db: Database, notice_id: int) -> list[Receipt]:
    """Who has read a notice, first reader first."""
    with db.session() as s:
        rows = s.execute(select(NoticeRead, Staff.display_name)
                         .outerjoin(Staff, Staff.login == NoticeRead.login)
                         .where(NoticeRead.notice_id == notice_id).order_by(NoticeRead.read_at)).all()
        return [Receipt(r.login, name or r.login, r.read_at) for r, name in rows]
