"""Login: in PostgreSQL the staff member's own role authenticates; in demo mode a local hash does."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select, text

from madoguchi.config import ServerProfile
from madoguchi.errors import AuthError, SchemaMismatch
from madoguchi.secret_store import SecretStore
from madoguchi.services import audit, credentials
from madoguchi.services.context import Actor
from madoguchi.store import migrate
from madoguchi.store.db import Database, SessionInfo
from madoguchi.store.models import GroupMember, GroupPermission, Staff
from madoguchi.store.security import GROUPS

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_schema(db: Database) -> None:
    """Refuse to run against a database older or newer than this application."""
    head = migrate.head_revision()
    try:
        current = migrate.current_revision(db.engine)
    except Exception as exc:  # no alembic_version table, or no right to read it
        raise SchemaMismatch("データベースが初期化されていません。情報システム担当が "
                             "`madoguchi-admin db init` を実行してください。") from exc
    if current == head:
        return
    known = _known_revisions()
    if current is None:
        raise SchemaMismatch("データベースが初期化されていません。情報システム担当が "
                             "`madoguchi-admin db init` を実行してください。")
    if current in known and known.index(current) < known.index(head):
        raise SchemaMismatch(f"データベースの版（{current}）がこのアプリ（{head}）より古いです。"
                             "情報システム担当が `madoguchi-admin db upgrade` を実行してください。")
    raise SchemaMismatch(f"データベースの版（{current}）がこのアプリより新しいです。"
                         "新しい版のアプリをインストールしてください。")


def _known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory
    cfg = migrate.alembic_config_without_engine()
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]


def _actor(db: Database, login: str, terminal: str, counter_no: str, *, demo: bool, training: bool) -> Actor:
    with db.session() as s:
        staff = s.get(Staff, login)
        display = staff.display_name if staff else login
        if db.dialect == "postgresql":
            groups = {g.code for g in GROUPS
                      if s.execute(text("SELECT pg_has_role(current_user, :r, 'MEMBER')"),
                                   {"r": g.role}).scalar()}
        else:
            groups = set(s.scalars(select(GroupMember.group_code).where(GroupMember.login == login)))
        perms = set(s.scalars(select(GroupPermission.permission).where(GroupPermission.group_code.in_(groups))))
    return Actor(login=login, display_name=display, terminal=terminal, counter_no=counter_no,
                 groups=frozenset(groups), permissions=frozenset(perms), demo=demo, training=training)


def login_profile(profile: ServerProfile, login: str, password: str, terminal: str, counter_no: str = "", *,
                  training: bool = False, store: SecretStore | None = None) -> tuple[Database, Actor]:
    """The counter app's login: the configured server, with this terminal's client certificate if one is set.

    The key's passphrase comes from the credential store (`store`, else `secret_store.open_store()`),
    which is only opened when a client certificate is configured.
    """
    if not login:
        raise AuthError("職員IDを入力してください。")
    sslpassword = credentials.client_key_password(profile, terminal, store)
    return login_server(profile.url(login, password), login, terminal, counter_no, training=training,
                        sslpassword=sslpassword)


def login_server(url: str, login: str, terminal: str, counter_no: str = "", *, training: bool = False,
                 sslpassword: str | None = None) -> tuple[Database, Actor]:
    """Connect as the staff member's own PostgreSQL role. The password never leaves this call."""
    if not login:
        raise AuthError("職員IDを入力してください。")
    db = Database.connect(url, terminal=terminal, sslpassword=sslpassword)
    try:
        check_schema(db)
        actor = _actor(db, login, terminal, counter_no, demo=False, training=training)
        with db.uow(actor.info) as uow:
            audit.record(uow.session, actor.info, "login", "staff", login)
            uow.commit()
    except BaseException:
        db.dispose()
        raise
    return db, actor


def login_demo(db: Database, login: str, password: str, terminal: str, counter_no: str = "",
               *, training: bool = False) -> Actor:
    """Demo/training on SQLite: the staff table holds an Argon2 hash (synthetic staff only)."""
    with db.session() as s:
        staff = s.get(Staff, login)
        ok = False
        if staff and staff.password_hash:
            try:
                ok = _hasher.verify(staff.password_hash, password)
            except VerificationError:
                ok = False
        if not ok:
            raise AuthError("職員IDまたはパスワードが違います。入力を確かめてもう一度ログインしてください。")
        if staff.disabled:
            raise AuthError("このアカウントは利用停止されています。管理者に連絡してください。")
    actor = _actor(db, login, terminal, counter_no, demo=True, training=training)
    with db.uow(actor.info) as uow:
        audit.record(uow.session, actor.info, "login", "staff", login)
        uow.commit()
    return actor


def system_info(login: str = "system", terminal: str = "") -> SessionInfo:
    return SessionInfo(login, terminal)
