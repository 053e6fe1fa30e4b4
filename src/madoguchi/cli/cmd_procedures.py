"""madoguchi-admin procedures — 手続き定義の検査と一覧."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from madoguchi.domain.procedures import (
    Severity,
    answers_from_spec,
    check_sources,
    evaluate_move,
    move_from_spec,
    parse_catalogue,
)
from madoguchi.services.procedure_catalogue import known_form_ids, read_sources
from madoguchi.domain.procedures.spec import SpecError
from madoguchi.domain.procedures.yamlsrc import load_marked
from madoguchi.errors import InputError
from madoguchi.resources import forms_path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("procedures", help="手続き定義（forms/procedures）の検査と一覧",
                              description="手続き定義（forms/procedures/*.yaml）を検査・一覧表示します。")
    sub = p.add_subparsers(dest="procedures_command", metavar="サブコマンド", required=True)

    c = sub.add_parser("check", help="定義を検査します（書式・項目・条件式・質問・帳票・テストケース）",
                       description="すべての手続き定義を検査し、問題をファイル名と行番号つきで表示します。"
                                   "エラーがあれば終了コード1で終わります。")
    _dirs(c)
    c.add_argument("--no-tests", action="store_true", help="YAMLのテストケースを実行しません")
    c.set_defaults(handler=cmd_check)

    ls = sub.add_parser("list", help="手続きの一覧、または異動ファイルに対して挙がる手続きを表示します",
                        description="引数なしでは定義の一覧を、--move を指定するとその異動で挙がる手続きと"
                                    "理由・表示される質問を表示します。")
    _dirs(ls)
    ls.add_argument("--move", metavar="FILE",
                    help="異動ファイル（YAML: move と answers。テストケースと同じ書き方）")
    ls.set_defaults(handler=cmd_list)


def _dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", metavar="DIR", type=Path, default=None,
                   help="手続き定義のフォルダ（既定: forms/procedures）")
    p.add_argument("--templates", metavar="DIR", type=Path, default=None,
                   help="帳票テンプレートのフォルダ（既定: forms/templates）")


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    return (args.dir or forms_path("procedures"), args.templates or forms_path("templates"))


def cmd_check(args: argparse.Namespace) -> int:
    directory, templates = _paths(args)
    sources = read_sources(directory)
    forms = known_form_ids(templates)
    catalogue, problems = check_sources(sources, forms, run_tests=not args.no_tests)
    for p in problems:
        print(p, file=sys.stderr if p.severity is Severity.ERROR else sys.stdout)
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = len(problems) - errors
    if forms is None:
        print(f"注意: 帳票テンプレート（{templates}）が見つからないため、帳票IDの確認を省略しました。")
    n_proc = len(catalogue.procedures) if catalogue else 0
    n_tests = len(catalogue.all_tests()) if catalogue else 0
    n_q = len(catalogue.questions) if catalogue else 0
    print(f"手続き {n_proc}件・質問 {n_q}件・テストケース {n_tests}件を検査しました。"
          f"エラー {errors}件、警告 {warnings}件。")
    return 1 if errors else 0


def cmd_list(args: argparse.Namespace) -> int:
    directory, templates = _paths(args)
    catalogue = parse_catalogue(read_sources(directory), known_form_ids(templates))
    if not args.move:
        for p in catalogue.procedures.values():
            scope = "世帯" if p.scope == "household" else "個人"
            mark = "（個別受付のみ）" if p.manual_only else ""
            print(f"{p.id}\t{p.name}{mark}\t{p.department}\t{scope}\t{','.join(p.forms)}")
        return 0
    path = Path(args.move)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"異動ファイル {path} を読めません（{exc.strerror}）。") from None
    doc, problems = load_marked(text, path.name)
    if problems:
        raise InputError(str(problems[0]))
    if not isinstance(doc, dict) or "move" not in doc:
        raise InputError(f"{path.name}: move（異動）を書いてください。")
    try:
        move = move_from_spec(doc["move"])
        answers = answers_from_spec(doc.get("answers"))
    except SpecError as exc:
        raise InputError(f"{path.name}: {exc}") from None
    ev = evaluate_move(move, answers, catalogue)
    print("■ 手続き")
    for x in ev.listed:
        who = x.member_name or f"世帯 {x.household_key}"
        print(f"{x.procedure_id}\t{x.name}\t{who}\t{' / '.join(x.reasons)}")
    print("■ 確認事項")
    for q in ev.questions:
        who = q.member_name or f"世帯 {q.household_key}"
        answer = ("未回答" if q.answer is None else "はい" if q.answer is True
                  else "いいえ" if q.answer is False else q.answer)
        print(f"{q.question_id}\t{who}\t{q.text}\t{answer}")
    return 0
