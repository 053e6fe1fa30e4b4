"""madoguchi-admin demo — デモ・研修用の架空データ.

`demo export --residents N --seed S --out DIR [--today YYYY-MM-DD] [--force]` writes a synthetic
深川市 core-system export (default layout) that `import` can load like a real one.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from madoguchi.errors import InputError
from madoguchi.sync.generator import FILES, generate_export

MAX_RESIDENTS = 5_000_000
_USAGE = "使い方: "


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private action type
    p = subparsers.add_parser(
        "demo", help="デモ・研修用の架空データを作成します",
        description="デモ・研修用の架空データ（実在しない深川市の住民）を作成します。")
    # prog given explicitly: argparse would format it with the parent's usage prefix included
    sub = p.add_subparsers(dest="demo_command", metavar="サブコマンド", required=True,
                           prog=p.prog.removeprefix(_USAGE), parser_class=_parser_class(p))
    e = sub.add_parser(
        "export", help="架空の基幹系連携データ（既定レイアウト）を出力します",
        description="架空の住民・資格・住所マスタを基幹系連携データの既定レイアウト（CSV と manifest.json）で"
                    "出力します。同じシード・基準日なら毎回同じ内容になります。")
    e.add_argument("--residents", type=int, default=20_000, metavar="人数",
                   help="住民数（転出・死亡の除票を含む residents.csv の行数。既定: 20000）")
    e.add_argument("--seed", type=int, default=1, metavar="シード",
                   help="乱数のシード（既定: 1）")
    e.add_argument("--out", type=Path, required=True, metavar="フォルダ",
                   help="出力先フォルダ（なければ作成します）")
    e.add_argument("--today", metavar="日付",
                   help="基準日 YYYY-MM-DD（年齢・資格の判定日。既定: 今日）")
    e.add_argument("--force", action="store_true",
                   help="出力先に既存のデータがあっても上書きします")
    e.set_defaults(handler=run_export)


def _parser_class(parent: argparse.ArgumentParser):  # noqa: ANN202
    """Nested sub-parsers get the same Japanese help as the parent."""

    def make(**kw) -> argparse.ArgumentParser:  # noqa: ANN003
        kw.setdefault("formatter_class", parent.formatter_class)
        kw["add_help"] = False
        sp = argparse.ArgumentParser(**kw)
        sp.add_argument("-h", "--help", action="help", help="このヘルプを表示して終了します")
        sp._positionals.title = "引数"
        sp._optionals.title = "オプション"
        return sp

    return make


def run_export(args: argparse.Namespace) -> int:
    if not 1 <= args.residents <= MAX_RESIDENTS:
        raise InputError(f"住民数は 1 から {MAX_RESIDENTS:,} までで指定してください（指定: {args.residents}）。")
    if args.today:
        try:
            today = date.fromisoformat(args.today)
        except ValueError:
            raise InputError(f"基準日「{args.today}」は YYYY-MM-DD の形式で指定してください。") from None
    else:
        today = date.today()
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError(f"出力先「{out}」はフォルダではありません。")
    existing = [name for name in (*FILES, "manifest.json") if (out / name).exists()]
    if existing and not args.force:
        raise InputError(f"出力先「{out}」には既にデータがあります（{existing[0]} など）。"
                         "上書きする場合は --force を付けてください。")
    started = time.perf_counter()
    try:
        folder = generate_export(out, args.residents, args.seed, today)
    except OSError as exc:
        raise InputError(f"出力先「{out}」に書き込めませんでした: {exc.strerror or exc}") from exc
    seconds = time.perf_counter() - started
    info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    counts = {f["name"]: f["rows"] for f in info["files"]}
    print(f"架空データを出力しました: {out}")
    print(f"  基準日 {today.isoformat()}  シード {args.seed}  所要 {seconds:.1f} 秒")
    print(f"  住民 {counts['residents.csv']:,} 人 / 資格 {counts['qualifications.csv']:,} 件 / "
          f"支援措置 {counts['support_measures.csv']:,} 件 / 住所 {counts['addresses.csv']:,} 件 / "
          f"方書 {counts['katagaki.csv']:,} 件")
    return 0
