"""madoguchi-admin import: output, exit codes, database selection."""

from __future__ import annotations

import pytest
from kikan_fixtures import TODAY, write_export

from madoguchi.cli.admin import main


def test_import_command(sqlite_url, tmp_path, capsys):
    folder = write_export(tmp_path / "e")
    args = ["--database", sqlite_url, "import", str(folder), "--actor", "ops", "--today", TODAY.isoformat()]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "進捗: 読込 residents.csv" in captured.err and "進捗: 完了" in captured.err
    assert "取込が完了しました（転入等 5 人" in out and "residents.csv: 5 行（全行を検査、取込 5、除外 0）" in out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "変更はありません" in out and "residents.csv: 5 行（前回から変わった 0 行を検査、取込 5、除外 0）" in out
    assert main(args + ["--full"]) == 0  # the troubleshooting way: every row read and compared again
    out = capsys.readouterr().out
    assert "変更はありません" in out and "residents.csv: 5 行（全行を検査、取込 5、除外 0）" in out


def test_import_command_reports_failure_in_japanese(sqlite_url, tmp_path, capsys, monkeypatch):
    folder = write_export(tmp_path / "e")
    (folder / "manifest.json").unlink()
    monkeypatch.setenv("MADOGUCHI_DATABASE_URL", sqlite_url)
    assert main(["import", str(folder)]) == 1
    assert "エラー: manifest.json がありません" in capsys.readouterr().err


def test_import_command_needs_a_database(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MADOGUCHI_DATABASE_URL", raising=False)
    assert main(["import", str(tmp_path)]) == 1
    assert "MADOGUCHI_DATABASE_URL" in capsys.readouterr().err


def test_import_command_rejects_bad_today(sqlite_url, tmp_path, capsys):
    assert main(["--database", sqlite_url, "import", str(tmp_path), "--today", "2026-13-01"]) == 1
    assert "--today の日付" in capsys.readouterr().err


def test_import_command_help_is_japanese(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "基幹系の出力フォルダ" in capsys.readouterr().out


def test_terminal_progress_is_one_line_rewritten_and_ends_without_a_count(capsys):
    from madoguchi.cli.cmd_import import _progress_printer

    show = _progress_printer(enabled=True, tty=True)
    show("読込 residents.csv", 0, 20000)
    show("完了", 1, 1)
    err = capsys.readouterr().err
    lines = err.split("\r")
    assert lines[1].rstrip() == "読込 residents.csv 0/20,000 行"
    assert lines[2].rstrip() == "完了" and err.endswith("\n")
