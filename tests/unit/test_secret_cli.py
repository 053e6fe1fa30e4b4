"""madoguchi-admin secret set|check|delete: in-process with an in-memory keyring, and the console script
with keyring's `fail` backend (the owner-only file), as on a headless Linux server."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from tlstools import PASSPHRASE, TERMINAL

from madoguchi.cli.admin import main
from madoguchi.secret_store import SERVICE

ENTRY = (SERVICE, f"client-key:{TERMINAL}")


@pytest.fixture
def pc07_env(terminal_config, monkeypatch):
    path = terminal_config()
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(path))
    return path


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_help_is_japanese(capsys):
    with pytest.raises(SystemExit):
        main(["secret", "set", "--help"])
    out = capsys.readouterr().out
    assert "使い方: madoguchi-admin secret set" in out and "標準入力" in out and "client-key" in out


def test_set_checks_the_passphrase_against_the_configured_key(pc07_env, monkeypatch, capsys, memory_keyring):
    _stdin(monkeypatch, "違う合言葉\n")
    assert main(["secret", "set", "client-key", "--stdin"]) == 1
    assert "入力したパスフレーズでは秘密鍵" in capsys.readouterr().err and memory_keyring.entries == {}
    _stdin(monkeypatch, PASSPHRASE + "\n")
    assert main(["secret", "set", "client-key", "--stdin"]) == 0
    out = capsys.readouterr().out
    assert f"端末 {TERMINAL}" in out and "開けることを確かめました" in out and PASSPHRASE not in out
    assert memory_keyring.entries == {ENTRY: PASSPHRASE}


def test_set_prompts_twice_without_echo(pc07_env, monkeypatch, capsys, memory_keyring):
    import getpass
    answers = iter([PASSPHRASE, "typo"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    assert main(["secret", "set", "client-key"]) == 1
    assert "確認の入力が一致しません" in capsys.readouterr().err and memory_keyring.entries == {}


def test_check_reports_without_showing_secrets(pc07_env, monkeypatch, capsys, memory_keyring):
    assert main(["secret", "check", "client-key"]) == 1
    out = capsys.readouterr().out
    assert "保存先: OS の資格情報ストア" in out and "NG:" in out
    assert f"secret set client-key --terminal {TERMINAL}" in out
    memory_keyring.set_password(*ENTRY, "違う合言葉")
    assert main(["secret", "check"]) == 1
    out = capsys.readouterr().out
    assert "保存済みですが、この秘密鍵を開けません" in out and "違う合言葉" not in out
    memory_keyring.set_password(*ENTRY, PASSPHRASE)
    assert main(["secret", "check"]) == 0
    out = capsys.readouterr().out
    assert "OK: クライアント証明書:" in out and "暗号化あり" in out and "NG" not in out and PASSPHRASE not in out


def test_unencrypted_key_is_flagged(terminal_config, monkeypatch, capsys):
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(terminal_config(sslcert=f"plain/{TERMINAL}.crt",
                                                                sslkey=f"plain/{TERMINAL}.key")))
    assert main(["secret", "check"]) == 1
    assert "暗号化されていません" in capsys.readouterr().out
    _stdin(monkeypatch, "x\n")
    assert main(["secret", "set", "client-key", "--stdin"]) == 1
    assert "openssl pkey" in capsys.readouterr().err


def test_delete_and_explicit_terminal(monkeypatch, capsys, memory_keyring, tmp_path):
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(tmp_path / "none.toml"))
    assert main(["secret", "delete", "client-key"]) == 1
    assert "--terminal で端末名を指定" in capsys.readouterr().err
    _stdin(monkeypatch, "合言葉\n")
    assert main(["secret", "set", "client-key", "--terminal", "PC09", "--stdin"]) == 0
    assert "確かめていません" in capsys.readouterr().out  # no key configured on this machine
    assert memory_keyring.entries == {(SERVICE, "client-key:PC09"): "合言葉"}
    assert main(["secret", "delete", "client-key", "--terminal", "PC09"]) == 0
    assert "削除しました" in capsys.readouterr().out and memory_keyring.entries == {}
    assert main(["secret", "delete", "client-key", "--terminal", "PC09"]) == 0
    assert "保存されていません" in capsys.readouterr().out


def test_database_password_fills_the_job_url(scram_cluster, monkeypatch, capsys, memory_keyring):
    """The job's URL names the role only; `secret set database` supplies the password to every command."""
    name = scram_cluster.create_database()
    with psycopg.connect(host="127.0.0.1", port=scram_cluster.port, user="postgres", password=scram_cluster.password,
                         dbname="postgres", autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS mdg_job")
        c.execute("CREATE ROLE mdg_job LOGIN PASSWORD 'job-secret-1'")
        c.execute(f'ALTER DATABASE "{name}" OWNER TO mdg_job')
    url = f"postgresql+psycopg://mdg_job@127.0.0.1:{scram_cluster.port}/{name}"
    monkeypatch.setenv("MADOGUCHI_DATABASE_URL", url)
    assert main(["db", "status"]) == 1
    assert "職員IDまたはパスワードが違います" in capsys.readouterr().err  # (libpq: no password supplied)
    _stdin(monkeypatch, "job-secret-1\n")
    assert main(["secret", "set", "database", "--stdin"]) == 0  # the role comes from the URL
    assert "ロール mdg_job" in capsys.readouterr().out
    assert memory_keyring.entries == {(SERVICE, "database:mdg_job"): "job-secret-1"}
    assert main(["db", "status"]) == 1  # connected: the schema is simply not initialised
    assert "未初期化" in capsys.readouterr().out
    assert main(["secret", "check", "database"]) == 0
    out = capsys.readouterr().out
    assert "保存済み" in out and f"データベース {name}（ロール mdg_job）に接続できました" in out
    assert "job-secret-1" not in out
    memory_keyring.set_password(SERVICE, "database:mdg_job", "stale")
    assert main(["secret", "check", "database"]) == 1
    assert "NG: 接続できません" in capsys.readouterr().out


def _admin_script() -> str:
    return str(Path(sys.executable).parent / "madoguchi-admin")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_console_script_falls_back_to_an_owner_only_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    env.update(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               MADOGUCHI_CONFIG=str(tmp_path / "none.toml"))
    run = lambda *a, stdin="": subprocess.run([_admin_script(), "secret", *a], input=stdin,  # noqa: E731
                                              capture_output=True, text=True, env=env, timeout=60)
    secrets_file = tmp_path / "cfg" / "madoguchi" / "secrets.json"
    done = run("set", "database", "--url-user", "madoguchi_owner", "--stdin", stdin="s3cret\n")
    assert done.returncode == 0, done.stderr
    assert f"ファイル {secrets_file}" in done.stdout
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    done = run("check", "database", "--url-user", "madoguchi_owner")
    assert done.returncode == 0 and "保存済み" in done.stdout and "s3cret" not in done.stdout
    os.chmod(secrets_file, 0o644)
    done = run("check", "database", "--url-user", "madoguchi_owner")
    assert done.returncode == 1 and f"chmod 600 {secrets_file}" in done.stderr
    assert "Traceback" not in done.stderr
    os.chmod(secrets_file, 0o600)
    done = run("delete", "database", "--url-user", "madoguchi_owner")
    assert done.returncode == 0 and "削除しました" in done.stdout
