"""住民異動 (moves): the before/after state of one or more households, and its validation.

A Move is what the multi-household grid edits and what the procedure engine reads. Members are
keyed by `key`: the 宛名番号 for existing residents, or a temporary key ("new-1") for persons
arriving from outside the city who have no 宛名 yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum

from .people import Address, Qualification


class MoveType(StrEnum):
    MOVE_IN = "move_in"
    SPECIAL_MOVE_IN = "special_move_in"
    ABROAD_IN = "abroad_in"
    MOVE_OUT = "move_out"
    ABROAD_OUT = "abroad_out"
    MOVE_WITHIN = "move_within"
    HOUSEHOLD_CHANGE = "household_change"

    @property
    def label(self) -> str:
        return MOVE_TYPE_LABELS[self]

    @property
    def is_in(self) -> bool:
        return self in (MoveType.MOVE_IN, MoveType.SPECIAL_MOVE_IN, MoveType.ABROAD_IN)

    @property
    def is_out(self) -> bool:
        return self in (MoveType.MOVE_OUT, MoveType.ABROAD_OUT)


MOVE_TYPE_LABELS = {
    MoveType.MOVE_IN: "転入",
    MoveType.SPECIAL_MOVE_IN: "特例転入",
    MoveType.ABROAD_IN: "国外からの転入",
    MoveType.MOVE_OUT: "転出",
    MoveType.ABROAD_OUT: "国外転出",
    MoveType.MOVE_WITHIN: "転居",
    MoveType.HOUSEHOLD_CHANGE: "世帯変更",
}


class HouseholdChangeKind(StrEnum):
    SPLIT = "split"
    MERGE = "merge"
    HEAD_CHANGE = "head_change"
    REORGANISE = "reorganise"

    @property
    def label(self) -> str:
        return {"split": "世帯分離", "merge": "世帯合併", "head_change": "世帯主変更",
                "reorganise": "世帯構成変更"}[self.value]


RELATIONSHIPS = ("世帯主", "妻", "夫", "子", "父", "母", "妻の子", "夫の子", "子の妻", "子の夫",
                 "孫", "祖父", "祖母", "兄", "姉", "弟", "妹", "妻の父", "妻の母", "夫の父", "夫の母",
                 "縁故者", "同居人", "未届の妻", "未届の夫")


@dataclass
class MoveMember:
    """A person taking part in the move, as the procedure engine and forms need them."""

    key: str
    name: str
    name_kana: str
    birth_date: date
    sex: str = ""
    atena_no: str | None = None
    resident_kind: str = "1"
    qualifications: tuple[Qualification, ...] = ()
    mynumber_card_expiry: date | None = None
    e_cert_expiry: date | None = None
    restricted: bool = False
    moving: bool = True  # False: a member of an involved household who stays where they are

    def has(self, kind: str, on: date) -> bool:
        return any(q.kind == kind and q.active_on(on) for q in self.qualifications)


@dataclass
class Placement:
    member_key: str
    relationship: str
    is_head: bool = False


@dataclass
class HouseholdState:
    """One household on one side of the grid. `key` is the 世帯番号 or "new-A" for a new one."""

    key: str
    placements: list[Placement] = field(default_factory=list)
    address: Address | None = None

    def member_keys(self) -> list[str]:
        return [p.member_key for p in self.placements]

    def head(self) -> Placement | None:
        heads = [p for p in self.placements if p.is_head]
        return heads[0] if len(heads) == 1 else None


@dataclass
class Move:
    move_type: MoveType
    move_date: date | None = None
    notified_on: date | None = None
    planned_date: date | None = None  # 転出予定日
    change_kind: HouseholdChangeKind | None = None
    from_address: Address | None = None  # 転入元 (outside the city)
    to_address: Address | None = None    # 転出先
    members: dict[str, MoveMember] = field(default_factory=dict)
    before: list[HouseholdState] = field(default_factory=list)
    after: list[HouseholdState] = field(default_factory=list)

    def moving_members(self) -> list[MoveMember]:
        return [m for m in self.members.values() if m.moving]

    def household_after_of(self, key: str) -> HouseholdState | None:
        return next((h for h in self.after if key in h.member_keys()), None)

    def household_before_of(self, key: str) -> HouseholdState | None:
        return next((h for h in self.before if key in h.member_keys()), None)

    def copy(self) -> Move:
        return replace(self, members=dict(self.members),
                       before=[replace(h, placements=list(h.placements)) for h in self.before],
                       after=[replace(h, placements=list(h.placements)) for h in self.after])


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """A validation result, located where the grid shows it (household key / member key / field)."""

    level: Level
    message: str
    household: str = ""
    member: str = ""
    field: str = ""


DEADLINE_DAYS = 14


def validate(move: Move, today: date) -> list[Finding]:
    """All problems of a move, in Japanese. Late notification warns; it never blocks."""
    out: list[Finding] = []
    E, W = Level.ERROR, Level.WARNING
    t = move.move_type
    if move.move_date is None and t is not MoveType.MOVE_OUT and t is not MoveType.ABROAD_OUT:
        out.append(Finding(E, "異動日を入力してください。", field="move_date"))
    if move.notified_on is None:
        out.append(Finding(E, "届出日を入力してください。", field="notified_on"))
    if t.is_out and move.planned_date is None and move.move_date is None:
        out.append(Finding(E, "転出予定日（または転出日）を入力してください。", field="planned_date"))
    if move.notified_on and move.notified_on > today:
        out.append(Finding(E, "届出日が未来の日付です。", field="notified_on"))
    if move.move_date and move.notified_on and not t.is_out:
        late = (move.notified_on - move.move_date).days
        if late > DEADLINE_DAYS:
            out.append(Finding(W, f"異動日から{late}日経過しています（14日以内の届出期間を過ぎています）。"
                                  "受理できますが、遅延理由を確認してください。", field="notified_on"))
        if move.move_date > move.notified_on and t is not MoveType.HOUSEHOLD_CHANGE:
            out.append(Finding(E, "異動日が届出日より後です。転入・転居は異動後に届け出ます。",
                               field="move_date"))
    if t.is_out and move.planned_date and move.notified_on:
        ahead = (move.planned_date - move.notified_on).days
        if ahead > DEADLINE_DAYS:
            out.append(Finding(W, f"転出予定日が{ahead}日先です（通常は14日前から届出できます）。",
                               field="planned_date"))
        if -ahead > DEADLINE_DAYS:
            out.append(Finding(W, f"転出予定日から{-ahead}日経過しています（14日以内の届出期間を過ぎています）。",
                               field="planned_date"))
    if t is MoveType.SPECIAL_MOVE_IN and move.planned_date and move.move_date:
        if (move.move_date - move.planned_date).days > 30:
            out.append(Finding(W, "特例転入は転出予定日から30日以内に届け出る必要があります。"
                                  "転出証明書による通常の転入になる可能性があります。", field="move_date"))
    if t.is_in and t is not MoveType.ABROAD_IN and move.from_address is None:
        out.append(Finding(E, "転入元の住所を選択してください。", field="from_address"))
    if t is MoveType.ABROAD_OUT and (move.to_address is None or not move.to_address.abroad_country):
        out.append(Finding(E, "転出先の国・地域を入力してください。", field="to_address"))
    if t is MoveType.MOVE_OUT and move.to_address is None:
        out.append(Finding(E, "転出先の住所を選択してください。", field="to_address"))
    if not move.members:
        out.append(Finding(E, "異動する人を追加してください。"))

    placed: dict[str, list[str]] = {}
    for h in move.after:
        for p in h.placements:
            placed.setdefault(p.member_key, []).append(h.key)
    leaves_city = t.is_out
    for key, member in move.members.items():
        where = placed.get(key, [])
        if leaves_city and member.moving:
            continue  # those leaving are not placed in a household of the city
        if len(where) == 0:
            out.append(Finding(E, f"{member.name} さんの異動後の世帯が決まっていません。", member=key))
        elif len(where) > 1:
            out.append(Finding(E, f"{member.name} さんが異動後の複数の世帯に入っています。", member=key))
    for h in move.after:
        if not h.placements:
            continue
        heads = [p for p in h.placements if p.is_head]
        if len(heads) != 1:
            msg = "世帯主がいません。" if not heads else "世帯主が2人以上います。"
            out.append(Finding(E, f"異動後の世帯 {h.key}: {msg}世帯主を1人だけ指定してください。",
                               household=h.key))
        for p in h.placements:
            if p.is_head and p.relationship not in ("世帯主", "本人"):
                out.append(Finding(E, "世帯主の続柄は「世帯主」にしてください。",
                                   household=h.key, member=p.member_key, field="relationship"))
            if not p.is_head and p.relationship in ("世帯主", "本人", ""):
                name = move.members[p.member_key].name if p.member_key in move.members else p.member_key
                out.append(Finding(E, f"{name} さんの続柄を世帯主から見た関係で入力してください。",
                                   household=h.key, member=p.member_key, field="relationship"))
        if h.address is None and not leaves_city:
            out.append(Finding(E, f"異動後の世帯 {h.key} の住所を選択してください。",
                               household=h.key, field="address"))
        spouses = [p for p in h.placements if p.relationship in ("妻", "夫")]
        if len(spouses) > 1:
            out.append(Finding(W, "「妻」「夫」が2人以上います。続柄を確認してください。", household=h.key))
    return out


def blocking(findings: list[Finding]) -> bool:
    return any(f.level is Level.ERROR for f in findings)


def deadline(move: Move) -> date | None:
    """The last day of the 14-day notification period."""
    if move.move_date is None:
        return None
    return move.move_date + timedelta(days=DEADLINE_DAYS)


# --- editing operations used by the move grid (pure; they change `move` in place) ---------------

HEAD = "世帯主"


def new_household_key(move: Move) -> str:
    """'new-A', 'new-B' … not yet used on the after side."""
    used = {h.key for h in move.after} | {h.key for h in move.before}
    n = 0
    while True:
        n += 1
        letters, k = "", n
        while k:
            k, r = divmod(k - 1, 26)
            letters = chr(ord("A") + r) + letters
        if f"new-{letters}" not in used:
            return f"new-{letters}"


def start_after_from_before(move: Move) -> None:
    """Begin the after side as a copy of the before side (the usual starting point)."""
    if move.after:
        return
    move.after = [HouseholdState(h.key, [Placement(p.member_key, p.relationship, p.is_head) for p in h.placements],
                                 h.address) for h in move.before]


def _drop_empty_new(move: Move) -> None:
    move.after = [h for h in move.after if h.placements or not h.key.startswith("new-")]


def unplace(move: Move, member_key: str) -> None:
    for h in move.after:
        h.placements = [p for p in h.placements if p.member_key != member_key]
    _drop_empty_new(move)


def place(move: Move, member_key: str, target_key: str | None = None, *, index: int | None = None) -> str:
    """Put a member into an after household (a new one when `target_key` is None or unknown).

    Joining someone else's household the 続柄 is unknown until the clerk enters it: it is left
    empty (validation points at it). Someone alone in a household becomes its 世帯主.
    Returns the key of the target household.
    """
    if member_key not in move.members:
        raise KeyError(member_key)
    target = next((h for h in move.after if h.key == target_key), None) if target_key else None
    current = move.household_after_of(member_key)
    if current is not None and target is current:
        return current.key
    unplace(move, member_key)
    if target is None:
        target = HouseholdState(target_key or new_household_key(move))
        source = move.household_before_of(member_key)
        if source is not None and not target_key:
            target.address = source.address  # a split usually stays at the same address
        move.after.append(target)
    if not target.placements:
        placement = Placement(member_key, HEAD, True)
    else:
        placement = Placement(member_key, "", False)
    if index is None or index > len(target.placements):
        target.placements.append(placement)
    else:
        target.placements.insert(index, placement)
    return target.key


def set_head(move: Move, household_key: str, member_key: str) -> None:
    """Make `member_key` the 世帯主; the former head's 続柄 must be entered anew (it was 世帯主)."""
    h = next(h for h in move.after if h.key == household_key)
    new = []
    for p in h.placements:
        if p.member_key == member_key:
            new.append(Placement(p.member_key, HEAD, True))
        elif p.is_head or p.relationship == HEAD:
            new.append(Placement(p.member_key, "", False))
        else:
            new.append(p)
    new.sort(key=lambda p: not p.is_head)  # the head is listed first
    h.placements = new


