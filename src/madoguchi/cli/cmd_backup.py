"""madoguchi-admin backup — データベースのバックアップと復元."""

from __future__ import annotations

import argparse
from pathlib import Path

from madoguchi.cli.common import database_url
from madoguchi.services import audit
from madoguchi.store.db import Database
from madoguchi.sync import backup


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="バックアップと復元", description="データベースのバックアップと復元を行います。")
    bsub = p.add_subparsers(dest="backup_command", metavar="操作", required=True)
    q = bsub.add_parser("create", help="バックアップファイルを作成します", description="バックアップファイルを作成します。")
    q.add_argument("--out", required=True, type=Path, help="出力ファイル（例: /var/backups/madoguchi/2026-11-25.dump）")
    q.set_defaults(handler=_create)
    q = bsub.add_parser("restore", help="空のデータベースへ復元し、操作ログを検証します",
                        description="空のデータベースへ復元し、操作ログのハッシュ連鎖を検証します。")
    q.add_argument("file", type=Path, help="バックアップファイル")
    q.set_defaults(handler=_restore)


def _create(args: argparse.Namespace) -> int:
    out = backup.create_backup(database_url(args), args.out)
    print(f"バックアップを作成しました: {out}（{out.stat().st_size:,} バイト）")
    return 0


def _restore(args: argparse.Namespace) -> int:
    url = database_url(args)
    backup.restore_backup(url, args.file)
    db = Database.connect(url)
    with db.session() as s:
        result = audit.verify(s)
    db.dispose()
    print(f"復元しました。{result.message()}")
    return 0 if result.ok else 2
