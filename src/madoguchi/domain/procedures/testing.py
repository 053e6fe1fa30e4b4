"""Running one YAML test case: the failure (Japanese, naming file and case) or None."""

from __future__ import annotations

from madoguchi.errors import KnownError

from .listing import evaluate_move
from .model import Catalogue, TestCase
from .spec import SpecError, answers_from_spec, move_from_spec


def run_case(case: TestCase, catalogue: Catalogue) -> tuple[str | None, set[str]]:
    """Returns (failure message or None, ids of the questions shown in this case)."""
    what = case.procedure_id or "シナリオ"
    head = f"{case.file} {case.line}行目 テスト「{case.name}」（{what}）"
    try:
        move = move_from_spec(case.move)
        answers = answers_from_spec(case.answers)
        ev = evaluate_move(move, answers, catalogue)
    except (SpecError, KnownError) as exc:
        return f"{head}: {exc}", set()
    shown = {q.question_id for q in ev.questions}
    unknown = {(qid, subject) for qid, subject in answers
               if not any(q.question_id == qid and q.subject == subject for q in ev.questions)}
    problems = []
    if case.expect is not None:
        got_by: dict[str, list[str]] = {}
        for x in ev.listed:
            got_by.setdefault(x.subject, []).append(x.procedure_id)
        for subject in sorted(set(got_by) | set(case.expect)):
            want, got_ids = set(case.expect.get(subject, ())), set(got_by.get(subject, ()))
            if want != got_ids:
                extra, missing = sorted(got_ids - want), sorted(want - got_ids)
                problems.append(f"{subject}: " + "、".join(
                    ([f"余分 {extra}"] if extra else []) + ([f"不足 {missing}"] if missing else [])))
        if unknown:
            listed = ", ".join(f"{s}:{q}" for q, s in sorted(unknown))
            problems.append(f"表示されない質問に回答しています（{listed}）")
        return (f"{head}: {'。'.join(problems)}。" if problems else None), shown
    got = [x.subject for x in ev.listed if x.procedure_id == case.procedure_id]
    if sorted(got) != sorted(case.listed):
        problems.append(f"期待した対象 {list(case.listed) or '（なし）'} に対し、"
                        f"実際は {got or '（なし）'} でした")
    if unknown:
        listed = ", ".join(f"{s}:{q}" for q, s in sorted(unknown))
        problems.append(f"表示されない質問に回答しています（{listed}）")
    if problems:
        reasons = "; ".join(f"{x.subject}: {' / '.join(x.reasons)}" for x in ev.listed
                            if x.procedure_id == case.procedure_id)
        return f"{head}: {'。'.join(problems)}。" + (f" 理由: {reasons}" if reasons else ""), shown
    return None, shown
