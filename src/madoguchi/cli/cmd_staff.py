"""madoguchi-admin staff — 職員（ログインロール）とグループの管理."""

from __future__ import annotations

import argparse
import getpass
import os

from madoguchi.cli.common import database_url
from madoguchi.errors import InputError
from madoguchi.services import staff
from madoguchi.services.auth import system_info
from madoguchi.store.db import Database
from madoguchi.store.security import GROUPS

_GROUP_HELP = "、".join(f"{g.code}={g.name}" for g in GROUPS)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("staff", help="職員とグループの管理", description="職員（ログインロール）とグループを管理します。")
    ssub = p.add_subparsers(dest="staff_command", metavar="操作", required=True)
    q = ssub.add_parser("add", help="職員を登録します", description="職員を登録し、ログインロールを作成します。")
    q.add_argument("login", help="職員ID（半角英小文字・数字・_）")
    q.add_argument("--name", required=True, help="氏名（画面・帳票に表示）")
    q.add_argument("--group", action="append", default=[], help=f"所属グループ（複数可）: {_GROUP_HELP}")
    q.add_argument("--password-env", metavar="VAR",
                   help="初期パスワードを読む環境変数名（省略時は端末で入力）")
    q.set_defaults(handler=_add)
    for name, helptext in (("disable", "職員を利用停止にします（ログイン不可）"), ("enable", "利用停止を解除します")):
        q = ssub.add_parser(name, help=helptext, description=helptext)
        q.add_argument("login", help="職員ID")
        q.set_defaults(handler=_disable if name == "disable" else _enable)
    for name, helptext in (("grant", "職員をグループに加えます"), ("revoke", "職員をグループから外します")):
        q = ssub.add_parser(name, help=helptext, description=helptext)
        q.add_argument("login", help="職員ID")
        q.add_argument("group", help=f"グループ: {_GROUP_HELP}")
        q.set_defaults(handler=_grant if name == "grant" else _revoke)
    q = ssub.add_parser("password", help="パスワードを再設定します", description="パスワードを再設定します")
    q.add_argument("login", help="職員ID")
    q.add_argument("--password-env", metavar="VAR", help="新しいパスワードを読む環境変数名")
    q.set_defaults(handler=_password)
    q = ssub.add_parser("list", help="職員の一覧を表示します", description="職員の一覧を表示します")
    q.set_defaults(handler=_list)


def _password_from(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise InputError(f"環境変数 {args.password_env} にパスワードが設定されていません。")
        return value
    first = getpass.getpass("パスワード: ")
    if first != getpass.getpass("パスワード（確認）: "):
        raise InputError("確認のパスワードが一致しません。")
    return first


def _db(args: argparse.Namespace) -> Database:
    return Database.connect(database_url(args))


def _add(args: argparse.Namespace) -> int:
    staff.add_staff(_db(args), system_info(getpass.getuser()), args.login, args.name, _password_from(args),
                    args.group)
    print(f"職員 {args.login}（{args.name}）を登録しました。")
    return 0


def _disable(args: argparse.Namespace) -> int:
    staff.set_disabled(_db(args), system_info(getpass.getuser()), args.login, True)
    print(f"職員 {args.login} を利用停止にしました。")
    return 0


def _enable(args: argparse.Namespace) -> int:
    staff.set_disabled(_db(args), system_info(getpass.getuser()), args.login, False)
    print(f"職員 {args.login} の利用停止を解除しました。")
    return 0


def _grant(args: argparse.Namespace) -> int:
    staff.grant(_db(args), system_info(getpass.getuser()), args.login, args.group)
    print(f"職員 {args.login} をグループ {args.group} に加えました。")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    staff.revoke(_db(args), system_info(getpass.getuser()), args.login, args.group)
    print(f"職員 {args.login} をグループ {args.group} から外しました。")
    return 0


def _password(args: argparse.Namespace) -> int:
    staff.set_password(_db(args), system_info(getpass.getuser()), args.login, _password_from(args))
    print(f"職員 {args.login} のパスワードを再設定しました。")
    return 0


def _list(args: argparse.Namespace) -> int:
    for s in staff.list_staff(_db(args)):
        state = "停止" if s.disabled else "有効"
        print(f"{s.login}\t{s.display_name}\t{state}\t{','.join(s.groups)}")
    return 0
