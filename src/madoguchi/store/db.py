"""Engines, sessions and the unit of work. Created once at start-up (bootstrap), never at import."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from madoguchi.errors import AuthError, ConnectionFailed, TlsError


@dataclass(frozen=True)
class SessionInfo:
    """Who is working where: stamped on every audit event and case write."""

    login: str
    terminal: str = ""
    counter_no: str = ""


def make_engine(url: str, *, terminal: str = "", connect_timeout: int = 5, echo: bool = False,
                sslpassword: str | None = None) -> Engine:
    """An engine for PostgreSQL (psycopg 3) or SQLite. Login errors become Japanese AuthError.

    `sslpassword` (the client key's passphrase) goes to libpq as a connect argument, never into the URL,
    so that it appears in no log line or error message.
    """
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
    if sslpassword is not None:
        connect_args["sslpassword"] = sslpassword
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
    tls = _tls_error(msg, u.host or "localhost")
    if tls is not None:
        return tls
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


_SECRET_CMD = "`madoguchi-admin secret set client-key`"
_SERVER_REJECTS = (("alert certificate expired", "期限切れです"), ("alert certificate revoked", "失効しています"),
                   ("alert unknown ca", "市の CA が発行したものではありません"),
                   ("alert bad certificate", "正しくありません"), ("alert certificate unknown", "確認できません"),
                   ("alert unsupported certificate", "用途が合いません"))


def _quoted_after(msg: str, marker: str) -> str:
    m = re.search(re.escape(marker) + r' "([^"]*)"', msg)
    return m.group(1) if m else ""


def _tls_error(msg: str, host: str) -> TlsError | None:
    """libpq's TLS failures (client certificate, key, passphrase, CA, host name) as Japanese TlsErrors."""
    low = msg.lower()
    if "does not match host name" in low:
        name = _quoted_after(msg, "server certificate for") or "?"
        return TlsError(f"サーバ「{host}」の証明書は「{name}」用で、接続先の名前と一致しません（なりすましを防ぐため"
                        "接続しません）。設定ファイルの [server] host を証明書の名前に合わせるよう、情報システム担当へ"
                        "連絡してください。", detail=msg)
    if "root certificate file" in low:
        path = _quoted_after(msg, "root certificate file")
        state = "がありません" if "does not exist" in low else "を読めません"
        return TlsError(f"市の CA 証明書 {path} {state}（サーバの証明書を確かめるために必要です）。設定ファイルの "
                        "[server] sslrootcert の場所に CA 証明書を置くよう、情報システム担当へ連絡してください。", detail=msg)
    if "certificate verify failed" in low:
        return TlsError("サーバの証明書を市の CA 証明書で確かめられませんでした。接続先が正しいサーバか、設定ファイルの "
                        "[server] sslrootcert が市の CA 証明書かを情報システム担当が確認してください。", detail=msg)
    if "requires a valid client certificate" in low:
        return TlsError("サーバはこの端末のクライアント証明書を求めていますが、証明書が送られませんでした。設定ファイルの "
                        "[server] sslcert と sslkey（この端末の証明書と秘密鍵）を設定するよう、情報システム担当へ連絡して"
                        "ください。", detail=msg)
    for alert, why in _SERVER_REJECTS:
        if alert in low:
            return TlsError(f"サーバがこの端末のクライアント証明書を受け付けませんでした（証明書が{why}）。"
                            "この端末用の新しい証明書を発行するよう、情報システム担当へ連絡してください。", detail=msg)
    key = _quoted_after(msg, "private key file")
    if "could not load private key file" in low:
        if "key values mismatch" in low:
            return TlsError(f"秘密鍵 {key} はこの端末のクライアント証明書の鍵ではありません。同じ端末用に作った証明書と"
                            "秘密鍵を置くよう、情報システム担当へ連絡してください。", detail=msg)
        if "bad decrypt" in low:
            return TlsError(f"保存されているパスフレーズでは秘密鍵 {key} を開けません。情報システム担当が {_SECRET_CMD} で"
                            "正しいパスフレーズを保存し直してください。", detail=msg)
        return TlsError(f"秘密鍵 {key} を開けません（パスフレーズが保存されていないか、ファイルが壊れています）。"
                        f"情報システム担当が {_SECRET_CMD} を実行し、`madoguchi-admin secret check` で確かめて"
                        "ください。", detail=msg)
    if "certificate present, but not private key file" in low:
        return TlsError(f"クライアント証明書の秘密鍵 {key} がありません。設定ファイルの [server] sslkey の場所に"
                        "秘密鍵を置くよう、情報システム担当へ連絡してください。", detail=msg)
    if "has group or world access" in low:
        return TlsError(f"秘密鍵 {key} を所有者以外も読める設定のため、使えません。`chmod 600 {key}` を実行して"
                        "ください。", detail=msg)
    if "certificate file" in low and ("could not open" in low or "could not read" in low):
        cert = _quoted_after(msg, "certificate file")
        return TlsError(f"クライアント証明書 {cert} を読めません。ファイルの場所と読み取り権限を情報システム担当が"
                        "確認してください（設定ファイルの [server] sslcert）。", detail=msg)
    if "no encryption" in low and "no pg_hba.conf entry" in low:
        return TlsError("サーバは暗号化（TLS）した接続だけを受け付けます。設定ファイルの [server] sslmode を "
                        "verify-full にするよう、情報システム担当へ連絡してください。", detail=msg)
    if "server does not support ssl" in low:
        return TlsError("サーバが暗号化（TLS）に対応していません。サーバの ssl 設定を情報システム担当が確認して"
                        "ください。", detail=msg)
    return None


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
    def connect(cls, url: str, *, terminal: str = "", check: bool = True, sslpassword: str | None = None
                ) -> Database:
        try:
            engine = make_engine(url, terminal=terminal, sslpassword=sslpassword)
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
