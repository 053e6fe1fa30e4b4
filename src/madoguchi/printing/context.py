"""Build the flat render context that form templates bind to, from domain objects.

Keys are dotted paths (``person.name``, ``household.head_name``, ``move.move_date_wareki``,
``answers.X``, ``case.no``); ``members`` is a list of flat dicts for member tables. Dates are
和暦. Whatever reveals a 支援措置 person's whereabouts is replaced by 「（支援措置により非表示）」
unless the person's 宛名番号 is in ``unmasked`` (the service decides that, and logs it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..domain.age import jidou_teate_eligible, school_grade
from ..domain.masking import PRINT_MASK_TEXT, MaskingPolicy
from ..domain.moves import Move, MoveMember
from ..domain.people import SEX_LABEL, Address, Household, Person
from ..domain.wareki import format_wareki


@dataclass
class CaseInfo:
    """Facts about the visit that forms print (receipt number, clerk, who notified).

    ``extra`` adds more ``case.*`` keys, e.g. the identity documents shown
    (``{"id_mynumber_card": True}`` → ``case.id_mynumber_card``).
    """

    today: date
    case_no: str = ""
    clerk: str = ""
    terminal: str = ""
    counter: str = ""
    notifier_name: str = ""
    notifier_kana: str = ""
    notifier_relation: str = "本人"  # 本人 / 同一世帯 / 代理人
    notifier_phone: str = ""
    notifier_address: str = ""
    city: str = "深川市"
    mayor: str = "深川市長"
    extra: dict[str, Any] = field(default_factory=dict)


def _addr(a: Address | None) -> tuple[str, str]:
    if a is None:
        return "", ""
    return a.line(), a.postal_display()


def _grade_label(birth: date, on: date) -> str:
    g = school_grade(birth, on)
    if g is None:
        return ""
    return f"小学校{g}年" if g <= 6 else f"中学校{g - 6}年"


def _child_fields(birth: date, on: date) -> dict[str, Any]:
    return {"school_grade": _grade_label(birth, on), "is_child": jidou_teate_eligible(birth, on)}


def _person_fields(p: Person, on: date, policy: MaskingPolicy) -> dict[str, Any]:
    line, postal = _addr(p.address)
    if p.address is None and p.restricted:
        line = PRINT_MASK_TEXT  # already masked upstream (the store never gave us the address)
    # Anyone printed together with a hidden person shares their whereabouts (same household or
    # move): their addresses are masked too.
    hide = bool(policy.restricted - policy.unmasked) or (p.restricted and p.address is None)
    out: dict[str, Any] = {
        "atena_no": p.atena_no,
        "name": p.name,
        "name_kana": p.name_kana,
        "birth_date": p.birth_date.isoformat(),
        "birth_wareki": format_wareki(p.birth_date),
        "sex": p.sex_label,
        "is_male": p.sex == "1",
        "is_female": p.sex == "2",
        "age": p.age_on(on),
        "relationship": "世帯主" if p.is_householder else p.relationship,
        "is_householder": p.is_householder,
        "household_no": p.household_no,
        "juminhyo_code": p.juminhyo_code,
        "honseki": p.honseki,
        "hittousha": p.hittousha,
        "former_surname": p.former_surname,
        "alias": p.alias,
        "romaji_name": p.romaji_name,
        "nationality": p.nationality,
        "residence_status": p.residence_status,
        "residence_expiry_wareki": format_wareki(p.residence_expiry),
        "is_foreign": p.is_foreign,
        "has_mynumber_card": p.has_mynumber_card(on),
        "mynumber_card_expiry_wareki": format_wareki(p.mynumber_card_expiry),
        "resident_since_wareki": format_wareki(p.resident_since),
        "moved_in_from": p.moved_in_from,
        "address": PRINT_MASK_TEXT if hide else line,
        "postal_code": PRINT_MASK_TEXT if hide else postal,
        "katagaki": PRINT_MASK_TEXT if hide else (p.address.katagaki if p.address else ""),
        "former_address": PRINT_MASK_TEXT if hide else p.moved_in_from,
        "restricted": p.restricted,
        "qualifications": sorted(p.active_kinds(on)),
        **_child_fields(p.birth_date, on),
    }
    for kind in p.active_kinds(on):
        out[f"has_{kind}"] = True
    return out


def _member_fields(m: MoveMember, on: date, relationship: str, is_head: bool, policy: MaskingPolicy) -> dict[str, Any]:
    age = on.year - m.birth_date.year - ((on.month, on.day) < (m.birth_date.month, m.birth_date.day))
    return {
        "key": m.key,
        "atena_no": m.atena_no or "",
        "name": m.name,
        "name_kana": m.name_kana,
        "birth_date": m.birth_date.isoformat(),
        "birth_wareki": format_wareki(m.birth_date),
        "sex": SEX_LABEL.get(m.sex, ""),
        "is_male": m.sex == "1",
        "is_female": m.sex == "2",
        "age": age,
        "relationship": "世帯主" if is_head else relationship,
        "is_householder": is_head,
        "is_foreign": m.resident_kind == "2",
        "has_mynumber_card": m.mynumber_card_expiry is not None and m.mynumber_card_expiry >= on,
        "moving": m.moving,
        "restricted": m.restricted,
        "hidden": policy.hidden(m.atena_no or m.key),
        **_child_fields(m.birth_date, on),
        **{f"has_{q.kind}": True for q in m.qualifications if q.active_on(on)},
    }


def _prefixed(prefix: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in data.items()}


def build_context(case: CaseInfo, *, person: Person | None = None, household: Household | None = None,
                  move: Move | None = None, answers: Mapping[str, Any] | None = None,
                  unmasked: Iterable[str] = (), subjects: Iterable[str] | None = None,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A flat dict for one form: case.*, person.*, household.*, move.*, answers.*, members[].

    ``subjects`` (宛名番号 or move member keys) narrows ``subjects[]`` to the persons a form is
    about (e.g. only those joining 国保); by default it is every member.
    """
    restricted: set[str] = set()
    for p in ([person] if person else []) + (household.members if household else []):
        if p.restricted:
            restricted.add(p.atena_no)
    if move:
        restricted |= {m.atena_no or m.key for m in move.members.values() if m.restricted}
    policy = MaskingPolicy(restricted=frozenset(restricted), unmasked=frozenset(unmasked))
    on = (move.move_date or move.planned_date or case.today) if move else case.today

    ctx: dict[str, Any] = {
        "city.name": case.city,
        "city.mayor": case.mayor,
        "city.addressee": f"{case.mayor}　様",
        "case.no": case.case_no,
        "case.clerk": case.clerk,
        "case.terminal": case.terminal,
        "case.counter": case.counter,
        "case.today": case.today.isoformat(),
        "case.today_wareki": format_wareki(case.today),
        "case.notifier_name": case.notifier_name,
        "case.notifier_kana": case.notifier_kana,
        "case.notifier_relation": case.notifier_relation,
        "case.notifier_is_self": case.notifier_relation == "本人",
        "case.notifier_is_household": case.notifier_relation == "同一世帯",
        "case.notifier_is_proxy": case.notifier_relation == "代理人",
        "case.notifier_phone": case.notifier_phone,
        # A notifier in the same visit usually shares the protected person's address.
        "case.notifier_address": PRINT_MASK_TEXT if policy.restricted - policy.unmasked
        else case.notifier_address,
        "masked": bool(policy.restricted - policy.unmasked),
    }
    ctx.update(_prefixed("case", case.extra))

    if person is not None:
        ctx.update(_prefixed("person", _person_fields(person, on, policy)))
    members: list[dict[str, Any]] = []
    if household is not None:
        head = household.head
        hide = policy.masks_shared(m.atena_no for m in household.members)
        line, postal = _addr(household.address)
        ctx.update({
            "household.no": household.household_no,
            "household.head_name": head.name if head else "",
            "household.head_kana": head.name_kana if head else "",
            # No address but a restricted member: the store already withheld it.
            "household.address": PRINT_MASK_TEXT if hide or (not line and restricted) else line,
            "household.postal_code": PRINT_MASK_TEXT if hide else postal,
            "household.member_count": len(household.members),
        })
        for i, m in enumerate(sorted(household.members, key=lambda m: not m.is_householder), start=1):
            row = _person_fields(m, on, policy)
            row["seq"] = i
            members.append(row)
    if move is not None:
        ctx.update(_move_fields(move, policy, on))
        members = _move_members(move, on, policy) or members
        if person is not None and not ctx.get("person.former_address"):
            # The core system may not know where a newcomer came from; the move does.
            ctx["person.former_address"] = ctx["move.former_address"]
    ctx["members"] = members
    ctx["member_count"] = len(members)
    ctx["children"] = [m for m in members if m["is_child"]]
    ctx["school_children"] = [m for m in members if m["school_grade"]]
    wanted = set(subjects) if subjects is not None else None
    ctx["subjects"] = [m for m in members
                       if wanted is None or m["atena_no"] in wanted or m.get("key") in wanted]
    if person is None and members:
        ctx.update(_prefixed("person", members[0]))
    for k, v in (answers or {}).items():
        ctx[f"answers.{k}"] = v
    ctx.update(extra or {})
    return ctx


