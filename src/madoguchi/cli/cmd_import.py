"""madoguchi-admin import — 基幹系の出力データを取り込みます."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import date

from madoguchi.cli.common import database_url
from madoguchi.errors import InputError
from madoguchi.store.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="基幹系の出力データ（住民・資格・支援措置・住所マスタ）を取り込みます",
        description="基幹系の出力フォルダを検査し、全件を一括で差し替えます。失敗したときは前回のデータのままです。")
    p.add_argument("folder", metavar="DIR", help="出力フォルダ（manifest.json と residents.csv などがある場所）")
    p.add_argument("--mapping", metavar="FILE",
                   help="マッピングファイル（TOML）。省略時は標準レイアウト（server_sync/mappings/default.toml と同じ）")
    p.add_argument("--actor", metavar="NAME", help="実行者として記録する名前（省略時は OS のユーザ名）")
    p.add_argument("--today", metavar="YYYY-MM-DD", help="支援措置の有効判定に使う日付（検証用。省略時は今日）")
    p.add_argument("--full", action="store_true",
                   help="前回から変わっていない行も含めて全行を読み直して検査・比較します（通常は変わった行だけを読みます）")
    p.add_argument("--quiet", action="store_true", help="進捗を表示しません")
    p.set_defaults(handler=_import)


def _progress_printer(enabled: bool, tty: bool):  # noqa: ANN202
    """On a terminal one line updated in place; in a log (systemd journal) one line per stage."""
    state = {"at": 0.0, "stage": ""}

    def show(stage: str, done: int, total: int | None) -> None:
        if not enabled:
            return
        now = time.monotonic()
        # Rows for the reading stages; the end is reported as 1 of 1 (a full progress bar), not rows.
        amount = "" if stage == "完了" else f" {done:,}/{total:,} 行" if total else (f" {done:,} 行" if done else "")
        if not tty:
            if stage != state["stage"]:
                state["stage"] = stage
                print(f"進捗: {stage}", file=sys.stderr, flush=True)
            return
        if now - state["at"] < 0.3 and stage != "完了":
            return
        state["at"] = now
        print(f"\r{stage}{amount}".ljust(60), end="", file=sys.stderr, flush=True)
        if stage == "完了":
            print(file=sys.stderr)

    return show


def _import(args: argparse.Namespace) -> int:
    from madoguchi.sync.importer import import_export

    today = None
    if args.today:
        try:
            today = date.fromisoformat(args.today)
        except ValueError:
            raise InputError(f"--today の日付「{args.today}」が読めません（例: 2026-11-24）。") from None
    db = Database.connect(database_url(args))
    try:
        result = import_export(db, args.folder, args.mapping, actor=args.actor or getpass.getuser(),
                               progress=_progress_printer(not args.quiet, sys.stderr.isatty()), today=today,
                               full=args.full)
    finally:
        db.dispose()
    print(f"取込番号 {result.run_id}: {result.message}（{result.duration:.1f} 秒）")
    for kind, c in result.counts.items():
        read = (f"前回から変わった {c['parsed']:,} 行を検査" if c.get("mode") == "delta" else "全行を検査")
        print(f"  {c['file']}: {c['rows']:,} 行（{read}、取込 {c['loaded']:,}、除外 {c['quarantined']:,}）")
    for issue in result.issues[:20]:
        print(f"  除外: {issue.text()}")
    if len(result.issues) > 20:
        print(f"  …ほか {len(result.issues) - 20} 件（import_issues 表に記録しました）")
    return 0
