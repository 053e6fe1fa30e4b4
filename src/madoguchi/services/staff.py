"""Staff administration: login roles and group membership (the database enforces the rights)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from madoguchi.errors import InputError
from madoguchi.services import audit
from madoguchi.services.auth import hash_password
from madoguchi.store.db import Database, SessionInfo
from madoguchi.store.models import GroupMember, Staff
from madoguchi.store.security import GROUPS, group

LOGIN_RE = re.compile(r"^[a-z][a-z0-9_]{2,40}$")


@dataclass(frozen=True)
class StaffInfo:
    login: str
    display_name: str
    disabled: bool
    groups: tuple[str, ...]


def _check_login(login: str) -> None:
    if not LOGIN_RE.fullmatch(login) or login.startswith("madoguchi") or login.startswith("pg_"):
        raise InputError(f"職員ID「{login}」は使えません。半角英小文字で始まる英小文字・数字・_ の3〜41文字にしてください。")


def _check_group(code: str) -> None:
    try:
        group(code)
    except KeyError:
        names = "、".join(f"{g.code}（{g.name}）" for g in GROUPS)
        raise InputError(f"グループ「{code}」はありません。次のいずれかを指定してください: {names}") from None


def _pg(session: Session, query: sql.Composable) -> None:
    # DDL on roles cannot take bind parameters: compose with psycopg's quoting.
    raw = session.connection().connection.dbapi_connection
    with raw.cursor() as cur:
        cur.execute(query)


def add_staff(db: Database, who: SessionInfo, login: str, display_name: str, password: str,
              groups: list[str]) -> None:
    _check_login(login)
    if len(password) < 8:
        raise InputError("パスワードは8文字以上にしてください。")
    for g in groups:
        _check_group(g)
    with db.uow(who) as uow:
        s = uow.session
        if s.get(Staff, login):
            raise InputError(f"職員ID「{login}」は既に登録されています。")
        s.add(Staff(login=login, display_name=display_name, disabled=False,
                    password_hash="" if uow.dialect == "postgresql" else hash_password(password)))
        s.flush()
        if uow.dialect == "postgresql":
            exists = s.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login}).first()
            if exists:
                raise InputError(f"職員ID「{login}」はデータベースのロールとして既に存在します。別のIDにしてください。")
            _pg(s, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(login), sql.Literal(password)))
        for g in groups:
            _grant(s, uow.dialect, login, g)
        audit.record(s, who, "staff.add", "staff", login, {"groups": groups, "name": display_name})
        uow.commit()


def _grant(s: Session, dialect: str, login: str, code: str) -> None:
    if s.get(GroupMember, (code, login)) is None:
        s.add(GroupMember(group_code=code, login=login))
        s.flush()
    if dialect == "postgresql":
        _pg(s, sql.SQL("GRANT {} TO {}").format(sql.Identifier(group(code).role), sql.Identifier(login)))
        if code == "admin":
            _pg(s, sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(login)))


def _require_staff(s: Session, login: str) -> Staff:
    staff = s.get(Staff, login)
    if staff is None:
        raise InputError(f"職員ID「{login}」は登録されていません。")
    return staff


def grant(db: Database, who: SessionInfo, login: str, code: str) -> None:
    _check_group(code)
    with db.uow(who) as uow:
        _require_staff(uow.session, login)
        _grant(uow.session, uow.dialect, login, code)
        audit.record(uow.session, who, "staff.grant", "staff", login, {"group": code})
        uow.commit()


def revoke(db: Database, who: SessionInfo, login: str, code: str) -> None:
    _check_group(code)
    with db.uow(who) as uow:
        s = uow.session
        _require_staff(s, login)
        s.execute(delete(GroupMember).where(GroupMember.login == login, GroupMember.group_code == code))
        if uow.dialect == "postgresql":
            _pg(s, sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group(code).role), sql.Identifier(login)))
            if code == "admin":
                _pg(s, sql.SQL("ALTER ROLE {} NOCREATEROLE").format(sql.Identifier(login)))
        audit.record(s, who, "staff.revoke", "staff", login, {"group": code})
        uow.commit()


def set_disabled(db: Database, who: SessionInfo, login: str, disabled: bool) -> None:
    with db.uow(who) as uow:
        s = uow.session
        _require_staff(s, login).disabled = disabled
        if uow.dialect == "postgresql":
            _pg(s, sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(login),
                                                      sql.SQL("NOLOGIN" if disabled else "LOGIN")))
        audit.record(s, who, "staff.disable" if disabled else "staff.enable", "staff", login)
        uow.commit()


def set_password(db: Database, who: SessionInfo, login: str, password: str) -> None:
    if len(password) < 8:
        raise InputError("パスワードは8文字以上にしてください。")
    with db.uow(who) as uow:
        s = uow.session
        staff = _require_staff(s, login)
        if uow.dialect == "postgresql":
            _pg(s, sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(login), sql.Literal(password)))
        else:
            staff.password_hash = hash_password(password)
        audit.record(s, who, "staff.password", "staff", login)
        uow.commit()


def list_staff(db: Database) -> list[StaffInfo]:
    with db.session() as s:
        members: dict[str, list[str]] = {}
        for m in s.scalars(select(GroupMember)):
            members.setdefault(m.login, []).append(m.group_code)
        return [StaffInfo(st.login, st.display_name, st.disabled, tuple(sorted(members.get(st.login, []))))
                for st in s.scalars(select(Staff).order_by(Staff.login))]
