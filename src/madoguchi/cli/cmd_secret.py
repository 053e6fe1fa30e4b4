"""madoguchi-admin secret — 秘密情報（クライアント証明書の鍵のパスフレーズ、ジョブの DB パスワード）の保存・確認・削除.

Nothing here ever prints a secret. Where it is kept: see `madoguchi.secret_store`.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from madoguchi.cli.common import given_database_url
from madoguchi.config import AppConfig, config_path, load_config
from madoguchi.errors import InputError
from madoguchi.secret_store import SECRETS_FILE_ENV, client_key_entry, database_entry, open_store
from madoguchi.services import credentials

_KINDS = {"client-key": "この端末のクライアント証明書の秘密鍵のパスフレーズ（窓口端末）",
          "database": "サーバのジョブがデータベースに接続するロールのパスワード"}
_KIND_HELP = "、".join(f"{k}={v}" for k, v in _KINDS.items())
_WHERE = (f"保存先は OS の資格情報ストア（Windows では資格情報マネージャ、keyring のサービス名 madoguchi）です。"
          f"使える資格情報ストアがない Linux サーバでは、環境変数 {SECRETS_FILE_ENV} のファイル"
          "（所有者だけが読める権限 0600）に保存します。")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secret", help="秘密情報（鍵のパスフレーズ・ジョブの DB パスワード）の保存と確認",
                       description="クライアント証明書の秘密鍵のパスフレーズや、サーバのジョブの DB パスワードを"
                                   "保存・確認・削除します。秘密情報そのものは表示しません。\n" + _WHERE)
    ssub = p.add_subparsers(dest="secret_command", metavar="操作", required=True)
    q = ssub.add_parser("set", help="秘密情報を保存します（上書き）",
                        description="秘密情報を保存します（既にあれば上書き）。入力は画面に表示されません。\n" + _WHERE)
    _kind_args(q, optional=False)
    q.add_argument("--stdin", action="store_true", help="端末で入力せず、標準入力の1行目を読みます（自動化用）")
    q.set_defaults(handler=_set)
    q = ssub.add_parser("check", help="何が保存されているか、鍵を開けられるかを確認します",
                        description="保存先と、何が保存されているかを表示し、設定された秘密鍵をパスフレーズで開けるか"
                                    "（database では接続できるか）を確かめます。問題があれば終了コード 1。")
    _kind_args(q, optional=True)
    q.set_defaults(handler=_check)
    q = ssub.add_parser("delete", help="保存した秘密情報を削除します", description="保存した秘密情報を削除します。")
    _kind_args(q, optional=False)
    q.set_defaults(handler=_delete)


def _kind_args(q: argparse.ArgumentParser, *, optional: bool) -> None:
    q.add_argument("kind", choices=list(_KINDS), nargs="?" if optional else None, metavar="種類",
                   help=f"{_KIND_HELP}" + ("（省略時は両方）" if optional else ""))
    q.add_argument("--terminal", metavar="NAME", help="端末名（client-key。省略時は設定ファイルの [terminal] name）")
    q.add_argument("--url-user", metavar="NAME",
                   help="データベースのロール名（database。省略時は --database / MADOGUCHI_DATABASE_URL のユーザ名）")


def _config() -> AppConfig | None:
    return load_config() if config_path().exists() else None


def _terminal(args: argparse.Namespace, config: AppConfig | None) -> str:
    if args.terminal:
        return args.terminal
    if config is None:
        raise InputError(f"端末名がわかりません（設定ファイル {config_path()} がありません）。"
                         "--terminal で端末名を指定してください。")
    return config.terminal


def _role(args: argparse.Namespace) -> str:
    if args.url_user:
        return args.url_user
    url = given_database_url(args)
    try:
        role = make_url(url).username if url else None
    except ArgumentError:
        role = None
    if not role:
        raise InputError("ロール名がわかりません。--url-user でロール名を指定するか、--database / "
                         "MADOGUCHI_DATABASE_URL にユーザ名入りの URL を指定してください。")
    return role


def _read_secret(args: argparse.Namespace, what: str) -> str:
    if args.stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"{what}: ")
    if first != getpass.getpass(f"{what}（確認）: "):
        raise InputError("確認の入力が一致しません。保存していません。")
    return first


def _set(args: argparse.Namespace) -> int:
    store = open_store()
    if args.kind == "client-key":
        config = _config()
        terminal = _terminal(args, config)
        passphrase = _read_secret(args, "秘密鍵のパスフレーズ")
        checked = credentials.store_client_key_passphrase(config.profile if config else None, terminal, passphrase,
                                                          store)
        note = ("設定された秘密鍵を開けることを確かめました。" if checked
                else "秘密鍵が設定されていないため、パスフレーズが正しいかは確かめていません。")
        print(f"端末 {terminal} の秘密鍵のパスフレーズを{store.label}に保存しました。{note}")
    else:
        role = _role(args)
        credentials.store_database_password(role, _read_secret(args, f"ロール {role} のパスワード"), store)
        print(f"ロール {role} のデータベースのパスワードを{store.label}に保存しました。"
              "確認: madoguchi-admin secret check database")
    return 0


def _check(args: argparse.Namespace) -> int:
    store = open_store()
    print(f"保存先: {store.label}")
    findings: list[credentials.Finding] = []
    if args.kind in (None, "client-key"):
        config = _config()
        if args.kind or args.terminal or (config and config.profile):
            terminal = _terminal(args, config)
            findings += credentials.check_client_key(config.profile if config else None, terminal, store)
    if args.kind in (None, "database"):
        if args.kind or args.url_user or given_database_url(args):
            url = given_database_url(args)
            findings += credentials.check_database(url, _role(args), store)
    if not findings:
        findings.append(credentials.Finding(True, "確認する対象がありません（設定ファイルも MADOGUCHI_DATABASE_URL も"
                                                  "ありません）。--terminal か --url-user を指定してください。"))
    for f in findings:
        print(f"{'OK' if f.ok else 'NG'}: {f.text}")
    return 0 if all(f.ok for f in findings) else 1


def _delete(args: argparse.Namespace) -> int:
    store = open_store()
    if args.kind == "client-key":
        terminal = _terminal(args, _config())
        name, what = client_key_entry(terminal), f"端末 {terminal} の秘密鍵のパスフレーズ"
    else:
        role = _role(args)
        name, what = database_entry(role), f"ロール {role} のデータベースのパスワード"
    if store.delete(name):
        print(f"{what}を{store.label}から削除しました。")
    else:
        print(f"{what}は{store.label}に保存されていません（削除するものはありません）。")
    return 0
