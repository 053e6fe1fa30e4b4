"""Listing (F6): which procedures a move needs, for which household or member, and why.

Questions (F8) are evaluated first, in definition order: a question is visible when its
`show_when` holds; the answer to a hidden question is ignored (as if unanswered, i.e. null).
Conditions are then evaluated per household subject and per moving member. A condition that
cannot be evaluated raises `ConditionError`; it is never taken as false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from celpy import celtypes

from madoguchi.domain.moves import Move
from madoguchi.errors import InputError

from .cel import evaluate, to_cel
from .facts import MoveFacts, build_facts
from .model import Catalogue, Procedure, Question

Answers = dict[tuple[str, str], object]  # (question_id, subject key) → answer


@dataclass(frozen=True)
class Listed:
    """One procedure listed for one subject, with the reasons (Japanese) why."""

    procedure_id: str
    name: str
    department: str
    counter: str
    scope: str  # "household" | "member"
    household_key: str
    member_key: str | None
    member_name: str
    reasons: tuple[str, ...]

    @property
    def subject(self) -> str:
        return self.member_key if self.member_key is not None else self.household_key


@dataclass(frozen=True)
class VisibleQuestion:
    question_id: str
    subject: str  # household key or member key
    household_key: str
    member_name: str  # "" for household questions
    text: str
    kind: str
    choices: tuple[str, ...]
    answer: object  # None while unanswered
    help: str = ""
    decides: tuple[str, ...] = ()  # procedures that depend on this question


@dataclass
class Evaluation:
    facts: MoveFacts
    listed: list[Listed]
    questions: list[VisibleQuestion]


_YES = {"はい", "yes", "true", "1"}
_NO = {"いいえ", "no", "false", "0"}


def _answer_value(q: Question, value: object) -> object:
    """Normalise a stored answer to what conditions see (bool, int, str; dates as YYYY-MM-DD)."""
    if value is None or value == "":
        return None
    if q.kind == "yes_no":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _YES | _NO:
            return value.strip().lower() in _YES
    elif q.kind == "number":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif q.kind == "date":
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return value
    elif q.kind == "choice":
        if isinstance(value, str) and value in q.choices:
            return value
    elif isinstance(value, str):
        return value
    raise InputError(f"質問「{q.text}」の回答「{value}」が正しくありません。回答し直してください。")


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z_0-9.]*)\}")


def render_reason(template: str, roots: dict[str, object]) -> str:
    """Fill `{member.name}` style placeholders (checked when definitions are loaded)."""
    def one(m: re.Match) -> str:
        value: object = roots
        for part in m.group(1).split("."):
            value = value[part] if isinstance(value, dict) else None
        return "" if value is None else str(value)
    return _PLACEHOLDER.sub(one, template)


def _fires(proc: Procedure, activation: dict, plain: dict, cache: dict) -> tuple[str, ...]:
    reasons = []
    for i, rule in enumerate(proc.rules, 1):
        if evaluate(rule.when, activation, f"{proc.where} の条件{i}（{rule.line}行目）", cache):
            reasons.append(render_reason(rule.reason, plain))
    return tuple(reasons)


def evaluate_move(move: Move, answers: Answers, catalogue: Catalogue) -> Evaluation:
    """Visible questions and listed procedures of `move` in one pass (screens need both)."""
    facts = build_facts(move)
    params = catalogue.params_on(facts.on)
    move_cel, params_cel = to_cel(facts.move), to_cel(params)
    hq = [q for q in catalogue.questions.values() if q.about == "household"]
    mq = [q for q in catalogue.questions.values() if q.about == "member"]
    procs = [p for p in catalogue.procedures.values() if not p.manual_only and p.valid_on(facts.on)]
    listed: list[Listed] = []
    visible: list[VisibleQuestion] = []
    deciders = {q: catalogue.decided_by(q) for q in catalogue.questions}
    cache: dict = {}  # values of move-wide condition parts, shared by every subject

    for hkey, hf in facts.households.items():
        real = not hkey.startswith("\0")  # "\0…": a member not yet placed in a household
        h_cel = to_cel(hf)
        q_plain: dict = {q.id: None for q in hq}
        q_cel = to_cel(q_plain)
        act = {"move": move_cel, "household": h_cel, "q": q_cel, "params": params_cel}
        for q in hq if real else ():
            if q.show_when is None or evaluate(q.show_when, act, q.where, cache):
                value = _answer_value(q, answers.get((q.id, hkey)))
                q_plain[q.id] = value
                q_cel[celtypes.StringType(q.id)] = to_cel(value)
                visible.append(VisibleQuestion(q.id, hkey, hkey, "", q.text, q.kind, q.choices, value,
                                               q.help, deciders[q.id]))

        member_ctx = []  # (member facts, activation, plain roots) per moving member
        for mkey, owner in facts.member_household.items():
            mf = facts.members[mkey]
            if owner != hkey or not mf["moving"]:
                continue
            mq_plain = dict(q_plain) | {q.id: None for q in mq}
            mq_cel = to_cel(mq_plain)
            m_act = {"move": move_cel, "household": h_cel, "member": to_cel(mf), "q": mq_cel,
                     "params": params_cel}
            for q in mq:
                if q.show_when is None or evaluate(q.show_when, m_act, f"{q.where}（{mf['name']}）", cache):
                    value = _answer_value(q, answers.get((q.id, mkey)))
                    mq_plain[q.id] = value
                    mq_cel[celtypes.StringType(q.id)] = to_cel(value)
                    visible.append(VisibleQuestion(q.id, mkey, hf["key"], mf["name"], q.text,
                                                   q.kind, q.choices, value, q.help, deciders[q.id]))
            member_ctx.append((mkey, mf, m_act, {"move": facts.move, "household": hf, "member": mf,
                                                 "q": mq_plain, "params": params}))

        if real:
            member_answers = [{**{q.id: ctx[3]["q"][q.id] for q in mq}, "member": ctx[1]}
                              for ctx in member_ctx]
            act["member_answers"] = to_cel(member_answers)
            plain = {"move": facts.move, "household": hf, "q": q_plain, "params": params,
                     "member_answers": member_answers}
            for proc in procs:
                if proc.scope == "household":
                    reasons = _fires(proc, act, plain, cache)
                    if reasons:
                        listed.append(_listed(proc, hf["key"], None, "", reasons))
        for mkey, mf, m_act, plain in member_ctx:
            for proc in procs:
                if proc.scope == "member":
                    reasons = _fires(proc, m_act, plain, cache)
                    if reasons:
                        listed.append(_listed(proc, hf["key"], mkey, mf["name"], reasons))
    return Evaluation(facts, listed, visible)


def _listed(proc: Procedure, household_key: str, member_key: str | None, member_name: str,
            reasons: tuple[str, ...]) -> Listed:
    return Listed(proc.id, proc.name, proc.department, proc.counter, proc.scope, household_key,
                  member_key, member_name, reasons)


def list_procedures(move: Move, answers: Answers, catalogue: Catalogue) -> list[Listed]:
    """Every procedure the move needs, per household and per member, each with its reasons."""
    return evaluate_move(move, answers, catalogue).listed


def visible_questions(move: Move, answers: Answers, catalogue: Catalogue) -> list[VisibleQuestion]:
    """The questions staff should ask now (their show_when holds), with current answers."""
    return evaluate_move(move, answers, catalogue).questions
