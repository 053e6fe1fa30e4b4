"""Move ⇄ JSON-able dict (dates as ISO strings). Lossless: decode(encode(m)) == m.

Used to store the move of a case (`move_entries.data`), by the case runner (YAML) and by the
RPA export. Unknown keys are ignored on decode so that older readers survive newer data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .moves import HouseholdChangeKind, HouseholdState, Move, MoveMember, MoveType, Placement
from .people import Address, Qualification

FORMAT_VERSION = 1


def _d(v: date | None) -> str | None:
    return v.isoformat() if v else None


def _pd(v: Any) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


def encode_address(a: Address | None) -> dict | None:
    if a is None:
        return None
    return {"prefecture": a.prefecture, "city": a.city, "town_name": a.town_name, "banchi": a.banchi,
            "katagaki": a.katagaki, "postal_code": a.postal_code, "town_code": a.town_code,
            "abroad_country": a.abroad_country}


def decode_address(d: dict | None) -> Address | None:
    if d is None:
        return None
    known = ("prefecture", "city", "town_name", "banchi", "katagaki", "postal_code", "town_code",
             "abroad_country")
    return Address(**{k: str(d[k]) for k in known if k in d and d[k] is not None})


def _enc_q(q: Qualification) -> dict:
    return {"kind": q.kind, "start_date": _d(q.start_date), "end_date": _d(q.end_date), "role": q.role,
            "detail": q.detail}


def _dec_q(d: dict) -> Qualification:
    return Qualification(kind=d["kind"], start_date=_pd(d.get("start_date")), end_date=_pd(d.get("end_date")),
                         role=d.get("role", "insured"), detail=d.get("detail", ""))


def encode_member(m: MoveMember) -> dict:
    return {"key": m.key, "name": m.name, "name_kana": m.name_kana, "birth_date": _d(m.birth_date),
            "sex": m.sex, "atena_no": m.atena_no, "resident_kind": m.resident_kind,
            "qualifications": [_enc_q(q) for q in m.qualifications],
            "mynumber_card_expiry": _d(m.mynumber_card_expiry), "e_cert_expiry": _d(m.e_cert_expiry),
            "restricted": m.restricted, "moving": m.moving}


def decode_member(d: dict) -> MoveMember:
    return MoveMember(key=str(d["key"]), name=d.get("name", ""), name_kana=d.get("name_kana", ""),
                      birth_date=_pd(d["birth_date"]), sex=d.get("sex", ""),  # type: ignore[arg-type]
                      atena_no=d.get("atena_no"), resident_kind=d.get("resident_kind", "1"),
                      qualifications=tuple(_dec_q(q) for q in d.get("qualifications", [])),
                      mynumber_card_expiry=_pd(d.get("mynumber_card_expiry")),
                      e_cert_expiry=_pd(d.get("e_cert_expiry")), restricted=bool(d.get("restricted", False)),
                      moving=bool(d.get("moving", True)))


def encode_household(h: HouseholdState) -> dict:
    return {"key": h.key, "address": encode_address(h.address),
            "placements": [{"member_key": p.member_key, "relationship": p.relationship, "is_head": p.is_head}
                           for p in h.placements]}


def decode_household(d: dict) -> HouseholdState:
    return HouseholdState(key=str(d["key"]), address=decode_address(d.get("address")),
                          placements=[Placement(str(p["member_key"]), p.get("relationship", ""),
                                                bool(p.get("is_head", False)))
                                      for p in d.get("placements", [])])


def encode_move(m: Move) -> dict:
    """The JSON-able form; member order and household order are kept."""
    return {
        "format": FORMAT_VERSION,
        "move_type": m.move_type.value,
        "move_date": _d(m.move_date),
        "notified_on": _d(m.notified_on),
        "planned_date": _d(m.planned_date),
        "change_kind": m.change_kind.value if m.change_kind else None,
        "from_address": encode_address(m.from_address),
        "to_address": encode_address(m.to_address),
        "members": [encode_member(x) for x in m.members.values()],
        "before": [encode_household(h) for h in m.before],
        "after": [encode_household(h) for h in m.after],
    }


def decode_move(d: dict) -> Move:
    ck = d.get("change_kind")
    members = [decode_member(x) for x in d.get("members", [])]
    return Move(
        move_type=MoveType(d["move_type"]),
        move_date=_pd(d.get("move_date")),
        notified_on=_pd(d.get("notified_on")),
        planned_date=_pd(d.get("planned_date")),
        change_kind=HouseholdChangeKind(ck) if ck else None,
        from_address=decode_address(d.get("from_address")),
        to_address=decode_address(d.get("to_address")),
        members={m.key: m for m in members},
        before=[decode_household(h) for h in d.get("before", [])],
        after=[decode_household(h) for h in d.get("after", [])],
    )
