"""madoguchi-admin demo — デモ・研修用の架空データ.

`demo export --residents N --seed S --out DIR [--today YYYY-MM-DD] [--force]` writes a synthetic
深川市 core-system export (default layout) that `import` can load like a real one.

`demo evolve --from DIR --out DIR [--seed S] [--today YYYY-MM-DD] [--days N] [--scale X] [--force]`
writes the next day's export of such a folder: the same people after a day of moves, births, deaths,
card renewals … (研修サーバの「翌日」のデータ, nightly-import benchmarks).
"""

from __future__ import annotations

import argparse
import json
import time
import unicodedata
from datetime import date
from pathlib import Path

from madoguchi.errors import InputError
from madoguchi.sync.evolve import EvolveRates, evolve_export
from madoguchi.sync.generator import FILES, generate_export

MAX_RESIDENTS = 5_000_000
MAX_DAYS = 366
# evolve's change kinds as the summary prints them: (key, label, unit)
_EVOLVE_LINES = (
    ("住民", (("move_within", "転居", "世帯"), ("move_within_persons", "　うち人数", "人"),
             ("household_split", "世帯分離して転居", "人"), ("move_out", "転出", "世帯"),
             ("move_out_persons", "　転出した人（単身の転出を含む）", "人"), ("move_in", "転入", "世帯"),
             ("move_in_persons", "　うち人数", "人"), ("birth", "出生", "人"), ("death", "死亡", "人"),
             ("head_change", "世帯主変更", "世帯"), ("head_change_persons", "　続柄などが変わった人", "人"),
             ("card_issued", "マイナンバーカード交付", "人"), ("card_renewed", "マイナンバーカード更新", "人"),
             ("e_cert_renewed", "署名用電子証明書更新", "人"), ("residence_renewed", "在留期間更新", "人"))),
    ("資格", (("kokuho_join", "国保加入", "人"), ("kokuho_loss", "国保喪失", "人"),
             ("kouki_start", "後期高齢者医療（75歳到達）", "人"), ("kaigo_start", "介護保険（65歳到達）", "人"),
             ("kaigo_grade", "要介護認定の変更", "人"), ("inkan", "印鑑登録", "人"),
             ("qualification_started", "資格の行 開始", "行"), ("qualification_ended", "資格の行 終了", "行"),
             ("qualification_changed", "資格の行 内容変更", "行"))),
    ("支援措置", (("support_started", "開始", "件"), ("support_extended", "延長", "件"),
               ("support_ended", "終了", "件"))),
    ("住所マスタ", (("banchi_added", "番地の追加", "件"), ("building_added", "建物の追加", "棟"),
                ("katagaki_added", "方書の追加", "件"))),
)
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

    v = sub.add_parser(
        "evolve", help="架空の基幹系連携データを1日（または数日）進めた翌日分を出力します",
        description="demo export などで作った基幹系連携データ（既定レイアウトの全件出力）を読み、"
                    "転居・転出・転入・出生・死亡・世帯主変更・マイナンバーカードの交付と更新・資格の加入と喪失・"
                    "支援措置・住所マスタの追加といった1日分の異動を加えた翌日の全件出力を書きます。"
                    "変わらない行は元のまま（バイト単位で同じ）です。研修サーバの「翌日」のデータや、"
                    "毎晩の取込の性能測定に使います。同じ元データ・シード・基準日なら毎回同じ内容になります。")
    v.add_argument("--from", dest="source", type=Path, required=True, metavar="フォルダ",
                   help="元データのフォルダ（manifest.json と5つの CSV があるフォルダ）")
    v.add_argument("--out", type=Path, required=True, metavar="フォルダ",
                   help="出力先フォルダ（なければ作成します。元データと別のフォルダ）")
    v.add_argument("--seed", type=int, default=1, metavar="シード",
                   help="乱数のシード（既定: 1）")
    v.add_argument("--today", metavar="日付",
                   help="基準日 = 出力する連携データの日付 YYYY-MM-DD（既定: 元データの日付の翌日、"
                        "--days を付けたときはその日数後）")
    v.add_argument("--days", type=int, default=1, metavar="日数",
                   help=f"何日分進めるか（1〜{MAX_DAYS}。既定: 1）")
    v.add_argument("--scale", type=float, default=1.0, metavar="倍率",
                   help="異動の量の倍率（既定: 1 = 引越しの多い時期の平日、住民の約0.5%%の行が変わります）")
    v.add_argument("--force", action="store_true",
                   help="出力先に既存のデータがあっても上書きします")
    v.set_defaults(handler=run_evolve)


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


