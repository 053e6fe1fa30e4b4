"""madoguchi-admin db — スキーマの作成・更新・状態表示."""

from __future__ import annotations

import argparse

from madoguchi.cli.common import database_url
from madoguchi.store import migrate
from madoguchi.store.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="データベースの初期化・更新", description="データベースの初期化・更新を行います。")
    dsub = p.add_subparsers(dest="db_command", metavar="操作", required=True)
    for name, helptext in (("init", "空のデータベースにスキーマ・ロール・権限を作成します（既存なら最新版へ更新）"),
                           ("upgrade", "スキーマを最新版へ更新します"),
                           ("status", "スキーマの版を表示します")):
        q = dsub.add_parser(name, help=helptext, description=helptext)
        q.set_defaults(handler=_handlers[name])
    q = dsub.add_parser("downgrade", help="スキーマを指定の版へ戻します（検証環境用）",
                        description="スキーマを指定の版へ戻します（検証環境用）")
    q.add_argument("revision", help="戻す先の版（base で空に戻す）")
    q.set_defaults(handler=_downgrade)


def _init(args: argparse.Namespace) -> int:
    db = Database.connect(database_url(args))
    migrate.upgrade(db.engine)
    print(f"データベースを最新版（{migrate.head_revision()}）にしました。")
    return 0


def _status(args: argparse.Namespace) -> int:
    db = Database.connect(database_url(args))
    try:
        cur = migrate.current_revision(db.engine)
    finally:
        db.dispose()
    head = migrate.head_revision()
    state = "最新です" if cur == head else "更新が必要です（madoguchi-admin db upgrade）"
    print(f"現在の版: {cur or '未初期化'} / アプリの版: {head} — {state}")
    return 0 if cur == head else 1


def _downgrade(args: argparse.Namespace) -> int:
    db = Database.connect(database_url(args))
    migrate.downgrade(db.engine, args.revision)
    print(f"データベースを版 {args.revision} に戻しました。")
    return 0


_handlers = {"init": _init, "upgrade": _init, "status": _status}
