"""madoguchi-admin audit — 操作ログの検証・出力."""

from __future__ import annotations

import argparse
from pathlib import Path

from madoguchi.cli.common import database_url
from madoguchi.services import audit
from madoguchi.store.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="操作ログの検証", description="操作ログ（監査ログ）を検証します。")
    asub = p.add_subparsers(dest="audit_command", metavar="操作", required=True)
    q = asub.add_parser("verify", help="ハッシュ連鎖を検証し、最初に壊れた記録を報告します",
                        description="ハッシュ連鎖を検証し、最初に壊れた記録を報告します。")
    q.set_defaults(handler=_verify)
    q = asub.add_parser("export", help="指定した年の操作ログをハッシュ付きで書き出します（長期保管・退避用）",
                        description="指定した年の操作ログを JSON Lines（各行にハッシュ）で書き出します。")
    q.add_argument("--year", type=int, required=True, help="西暦年（例: 2026）")
    q.add_argument("--out", type=Path, required=True, help="出力ファイル（.jsonl）")
    q.set_defaults(handler=_export)


def _verify(args: argparse.Namespace) -> int:
    db = Database.connect(database_url(args))
    with db.session() as s:
        result = audit.verify(s)
    print(result.message())
    return 0 if result.ok else 2


def _export(args: argparse.Namespace) -> int:
    db = Database.connect(database_url(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with db.session() as s, args.out.open("w", encoding="utf-8") as fh:
        count, last = audit.export_year(s, args.year, fh)
    print(f"{args.year}年の操作ログ {count} 件を {args.out} に書き出しました。最後のハッシュ: {last or '（なし）'}")
    return 0
