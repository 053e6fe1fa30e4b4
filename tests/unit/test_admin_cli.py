"""madoguchi-admin speaks Japanese: help, argument errors and known failures."""

from __future__ import annotations

import pytest

from madoguchi.cli.admin import main


def test_help_lists_every_command_in_japanese(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("使い方: madoguchi-admin")
    for cmd in ("db", "staff", "audit", "demo", "import", "case", "procedures", "backup", "rpa", "secret"):
        assert f"    {cmd} " in out


def test_sub_command_usage_prefix_appears_once(capsys):
    with pytest.raises(SystemExit):
        main(["staff", "add", "-h"])
    out = capsys.readouterr().out
    assert out.count("使い方:") == 1 and "職員ID" in out


def test_missing_arguments_are_reported_in_japanese(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["staff", "add"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "次の引数が必要です" in err and "--help" in err


def test_no_database_configured_is_a_japanese_error(monkeypatch, capsys):
    monkeypatch.delenv("MADOGUCHI_DATABASE_URL", raising=False)
    assert main(["audit", "verify"]) == 1
    assert "接続先データベースが指定されていません" in capsys.readouterr().err


def test_unreachable_server_is_a_japanese_error(capsys):
    assert main(["--database", "postgresql+psycopg://nobody@127.0.0.1:1/x", "db", "status"]) == 1
    assert "接続できません" in capsys.readouterr().err
