"""The facts a condition may read, built from a Move, the answers and the move date.

`MEMBER`, `HOUSEHOLD`, `MOVE` describe every attribute (type and Japanese meaning); the checker
rejects a condition that names anything else, and docs/手続き定義設計.md lists the same set.
All ages and qualification states are taken on the move date (異動日), never on today.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from madoguchi.domain.age import (
    age,
    is_school_age,
    jidou_teate_eligible,
    kouki_start,
    legal_age,
    reaches_age_on,
    school_entry_year,
    school_grade,
)
from madoguchi.domain.moves import (
    HouseholdChangeKind,
    HouseholdState,
    Move,
    MoveMember,
    MoveType,
    Placement,
)
from madoguchi.domain.people import QUALIFICATION_LABELS
from madoguchi.errors import InputError


@dataclass(frozen=True)
class AttrType:
    """Type of one attribute: bool, int, string, struct (fixed fields) or list (of elem)."""

    kind: str
    doc: str = ""
    fields: dict[str, AttrType] = field(default_factory=dict)
    elem: AttrType | None = None
    values: frozenset[str] | None = None  # allowed literals for a string attribute
    nullable: bool = False

    def with_doc(self, doc: str) -> AttrType:
        return AttrType(self.kind, doc, self.fields, self.elem, self.values, self.nullable)


def _b(doc: str) -> AttrType:
    return AttrType("bool", doc)


def _i(doc: str) -> AttrType:
    return AttrType("int", doc)


def _s(doc: str, values: frozenset[str] | None = None) -> AttrType:
    return AttrType("string", doc, values=values)


KINDS = tuple(QUALIFICATION_LABELS)
MOVE_TYPES = frozenset(t.value for t in MoveType)
CHANGE_KINDS = frozenset({k.value for k in HouseholdChangeKind} | {""})

_HAS = AttrType("struct", "資格の有無（異動日に有効なもの）。例: member.has.kokuho",
                fields={k: _b(QUALIFICATION_LABELS[k]) for k in KINDS})

MOVE = AttrType("struct", "異動全体", fields={
    "type": _s("異動の種類（move_in 転入, special_move_in 特例転入, abroad_in 国外からの転入, move_out 転出, "
               "abroad_out 国外転出, move_within 転居, household_change 世帯変更）", MOVE_TYPES),
    "change_kind": _s("世帯変更の種別（split 分離, merge 合併, head_change 世帯主変更, reorganise 構成変更）。"
                      "世帯変更以外は空文字", CHANGE_KINDS),
    "is_in": _b("市外・国外からの転入（通常・特例・国外）"),
    "is_out": _b("市外・国外への転出"),
    "is_within": _b("市内転居"),
    "is_household_change": _b("世帯変更"),
    "special": _b("特例転入（マイナンバーカードによる転入）"),
    "from_abroad": _b("国外からの転入"),
    "to_abroad": _b("国外への転出"),
    "address_change": _b("市内の住所が新しくなる（転入・転居）"),
    "date": _s("異動日（転出は転出予定日）。YYYY-MM-DD"),
    "notified_on": _s("届出日。YYYY-MM-DD（未入力は空文字）"),
    "moving_count": _i("異動する人の数"),
})

MEMBER = AttrType("struct", "世帯員（異動日時点）", fields={
    "key": _s("世帯員キー（宛名番号または new-1 など）"),
    "name": _s("氏名"),
    "birth_date": _s("生年月日 YYYY-MM-DD"),
    "sex": _s("性別コード（1 男, 2 女）"),
    "legal_age": _i("法定年齢（誕生日の前日に加齢）。介護65歳・年金20歳/60歳の判定に使う"),
    "age": _i("通常の年齢（誕生日に加齢、画面表示と同じ）"),
    "fiscal_year_age": _i("異動日の属する年度が始まる前日（3月31日）の法定年齢。"
                          "「N歳到達年度末まで」は fiscal_year_age < N"),
    "is_school_age": _b("学齢（小1〜中3、4月1日基準）"),
    "school_grade": _i("学年 1〜9（学齢外は0）"),
    "grade_label": _s("学年の表示（小学3年、中学2年。学齢外は空文字）"),
    "is_preschool": _b("小学校入学前"),
    "jidou_teate_eligible": _b("児童手当の対象年齢（18歳到達後最初の3月31日まで）"),
    "reached_kaigo": _b("65歳到達日（65歳の誕生日の前日）が異動日以前"),
    "reached_kouki": _b("75歳の誕生日当日が異動日以前（後期高齢者医療の対象年齢）"),
    "has": _HAS,
    "kinds": AttrType("list", "有効な資格の種類の一覧", elem=_s("資格の種類")),
    "has_card": _b("有効なマイナンバーカードを持っている"),
    "has_ecert": _b("有効な署名用電子証明書を持っている"),
    "restricted": _b("支援措置対象者"),
    "moving": _b("この異動で動く人（同じ世帯に残る人は false）"),
    "leaves_city": _b("市外・国外へ転出する人"),
    "foreign": _b("外国人住民"),
    "is_new": _b("宛名番号がまだない人（転入者・出生など）"),
    "is_head": _b("異動後に世帯主"),
    "was_head": _b("異動前に世帯主"),
    "became_head": _b("異動で新たに世帯主になった"),
    "relationship": _s("異動後（転出者は異動前）の続柄"),
    "household_key": _s("属する世帯のキー"),
})

_MEMBER_IN_LIST = AttrType("struct", "世帯員", fields=MEMBER.fields)

HOUSEHOLD = AttrType("struct", "世帯（異動後。転出で市内に残らない世帯は異動前）", fields={
    "key": _s("世帯番号または new-A など"),
    "side": _s("after（異動後の世帯）または before（転出した人の異動前の世帯）",
               frozenset({"after", "before"})),
    "size": _i("世帯員の数"),
    "moving_count": _i("この世帯で異動する人の数"),
    "children": _i("児童手当の対象年齢の子の数"),
    "school_age_count": _i("学齢の子の数"),
    "preschool_count": _i("小学校入学前の子の数"),
    "has": AttrType("struct", "世帯員のだれかが持つ資格。例: household.has.kokuho", fields=_HAS.fields),
    "moving_has": AttrType("struct", "異動する人のだれかが持つ資格", fields=_HAS.fields),
    "is_new": _b("この異動で新しくできる世帯"),
    "new_head": _b("異動前からある世帯で世帯主が変わる"),
    "head_moving": _b("世帯主が異動する"),
    "members": AttrType("list", "世帯員の一覧（exists などで使う）", elem=_MEMBER_IN_LIST),
})

PARAMS_DOC = "日付つきパラメータ（parameters.yaml）"


def reference_date(move: Move) -> date:
    """The date ages and qualifications are taken on: the move date, else the planned date."""
    on = move.move_date or move.planned_date
    if on is None:
        raise InputError("異動日（転出の場合は転出予定日）が入力されていないため、手続きを判定できません。")
    return on


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def move_facts(move: Move, on: date) -> dict:
    t = move.move_type
    return {
        "type": t.value,
        "change_kind": move.change_kind.value if move.change_kind else "",
        "is_in": t.is_in,
        "is_out": t.is_out,
        "is_within": t is MoveType.MOVE_WITHIN,
        "is_household_change": t is MoveType.HOUSEHOLD_CHANGE,
        "special": t is MoveType.SPECIAL_MOVE_IN,
        "from_abroad": t is MoveType.ABROAD_IN,
        "to_abroad": t is MoveType.ABROAD_OUT,
        "address_change": t.is_in or t is MoveType.MOVE_WITHIN,
        "date": on.isoformat(),
        "notified_on": _iso(move.notified_on),
        "moving_count": len(move.moving_members()),
    }


def _fiscal_year_start(on: date) -> date:
    return date(on.year if on.month >= 4 else on.year - 1, 4, 1)


def member_facts(move: Move, m: MoveMember, on: date) -> dict:
    b = m.birth_date
    kinds = sorted({q.kind for q in m.qualifications if q.active_on(on)})
    after = move.household_after_of(m.key)
    before = move.household_before_of(m.key)
    home = after or before
    placement = next((p for p in home.placements if p.member_key == m.key), None) if home else None
    is_head = bool(after and any(p.is_head and p.member_key == m.key for p in after.placements))
    was_head = bool(before and any(p.is_head and p.member_key == m.key for p in before.placements))
    grade = school_grade(b, on) or 0
    return {
        "key": m.key,
        "name": m.name,
        "birth_date": b.isoformat(),
        "sex": m.sex,
        "legal_age": legal_age(b, on),
        "age": age(b, on),
        "fiscal_year_age": legal_age(b, _fiscal_year_start(on) - timedelta(days=1)),
        "is_school_age": is_school_age(b, on),
        "school_grade": grade,
        "grade_label": (f"小学{grade}年" if grade <= 6 else f"中学{grade - 6}年") if grade else "",
        "is_preschool": school_entry_year(b) > _fiscal_year_start(on).year,
        "jidou_teate_eligible": jidou_teate_eligible(b, on),
        "reached_kaigo": reaches_age_on(b, 65) <= on,
        "reached_kouki": kouki_start(b) <= on,
        "has": {k: k in kinds for k in KINDS},
        "kinds": kinds,
        "has_card": m.mynumber_card_expiry is not None and m.mynumber_card_expiry >= on,
        "has_ecert": m.e_cert_expiry is not None and m.e_cert_expiry >= on,
        "restricted": m.restricted,
        "moving": m.moving,
        "leaves_city": m.moving and move.move_type.is_out,
        "foreign": m.resident_kind == "2",
        "is_new": not m.atena_no,
        "is_head": is_head,
        "was_head": was_head,
        "became_head": is_head and not was_head and before is not None,
        "relationship": placement.relationship if placement else "",
        "household_key": home.key if home else "",
    }


def household_facts(move: Move, h: HouseholdState, side: str, members: dict[str, dict]) -> dict:
    """`members` holds member facts by key for everyone in the move."""
    mf = [members[k] for k in h.member_keys() if k in members]
    moving = [f for f in mf if f["moving"]]
    old = next((b for b in move.before if b.key == h.key), None) if side == "after" else None
    head = h.head()
    old_head = old.head() if old else None
    return {
        "key": h.key,
        "side": side,
        "size": len(mf),
        "moving_count": len(moving),
        "children": sum(1 for f in mf if f["jidou_teate_eligible"]),
        "school_age_count": sum(1 for f in mf if f["is_school_age"]),
        "preschool_count": sum(1 for f in mf if f["is_preschool"]),
        "has": {k: any(f["has"][k] for f in mf) for k in KINDS},
        "moving_has": {k: any(f["has"][k] for f in moving) for k in KINDS},
        "is_new": side == "after" and old is None,
        "new_head": bool(old_head and head and old_head.member_key != head.member_key),
        "head_moving": bool(head and members.get(head.member_key, {}).get("moving", False)),
        "members": mf,
    }


@dataclass
class MoveFacts:
    """All facts of one move: per-member and per-household dicts (plain Python values)."""

    on: date
    move: dict
    members: dict[str, dict]  # moving members (the member-scope subjects) and all others too
    households: dict[str, dict]  # household-scope subjects by key ("\0<member>": not yet placed)
    member_household: dict[str, str]  # member key → key in `households`


def build_facts(move: Move) -> MoveFacts:
    on = reference_date(move)
    members = {k: member_facts(move, m, on) for k, m in move.members.items()}
    households: dict[str, dict] = {}
    member_household: dict[str, str] = {}
    moving_keys = {m.key for m in move.moving_members()}
    for h in move.after:
        involved = any(k in moving_keys for k in h.member_keys())
        old = next((b for b in move.before if b.key == h.key), None)
        head_changed = bool(old and old.head() and h.head()
                            and old.head().member_key != h.head().member_key)
        if involved or head_changed:
            households[h.key] = household_facts(move, h, "after", members)
    for h in move.before:
        leaving = [k for k in h.member_keys() if k in moving_keys and move.household_after_of(k) is None]
        if leaving and h.key not in households:
            households[h.key] = household_facts(move, h, "before", members)
    for k in move.members:
        home = move.household_after_of(k) or move.household_before_of(k)
        if home is not None and home.key in households:
            member_household[k] = home.key
        elif k in moving_keys:  # not yet placed in the grid: judge the person alone
            lone = HouseholdState(key="", placements=[Placement(k, "")])
            households[f"\0{k}"] = household_facts(move, lone, "after", members)
            member_household[k] = f"\0{k}"
    return MoveFacts(on, move_facts(move, on), members, households, member_household)
