"""Record an identity check (本人確認) against a 宛名, with a case or before it is opened.

A proxy (代理人) gets their own check (subject "proxy"); the proxy need not be a resident, so their
stated data are kept and compared with a 宛名 only when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from madoguchi.domain import identity as rules
from madoguchi.errors import InputError
from madoguchi.services import audit
from madoguchi.services.context import Actor
from madoguchi.services.residents import load_persons
from madoguchi.store.db import Database
from madoguchi.store.models import CaseRow, IdentityCheckRow, PersonRow

SUBJECTS = ("visitor", "proxy")


@dataclass(frozen=True)
class CheckPreview:
    """What the dialog shows before recording: sufficiency and item-by-item comparison."""

    sufficiency: rules.Sufficiency
    comparisons: list[rules.Comparison]
    outcome: str

    @property
    def differences(self) -> list[rules.Comparison]:
        return [c for c in self.comparisons if not c.match]


@dataclass(frozen=True)
class RecordedCheck:
    id: int
    case_id: int | None
    subject: str
    atena_no: str | None
    outcome: str
    preview: CheckPreview


def _recorded_items(db_session, atena_no: str) -> dict:  # noqa: ANN001
    people = load_persons(db_session, PersonRow.atena_no == atena_no)
    if not people:
        raise InputError(f"宛名番号「{atena_no}」の住民は見つかりません。")
    p = people[0]
    # A restricted person's address is not readable here; comparison of the address then says
    # "一致しない" without revealing anything.
    return {"name": p.name, "name_kana": p.name_kana, "birth_date": p.birth_date,
            "address": p.address.line() if p.address else ""}


def preview(db: Database, actor: Actor, atena_no: str | None, documents: list[str], stated: dict
            ) -> CheckPreview:
    """Evaluate without recording (the dialog calls this while the clerk types)."""
    actor.require("resident.read")
    suff = rules.sufficiency(documents)
    comps: list[rules.Comparison] = []
    if atena_no:
        with db.session() as s:
            comps = rules.compare(stated, _recorded_items(s, atena_no))
    return CheckPreview(suff, comps, rules.outcome(suff, comps))


def record_identity_check(db: Database, actor: Actor, *, atena_no: str | None, documents: list[str],
                          stated: dict, subject: str = "visitor", case_id: int | None = None,
                          note: str = "") -> RecordedCheck:
    """Record what was shown, who checked it and which 宛名 items matched. One transaction, audited."""
    actor.require("case.write")
    if subject not in SUBJECTS:
        raise InputError(f"確認の対象「{subject}」は使えません（本人・代理人のいずれか）。")
    if not documents:
        raise InputError("提示された本人確認書類を選んでください。")
    if subject == "visitor" and not atena_no:
        raise InputError("本人確認の対象となる住民（宛名）を選んでください。")
    with db.uow(actor.info) as uow:
        s = uow.session
        suff = rules.sufficiency(documents)
        comps = rules.compare(stated, _recorded_items(s, atena_no)) if atena_no else []
        result = rules.outcome(suff, comps)
        if case_id is not None and s.get(CaseRow, case_id) is None:
            raise InputError(f"対応（番号 {case_id}）が見つかりません。")
        stored_stated = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in stated.items()}
        stored_stated["matched"] = [c.label for c in comps if c.match]
        if note:
            stored_stated["note"] = note
        row = IdentityCheckRow(
            case_id=case_id, subject=subject, atena_no=atena_no,
            documents=[{"code": c, "label": rules.document_label(c)} for c in documents],
            stated=stored_stated,
            differences=[{"field": c.field, "label": c.label, "stated": c.stated, "recorded": c.recorded}
                         for c in comps if not c.match],
            result=result, checked_by=actor.login, at=datetime.now(UTC))
        s.add(row)
        s.flush()
        audit.record(s, actor.info, "identity.check", "identity_check", str(row.id),
                     {"atena_no": atena_no, "subject": subject, "case_id": case_id, "result": result,
                      "documents": documents})
        uow.commit()
        return RecordedCheck(row.id, case_id, subject, atena_no, result, CheckPreview(suff, comps, result))


def attach_to_case(db: Database, actor: Actor, check_ids: list[int], case_id: int) -> None:
    """Attach checks recorded before the case was opened."""
    actor.require("case.write")
    with db.uow(actor.info) as uow:
        s = uow.session
        if s.get(CaseRow, case_id) is None:
            raise InputError(f"対応（番号 {case_id}）が見つかりません。")
        for cid in check_ids:
            row = s.get(IdentityCheckRow, cid)
            if row is None:
                raise InputError(f"本人確認の記録（番号 {cid}）が見つかりません。")
            if row.case_id not in (None, case_id):
                raise InputError(f"本人確認の記録（番号 {cid}）は別の対応に記録済みです。")
            row.case_id = case_id
            audit.record(s, actor.info, "identity.attach", "identity_check", str(cid), {"case_id": case_id})
        uow.commit()


def checks_for_case(db: Database, case_id: int) -> list[IdentityCheckRow]:
    with db.session() as s:
        return list(s.scalars(select(IdentityCheckRow).where(IdentityCheckRow.case_id == case_id)
                              .order_by(IdentityCheckRow.id)))
