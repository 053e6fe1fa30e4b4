"""Audit events (操作ログ): append-only, hash-chained, verified by `madoguchi-admin audit verify`.

In PostgreSQL a SECURITY DEFINER trigger stamps actor (session_user), time, terminal and the hash;
clients may only supply action/object/detail. SQLite (demo) computes the same chain here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import column, insert, select, table
from sqlalchemy.orm import Session

from madoguchi.store.db import SessionInfo
from madoguchi.store.models import AuditEvent

T = AuditEvent.__table__
# What a client may write in PostgreSQL (column privileges); no defaults, no RETURNING.
_CLIENT = table("audit_events", column("action"), column("object_type"), column("object_id"), column("detail"))


def _canonical_time(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def chain_hash(prev_hash: str, id_: int, occurred_at: datetime, actor: str, terminal: str, action: str,
               object_type: str, object_id: str, detail: str) -> str:
    """Must match madoguchi_audit_stamp() in PostgreSQL, field for field."""
    payload = "|".join([prev_hash, str(id_), _canonical_time(occurred_at), actor, terminal, action,
                        object_type, object_id, detail])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _detail_text(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)


def record(session: Session, who: SessionInfo, action: str, object_type: str = "", object_id: str = "",
           detail: Any = "") -> None:
    """Append one audit event inside the caller's transaction."""
    text = _detail_text(detail)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(insert(_CLIENT).values(action=action, object_type=object_type, object_id=str(object_id),
                                         detail=text))
        return
    last = session.execute(select(T.c.id, T.c.hash).order_by(T.c.id.desc()).limit(1)).first()
    prev = last.hash if last else ""
    new_id = (last.id if last else 0) + 1
    now = datetime.now(UTC)
    session.execute(insert(T).values(
        id=new_id, occurred_at=now, actor=who.login, terminal=who.terminal, action=action,
        object_type=object_type, object_id=str(object_id), detail=text, prev_hash=prev,
        hash=chain_hash(prev, new_id, now, who.login, who.terminal, action, object_type, str(object_id), text)))


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    first_broken_id: int | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None

    def message(self) -> str:
        if self.ok:
            return f"操作ログ {self.checked} 件を検証しました。改ざん・欠落は見つかりませんでした。"
        return (f"操作ログの連鎖が ID {self.first_broken_id} で壊れています（{self.reason}）。"
                f"この行以降の記録が改ざん・削除された可能性があります。監査担当へ報告してください。")


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order; report the first row whose hash or link does not hold."""
    prev = ""
    checked = 0
    last_id = 0
    while True:
        rows = session.execute(select(T).where(T.c.id > last_id).order_by(T.c.id).limit(batch)).all()
        if not rows:
            return VerifyResult(checked, None)
        for r in rows:
            if r.prev_hash != prev:
                return VerifyResult(checked, r.id, "前の記録とのつながりが一致しません")
            expect = chain_hash(r.prev_hash, r.id, r.occurred_at, r.actor, r.terminal, r.action,
                                r.object_type, r.object_id, r.detail)
            if expect != r.hash:
                return VerifyResult(checked, r.id, "記録の内容がハッシュと一致しません")
            prev = r.hash
            checked += 1
            last_id = r.id


def export_year(session: Session, year: int, out) -> tuple[int, str]:  # noqa: ANN001 - a text stream
    """Write one year's events as JSON lines (with their hashes) for archiving; returns (count, last hash).

    The chain stays verifiable from the archive alone: each line carries prev_hash and hash.
    """
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    count, last = 0, ""
    rows = session.execute(select(T).where(T.c.occurred_at >= start, T.c.occurred_at < end).order_by(T.c.id))
    for r in rows:
        out.write(json.dumps({"id": r.id, "occurred_at": _canonical_time(r.occurred_at), "actor": r.actor,
                              "terminal": r.terminal, "action": r.action, "object_type": r.object_type,
                              "object_id": r.object_id, "detail": r.detail, "prev_hash": r.prev_hash,
                              "hash": r.hash}, ensure_ascii=False) + "\n")
        count += 1
        last = r.hash
    return count, last
