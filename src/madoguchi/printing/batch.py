"""F9: turn the selected procedures' forms into one print batch for a household.

Procedures name their forms (``forms: [kokuho_idou]`` in forms/procedures). Several procedures
may name the same household form (住民異動届 for 転入 and 世帯変更): it is printed once, listing
everyone concerned. A per-person form (``per: person`` in the template: 印鑑登録, 年金 …) is
printed once for each person; the generic 申請書 once per procedure and person, titled with
the procedure's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..domain.moves import Move
from ..domain.people import Household
from .context import CaseInfo, build_context
from .render import FormJob, render_forms
from .template import load_template

GENERIC = "generic"


@dataclass(frozen=True)
class FormRequest:
    """One form a selected procedure asks for, and whom it concerns (宛名番号 or move member keys)."""

    form_id: str
    subjects: tuple[str, ...] = ()
    procedure_name: str = ""
    department: str = ""
    content: str = ""


def plan_batch(requests: Iterable[FormRequest], case: CaseInfo, *, household: Household | None = None,
               move: Move | None = None, answers: Mapping[str, Any] | None = None,
               unmasked: Iterable[str] = (), templates_directory: Path | None = None) -> list[FormJob]:
    """The form jobs for a batch, in the order the forms were first asked for."""
    unmasked = frozenset(unmasked)
    persons = {p.atena_no: p for p in (household.members if household else [])}
    household_forms: dict[str, list[str]] = {}
    person_forms: dict[tuple[str, str, str], FormRequest] = {}
    order: list[tuple[str, Any]] = []
    for req in requests:
        template = load_template(req.form_id, templates_directory)
        if template.per == "household":
            if req.form_id not in household_forms:
                household_forms[req.form_id] = []
                order.append(("household", req.form_id))
            for s in req.subjects:
                if s not in household_forms[req.form_id]:
                    household_forms[req.form_id].append(s)
            continue
        procedure = req.procedure_name if req.form_id == GENERIC else ""
        for s in req.subjects or ("",):
            key = (req.form_id, procedure, s)
            if key not in person_forms:
                person_forms[key] = req
                order.append(("person", key))

    jobs: list[FormJob] = []
    for kind, key in order:
        if kind == "household":
            subjects = household_forms[key]
            ctx = build_context(case, household=household, move=move, answers=answers, unmasked=unmasked,
                                subjects=subjects or None)
            jobs.append(FormJob(load_template(key, templates_directory), ctx))
            continue
        form_id, _, subject = key
        req = person_forms[key]
        person = persons.get(subject)
        ctx = build_context(case, person=person, household=household, move=move, answers=answers,
                            unmasked=unmasked, subjects=[subject] if subject else None)
        if person is None and subject:
            # A new arrival without a 宛名 yet: take what the move knows about them.
            row = next((m for m in ctx["members"] if subject in (m.get("key"), m.get("atena_no"))), None)
            if row is not None:
                ctx.update({f"person.{k}": v for k, v in row.items()})
                ctx["person.address"] = ctx.get("move.new_address", "")
                ctx["person.former_address"] = ctx.get("move.former_address", "")
        ctx.update({"procedure.name": req.procedure_name, "procedure.department": req.department,
                    "procedure.content": req.content})
        jobs.append(FormJob(load_template(form_id, templates_directory), ctx))
    return jobs


def render_batch(requests: Sequence[FormRequest], case: CaseInfo, *, watermark: str | None = None,
                 **kwargs: Any) -> bytes:
    """All forms of a batch as one PDF."""
    return render_forms(plan_batch(requests, case, **kwargs), watermark=watermark)
