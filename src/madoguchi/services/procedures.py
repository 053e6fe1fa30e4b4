"""Procedures of a case (F4, F6, F7, F8, F17): listing, answers, manual additions, removals, progress.

Every call that changes something is one transaction: the change, a fresh listing merged with the
stored selection (the clerk's additions and removals survive, see domain.procedures.selection),
the selected_procedures rows, and `touch_case` (version check, case event, audit event). Reading
the listing saves the selection too when it changed (after an edit of the move), but only for the
terminal holding an open case; anyone else just sees it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.domain.moves import Move
from madoguchi.domain.procedures import (
    Catalogue,
    Procedure,
    SelectedItem,
    add_manual,
    evaluate_move,
    merge_selection,
    remove_item,
    restore_item,
)
from madoguchi.domain.procedures.facts import MoveFacts
from madoguchi.domain.wareki import format_wareki, parse_date
from madoguchi.errors import InputError
from madoguchi.services import procedure_catalogue
from madoguchi.services.cases import WRITE_PERMISSION, CaseInfo, case_info, load_for_write, touch_case
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import AnswerRow, CaseRow, MoveEntryRow, SelectedProcedure

PROGRESS_LABELS = {"todo": "未案内", "guided": "案内済み", "printed": "印刷済み", "done": "完了"}
SCOPE_LABELS = {"household": "世帯", "member": "個人"}
KIND_LABELS = {"yes_no": "はい／いいえ", "choice": "選択", "date": "日付", "number": "数値", "text": "文字"}


# --- view objects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureRow:
    """One procedure for one subject, as the list shows it."""

    procedure_id: str
    name: str
    department: str
    counter: str
    category: str
    scope: str
    subject: str
    household_key: str
    member_key: str | None
    member_name: str
    reasons: tuple[str, ...]
    source: str  # "auto" (listed by the rules) / "manual" (added by the clerk)
    auto: bool  # the rules list it now
    selected: bool  # False: removed by the clerk
    removed_reason: str
    progress: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.procedure_id, self.subject)

    @property
    def progress_label(self) -> str:
        return PROGRESS_LABELS.get(self.progress, self.progress)

    @property
    def reason_text(self) -> str:
        if not self.selected:
            return f"外した理由: {self.removed_reason}" if self.removed_reason else "外しました"
        if self.reasons:
            return " / ".join(self.reasons)
        return "個別に追加" if self.source == "manual" else ""


@dataclass(frozen=True)
class QuestionItem:
    """A question to ask now (its show_when holds), with the current answer."""

    question_id: str
    subject: str
    household_key: str
    member_name: str
    text: str
    kind: str
    choices: tuple[str, ...]
    answer: object
    help: str
    decides: tuple[str, ...]  # procedure names that depend on it

    @property
    def answer_text(self) -> str:
        return answer_text(self.kind, self.answer)


@dataclass(frozen=True)
class SubjectGroup:
    """The procedures of one household (member_key None) or one member of it."""

    household_key: str
    member_key: str | None
    title: str  # the household's title, or the member's name
    household_title: str
    rows: tuple[ProcedureRow, ...]


@dataclass(frozen=True)
class Subject:
    """Someone or some household a procedure can be added for (the picker's choices)."""

    key: str
    scope: str
    household_key: str
    label: str


@dataclass(frozen=True)
class ProcedureListing:
    case: CaseInfo
    groups: tuple[SubjectGroup, ...] = ()
    questions: tuple[QuestionItem, ...] = ()
    subjects: tuple[Subject, ...] = ()
    message: str = ""  # why there is nothing to list (no move yet …)
    saved: bool = False  # this call wrote the selection
    # listing(save=False): the changed selection still to store with save_listing
    pending: tuple[SelectedItem, ...] = field(default=(), repr=False, compare=False)

    @property
    def rows(self) -> list[ProcedureRow]:
        return [r for g in self.groups for r in g.rows]

    def row(self, procedure_id: str, subject: str) -> ProcedureRow | None:
        return next((r for r in self.rows if r.key == (procedure_id, subject)), None)


@dataclass(frozen=True)
class GuidanceView:
    """Staff guidance for one procedure (F7)."""

    procedure_id: str
    name: str
    department: str
    counter: str
    category: str
    scope: str
    explain: tuple[str, ...]
    collect: tuple[str, ...]
    mistakes: tuple[str, ...]
    legal_basis: tuple[str, ...]
    documents: tuple[str, ...]
    resident_text: str
    deadline: str
    forms: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CatalogueEntry:
    procedure_id: str
    name: str
    department: str
    category: str
    scope: str
    manual_only: bool


def answer_text(kind: str, value: object) -> str:
    if value is None:
        return "未回答"
    if kind == "yes_no":
        return "はい" if value is True else "いいえ"
    if kind == "date" and isinstance(value, str):
        try:
            return format_wareki(date.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


# --- answers -----------------------------------------------------------------------------------

_YES = {"はい", "yes", "true", "1", "y"}
_NO = {"いいえ", "no", "false", "0", "n"}


def normalise_answer(kind: str, choices: tuple[str, ...], text: str, value: object) -> object:
    """The value to store for a question of `kind`; None clears the answer. InputError in Japanese."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind == "yes_no":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _YES | _NO:
            return value.strip().lower() in _YES
        raise InputError(f"「{text}」には「はい」か「いいえ」で答えてください。")
    if kind == "choice":
        if isinstance(value, str) and value.strip() in choices:
            return value.strip()
        raise InputError(f"「{text}」の回答「{value}」は選択肢にありません（{'、'.join(choices)}）。")
    if kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return parse_date(value.strip()).isoformat()
            except (InputError, ValueError):
                pass
        raise InputError(f"「{text}」の日付「{value}」を読めません。例: 2026-11-25、令和8年11月25日、R8.11.25")
    if kind == "number":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            t = unicodedata.normalize("NFKC", value).strip().replace(",", "")
            if re.fullmatch(r"-?\d+", t):
                return int(t)
        raise InputError(f"「{text}」には数字（整数）を入力してください（入力: {value}）。")
    if kind == "text":
        return str(value).strip()
    raise InputError(f"「{text}」の回答の種類「{kind}」が分かりません。")


# --- the service -------------------------------------------------------------------------------


@dataclass
class _State:
    """What one transaction works on."""

    row: CaseRow
    move: Move | None
    answers: dict[tuple[str, str], object]
    stored: dict[tuple[str, str], SelectedProcedure]
    selection: list[SelectedItem] = field(default_factory=list)
    progress: dict[tuple[str, str], str] | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ProcedureService:
    """Procedure use cases for one logged-in actor on one terminal."""

    def __init__(self, db: Database, actor: Actor, *, catalogue: Catalogue | None = None) -> None:
        self.db = db
        self.actor = actor
        self._catalogue = catalogue

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue or procedure_catalogue.catalogue()

    # --- reading -------------------------------------------------------------------------------

    def listing(self, case_id: int, *, save: bool = True) -> ProcedureListing:
        """List the case's procedures now; store the selection if it changed and we may write.

        With `save=False` nothing is written; a changed selection comes back in `pending` for
        `save_listing` (the GUI evaluates off the UI thread and stores on it, in step with its
        other writes).
        """
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            st = self._state(s, case_id)
            if st.move is None:
                return ProcedureListing(case_info(s, st.row), message="異動がまだ入力されていません。"
                                        "異動を入力すると、必要な手続きがここに表示されます。")
            ev = evaluate_move(st.move, st.answers, self.catalogue)
            selection = merge_selection(self._previous(st, ev.facts), ev.listed)
            pending = self._may_write(st.row) and self._differs(st, selection)
            if pending and save:
                row = self._save_selection(s, st, selection, st.row.version)
                view = self._view(s, st, ev, selection, True)
                view = replace(view, case=case_info(s, row))
            else:
                view = self._view(s, st, ev, selection, False)
                if pending:
                    view = replace(view, pending=tuple(selection))
            uow.commit()
            return view

    def save_listing(self, case_id: int, listing: ProcedureListing) -> ProcedureListing:
        """Store the selection of `listing(save=False)`; StaleWrite if the case changed since."""
        if not listing.pending:
            return listing
        self.actor.require(WRITE_PERMISSION)
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            row = load_for_write(s, self.actor, case_id, listing.case.version)
            st = self._state(s, case_id, row)
            row = self._save_selection(s, st, list(listing.pending), listing.case.version)
            info = case_info(s, row)
            uow.commit()
        return replace(listing, case=info, saved=True, pending=())

    def _save_selection(self, s: Session, st: _State, selection: list[SelectedItem], version: int) -> CaseRow:
        self._store(s, st, selection)
        n = sum(1 for i in selection if not i.removed)
        return touch_case(s, self.actor, st.row.id, version, "procedure", f"手続き一覧を更新（{n}件）",
                          {"count": n})

    def guidance(self, procedure_id: str) -> GuidanceView:
        p = self._procedure(procedure_id)
        g = p.guidance
        return GuidanceView(p.id, p.name, p.department, p.counter, p.category, p.scope, g.explain, g.collect,
                            g.mistakes, g.legal_basis, p.documents, p.resident_text, p.deadline, p.forms)

    def all_procedures(self) -> list[CatalogueEntry]:
        """Every procedure that can be added by hand (F4), in definition order."""
        return [CatalogueEntry(p.id, p.name, p.department, p.category, p.scope, p.manual_only)
                for p in self.catalogue.procedures.values()]

    # --- writing -------------------------------------------------------------------------------

    def answer(self, case_id: int, version: int, question_id: str, subject: str,
               value: object) -> ProcedureListing:
        """Save (or clear, with None) one answer and re-list at once."""
        q = self.catalogue.questions.get(question_id)
        if q is None:
            raise InputError(f"確認事項「{question_id}」は定義されていません。画面を更新してください。")
        stored = normalise_answer(q.kind, q.choices, q.text, value)

        def apply(s: Session, st: _State, facts: MoveFacts) -> tuple[str, dict]:
            ok = subject in facts.households if q.about == "household" else subject in facts.members
            if not ok:
                raise InputError(f"「{q.text}」の対象（{subject}）がこの異動にいません。画面を更新してください。")
            row = s.execute(select(AnswerRow).where(AnswerRow.case_id == case_id,
                                                    AnswerRow.question_id == question_id,
                                                    AnswerRow.subject == subject)).scalar_one_or_none()
            if stored is None:
                if row is not None:
                    s.delete(row)
                st.answers.pop((question_id, subject), None)
            else:
                if row is None:
                    row = AnswerRow(case_id=case_id, question_id=question_id, subject=subject)
                    s.add(row)
                row.value = stored
                row.answered_by = self.actor.login
                row.at = _utcnow()
                st.answers[(question_id, subject)] = stored
            who = self._subject_name(st.move, facts, subject)
            return (f"確認事項「{q.text}」{who}: {answer_text(q.kind, stored)}",
                    {"question_id": question_id, "subject": subject, "value": stored})

        return self._change(case_id, version, "answer", apply)

    def add_manual(self, case_id: int, version: int, procedure_id: str, subject: str) -> ProcedureListing:
        """Add any procedure by hand for a member or a household of the move (F4)."""
        p = self._procedure(procedure_id)

        def apply(s: Session, st: _State, facts: MoveFacts) -> tuple[str, dict]:
            hkey = self._subject_household(st.move, facts, p, subject)
            member = subject if p.scope == "member" else None
            st.selection = add_manual(st.selection, procedure_id, subject, hkey, member)
            who = self._subject_name(st.move, facts, subject)
            return f"手続き「{p.name}」を個別に追加{who}", {"procedure_id": procedure_id, "subject": subject}

        return self._change(case_id, version, "procedure", apply, selection_step=True)

    def remove(self, case_id: int, version: int, procedure_id: str, subject: str,
               reason: str) -> ProcedureListing:
        """Take a procedure off the list; the reason is required and kept."""
        p = self._procedure(procedure_id)
        if not reason or not reason.strip():
            raise InputError("手続きを外す理由を入力してください。")

        def apply(s: Session, st: _State, facts: MoveFacts) -> tuple[str, dict]:
            st.selection = remove_item(st.selection, procedure_id, subject, reason)
            who = self._subject_name(st.move, facts, subject)
            return (f"手続き「{p.name}」を外す{who}（理由: {reason.strip()}）",
                    {"procedure_id": procedure_id, "subject": subject, "reason": reason.strip()})

        return self._change(case_id, version, "procedure", apply, selection_step=True)

    def restore(self, case_id: int, version: int, procedure_id: str, subject: str) -> ProcedureListing:
        p = self._procedure(procedure_id)

        def apply(s: Session, st: _State, facts: MoveFacts) -> tuple[str, dict]:
            if not any(i.key == (procedure_id, subject) and i.removed for i in st.selection):
                raise InputError(f"手続き「{p.name}」は外されていません。画面を更新してください。")
            st.selection = restore_item(st.selection, procedure_id, subject)
            who = self._subject_name(st.move, facts, subject)
            return f"手続き「{p.name}」を戻す{who}", {"procedure_id": procedure_id, "subject": subject}

        return self._change(case_id, version, "procedure", apply, selection_step=True)

    def set_progress(self, case_id: int, version: int, procedure_id: str, subject: str,
                     progress: str) -> ProcedureListing:
        """F17: 未案内 → 案内済み → 印刷済み → 完了 for one procedure."""
        if progress not in PROGRESS_LABELS:
            raise InputError(f"進捗「{progress}」はありません（{'、'.join(PROGRESS_LABELS.values())}）。")
        p = self._procedure(procedure_id)

        def apply(s: Session, st: _State, facts: MoveFacts) -> tuple[str, dict]:
            item = next((i for i in st.selection if i.key == (procedure_id, subject)), None)
            if item is None or item.removed:
                raise InputError(f"手続き「{p.name}」は一覧にないため、進捗を変えられません。画面を更新してください。")
            st.progress[(procedure_id, subject)] = progress
            who = self._subject_name(st.move, facts, subject)
            return (f"手続き「{p.name}」{who}の進捗を「{PROGRESS_LABELS[progress]}」に変更",
                    {"procedure_id": procedure_id, "subject": subject, "progress": progress})

        return self._change(case_id, version, "procedure", apply, selection_step=True)

    # --- internals -----------------------------------------------------------------------------

    def _change(self, case_id: int, version: int, kind: str, apply, *,  # noqa: ANN001
                selection_step: bool = False) -> ProcedureListing:
        """One transaction: check the version, apply, re-list, store, touch the case."""
        self.actor.require(WRITE_PERMISSION)
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            row = load_for_write(s, self.actor, case_id, version)
            st = self._state(s, case_id, row)
            if st.move is None:
                raise InputError("異動がまだ入力されていません。先に異動を入力してください。")
            catalogue = self.catalogue
            if selection_step:
                ev = evaluate_move(st.move, st.answers, catalogue)
                st.selection = merge_selection(self._previous(st, ev.facts), ev.listed)
                st.progress = {k: r.progress for k, r in st.stored.items()}
                summary, data = apply(s, st, ev.facts)
                selection = st.selection
            else:
                from madoguchi.domain.procedures.facts import build_facts
                summary, data = apply(s, st, build_facts(st.move))
                ev = evaluate_move(st.move, st.answers, catalogue)
                selection = merge_selection(self._previous(st, ev.facts), ev.listed)
            self._store(s, st, selection, st.progress)
            touch_case(s, self.actor, case_id, version, kind, summary, data)
            view = self._view(s, st, ev, selection, True)
            uow.commit()
            return view

    def _state(self, s: Session, case_id: int, row: CaseRow | None = None) -> _State:
        if row is None:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。一覧を更新してください。")
        entry = s.execute(select(MoveEntryRow).where(MoveEntryRow.case_id == case_id)
                          .order_by(MoveEntryRow.id.desc()).limit(1)).scalar_one_or_none()
        move = None
        if entry is not None:
            from madoguchi.domain.move_codec import decode_move
            move = decode_move(entry.data)
            if move.move_date is None and move.planned_date is None:
                move = None  # nothing can be judged without a date (the grid shows that error)
        questions = self.catalogue.questions
        answers = {(a.question_id, a.subject): a.value for a in s.execute(
            select(AnswerRow).where(AnswerRow.case_id == case_id)).scalars() if a.question_id in questions}
        stored = {(r.procedure_id, r.subject): r for r in s.execute(
            select(SelectedProcedure).where(SelectedProcedure.case_id == case_id)
            .order_by(SelectedProcedure.id)).scalars()}
        return _State(row, move, answers, stored)

    def _may_write(self, row: CaseRow) -> bool:
        return (self.actor.can(WRITE_PERMISSION) and row.holder_login == self.actor.login
                and (row.holder_terminal or "") == self.actor.terminal and row.status not in ("done", "cancelled"))

    def _previous(self, st: _State, facts: MoveFacts) -> list[SelectedItem]:
        out = []
        for (pid, subject), r in st.stored.items():
            if subject not in facts.members and subject not in facts.households:
                continue  # that person or household is no longer part of the move
            member = subject if subject in facts.members else None
            hkey = facts.member_household.get(subject, "") if member else subject
            out.append(SelectedItem(pid, subject, hkey, member, auto=r.source == "auto",
                                    manual=r.source == "manual", removed=not r.selected,
                                    removed_reason=r.removed_reason or "", reasons=tuple(r.reasons or ())))
        return out

    @staticmethod
    def _differs(st: _State, selection: list[SelectedItem]) -> bool:
        if {i.key for i in selection} != set(st.stored):
            return True
        for i in selection:
            r = st.stored[i.key]
            if ((r.source == "manual") != i.manual or r.selected == i.removed
                    or (r.removed_reason or "") != i.removed_reason or tuple(r.reasons or ()) != i.reasons):
                return True
        return False

    def _store(self, s: Session, st: _State, selection: list[SelectedItem],
               progress: dict[tuple[str, str], str] | None = None) -> None:
        now = _utcnow()
        keep = {i.key for i in selection}
        for key, r in list(st.stored.items()):
            if key not in keep:
                s.delete(r)
                del st.stored[key]
        s.flush()  # deletes first: a re-added key must not collide with the unique constraint
        for i in selection:
            r = st.stored.get(i.key)
            if r is None:
                r = SelectedProcedure(case_id=st.row.id, procedure_id=i.procedure_id, subject=i.subject,
                                      progress="todo")
                s.add(r)
                st.stored[i.key] = r
            r.source = "manual" if i.manual else "auto"
            r.selected = not i.removed
            r.reasons = list(i.reasons)
            r.removed_reason = i.removed_reason
            if progress is not None and i.key in progress:
                r.progress = progress[i.key]
            r.updated_at = now
        s.flush()

    def _view(self, s: Session, st: _State, ev, selection: list[SelectedItem],  # noqa: ANN001
              saved: bool) -> ProcedureListing:
        move, facts, catalogue = st.move, ev.facts, self.catalogue
        assert move is not None  # noqa: S101 - callers checked
        rows_by_subject: dict[tuple[str, str | None], list[ProcedureRow]] = {}
        for i in selection:
            p = catalogue.procedures.get(i.procedure_id)
            if p is None:
                continue  # a definition removed since: nothing to show or print
            member = i.member_key if i.member_key in facts.members else None
            hkey = facts.member_household.get(member, "") if member else i.subject
            r = st.stored.get(i.key)
            name = facts.members[member]["name"] if member else ""
            rows_by_subject.setdefault((hkey, member), []).append(ProcedureRow(
                p.id, p.name, p.department, p.counter, p.category, p.scope, i.subject, hkey, member, name,
                i.reasons, "manual" if i.manual else "auto", i.auto, not i.removed, i.removed_reason,
                r.progress if r is not None else "todo"))
        groups = []
        for hkey in self._household_order(move, facts, rows_by_subject):
            title = self._household_title(move, facts, hkey)
            if (hkey, None) in rows_by_subject:
                groups.append(SubjectGroup(hkey, None, title, title, tuple(rows_by_subject[(hkey, None)])))
            for mkey, owner in facts.member_household.items():
                if owner == hkey and (hkey, mkey) in rows_by_subject:
                    groups.append(SubjectGroup(hkey, mkey, facts.members[mkey]["name"], title,
                                               tuple(rows_by_subject[(hkey, mkey)])))
        names = {p.id: p.name for p in catalogue.procedures.values()}
        questions = tuple(QuestionItem(q.question_id, q.subject, q.household_key, q.member_name, q.text, q.kind,
                                       q.choices, q.answer, q.help,
                                       tuple(names.get(d, d) for d in q.decides)) for q in ev.questions)
        return ProcedureListing(case_info(s, st.row), tuple(groups), questions, self._subjects(move, facts),
                                saved=saved)

    @staticmethod
    def _household_order(move: Move, facts: MoveFacts, rows: dict) -> list[str]:
        keys = [k for k in facts.households if not k.startswith("\0")]
        keys += [k for k, _m in rows if k not in keys]
        return list(dict.fromkeys(keys))

    @staticmethod
    def _household_title(move: Move, facts: MoveFacts, hkey: str) -> str:
        if hkey.startswith("\0"):
            return "世帯未選択"
        h = next((x for x in move.after if x.key == hkey), None) or next(
            (x for x in move.before if x.key == hkey), None)
        head = h.head() if h else None
        head_name = move.members[head.member_key].name if head and head.member_key in move.members else ""
        label = f"新しい世帯 {hkey}" if hkey.startswith("new") else f"世帯 {hkey}"
        return f"{label}（世帯主 {head_name}）" if head_name else label

    def _subjects(self, move: Move, facts: MoveFacts) -> tuple[Subject, ...]:
        out = []
        for hkey in facts.households:
            if not hkey.startswith("\0"):
                out.append(Subject(hkey, "household", hkey, self._household_title(move, facts, hkey)))
        for mkey, hkey in facts.member_household.items():
            m = facts.members[mkey]
            out.append(Subject(mkey, "member", hkey, m["name"] + ("" if m["moving"] else "（異動しない人）")))
        return tuple(out)

    @staticmethod
    def _subject_name(move: Move | None, facts: MoveFacts, subject: str) -> str:
        if subject in facts.members:
            return f"（{facts.members[subject]['name']}）"
        return f"（世帯 {subject}）"

    @staticmethod
    def _subject_household(move: Move | None, facts: MoveFacts, p: Procedure, subject: str) -> str:
        if p.scope == "member":
            if subject not in facts.member_household:
                raise InputError(f"「{p.name}」は個人ごとの手続きです。この異動の世帯員を選んでください。")
            return facts.member_household[subject]
        if subject not in facts.households or subject.startswith("\0"):
            raise InputError(f"「{p.name}」は世帯ごとの手続きです。この異動の世帯を選んでください。")
        return subject

    def _procedure(self, procedure_id: str) -> Procedure:
        p = self.catalogue.procedures.get(procedure_id)
        if p is None:
            raise InputError(f"手続き「{procedure_id}」は定義されていません。画面を更新してください。")
        return p


__all__ = ["CatalogueEntry", "GuidanceView", "PROGRESS_LABELS", "ProcedureListing", "ProcedureRow",
           "ProcedureService", "QuestionItem", "Subject", "SubjectGroup", "answer_text", "normalise_answer"]
