"""A compact description of a move for test cases and benchmarks → a real `Move`.

    move:
      type: move_in            # MoveType value
      date: 2025-04-01
      members:
        a: {birth: 1960-04-02, kinds: [kokuho], card: true}
        b: {birth: 2015-06-01}
      after:                   # optional; defaults below
        - {key: new-A, head: a, members: [a, b], relationships: {b: 子}}

Defaults: a move-in puts everyone in one new household "new-A" headed by the first member; a move
out/within starts from one household "100" headed by the first member (a move within keeps it).
"""

from __future__ import annotations

from datetime import date

from madoguchi.domain.moves import (
    HouseholdChangeKind,
    HouseholdState,
    Move,
    MoveMember,
    MoveType,
    Placement,
)
from madoguchi.domain.people import Address, Qualification

_FAR_FUTURE = date(2099, 12, 31)
_MOVE_KEYS = {"type", "date", "notified_on", "planned_date", "change_kind", "members", "before",
              "after"}
_MEMBER_KEYS = {"birth", "name", "sex", "kinds", "card", "ecert", "restricted", "moving", "new",
                "foreign"}
_HOUSEHOLD_KEYS = {"key", "head", "members", "relationships"}


class SpecError(ValueError):
    """The description is malformed; the message is Japanese."""


def _date(value: object, what: str) -> date:
    if isinstance(value, date):
        return value
    raise SpecError(f"{what} は YYYY-MM-DD の日付で書いてください（{value!r}）。")


def _unknown(got: dict, allowed: set[str], what: str) -> None:
    extra = sorted(set(got) - allowed)
    if extra:
        raise SpecError(f"{what} に未知のキー {', '.join(extra)} があります"
                        f"（使えるのは {', '.join(sorted(allowed))}）。")


def _qualifications(kinds: object, key: str) -> tuple[Qualification, ...]:
    if kinds is None:
        return ()
    if not isinstance(kinds, list):
        raise SpecError(f"世帯員 {key} の kinds は一覧で書いてください。")
    out = []
    for k in kinds:
        if isinstance(k, str):
            out.append(Qualification(k, date(1990, 1, 1)))
        elif isinstance(k, dict):
            _unknown(k, {"kind", "start", "end"}, f"世帯員 {key} の資格")
            out.append(Qualification(str(k["kind"]), k.get("start"), k.get("end")))
        else:
            raise SpecError(f"世帯員 {key} の資格 {k!r} が読めません。")
    return tuple(out)


def _households(raw: object, members: list[str], what: str) -> list[HouseholdState]:
    if not isinstance(raw, list):
        raise SpecError(f"{what} は世帯の一覧で書いてください。")
    out = []
    for h in raw:
        if not isinstance(h, dict):
            raise SpecError(f"{what} の世帯は key/head/members で書いてください。")
        _unknown(h, _HOUSEHOLD_KEYS, what)
        keys = [str(k) for k in h.get("members") or []]
        unknown = [k for k in keys if k not in members]
        if unknown:
            raise SpecError(f"{what} の世帯 {h.get('key')} に members にない人 {', '.join(unknown)} がいます。")
        head = str(h.get("head") or (keys[0] if keys else ""))
        rel = {str(k): str(v) for k, v in (h.get("relationships") or {}).items()}
        out.append(HouseholdState(str(h.get("key", "")), [
            Placement(k, "世帯主" if k == head else rel.get(k, "同居人"), is_head=k == head) for k in keys]))
    return out


def move_from_spec(spec: object) -> Move:
    if not isinstance(spec, dict):
        raise SpecError("move は対応表（type, date, members …）で書いてください。")
    _unknown(spec, _MOVE_KEYS, "move")
    try:
        t = MoveType(spec.get("type"))
    except ValueError:
        raise SpecError(f"move.type「{spec.get('type')}」は異動の種類ではありません"
                        f"（{', '.join(x.value for x in MoveType)}）。") from None
    on = _date(spec.get("date"), "move.date")
    raw_members = spec.get("members")
    if not isinstance(raw_members, dict) or not raw_members:
        raise SpecError("move.members に世帯員を1人以上書いてください。")
    members: dict[str, MoveMember] = {}
    for key, m in raw_members.items():
        key = str(key)
        m = m or {}
        if not isinstance(m, dict):
            raise SpecError(f"世帯員 {key} は birth などの対応表で書いてください。")
        _unknown(m, _MEMBER_KEYS, f"世帯員 {key}")
        new = bool(m.get("new", t.is_in))
        members[key] = MoveMember(
            key=key, name=str(m.get("name", key)), name_kana="", sex=str(m.get("sex", "")),
            birth_date=_date(m.get("birth"), f"世帯員 {key} の birth"),
            atena_no=None if new else key, resident_kind="2" if m.get("foreign") else "1",
            qualifications=_qualifications(m.get("kinds"), key),
            mynumber_card_expiry=_FAR_FUTURE if m.get("card") else None,
            e_cert_expiry=_FAR_FUTURE if m.get("ecert") else None,
            restricted=bool(m.get("restricted", False)), moving=bool(m.get("moving", True)))
    keys = list(members)
    default = [{"key": "100", "head": keys[0], "members": keys}]
    before = _households(spec["before"], keys, "move.before") if "before" in spec else (
        [] if t.is_in else _households(default, keys, "move.before"))
    if "after" in spec:
        after = _households(spec["after"], keys, "move.after")
    elif t.is_in:
        after = _households([{"key": "new-A", "head": keys[0], "members": keys}], keys, "move.after")
    elif t is MoveType.MOVE_WITHIN or t is MoveType.HOUSEHOLD_CHANGE:
        after = [HouseholdState(h.key, list(h.placements)) for h in before]
    else:
        after = []
    here = Address(town_name="広里町", banchi="1丁目1番1号")
    for h in after:
        h.address = here
    change = spec.get("change_kind")
    try:
        kind = HouseholdChangeKind(change) if change else None
    except ValueError:
        raise SpecError(f"move.change_kind「{change}」は世帯変更の種別ではありません。") from None
    return Move(
        move_type=t, move_date=on, notified_on=spec.get("notified_on", on),
        planned_date=spec.get("planned_date"), change_kind=kind,
        from_address=(Address(abroad_country="アメリカ合衆国") if t is MoveType.ABROAD_IN
                      else Address(city="札幌市", town_name="中央区北1条西2丁目") if t.is_in else None),
        to_address=(Address(abroad_country="アメリカ合衆国") if t is MoveType.ABROAD_OUT
                    else Address(city="旭川市", town_name="4条通") if t is MoveType.MOVE_OUT else None),
        members=members, before=before, after=after)


def answers_from_spec(spec: object) -> dict[tuple[str, str], object]:
    """`{subject: {question_id: value}}` → the engine's `{(question_id, subject): value}`."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SpecError("answers は {世帯員または世帯のキー: {質問ID: 回答}} で書いてください。")
    out: dict[tuple[str, str], object] = {}
    for subject, per in spec.items():
        if not isinstance(per, dict):
            raise SpecError(f"answers の {subject} は {{質問ID: 回答}} で書いてください。")
        for qid, value in per.items():
            out[(str(qid), str(subject))] = value
    return out