def _today(value: str | None, label: str = "基準日") -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{label}「{value}」は YYYY-MM-DD の形式で指定してください。") from None


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"出力先「{out}」はフォルダではありません。")
    existing = [name for name in (*FILES, "manifest.json") if (out / name).exists()]
    if existing and not force:
        raise InputError(f"出力先「{out}」には既にデータがあります（{existing[0]} など）。"
                         "上書きする場合は --force を付けてください。")


def run_export(args: argparse.Namespace) -> int:
    if not 1 <= args.residents <= MAX_RESIDENTS:
        raise InputError(f"住民数は 1 から {MAX_RESIDENTS:,} までで指定してください（指定: {args.residents}）。")
    today = _today(args.today) or date.today()
    out: Path = args.out
    _check_out(out, args.force)
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


def _pad(text: str, width: int) -> str:
    """Left-justify for a terminal: full-width characters take two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def run_evolve(args: argparse.Namespace) -> int:
    source: Path = args.source
    out: Path = args.out
    if not 1 <= args.days <= MAX_DAYS:
        raise InputError(f"日数は 1 から {MAX_DAYS} までで指定してください（指定: {args.days}）。")
    if not 0 <= args.scale <= 100:
        raise InputError(f"倍率は 0 から 100 までで指定してください（指定: {args.scale:g}）。")
    today = _today(args.today)
    if not source.is_dir():
        raise InputError(f"元データのフォルダ「{source}」がありません。demo export で作ったフォルダなど、"
                         "manifest.json と5つの CSV があるフォルダを --from に指定してください。")
    if out.exists() and out.resolve() == source.resolve():
        raise InputError("出力先に元データと同じフォルダは指定できません。--out に別のフォルダを指定してください。")
    _check_out(out, args.force)
    started = time.perf_counter()
    try:
        summary = evolve_export(source, out, args.seed, today, days=args.days,
                                rates=EvolveRates().scaled(args.scale))
    except OSError as exc:
        raise InputError(f"出力先「{out}」に書き込めませんでした: {exc.strerror or exc}") from exc
    seconds = time.perf_counter() - started
    rows, c, p = summary.rows, summary.changes, summary.persons
    span = (f"{summary.source_date.isoformat()} → {summary.today.isoformat()}"
            + (f"（{summary.days} 日分）" if summary.days > 1 else ""))
    print(f"翌日分の架空データを出力しました: {out}")
    print(f"  日付 {span}  シード {args.seed}  倍率 {args.scale:g}  所要 {seconds:.1f} 秒")
    print(f"  住民 {rows['residents.csv']:,} 行（うち住登者 {summary.current_residents:,} 人） / "
          f"資格 {rows['qualifications.csv']:,} 件 / 支援措置 {rows['support_measures.csv']:,} 件 / "
          f"住所 {rows['addresses.csv']:,} 件 / 方書 {rows['katagaki.csv']:,} 件")
    print(f"  取込で見込まれる変更: 転入等 {p['new']} 人、住所変更 {p['moved']} 人、"
          f"その他の変更 {p['changed']} 人、消除等 {p['removed']} 人")
    for group, lines in _EVOLVE_LINES:
        print(f"  {group}:")
        for key, label, unit in lines:
            print(f"    {_pad(label, 34)} {c.get(key, 0):>7,} {unit}")
    return 0