def _move_members(move: Move, on: date, policy: MaskingPolicy) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ordered = sorted(move.members.values(), key=lambda m: (not m.moving, m.key))
    for m in ordered:
        h = move.household_after_of(m.key) or move.household_before_of(m.key)
        placement = next((p for p in h.placements if p.member_key == m.key), None) if h else None
        row = _member_fields(m, on, placement.relationship if placement else "",
                             placement.is_head if placement else False, policy)
        rows.append(row)
    # Heads first within the order: forms list the 世帯主 on the first line.
    rows.sort(key=lambda r: (not r["moving"], not r["is_householder"]))
    for i, r in enumerate(rows, start=1):
        r["seq"] = i
    return rows


def _move_fields(move: Move, policy: MaskingPolicy, on: date) -> dict[str, Any]:
    involved = [m.atena_no or m.key for m in move.members.values()]
    hide = policy.masks_shared(involved)
    after = move.after[0] if move.after else None
    new_addr = after.address if after else None
    if move.move_type.is_out:
        new_addr = move.to_address
    old_addr = move.from_address
    if old_addr is None and move.before and move.before[0].address is not None:
        old_addr = move.before[0].address
    new_line, new_postal = _addr(new_addr)
    old_line, _ = _addr(old_addr)
    head_key = after.head().member_key if after and after.head() else None
    before_head = move.before[0].head() if move.before and move.before[0].head() else None
    name_of = {k: m.name for k, m in move.members.items()}
    t = move.move_type
    out: dict[str, Any] = {
        "move.type": t.value,
        "move.type_label": t.label,
        "move.change_kind": move.change_kind.value if move.change_kind else "",
        "move.change_kind_label": move.change_kind.label if move.change_kind else "",
        "move.move_date_wareki": format_wareki(move.move_date),
        "move.notified_on_wareki": format_wareki(move.notified_on),
        "move.planned_date_wareki": format_wareki(move.planned_date),
        "move.new_address": PRINT_MASK_TEXT if hide else new_line,
        "move.new_postal_code": PRINT_MASK_TEXT if hide else new_postal,
        "move.former_address": PRINT_MASK_TEXT if hide else old_line,
        "move.from_address": PRINT_MASK_TEXT if hide else _addr(move.from_address)[0],
        "move.to_address": PRINT_MASK_TEXT if hide else _addr(move.to_address)[0],
        "move.new_head_name": name_of.get(head_key, "") if head_key else "",
        "move.former_head_name": name_of.get(before_head.member_key, "") if before_head else "",
        "move.moving_count": len(move.moving_members()),
        "move.age_basis_wareki": format_wareki(on),
    }
    for mt in type(t):
        out[f"move.is_{mt.value}"] = mt is t
    return out
