"""Engines, sessions and the unit of work. Created once at start-up (bootstrap), never at import."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from madoguchi.errors import AuthError, ConnectionFailed


@dataclass(frozen=True)
class SessionInfo:
    """Who is working where: stamped on every audit event and case write."""

    login: str
    terminal: str = ""
    counter_no: str = ""


def make_engine(url: str, *, terminal: str = "", connect_timeout: int = 5, echo: bool = False) -> Engine:
    """An engine for PostgreSQL (psycopg 3) or SQLite. Login errors become Japanese AuthError."""
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() == "sqlite":
        engine = create_engine(u, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    connect_args = {"connect_timeout": connect_timeout, "application_name": f"madoguchi:{terminal}"[:63]}
    engine = create_engine(u, echo=echo, pool_pre_ping=True, pool_size=3, max_overflow=2,
                           connect_args=connect_args)
    if terminal:
        @event.listens_for(engine, "connect")
        def _stamp_terminal(dbapi_conn, _record):  # noqa: ANN001
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT set_config('madoguchi.terminal', %s, false)", (terminal,))
            dbapi_conn.commit()

    return engine


def translate_connect_error(exc: BaseException, url: str) -> Exception:
    """Map driver errors at connect time to Japanese messages a clerk or IT can act on."""
    msg = str(getattr(exc, "orig", exc) or exc)
    low = msg.lower()
    u = make_url(url)
    if "password authentication failed" in low or "no password supplied" in low:
        return AuthError("職員IDまたはパスワードが違います。入力を確かめてもう一度ログインしてください。", detail=msg)
    if "not permitted to log in" in low:
        return AuthError("このアカウントは利用停止されています。管理者に連絡してください。", detail=msg)
    if "permission denied for database" in low:
        return AuthError("この職員にはシステムを利用する権限（グループ）がありません。管理者に連絡してください。",
                         detail=msg)
    if "does not exist" in low and "role" in low:
        return AuthError("職員IDまたはパスワードが違います。入力を確かめてもう一度ログインしてください。", detail=msg)
    if "database" in low and "does not exist" in low:
        return ConnectionFailed(f"データベース「{u.database}」がサーバにありません。接続設定を確認してください。",
                                detail=msg)
    return ConnectionFailed(
        f"サーバ（{u.host or 'localhost'}:{u.port or 5432}）に接続できません。ネットワークとサーバの状態を確認し、"
        "「再試行」を押してください。解決しない場合は情報システム担当へ連絡してください。", detail=msg)


def check_connection(engine: Engine) -> None:
    """Open one connection now so that login errors surface at login, in Japanese."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise translate_connect_error(exc, engine.url.render_as_string(hide_password=True)) from exc


class UnitOfWork:
    """One transaction. Rolls back unless `commit()` was called (cosmicpython style)."""

    def __init__(self, factory: sessionmaker[Session], who: SessionInfo) -> None:
        self._factory = factory
        self.who = who
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name


class Database:
    """The bootstrap object: one engine + session factory, handed to services."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.factory = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str, *, terminal: str = "", check: bool = True) -> Database:
        try:
            engine = make_engine(url, terminal=terminal)
        except Exception as exc:  # bad URL syntax and the like
            raise ConnectionFailed(f"接続設定が正しくありません: {exc}") from exc
        db = cls(engine)
        if check:
            check_connection(engine)
        return db

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self, who: SessionInfo) -> UnitOfWork:
        return UnitOfWork(self.factory, who)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self.factory() as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()
