"""Counter PCs log in over TLS with a per-terminal client certificate, its key's passphrase in keyring.

A private cluster with `ssl=on`, the city CA and pg_hba `hostssl … scram-sha-256 clientcert=verify-ca`;
the real config.toml → ServerProfile → login path; every failure a Japanese sentence.
"""

from __future__ import annotations

import os
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tlstools import PASSPHRASE, TERMINAL, TlsCluster

from madoguchi.config import load_config
from madoguchi.errors import AuthError, TlsError
from madoguchi.secret_store import SERVICE, client_key_entry
from madoguchi.services import auth, staff
from madoguchi.store.db import Database, SessionInfo

pytestmark = pytest.mark.slow


@pytest.fixture
def pc07(terminal_config, tls_cluster, tls_db):
    """make(**[server] overrides) -> (profile, terminal) for PC07 against the TLS cluster."""
    def make(**server):
        config = load_config(terminal_config(port=tls_cluster.port, database=tls_db[0], **server))
        return config.profile, config.terminal
    return make


def _store(keyring_backend, passphrase: str = PASSPHRASE) -> None:
    keyring_backend.set_password(SERVICE, client_key_entry(TERMINAL), passphrase)


def _login(profile, tls_db, password: str | None = None):
    _name, login, pw = tls_db
    return auth.login_profile(profile, login, password or pw, TERMINAL, "3")


