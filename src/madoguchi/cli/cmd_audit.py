"""madoguchi-admin audit — 操作ログの検証・出力."""

from __future__ import annotations

import argparse

from madoguchi.cli.common import database_url
from madoguchi.services import audit
from madoguchi.store.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="操作ログの検証", description="操作ログ（監査ログ）を検証します。")
    asub = p.add_subparsers(dest="audit_command", metavar="操作", required=True)
    q = asub.add_parser("verify", help="ハッシュ連鎖を検証し、最初に壊れた記録を報告します",
                        description="ハッシュ連鎖を検証し、最初に壊れた記録を報告します。")
    q.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    db = Database.connect(database_url(args))
    with db.session() as s:
        result = audit.verify(s)
    print(result.message())
    return 0 if result.ok else 2
