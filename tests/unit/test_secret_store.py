"""Client-certificate settings, the secret store (keyring, or an owner-only file) and libpq's TLS messages."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from keyring.backends import fail
from tlstools import PASSPHRASE, TERMINAL

from madoguchi.config import load_config
from madoguchi.errors import KnownError, TlsError
from madoguchi.secret_store import SERVICE, FileStore, KeyringStore, open_store
from madoguchi.services import credentials
from madoguchi.store.db import translate_connect_error

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


# --- config.toml [server] sslcert / sslkey --------------------------------------------------------

def test_relative_certificate_paths_are_resolved_against_the_config_folder(terminal_config, tmp_path):
    path = terminal_config()
    profile = load_config(path).profile
    folder = (tmp_path / "pc07").resolve()
    assert profile.sslcert == str(folder / "tls" / "PC07.crt")
    assert profile.sslkey == str(folder / "tls" / "PC07.key")
    assert profile.sslrootcert == str(folder / "tls" / "city-ca.crt")
    url = profile.url("clerk", "pw")
    assert "sslcert=" in url and "sslkey=" in url and "sslmode=verify-full" in url


def test_absolute_paths_and_system_roots_are_kept(terminal_config, tmp_path):
    cert = tmp_path / "elsewhere.crt"
    profile = load_config(terminal_config(sslcert=str(cert), sslrootcert="system")).profile
    assert profile.sslcert == str(cert) and profile.sslrootcert == "system"


def test_without_client_certificate_nothing_changes(terminal_config):
    profile = load_config(terminal_config(sslcert=None, sslkey=None)).profile
    assert not profile.client_cert and "sslcert" not in profile.url("clerk", "pw")
    assert credentials.client_key_password(profile, TERMINAL) is None


@pytest.mark.parametrize("drop", ["sslcert", "sslkey"])
def test_certificate_and_key_come_together(terminal_config, drop):
    with pytest.raises(KnownError, match="sslcert（クライアント証明書）と sslkey（その秘密鍵）を両方"):
        load_config(terminal_config(**{drop: None}))


def test_a_passphrase_in_the_config_file_is_refused(terminal_config):
    with pytest.raises(KnownError, match="設定ファイルに書かないでください.*secret set client-key"):
        load_config(terminal_config(sslpassword="秘密"))


def test_missing_files_are_reported_when_connecting(terminal_config):
    """The config still loads (the PC starts and shows the problem at login, in the dialog)."""
    profile = load_config(terminal_config(sslcert="tls/nowhere.crt")).profile
    with pytest.raises(TlsError, match=r"クライアント証明書 .*nowhere\.crt がありません.*sslcert"):
        credentials.client_key_password(profile, TERMINAL)


def test_a_file_that_is_not_pem_is_reported(terminal_config, tmp_path):
    profile = load_config(terminal_config()).profile
    with open(profile.sslcert, "wb") as f:
        f.write(b"\x30\x82\x01\x0a")  # DER
    with pytest.raises(TlsError, match="PEM 形式の証明書ではありません"):
        credentials.client_key_password(profile, TERMINAL)


def test_traditional_openssl_encryption_is_recognised():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.BestAvailableEncryption(b"pw"))
    assert credentials.key_is_encrypted(pem)


# --- the store: keyring when usable, otherwise a 0600 file ----------------------------------------

def test_keyring_store_uses_service_madoguchi(memory_keyring):
    store = open_store()
    assert isinstance(store, KeyringStore) and "keyring" in store.label
    store.set("client-key:PC07", "x")
    assert memory_keyring.entries == {(SERVICE, "client-key:PC07"): "x"}
    assert store.get("client-key:PC07") == "x" and store.delete("client-key:PC07") and not store.delete("nope")


@posix_only
def test_without_a_usable_keyring_a_0600_file_is_used(monkeypatch, tmp_path):
    import keyring
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    store = open_store()
    assert isinstance(store, FileStore) and store.path == tmp_path / "cfg" / "madoguchi" / "secrets.json"
    store.set("database:madoguchi_owner", "pässwörd")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert json.loads(store.path.read_text(encoding="utf-8")) == {"database:madoguchi_owner": "pässwörd"}
    assert store.get("database:madoguchi_owner") == "pässwörd"
    assert store.delete("database:madoguchi_owner") and store.get("database:madoguchi_owner") is None


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_others_can_read_is_refused_with_the_chmod_to_run(tmp_path, mode):
    path = tmp_path / "secrets.json"
    store = FileStore(path)
    store.set("database:job", "pw")
    os.chmod(path, mode)
    with pytest.raises(KnownError) as exc:
        store.get("database:job")
    assert f"`chmod 600 {path}`" in exc.value.message and "所有者以外も読める" in exc.value.message
    with pytest.raises(KnownError, match="chmod 600"):
        store.set("database:job", "new")  # nor is it written to


def test_secrets_file_env_wins_over_keyring(monkeypatch, tmp_path, memory_keyring):
    monkeypatch.setenv("MADOGUCHI_SECRETS_FILE", str(tmp_path / "s.json"))
    store = open_store()
    assert isinstance(store, FileStore) and store.label == f"ファイル {tmp_path / 's.json'}"


@posix_only
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_root_updating_the_job_users_file_keeps_its_owner(tmp_path):
    import pwd
    postgres = pwd.getpwnam("postgres")
    path = tmp_path / "secrets.json"
    FileStore(path).set("database:a", "1")
    os.chown(path, postgres.pw_uid, postgres.pw_gid)
    FileStore(path).set("database:b", "2")
    assert path.stat().st_uid == postgres.pw_uid and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_file_says_how_to_repair(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(KnownError, match="読めません.*secret set"):
        FileStore(path).get("x")


# --- database URLs of the server jobs -------------------------------------------------------------

def test_a_url_without_password_gets_the_stored_one(memory_keyring):
    memory_keyring.set_password(SERVICE, "database:madoguchi_owner", "p@ss/word:1")
    url = credentials.fill_database_password("postgresql+psycopg://madoguchi_owner@db.city.local/madoguchi")
    from sqlalchemy.engine import make_url
    u = make_url(url)
    assert (u.username, u.password, u.host, u.database) == ("madoguchi_owner", "p@ss/word:1", "db.city.local",
                                                            "madoguchi")
    given = "postgresql+psycopg://madoguchi_owner:explicit@db/madoguchi"
    assert credentials.fill_database_password(given) == given
    for other in ("postgresql+psycopg://someone_else@db/madoguchi", "sqlite:///x.sqlite3", "not a url"):
        assert credentials.fill_database_password(other) == other


# --- libpq's words, as recorded from libpq 18 / PostgreSQL 15, in Japanese ----------------------------

_AT = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: '


@pytest.mark.parametrize("libpq, japanese", [
    ('could not load private key file "/p/PC07.key": processing error', "パスフレーズが保存されていないか"),
    ('could not load private key file "/p/PC07.key": bad decrypt', "保存されているパスフレーズでは秘密鍵 /p/PC07.key"),
    ('could not load private key file "/p/PC07.key": key values mismatch', "証明書の鍵ではありません"),
    ('certificate present, but not private key file "/p/PC07.key"', "秘密鍵 /p/PC07.key がありません"),
    ('SSL error: tlsv1 alert certificate expired', "証明書が期限切れです"),
    ('SSL error: sslv3 alert certificate revoked', "失効しています"),
    ('could not open certificate file "/p/PC07.crt": Permission denied', "クライアント証明書 /p/PC07.crt を読めません"),
    ('could not read root certificate file "/p/ca.crt": no certificate or crl found', "市の CA 証明書 /p/ca.crt を読めません"),
    ('server does not support SSL, but SSL was required', "暗号化（TLS）に対応していません"),
])
def test_libpq_tls_messages(libpq, japanese):
    err = translate_connect_error(Exception(_AT + libpq), "postgresql+psycopg://clerk@db/madoguchi")
    assert isinstance(err, TlsError) and japanese in err.message and err.detail.endswith(libpq)


def test_passphrase_check_uses_no_prompt(terminal_config, memory_keyring):
    """An encrypted key, checked without its passphrase, fails at once (OpenSSL never asks a console)."""
    profile = load_config(terminal_config()).profile
    key = credentials.ClientKey.load(profile)
    assert key.encrypted and key.opens_with(None) == "passphrase" and key.opens_with(PASSPHRASE) is None


def test_the_config_the_msi_writes_parses(tmp_path):
    """installer/madoguchi.wxs writes key=value lines; SSLCERT/SSLKEY left out → empty → no client certificate."""
    path = tmp_path / "config.toml"
    path.write_text("[server]\nhost=\"madoguchi-db.city.local\"\nport=5432\ndatabase=\"madoguchi\"\n"
                    "sslmode=\"verify-full\"\nsslrootcert='tls\\city-ca.crt'\nsslcert=''\nsslkey=''\n"
                    "[terminal]\nname=\"PC07\"\ncounter_no=\"3\"\n", encoding="utf-8")
    config = load_config(path)
    assert not config.profile.client_cert and config.terminal == "PC07"
    assert config.profile.sslrootcert.startswith(str(tmp_path.resolve()))
