"""The case runner's procedure step: apply the case file's answers, list, store, write procedures.json.

`run_step(ctx)` goes through `ProcedureService` exactly as the procedure panel does, so the stored
selection (selected_procedures), the case events and the audit trail are those of a real visit.

Answers in a case file, either form:
    answers: {new-A: {ninshin: false}, new-1: {shakai_hoken: false}}     # subject → question → value
    answers: [{question: shakai_hoken, subject: new-1, value: false}]    # in order
Household questions that show member questions come first in either form (file order is kept).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from madoguchi.errors import InputError
from madoguchi.services.procedures import ProcedureListing, ProcedureRow, ProcedureService, answer_text

if TYPE_CHECKING:
    from madoguchi.services.case_runner import RunContext

OUTPUT_FILE = "procedures.json"


def answers_in_order(spec: object) -> list[tuple[str, str, object]]:
    """(question id, subject, value) from either answers form of a case file."""
    if spec is None:
        return []
    out: list[tuple[str, str, object]] = []
    if isinstance(spec, dict):
        for subject, per in spec.items():
            if not isinstance(per, dict):
                raise InputError(f"answers の {subject} は {{質問ID: 回答}} で書いてください。")
            out += [(str(qid), str(subject), value) for qid, value in per.items()]
        return out
    if isinstance(spec, list):
        for i, item in enumerate(spec, 1):
            if not isinstance(item, dict) or not {"question", "subject"} <= set(item) or set(item) - {
                    "question", "subject", "value"}:
                raise InputError(f"answers の {i}件目は {{question, subject, value}} で書いてください。")
            out.append((str(item["question"]), str(item["subject"]), item.get("value")))
        return out
    raise InputError("answers は {対象キー: {質問ID: 回答}} か {question, subject, value} の一覧で書いてください。")


def _row(r: ProcedureRow) -> dict:
    return {"procedure_id": r.procedure_id, "name": r.name, "department": r.department, "counter": r.counter,
            "scope": r.scope, "subject": r.subject, "household": r.household_key, "member": r.member_key,
            "member_name": r.member_name, "reasons": list(r.reasons), "source": r.source,
            "selected": r.selected, "removed_reason": r.removed_reason, "progress": r.progress}


def listing_json(listing: ProcedureListing) -> dict:
    """The listing as plain data (procedures.json and the run summary)."""
    return {
        "case_no": listing.case.case_no,
        "listed": [_row(r) for r in listing.rows if r.selected],
        "removed": [_row(r) for r in listing.rows if not r.selected],
        "groups": [{"title": g.title, "household": g.household_key, "household_title": g.household_title,
                    "member": g.member_key,
                    "procedures": [{"procedure_id": r.procedure_id, "name": r.name, "reasons": list(r.reasons)}
                                   for r in g.rows if r.selected]} for g in listing.groups],
        "questions": [{"question_id": q.question_id, "subject": q.subject, "member_name": q.member_name,
                       "text": q.text, "kind": q.kind, "answer": q.answer, "answer_text": q.answer_text}
                      for q in listing.questions],
        "message": listing.message,
    }


def run_step(ctx: RunContext) -> dict:
    from madoguchi.services.case_runner import CaseFileError

    svc = ProcedureService(ctx.db, ctx.actor)
    try:
        answers = answers_in_order(ctx.spec.get("answers"))
    except InputError as exc:
        raise CaseFileError(exc.message) from None
    if answers and ctx.move is None:
        raise CaseFileError("answers（確認事項の回答）は move（異動）と一緒に書いてください。")
    ctx.refresh()
    listing = svc.listing(ctx.case.id)
    for qid, subject, value in answers:
        try:
            listing = svc.answer(ctx.case.id, listing.case.version, qid, subject, value)
        except InputError as exc:
            raise CaseFileError(f"answers（{qid} / {subject}）: {exc.message}") from None
    ctx.case = listing.case
    data = listing_json(listing)
    data["answered"] = [{"question_id": q, "subject": s, "answer": answer_text(
        svc.catalogue.questions[q].kind, next((x.answer for x in listing.questions
                                               if (x.question_id, x.subject) == (q, s)), None))}
        for q, s, _v in answers]
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    (ctx.out_dir / OUTPUT_FILE).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {**data, "file": OUTPUT_FILE}