def set_relationship(move: Move, household_key: str, member_key: str, relationship: str) -> None:
    relationship = relationship.strip()
    if relationship in (HEAD, "本人"):
        set_head(move, household_key, member_key)
        return
    h = next(h for h in move.after if h.key == household_key)
    h.placements = [Placement(p.member_key, relationship, False) if p.member_key == member_key else p
                    for p in h.placements]


def set_household_address(move: Move, household_key: str, address: Address | None) -> None:
    h = next(h for h in move.after if h.key == household_key)
    h.address = address


def set_moving(move: Move, member_key: str, moving: bool) -> None:
    move.members[member_key].moving = moving


def add_member(move: Move, member: MoveMember, household_key: str | None = None) -> str:
    """A newcomer (転入者) without 宛名; placed into `household_key` or a new household."""
    move.members[member.key] = member
    return place(move, member.key, household_key)


def new_member_key(move: Move) -> str:
    n = 1
    while f"new-{n}" in move.members:
        n += 1
    return f"new-{n}"


def remove_member(move: Move, member_key: str) -> None:
    """Only newcomers can be removed; residents stay (mark them as not moving instead)."""
    if move.members[member_key].atena_no:
        raise ValueError("a resident cannot be removed from the move")
    unplace(move, member_key)
    del move.members[member_key]
