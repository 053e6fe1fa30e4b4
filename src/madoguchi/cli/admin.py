"""madoguchi-admin — サーバ・管理者用コマンド.

Each sub-command group lives in its own `cmd_*.py` module exposing `register(subparsers)`; a
handler returns an exit code. Known errors print their Japanese message on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from madoguchi.errors import KnownError

_COMMAND_MODULES = (
    "madoguchi.cli.cmd_db",
    "madoguchi.cli.cmd_staff",
    "madoguchi.cli.cmd_audit",
    "madoguchi.cli.cmd_demo",
    "madoguchi.cli.cmd_import",
    "madoguchi.cli.cmd_case",
    "madoguchi.cli.cmd_procedures",
    "madoguchi.cli.cmd_backup",
    "madoguchi.cli.cmd_rpa",
    "madoguchi.cli.cmd_secret",
)


class _JapaneseHelpFormatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):  # noqa: ANN001
        return super().add_usage(usage, actions, groups, prefix if prefix is not None else "使い方: ")


_ARGPARSE_JA = (
    ("the following arguments are required", "次の引数が必要です"),
    ("unrecognized arguments", "不明な引数です"),
    ("invalid choice", "選べない値です"),
    ("expected one argument", "値を1つ指定してください"),
    ("invalid int value", "整数ではありません"),
    ("argument ", "引数 "),
)


class _Parser(argparse.ArgumentParser):
    """Japanese usage, help and errors, for every level of sub-command."""

    def __init__(self, *args, **kw) -> None:  # noqa: ANN002, ANN003
        kw.setdefault("formatter_class", _JapaneseHelpFormatter)
        kw["add_help"] = False
        super().__init__(*args, **kw)
        self.add_argument("-h", "--help", action="help", help="このヘルプを表示して終了します")
        self._positionals.title = "引数"
        self._optionals.title = "オプション"

    def error(self, message: str) -> None:  # type: ignore[override]
        for en, ja in _ARGPARSE_JA:
            message = message.replace(en, ja)
        self.print_usage(sys.stderr)
        self.exit(2, f"エラー: {message}\n使い方は --help で確認してください。\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="madoguchi-admin",
        description="窓口業務支援システム madoguchi のサーバ・管理用コマンドです。",
        epilog="データベースは --database URL、なければ環境変数 MADOGUCHI_DATABASE_URL で指定します（パスワードのない URL には "
               "`secret set database` で保存したパスワードを使います）。窓口端末の設定ファイルは使いません。",
    )
    parser.add_argument("--database", metavar="URL",
                        help="接続先データベース (SQLAlchemy URL)。例: postgresql+psycopg://user@host/madoguchi")
    parser.add_argument("-v", "--verbose", action="store_true", help="詳しいログを表示します")
    parser._positionals.title = "コマンド"
    sub = parser.add_subparsers(dest="command", metavar="コマンド", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except KnownError as exc:
        print(f"エラー: {exc.message}", file=sys.stderr)
        if exc.detail and args.verbose:
            print(exc.detail, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("中断しました。", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
