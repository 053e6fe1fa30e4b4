"""madoguchi-admin case — ケースファイルによる対応の一括実行（試験・研修用）."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from madoguchi.cli.common import database_url
from madoguchi.services import case_runner
from madoguchi.store.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("case", help="ケースファイルで対応を実行します",
                       description="ケースファイル（YAML）に書かれた来庁・異動入力・メモ等を、"
                                   "窓口画面と同じ処理で実行し、結果を summary.json に書き出します。")
    csub = p.add_subparsers(dest="case_command", metavar="操作", required=True)
    r = csub.add_parser("run", help="ケースファイルを実行します",
                        description="ケースファイルを実行し、出力先に summary.json を書き出します。"
                                    "期待値（expect）と違えば終了コード 3 で終わります。")
    r.add_argument("case_file", metavar="CASE.yaml", type=Path, help="ケースファイル")
    r.add_argument("--out", metavar="DIR", type=Path, required=True, help="結果の出力先ディレクトリ")
    r.add_argument("--demo", action="store_true",
                   help="一時ディレクトリに使い捨ての SQLite を作り、ケースファイルの residents/towns を投入して実行します")
    r.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    spec = case_runner.load_case_file(args.case_file)
    if args.demo:
        with tempfile.TemporaryDirectory(prefix="madoguchi-case-") as tmp:
            db = case_runner.demo_database(Path(tmp))
            try:
                case_runner.seed_fixture(db, spec)
                summary = case_runner.run_case(db, spec, args.out, demo=True)
            finally:
                db.dispose()
    else:
        db = Database.connect(database_url(args), terminal="case-runner")
        try:
            summary = case_runner.run_case(db, spec, args.out)
        finally:
            db.dispose()
    print(f"受付番号 {summary['case_no']}（{summary['status_label']}）: {args.out / 'summary.json'}")
    for line in summary["move_text"]:
        print(f"  {line}")
    for f in summary["findings"]:
        mark = "エラー" if f["level"] == "error" else "警告"
        print(f"  [{mark}] {f['message']}")
    if not summary["expect"]["ok"]:
        for problem in summary["expect"]["problems"]:
            print(f"期待値と違います: {problem}", file=sys.stderr)
        return 3
    return 0
