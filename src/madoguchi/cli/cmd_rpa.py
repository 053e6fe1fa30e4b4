"""madoguchi-admin rpa — RPA 連携用データの出力（F18）."""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from pathlib import Path

from madoguchi.cli.common import database_url
from madoguchi.errors import InputError
from madoguchi.services import rpa
from madoguchi.services.context import Actor
from madoguchi.store.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rpa", help="RPA 連携用データの出力", description="完了した対応を RPA 連携用のファイルに出力します。")
    rsub = p.add_subparsers(dest="rpa_command", metavar="操作", required=True)
    q = rsub.add_parser("export", help="前回の出力以降に完了した対応を出力します",
                        description="前回の出力以降に完了した対応を CSV（UTF-8 BOM付き）と manifest.json で出力します。")
    q.add_argument("--out", type=Path, required=True, help="出力先フォルダ（この中に rpa-日時 フォルダを作ります）")
    q.add_argument("--since", help="この日時より後に完了した対応を出力（例: 2026-11-24T00:00:00+09:00）。前回の記録は進めません")
    q.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise InputError(f"--since「{args.since}」を日時として読めません。例: 2026-11-24T00:00:00+09:00") from None
    db = Database.connect(database_url(args))
    actor = Actor(login=getpass.getuser(), display_name="RPA出力", terminal="server")
    result = rpa.export_cases(db, actor, args.out, since=since, advance_watermark=since is None)
    print(result.message())
    return 0
