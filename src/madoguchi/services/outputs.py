"""Outputs of a case (F9, F10, F13): the pre-filled forms and the 手続き案内書, and their print state.

`OutputService.render_case_outputs` turns the case's move, answers and SELECTED procedures into
documents: one PDF per form (printing.batch plans them per household) and one 手続き案内書 per
household. Each is recorded in case_outputs (kind, title, sha256, state) with one case event and
audit event (`touch_case`). Printing happens in the GUI; it reports back with `mark_printed` /
`mark_failed`, which change nothing but those records, so a failed print can simply be retried.

支援措置: whereabouts of a restricted person never print unless this case unmasked them
(`cases.unmasked`, written only by `unmask_for_case`, which needs support_measure.unmask and a
reason, and is audited twice: the address read and the case event).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pypdf import PdfReader
from sqlalchemy import select

from madoguchi.domain.masking import UNMASK_PERMISSION
from madoguchi.domain.move_codec import decode_move
from madoguchi.domain.moves import HouseholdState, Move, MoveMember
from madoguchi.domain.people import Address, Household, Person
from madoguchi.errors import InputError
from madoguchi.printing.batch import FormRequest, plan_batch
from madoguchi.printing.context import CaseInfo as PrintCase
from madoguchi.printing.context import build_context
from madoguchi.printing.guide import GuideHousehold, GuideItem, render_guide
from madoguchi.printing.render import render_forms, watermark_for
from madoguchi.printing.template import load_template
from madoguchi.services import procedure_catalogue
from madoguchi.services.cases import WRITE_PERMISSION, CaseInfo, bump_case, case_info, load_for_write, touch_case
from madoguchi.services.context import Actor
from madoguchi.services.procedures import ProcedureService, answer_text
from madoguchi.store.db import Database
from madoguchi.store.models import AnswerRow, CaseRow, MoveEntryRow, OutputRow

if TYPE_CHECKING:
    from madoguchi.domain.procedures import Catalogue
    from madoguchi.services.case_runner import RunContext

KINDS = ("forms", "guide")
KIND_LABELS = {"form": "申請書", "guide": "手続き案内書"}
STATE_LABELS = {"rendered": "作成済み", "printed": "印刷済み", "failed": "印刷失敗"}
GUIDE_FORM_ID = "guide"
_FLOOR = re.compile(r"^\s*(\S*階)\s*")
_RELATION = {"本人": "本人", "同一世帯員": "同一世帯", "同一世帯": "同一世帯", "代理人": "代理人"}


@dataclass(frozen=True)
class RenderedOutput:
    """One document of a case, ready to preview and print."""

    output_id: int
    kind: str  # "form" / "guide"
    form_id: str  # template id, or "guide": the key of the terminal's per-form printer setting
    title: str
    household: str  # the household key it belongs to
    pdf: bytes = field(repr=False)
    pages: int
    sha256: str

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class OutputBatch:
    """What `render_case_outputs` made, and the case version after recording it."""

    case: CaseInfo
    documents: tuple[RenderedOutput, ...] = ()
    message: str = ""  # why nothing was made
    hidden: tuple[tuple[str, str], ...] = ()  # (宛名番号, 氏名) of 支援措置 persons whose whereabouts are masked

    def __iter__(self) -> Iterator[RenderedOutput]:
        return iter(self.documents)

    def __len__(self) -> int:
        return len(self.documents)

    def __getitem__(self, i: int) -> RenderedOutput:
        return self.documents[i]


@dataclass(frozen=True)
class OutputRecord:
    output_id: int
    kind: str
    title: str
    sha256: str
    state: str
    message: str
    at: datetime

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _split_counter(counter: str) -> tuple[str, str]:
    """「1階 6番窓口（保険医療課）」 → ("1階", "6番窓口（保険医療課）")."""
    m = _FLOOR.match(counter or "")
    if not m:
        return "", counter or ""
    return m.group(1), counter[m.end():]


def _page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


# --- households of a move, as domain objects the print context understands ------------------------


def _person(m: MoveMember, placement_rel: str, is_head: bool, household_no: str, address: Address | None,
            moved_in_from: str) -> Person:
    return Person(atena_no=m.atena_no or "", name=m.name, name_kana=m.name_kana, birth_date=m.birth_date,
                  sex=m.sex, household_no=household_no, relationship=placement_rel, is_householder=is_head,
                  resident_kind=m.resident_kind, mynumber_card_expiry=m.mynumber_card_expiry,
                  e_cert_expiry=m.e_cert_expiry, restricted=m.restricted, address=address,
                  moved_in_from=moved_in_from, qualifications=tuple(m.qualifications))


def _households(move: Move) -> list[tuple[HouseholdState, Household]]:
    """The households the outputs are for: after the move, or (転出) the households people leave."""
    states = list(move.after)
    if not states:
        moving = {m.key for m in move.moving_members()}
        states = [HouseholdState(b.key, [p for p in b.placements if p.member_key in moving],
                                 move.to_address or b.address) for b in move.before]
        states = [s for s in states if s.placements]
    former = move.from_address.line() if move.from_address else ""
    out = []
    for h in states:
        people = [_person(move.members[p.member_key], p.relationship, p.is_head, h.key, h.address, former)
                  for p in h.placements if p.member_key in move.members]
        out.append((h, Household(h.key, people)))
    return out


# --- the service --------------------------------------------------------------------------------


class OutputService:
    """Render, record and track the printed documents of a case for one actor."""

    def __init__(self, db: Database, actor: Actor, *, today: date | None = None,
                 catalogue: Catalogue | None = None) -> None:
        self.db = db
        self.actor = actor
        self.today = today
        self._catalogue = catalogue

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue or procedure_catalogue.catalogue()

    @property
    def watermark(self) -> str | None:
        if self.actor.training:
            return watermark_for("training")
        return watermark_for("demo") if self.actor.demo else None

    # --- reading -------------------------------------------------------------------------------

    def outputs(self, case_id: int) -> list[OutputRecord]:
        with self.db.session() as s:
            rows = s.execute(select(OutputRow).where(OutputRow.case_id == case_id)
                             .order_by(OutputRow.id)).scalars().all()
            return [OutputRecord(r.id, r.kind, r.title, r.sha256, r.state, r.message or "", r.at) for r in rows]

    # --- rendering -----------------------------------------------------------------------------

    def render_case_outputs(self, case_id: int, *, kinds: Iterable[str] = KINDS,
                            version: int | None = None) -> OutputBatch:
        """The forms of the selected procedures and the 手続き案内書, rendered and recorded.

        `version`: the case version the caller saw (None: the current one; rendering changes no
        case data, but recording it needs this terminal to hold the case).
        """
        self.actor.require(WRITE_PERMISSION)
        kinds = tuple(kinds)
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise InputError(f"出力の種類「{'、'.join(sorted(unknown))}」はありません（forms、guide）。")
        listing = ProcedureService(self.db, self.actor, catalogue=self._catalogue).listing(case_id, save=False)
        with self.db.session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。")
            entry = s.execute(select(MoveEntryRow).where(MoveEntryRow.case_id == case_id)
                              .order_by(MoveEntryRow.id.desc()).limit(1)).scalar_one_or_none()
            answers = [(a.question_id, a.subject, a.value) for a in s.execute(
                select(AnswerRow).where(AnswerRow.case_id == case_id).order_by(AnswerRow.id)).scalars()]
            case = case_info(s, row)
            unmasked = list(row.unmasked or [])
        move = decode_move(entry.data) if entry is not None else None
        if move is None:
            return OutputBatch(case, (), "異動がまだ入力されていません。異動と手続きを入力すると、申請書と案内書を作れます。")
        drafts = self._render(case, move, listing, answers, unmasked, kinds)
        hidden = tuple((m.atena_no, m.name) for m in move.members.values()
                       if m.restricted and m.atena_no and m.atena_no not in unmasked)
        if not drafts:
            return OutputBatch(case, (), "印刷する手続きがありません。", hidden)
        batch = self._record(case_id, case.version if version is None else version, drafts)
        return OutputBatch(batch.case, batch.documents, batch.message, hidden)

    def _print_case(self, case: CaseInfo, move: Move | None = None) -> PrintCase:
        v = case.visitor or {}
        counter = case.counter_no or self.actor.counter_no
        relation = _RELATION.get(str(v.get("relation", "本人")), "代理人")
        names = {m.name.replace("　", "").replace(" ", "") for m in (move.members.values() if move else [])}
        if relation == "代理人" and str(v.get("name", "")).replace("　", "").replace(" ", "") in names:
            relation = "同一世帯"  # 妻, 子 … of the same move: a household member, not a proxy
        address = str(v.get("address", ""))
        if not address and relation != "代理人" and move is not None:
            # The resident notifies from where they live: the new address, or (転出) the one they leave.
            home = (move.before[0].address if move.before else None) if move.move_type.is_out else \
                (move.after[0].address if move.after else None)
            address = home.line() if home else ""  # masked by the print context for 支援措置
        return PrintCase(today=self.today or date.today(), case_no=case.case_no, clerk=self.actor.display_name,
                         terminal=self.actor.terminal, counter=f"{counter}番窓口" if counter else "",
                         notifier_name=str(v.get("name", "")), notifier_kana=str(v.get("kana", "")),
                         notifier_relation=relation,
                         notifier_phone=str(v.get("phone", "")), notifier_address=address)

    def _render(self, case: CaseInfo, move: Move, listing: Any, answers: list[tuple[str, str, Any]],
                unmasked: list[str], kinds: tuple[str, ...]) -> list[tuple[str, str, str, str, bytes]]:
        """(kind, form id, title, household key, pdf) for each document, households in move order."""
        pcase = self._print_case(case, move)
        procedures = self.catalogue.procedures
        questions = self.catalogue.questions
        rows = [r for r in listing.rows if r.selected and r.procedure_id in procedures]
        out: list[tuple[str, str, str, str, bytes]] = []
        for state, household in _households(move):
            members = [p.member_key for p in state.placements]
            hrows = [r for r in rows if r.household_key == state.key]
            # Answers for this household and its members; household answers first, then members'.
            mine = {state.key, *members}
            flat: dict[str, Any] = {}
            for qid, subject, value in answers:
                if subject in mine:
                    q = questions.get(qid)
                    flat.setdefault(qid, answer_text(q.kind, value) if q else value)
            if "forms" in kinds:
                requests = []
                for r in hrows:
                    p = procedures[r.procedure_id]
                    for form_id in p.forms:
                        subjects: tuple[str, ...] = (r.member_key,) if r.member_key else tuple(members)
                        if not r.member_key and load_template(form_id).per == "person":
                            # A household procedure on a per-person form: one sheet, in the head's name.
                            head = state.head()
                            subjects = (head.member_key if head else members[0],)
                        requests.append(FormRequest(form_id, subjects, p.name, p.department, p.resident_text))
                jobs = plan_batch(requests, pcase, household=household, move=move, answers=flat,
                                  unmasked=unmasked)
                for job in jobs:
                    t = job.template
                    assert not isinstance(t, str)  # noqa: S101 - plan_batch loads the templates
                    title, tid = t.title, t.id
                    if tid == "generic" and job.context.get("procedure.name"):
                        title = f"{job.context['procedure.name']}（申請書）"
                    person = job.context.get("person.name", "")
                    if (t.per == "person" or tid == "generic") and person:
                        title = f"{title}　{person}"
                    pdf = render_forms([job], watermark=self.watermark)
                    out.append(("form", tid, title, state.key, pdf))
            if "guide" in kinds and hrows:
                items = []
                for r in hrows:
                    if r.progress == "done":
                        continue
                    p = procedures[r.procedure_id]
                    floor, counter = _split_counter(p.counter)
                    items.append(GuideItem(name=p.name, department=p.department, counter=counter, floor=floor,
                                           reasons=tuple(r.reasons),
                                           persons=(r.member_name,) if r.member_name else (),
                                           documents=tuple(p.documents), resident_text=p.resident_text.strip(),
                                           deadline=p.deadline or None))
                head = household.head or (household.members[0] if household.members else None)
                head_name = head.name if head else state.key
                ctx = build_context(pcase)
                pdf = render_guide(ctx, [GuideHousehold(head_name, items, tuple(p.name for p in household.members))],
                                   watermark=self.watermark)
                out.append(("guide", GUIDE_FORM_ID, f"手続き案内書　{head_name} 様の世帯", state.key, pdf))
        return out

    def _record(self, case_id: int, version: int, drafts: list[tuple[str, str, str, str, bytes]]) -> OutputBatch:
        now = _utcnow()
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            load_for_write(s, self.actor, case_id, version)
            rows = []
            for kind, form_id, title, _hh, pdf in drafts:
                r = OutputRow(case_id=case_id, kind=kind, title=title[:200], sha256=hashlib.sha256(pdf).hexdigest(),
                              state="rendered", message="", at=now)
                s.add(r)
                rows.append(r)
            s.flush()
            forms = sum(1 for d in drafts if d[0] == "form")
            guides = len(drafts) - forms
            summary = f"帳票を作成（申請書{forms}件・案内書{guides}件）"
            case_row = touch_case(s, self.actor, case_id, version, "output", summary,
                                  {"action": "render", "outputs": [r.id for r in rows],
                                   "titles": [r.title for r in rows], "watermark": self.watermark or ""}, now=now)
            info = case_info(s, case_row)
            docs = tuple(RenderedOutput(r.id, d[0], d[1], d[2], d[3], d[4], _page_count(d[4]), r.sha256)
                         for r, d in zip(rows, drafts, strict=True))
            uow.commit()
        return OutputBatch(info, docs)

    # --- print state ---------------------------------------------------------------------------

    def mark_printed(self, case_id: int, version: int, output_ids: Sequence[int], *, printer: str = "") -> CaseInfo:
        """These outputs came out of the printer (or were saved as PDF)."""
        where = f"（{printer}）" if printer else ""
        return self._set_state(case_id, version, output_ids, "printed", "", f"印刷{where}")

    def mark_failed(self, case_id: int, version: int, output_ids: Sequence[int], message: str) -> CaseInfo:
        """The print failed; the message is kept and the outputs can be printed again."""
        return self._set_state(case_id, version, output_ids, "failed", message, "印刷失敗")

    def _set_state(self, case_id: int, version: int, output_ids: Sequence[int], state: str, message: str,
                   what: str) -> CaseInfo:
        self.actor.require(WRITE_PERMISSION)
        ids = list(dict.fromkeys(int(i) for i in output_ids))
        if not ids:
            raise InputError("印刷する帳票を選んでください。")
        now = _utcnow()
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            load_for_write(s, self.actor, case_id, version)
            rows = s.execute(select(OutputRow).where(OutputRow.case_id == case_id, OutputRow.id.in_(ids))
                             .order_by(OutputRow.id)).scalars().all()
            if len(rows) != len(ids):
                raise InputError("この対応にない帳票が指定されました。出力一覧を作り直してください。")
            for r in rows:
                r.state = state
                r.message = message
                r.at = now
            titles = "、".join(r.title for r in rows)
            short = titles if len(titles) <= 60 else titles[:60] + "…"
            summary = f"{what}: {short}" + (f"（{message}）" if message else "")
            row = touch_case(s, self.actor, case_id, version, "output", summary,
                             {"action": state, "outputs": ids, "message": message}, now=now)
            info = case_info(s, row)
            uow.commit()
            return info

    # --- 支援措置 ------------------------------------------------------------------------------

    def unmask_for_case(self, case_id: int, version: int, atena_no: str, reason: str) -> CaseInfo:
        """Let this case's outputs show a restricted person's whereabouts (permitted role, reason, audited)."""
        from madoguchi.services import residents

        self.actor.require(UNMASK_PERMISSION)
        self.actor.require(WRITE_PERMISSION)
        reason = (reason or "").strip()
        if not reason:
            raise InputError("住所を印刷する理由を入力してください。理由は操作ログに記録されます。")
        with self.db.session() as s:
            row = load_for_write(s, self.actor, case_id, version)
            entry = s.execute(select(MoveEntryRow).where(MoveEntryRow.case_id == case_id)
                              .order_by(MoveEntryRow.id.desc()).limit(1)).scalar_one_or_none()
            involved = {m.atena_no for m in decode_move(entry.data).members.values()} if entry else set()
            involved.add(row.subject_atena_no)
            if atena_no not in involved:
                raise InputError(f"宛名番号「{atena_no}」の住民はこの対応の異動にいません。")
            if atena_no in (row.unmasked or []):
                return case_info(s, row)
        # The address read is audited by the residents service (its own transaction).
        residents.unmask_address(self.db, self.actor, atena_no, reason)
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            row = load_for_write(s, self.actor, case_id, version)
            row.unmasked = [*(row.unmasked or []), atena_no]
            # touch_case's own re-read would flush this change first; bump in the same UPDATE instead.
            row = bump_case(s, self.actor, row, "output",
                        f"支援措置対象者（宛名番号 {atena_no}）の住所を帳票に表示（理由: {reason}）",
                        {"action": "unmask", "atena_no": atena_no, "reason": reason}, _utcnow())
            info = case_info(s, row)
            uow.commit()
            return info


# --- case runner step -------------------------------------------------------------------------------


def _file_name(n: int, doc: RenderedOutput) -> str:
    safe = re.sub(r'[\\/:*?"<>|\s　]+', "_", doc.title).strip("_")
    return f"{n:02d}_{doc.form_id}_{safe}.pdf"


def write_outputs(batch: OutputBatch, out_dir: Path) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for n, doc in enumerate(batch, start=1):
        name = _file_name(n, doc)
        (out_dir / name).write_bytes(doc.pdf)
        files.append({"file": name, "kind": doc.kind, "form_id": doc.form_id, "title": doc.title,
                      "household": doc.household, "pages": doc.pages, "sha256": doc.sha256})
    return files


def run_step(ctx: RunContext) -> dict:
    """The case runner's output step: forms + 手続き案内書 as PDF files in the output directory."""
    ctx.refresh()
    batch = OutputService(ctx.db, ctx.actor, today=ctx.today).render_case_outputs(ctx.case.id,
                                                                                 version=ctx.case.version)
    ctx.case = batch.case
    files = write_outputs(batch, ctx.out_dir)
    return {"files": files, "count": len(files), "pages": sum(f["pages"] for f in files),
            "message": batch.message}


__all__ = ["KINDS", "OutputBatch", "OutputRecord", "OutputService", "RenderedOutput", "run_step",
           "write_outputs"]