def test_client_certificate_with_passphrase_from_keyring_logs_in(pc07, tls_db, memory_keyring):
    profile, terminal = pc07()
    _store(memory_keyring)
    db, actor = _login(profile, tls_db)
    try:
        assert actor.login == "clerk_tls" and actor.terminal == terminal == TERMINAL
        with db.engine.connect() as c:
            row = c.execute(text("SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).one()
        assert row.ssl is True and row.client_dn.endswith(f"CN={TERMINAL}")
        # The passphrase went to libpq as a connect argument: it is in no URL, log line or message.
        assert PASSPHRASE not in db.engine.url.render_as_string(hide_password=False)
        db.engine.dispose()  # a new pooled connection uses the same arguments (reconnect after a network drop)
        with db.engine.connect() as c:
            assert c.execute(text("SELECT current_user")).scalar() == "clerk_tls"
    finally:
        db.dispose()


def test_unencrypted_key_needs_no_passphrase(pc07, tls_db):
    profile, _ = pc07(sslcert=f"plain/{TERMINAL}.crt", sslkey=f"plain/{TERMINAL}.key")
    db, _actor = _login(profile, tls_db)
    db.dispose()


def test_wrong_staff_password_is_still_the_usual_message(pc07, tls_db, memory_keyring):
    profile, _ = pc07()
    _store(memory_keyring)
    with pytest.raises(AuthError, match="職員IDまたはパスワードが違います"):
        _login(profile, tls_db, "wrong-password")


def test_without_client_certificate_the_server_says_it_wants_one(pc07, tls_db):
    profile, _ = pc07(sslcert=None, sslkey=None)
    with pytest.raises(TlsError) as exc:
        _login(profile, tls_db)
    assert "クライアント証明書を求めています" in exc.value.message and "sslcert と sslkey" in exc.value.message


def test_missing_passphrase_names_the_command_that_stores_it(pc07, tls_db):
    profile, _ = pc07()
    with pytest.raises(TlsError) as exc:
        _login(profile, tls_db)
    msg = exc.value.message
    assert "パスフレーズ" in msg and "保存されていません" in msg
    assert f"madoguchi-admin secret set client-key --terminal {TERMINAL}" in msg


def test_wrong_passphrase_in_keyring(pc07, tls_db, memory_keyring):
    profile, _ = pc07()
    _store(memory_keyring, "違う合言葉")
    with pytest.raises(TlsError, match="保存されているパスフレーズでは.*開けません.*secret set client-key"):
        _login(profile, tls_db)


def test_libpq_errors_are_mapped_too(pc07, tls_db, tls_cluster):
    """Past the app's own checks (a URL given to the admin CLI, say), libpq's messages are translated."""
    profile, _ = pc07()
    url = profile.url(tls_db[1], tls_db[2])
    with pytest.raises(TlsError, match="保存されているパスフレーズでは秘密鍵 .*PC07.key を開けません"):
        Database.connect(url, sslpassword="違う合言葉")
    # libpq silently sends no certificate when the file is missing; the server then asks for one.
    no_cert = make_url(url).update_query_dict({"sslcert": "/none/x.crt"}).render_as_string(hide_password=False)
    with pytest.raises(TlsError, match="クライアント証明書を求めています"):
        Database.connect(no_cert, sslpassword=PASSPHRASE)


def test_certificate_from_another_ca_is_rejected_by_the_server(pc07, tls_db, memory_keyring):
    profile, _ = pc07(sslcert=f"other/{TERMINAL}.crt", sslkey=f"other/{TERMINAL}.key")
    _store(memory_keyring)
    with pytest.raises(TlsError) as exc:
        _login(profile, tls_db)
    assert "受け付けませんでした" in exc.value.message and "市の CA が発行したものではありません" in exc.value.message


def test_verify_full_refuses_a_server_name_not_in_its_certificate(pc07, tls_db, memory_keyring):
    profile, _ = pc07(host="127.0.0.1")  # same server, but its certificate says "localhost"
    _store(memory_keyring)
    with pytest.raises(TlsError) as exc:
        _login(profile, tls_db)
    assert "「127.0.0.1」の証明書は「localhost」用" in exc.value.message and "一致しません" in exc.value.message


def test_server_certificate_not_from_the_configured_ca(pc07, tls_db, memory_keyring):
    profile, _ = pc07(sslrootcert=f"other/{TERMINAL}.crt")
    _store(memory_keyring)
    with pytest.raises(TlsError, match="市の CA 証明書で確かめられませんでした"):
        _login(profile, tls_db)


def test_missing_ca_file(pc07, tls_db, memory_keyring):
    profile, _ = pc07(sslrootcert="tls/none.crt")
    _store(memory_keyring)
    with pytest.raises(TlsError, match=r"市の CA 証明書 .*none\.crt がありません"):
        _login(profile, tls_db)


def test_plain_connection_is_refused_with_advice(pc07, tls_db):
    profile, _ = pc07(sslmode="disable", sslcert=None, sslkey=None)
    with pytest.raises(TlsError, match="暗号化（TLS）した接続だけ.*verify-full"):
        _login(profile, tls_db)


@pytest.mark.parametrize("which, message", [("sslcert", r"クライアント証明書 .*gone\.crt がありません"),
                                            ("sslkey", r"秘密鍵 .*gone\.crt がありません")])
def test_missing_certificate_or_key_file(pc07, tls_db, memory_keyring, which, message):
    profile, _ = pc07(**{which: "tls/gone.crt"})
    _store(memory_keyring)
    with pytest.raises(TlsError, match=message):
        _login(profile, tls_db)


def test_key_of_another_certificate(pc07, tls_db):
    profile, _ = pc07(sslkey=f"plain/{TERMINAL}.key")
    with pytest.raises(TlsError, match="の鍵ではありません"):
        _login(profile, tls_db)


@pytest.mark.skipif(sys.platform == "win32", reason="libpq checks key file modes on POSIX only")
def test_group_readable_key_is_refused_by_libpq(pc07, tls_db, memory_keyring):
    profile, _ = pc07()
    _store(memory_keyring)
    os.chmod(profile.sslkey, 0o644)
    with pytest.raises(TlsError, match=r"所有者以外も読める.*chmod 600 .*PC07\.key"):
        _login(profile, tls_db)


def test_clientcert_verify_full_in_pg_hba_cannot_work_with_terminal_certificates(terminal_config, tls_pki,
                                                                                 memory_keyring):
    """Why the manual says `clientcert=verify-ca`: verify-full compares the certificate's CN (the PC)
    with the login role (the staff member), and PostgreSQL reports the mismatch as a wrong password."""
    cluster = TlsCluster(tls_pki[0], clientcert="verify-full").start()
    try:
        name = cluster.create_database()
        db = Database.connect(cluster.url(name))
        from madoguchi.store import migrate
        migrate.upgrade(db.engine)
        staff.add_staff(db, SessionInfo("it_admin"), "clerk_vf", "窓口 花子", "pw-verify-full-1", ["clerk"])
        db.dispose()
        profile = load_config(terminal_config(port=cluster.port, database=name)).profile
        _store(memory_keyring)
        with pytest.raises(AuthError, match="パスワードが違います"):
            auth.login_profile(profile, "clerk_vf", "pw-verify-full-1", TERMINAL)
        assert "certificate validation (clientcert=verify-full) failed" in (cluster.dir / "log").read_text()
    finally:
        cluster.stop()
