"""Secrets of TLS client certificates and of the server jobs: store, check, look up — never shown.

- A counter PC's client key passphrase: keyring service `madoguchi`, user `client-key:<terminal>`.
  `client_key_password` hands it to the login after making sure the certificate, the key and the
  passphrase fit together, so that each problem is a Japanese sentence instead of a libpq error
  (and libpq never falls back to prompting on a console the clerk does not have).
- A server job's database password: user `database:<role>`; `fill_database_password` adds it to a
  URL that names the role but carries no password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from madoguchi.config import ServerProfile
from madoguchi.errors import InputError, KnownError, TlsError
from madoguchi.secret_store import SecretStore, client_key_entry, database_entry, open_store
from madoguchi.store.db import Database

_CONTACT = "情報システム担当へ連絡してください"


def set_client_key_command(terminal: str) -> str:
    return f"`madoguchi-admin secret set client-key --terminal {terminal}`"


def key_is_encrypted(pem: bytes) -> bool:
    """PKCS#8 (`ENCRYPTED PRIVATE KEY`) or traditional OpenSSL (`Proc-Type: 4,ENCRYPTED`) encryption.

    >>> key_is_encrypted(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    True
    >>> key_is_encrypted(b"-----BEGIN PRIVATE KEY-----")
    False
    """
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem or b"Proc-Type: 4,ENCRYPTED" in pem


def _read(path: Path, what: str, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise TlsError(f"この端末の{what} {path} がありません。設定ファイルの [server] {setting} の場所に置くよう、"
                       f"{_CONTACT}。") from exc
    except OSError as exc:
        raise TlsError(f"この端末の{what} {path} を読めません（{exc.strerror or exc}）。アプリを使う Windows ユーザが"
                       f"読めるよう、{_CONTACT}。") from exc


@dataclass(frozen=True)
class ClientKey:
    """The configured certificate and key, read and sanity-checked (no passphrase involved yet)."""

    cert: Path
    key: Path
    encrypted: bool

    @classmethod
    def load(cls, profile: ServerProfile) -> ClientKey:
        cert, key = Path(profile.sslcert), Path(profile.sslkey)
        if b"-----BEGIN CERTIFICATE-----" not in _read(cert, "クライアント証明書", "sslcert"):
            raise TlsError(f"{cert} は PEM 形式の証明書ではありません（-----BEGIN CERTIFICATE----- で始まるファイルが"
                           f"必要です）。{_CONTACT}。")
        pem = _read(key, "秘密鍵", "sslkey")
        if b"PRIVATE KEY-----" not in pem:
            raise TlsError(f"{key} は PEM 形式の秘密鍵ではありません。{_CONTACT}。")
        return cls(cert, key, key_is_encrypted(pem))

    def opens_with(self, passphrase: str | None) -> str | None:
        """None if the key opens with `passphrase` and belongs to the certificate; else why not.

        The reasons are "passphrase", "mismatch" or "broken". OpenSSL is given a callback that never
        prompts, so a missing passphrase cannot block on a console.
        """
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            ctx.load_cert_chain(str(self.cert), str(self.key), password=lambda: passphrase or "")
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                return "mismatch"
            return "passphrase" if self.encrypted else "broken"
        except OSError:
            return "broken"
        return None

    def problem(self, why: str) -> TlsError:
        """The error for "mismatch" or "broken" (a wrong passphrase is worded by the caller)."""
        if why == "mismatch":
            return TlsError(f"秘密鍵 {self.key} はクライアント証明書 {self.cert} の鍵ではありません。同じ端末用に作った"
                            f"証明書と秘密鍵を置くよう、{_CONTACT}。")
        return TlsError(f"クライアント証明書 {self.cert} または秘密鍵 {self.key} が壊れています。{_CONTACT}。")


def client_key_password(profile: ServerProfile, terminal: str, store: SecretStore | None = None) -> str | None:
    """The passphrase libpq needs for this terminal's key (None: no client certificate or no encryption)."""
    if not profile.client_cert:
        return None
    key = ClientKey.load(profile)
    if not key.encrypted:
        why = key.opens_with(None)
        if why:
            raise key.problem(why)
        return None
    store = store or open_store()
    passphrase = store.get(client_key_entry(terminal))
    if passphrase is None:
        raise TlsError(f"この端末（{terminal}）のクライアント証明書の秘密鍵のパスフレーズが{store.label}に保存されて"
                       f"いません。情報システム担当が、この端末でアプリを使う Windows ユーザで "
                       f"{set_client_key_command(terminal)} を実行してください。")
    why = key.opens_with(passphrase)
    if why == "passphrase":
        raise TlsError(f"{store.label}に保存されているパスフレーズでは、この端末（{terminal}）の秘密鍵 {key.key} を"
                       f"開けません。情報システム担当が {set_client_key_command(terminal)} で正しいパスフレーズを"
                       "保存し直してください。")
    if why:
        raise key.problem(why)
    return passphrase


def store_client_key_passphrase(profile: ServerProfile | None, terminal: str, passphrase: str,
                                store: SecretStore) -> bool:
    """Save the passphrase; when a key is configured it must open it. True if it was checked against the key."""
    if not passphrase:
        raise InputError("パスフレーズが空です。秘密鍵を暗号化したときのパスフレーズを入力してください。")
    checked = False
    if profile is not None and profile.client_cert:
        key = ClientKey.load(profile)
        if not key.encrypted:
            raise InputError(f"秘密鍵 {key.key} は暗号化されていないため、パスフレーズは不要です（保存していません）。"
                             "端末には暗号化した秘密鍵を置いてください: "
                             f"`openssl pkey -in {key.key.name} -aes-256-cbc -out {key.key.name}.enc`")
        why = key.opens_with(passphrase)
        if why == "passphrase":
            raise InputError(f"入力したパスフレーズでは秘密鍵 {key.key} を開けません（保存していません）。"
                             "もう一度確かめて入力してください。")
        if why:
            raise key.problem(why)
        checked = True
    store.set(client_key_entry(terminal), passphrase)
    return checked


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str


def check_client_key(profile: ServerProfile | None, terminal: str, store: SecretStore) -> list[Finding]:
    """What `secret check` says about this terminal's client certificate. Never contains the passphrase."""
    passphrase = store.get(client_key_entry(terminal))
    stored = passphrase is not None
    where = f"パスフレーズ（端末 {terminal}）"
    if profile is None or not profile.client_cert:
        return [Finding(True, "クライアント証明書は設定されていません（設定ファイルの [server] sslcert / sslkey）。"),
                Finding(True, f"{where}: {'保存済み' if stored else '保存されていません'}。")]
    try:
        key = ClientKey.load(profile)
    except TlsError as exc:
        return [Finding(False, exc.message)]
    out = [Finding(True, f"クライアント証明書: {key.cert}"),
           Finding(True, f"秘密鍵: {key.key}（{'暗号化あり' if key.encrypted else '暗号化なし'}）")]
    if not key.encrypted:
        why = key.opens_with(None)
        out.append(Finding(why is None, "秘密鍵は証明書と対応しています。" if why is None
                           else key.problem(why).message))
        out.append(Finding(False, "秘密鍵が暗号化されていません。パスフレーズで暗号化した秘密鍵に置き換えてください。"))
        return out
    if not stored:
        out.append(Finding(False, f"{where}: {store.label}に保存されていません。この端末でアプリを使う Windows ユーザで "
                                  f"{set_client_key_command(terminal)} を実行してください。"))
        return out
    why = key.opens_with(passphrase)
    if why is None:
        out.append(Finding(True, f"{where}: 保存済み。この秘密鍵を開けること、証明書と対応していることを確かめました。"))
    elif why == "passphrase":
        out.append(Finding(False, f"{where}: 保存済みですが、この秘密鍵を開けません。{set_client_key_command(terminal)} "
                                  "で保存し直してください。"))
    else:
        out.append(Finding(False, key.problem(why).message))
    return out


def fill_database_password(url: str, store: SecretStore | None = None) -> str:
    """A PostgreSQL URL naming a role without a password gets the stored `database:<role>` password, if any."""
    try:
        u = make_url(url)
    except ArgumentError:
        return url  # Database.connect reports a bad URL in Japanese
    if u.get_backend_name() != "postgresql" or not u.username or u.password is not None:
        return url
    secret = (store or open_store()).get(database_entry(u.username))
    return url if secret is None else u.set(password=secret).render_as_string(hide_password=False)


def store_database_password(role: str, password: str, store: SecretStore) -> None:
    if not role:
        raise InputError("ロール名がありません。--url-user でデータベースのロール名を指定してください。")
    if not password:
        raise InputError("パスワードが空です。データベースのロールのパスワードを入力してください。")
    store.set(database_entry(role), password)


def check_database(url: str | None, role: str, store: SecretStore) -> list[Finding]:
    """Whether `database:<role>` is stored and, given the job's URL, whether the job can connect with it."""
    stored = store.get(database_entry(role)) is not None
    out = [Finding(True, f"データベースのパスワード（ロール {role}）: "
                         + ("保存済み。" if stored else f"{store.label}に保存されていません"
                            "（Unix ソケットの peer 認証ならパスワードは不要です）。"))]
    if url:
        try:
            Database.connect(fill_database_password(url, store)).dispose()
        except KnownError as exc:
            out.append(Finding(False, f"接続できません: {exc.message}"))
        else:
            u = make_url(url)
            out.append(Finding(True, f"データベース {u.database}（ロール {u.username}）に接続できました。"))
    return out
