"""Resident search (宛名検索), household and person views, unmasking of 支援措置 addresses.

One entry field understands kana in any form, kanji names (with or without the full-width space),
生年月日 in 西暦 or 和暦 shorthand, addresses and 宛名番号; several words narrow the result.

Addresses of restricted persons are masked on every path. In PostgreSQL an unpermitted role cannot
even read the row (RLS on person_addresses); in SQLite (demo) this service masks. A permitted role
reads it only through `unmask_address`, with a reason, and the unmasking is audited.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import (ColumnElement, Date, String, Text, and_, bindparam, column, false, func, insert, or_, select, table, true, union)
from sqlalchemy.orm import Session, aliased

from madoguchi.domain import wareki
from madoguchi.domain.age import age as age_on
from madoguchi.domain.kana import fold_kana, is_kana
from madoguchi.domain.masking import CHECK_NEEDED_TEXT, UNMASK_PERMISSION
from madoguchi.domain.people import (MASKED_ADDRESS_TEXT, Address, Household, Person, Qualification,
                                     ResidentStatus)
from madoguchi.errors import InputError
from madoguchi.services import audit
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import (PersonAddressRow, PersonRow, QualificationRow, Town,
                                    UserSetting)

P = PersonRow
A = PersonAddressRow
FW_SPACE = "\u3000"
_SPLIT = re.compile(r"[\s\u3000]+")
_DIGITS = re.compile(r"^\d+$")
# 和暦 year only or year+month: S55, 昭和55年, S55.12, 昭和55年12月, H1
_WAREKI_PART = re.compile(r"^(?:([MTSHR])|(明治|大正|昭和|平成|令和))(\d{1,2})(?:年)?(?:[./\-]?(\d{1,2})月?)?$")
_SEIREKI_PART = re.compile(r"^(\d{4})[./\-年](\d{1,2})月?$")
_ADDRESS_HINT = re.compile(r"[0-9０-９一二三四五六七八九十]+(条|丁目|番|号|線|区)|(町|条|丁目|番地|通|団地)$")
STATUS_MARK = {"2": "転出", "3": "死亡", "4": "消除"}


def address_key(text: str) -> str:
    """The search key of an address, as the importer stores it in person_addresses.address_key
    (fold_kana of 町字名+番地+方書); a typed 都道府県/市 prefix is dropped first."""
    t = _SPLIT.sub("", unicodedata.normalize("NFKC", text))
    t = re.sub(r"^.{2,3}?[都道府県]", "", t)
    t = re.sub(r"^[^0-9]{1,5}?市", "", t)
    return fold_kana(t)


@dataclass(frozen=True)
class ResidentHit:
    """One line of the search result list."""

    atena_no: str
    name: str
    kana: str
    birth_date: date
    birth_text: str  # 昭和55年12月26日（1980-12-26）
    age: int
    sex: str
    household_no: str
    householder_name: str
    relationship: str
    address_text: str
    status: str
    status_mark: str  # 転出 / 死亡 / "" for current residents
    restricted: bool
    note: str = ""

    @property
    def is_current(self) -> bool:
        return self.status == ResidentStatus.RESIDENT.value


@dataclass
class HouseholdView:
    """A household as the household screen shows it.

    `members` are those who live in it (or, if nobody does any more, its removed persons);
    `removed` are its 除票 (転出・死亡 …) when they were asked for and somebody still lives there."""

    household: Household
    address_text: str
    masked: bool
    today: date
    removed: list[Person] = field(default_factory=list)

    @property
    def household_no(self) -> str:
        return self.household.household_no

    @property
    def members(self) -> list[Person]:
        return self.household.members

    @property
    def shown(self) -> list[Person]:
        """Everyone on the screen: members, then removed persons."""
        return self.members + self.removed


# --- query parsing -----------------------------------------------------------------------------------


@dataclass
class ParsedQuery:
    kana: str = ""
    name: str = ""
    dates: list[tuple[date, date]] = field(default_factory=list)
    # digits: a 宛名番号, a 住民票コード or (7/8 digits) a birth date such as 5551226 / 19801226
    numbers: list[tuple[str, tuple[date, date] | None]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    # words such as 北条 or 本町: a surname or a 町字 — either may match
    name_or_address: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.kana or self.name or self.dates or self.numbers or self.addresses
                    or self.name_or_address)


def _month_end(y: int, m: int) -> date:
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def _date_range(token: str) -> tuple[date, date] | None:
    """A full date, or a year / year-month range (S55, 昭和55年12月, 1980-12)."""
    t = unicodedata.normalize("NFKC", token).upper().replace("元年", "1年")
    try:
        d = wareki.parse_date(t)
        return d, d
    except wareki.DateParseError:
        pass
    m = _WAREKI_PART.match(t)
    if m:
        era = next(e for e in wareki.ERAS if e.letter == m[1] or e.name == m[2])
        year = era.start.year + int(m[3]) - 1
        if m[4]:
            month = int(m[4])
            if not 1 <= month <= 12:
                return None
            return max(date(year, month, 1), era.start), _month_end(year, month)
        return max(date(year, 1, 1), era.start), date(year, 12, 31)
    m = _SEIREKI_PART.match(t)
    if m and 1 <= int(m[2]) <= 12:
        return date(int(m[1]), int(m[2]), 1), _month_end(int(m[1]), int(m[2]))
    return None


def parse_query(text: str, towns: tuple[str, ...] = ()) -> ParsedQuery:
    """Classify each word of the entry field. Consecutive kana (or kanji) words form one name.
    `towns`: the 町字 names of the master (NFKC); a word that is one of them (or begins with one) is
    looked for among addresses too, whatever its ending (音江町字菊丘, 多度志, 鷹泊). Not a word that
    only begins a 町字 name: 深川 is a surname first, and 深川町の住民 would crowd Mr. 深川 out."""
    q = ParsedQuery()
    kana_parts: list[str] = []
    name_parts: list[str] = []
    for raw in _SPLIT.split(text.strip()):
        if not raw:
            continue
        if is_kana(raw):
            kana_parts.append(raw)
            continue
        token = unicodedata.normalize("NFKC", raw)
        if _DIGITS.match(token):
            q.numbers.append((token, _date_range(token) if len(token) in (7, 8) else None))
            continue
        rng = _date_range(token)
        if rng:
            q.dates.append(rng)
            continue
        if any(ch.isdigit() for ch in token):
            q.addresses.append(address_key(raw))
            continue
        if _ADDRESS_HINT.search(token) or (towns and token.startswith(towns)):
            q.name_or_address.append(raw)
            continue
        name_parts.append(raw)
    q.kana = fold_kana("".join(kana_parts)) if kana_parts else ""
    q.name = "".join(name_parts)
    return q


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _c(expr, pg: bool):  # noqa: ANN001, ANN202
    """Byte-order collation in PostgreSQL: prefix LIKE and ORDER BY then share one plain btree index."""
    return expr.collate("C") if pg else expr


def _name_expr(pg: bool):  # noqa: ANN202
    return _c(func.replace(P.name, FW_SPACE, ""), pg)


def _address_prefix(name: str, pg: bool) -> ColumnElement[bool]:
    """Prefix match of address_key against bound parameters `name` (SQLite) or `name_lo`/`name_hi`."""
    if not pg:
        return A.address_key.like(bindparam(name, type_=String), escape="\\")
    # A byte-order range equals the prefix match and uses only leakproof operators (see 0003).
    col = A.address_key.collate("C")
    return and_(col >= bindparam(f"{name}_lo", type_=String), col < bindparam(f"{name}_hi", type_=String))


def _address_params(name: str, key: str, pg: bool) -> dict[str, str]:
    if not pg:
        return {name: _like_prefix(key)}
    return {f"{name}_lo": key, f"{name}_hi": key[:-1] + chr(ord(key[-1]) + 1) if key else "\U0010ffff"}


def _search_params(q: ParsedQuery, pg: bool) -> dict[str, object]:
    """Values for the bound parameters of the statement _search_statement builds for q's shape."""
    v: dict[str, object] = {}
    if q.kana:
        v["kana"] = _like_prefix(q.kana)
    if q.name:
        v["name"] = _like_prefix(q.name)
    for i, (start, end) in enumerate(q.dates):
        v[f"d{i}s"], v[f"d{i}e"] = start, end
    for i, (digits, rng) in enumerate(q.numbers):
        v[f"n{i}"] = digits
        if rng:
            v[f"n{i}d"] = rng[0]
    for i, key in enumerate(q.addresses):
        v.update(_address_params(f"a{i}", key, pg))
    for i, word in enumerate(q.name_or_address):
        v[f"w{i}n"] = _like_prefix(word)
        v.update(_address_params(f"w{i}a", address_key(word), pg))
    return v


def _shape(q: ParsedQuery) -> tuple:
    return (bool(q.kana), bool(q.name), tuple(s == e for s, e in q.dates),
            tuple((len(d) == 11, r is not None) for d, r in q.numbers), len(q.addresses), len(q.name_or_address))


def _common_conditions(q: ParsedQuery, *, visible: ColumnElement[bool], pg: bool
                       ) -> list[ColumnElement[bool]]:
    """Terms every branch shares: dates, numbers, addresses, and extra surname-or-町字 words."""
    conds: list[ColumnElement[bool]] = []
    for i, (start, end) in enumerate(q.dates):
        conds.append(P.birth_date == bindparam(f"d{i}s", type_=Date) if start == end
                     else P.birth_date.between(bindparam(f"d{i}s", type_=Date), bindparam(f"d{i}e", type_=Date)))
    for i, (digits, rng) in enumerate(q.numbers):
        alts: list[ColumnElement[bool]] = [P.atena_no == bindparam(f"n{i}", type_=String)]
        if len(digits) == 11:
            alts.append(P.juminhyo_code == bindparam(f"n{i}", type_=String))
        if rng:
            alts.append(P.birth_date == bindparam(f"n{i}d", type_=Date))
        conds.append(or_(*alts))
    for i, _key in enumerate(q.addresses):
        conds.append(and_(_address_prefix(f"a{i}", pg), visible))
    for i in range(1, len(q.name_or_address)):
        conds.append(or_(_name_expr(pg).like(bindparam(f"w{i}n", type_=String), escape="\\"),
                         and_(_address_prefix(f"w{i}a", pg), visible)))
    return conds


def _variants(q: ParsedQuery, *, visible: ColumnElement[bool], pg: bool):  # noqa: ANN202
    """Alternative ways a person may match, each with the index order that drives it:
    registered name or 通称; for a word like 本町, surname or 町字. One branch per alternative."""
    default = A.address_key.collate("C") if (pg and q.addresses) else _c(P.kana_key, pg)
    variants: list[tuple[list[ColumnElement[bool]], object]] = []
    if q.kana or q.name:
        for alias in (False, True):
            conds = []
            if q.kana:
                conds.append(_c(P.alias_kana_key if alias else P.kana_key, pg)
                             .like(bindparam("kana", type_=String), escape="\\"))
            if q.name:
                conds.append((_c(P.alias, pg) if alias else _name_expr(pg))
                             .like(bindparam("name", type_=String), escape="\\"))
            key = _c(P.alias_kana_key if alias else P.kana_key, pg) if q.kana else \
                (_c(P.alias, pg) if alias else _name_expr(pg))
            if alias:  # never true of a match; lets PostgreSQL use the partial 通称 indexes (0007)
                conds.append((P.alias_kana_key if q.kana else P.alias) != "")
            variants.append((conds, key))
    else:
        variants.append(([], None))
    if q.name_or_address:
        split = []
        for conds, key in variants:
            by_name = key if key is not None else _name_expr(pg)
            by_address = key if key is not None else (A.address_key.collate("C") if pg else A.address_key)
            split.append(([*conds, _name_expr(pg).like(bindparam("w0n", type_=String), escape="\\")], by_name))
            split.append(([*conds, _address_prefix("w0a", pg), visible], by_address))
        variants = split
    # Found by where they live (no name given): only who lives there now. Removed persons are
    # rare at any address, and hunting for them would read every address in the range.
    out = []
    for i, (conds, key) in enumerate(variants):
        # with a surname-or-町字 word, odd variants are the 町字 ones
        by_address = bool(q.addresses) or (bool(q.name_or_address) and i % 2 == 1)
        current_only = by_address and not (q.kana or q.name)
        out.append((conds, key if key is not None else default, current_only))
    return out


def _picked(q: ParsedQuery, *, can_unmask: bool, limit: int, pg: bool):
    """The atena_nos of at most `limit` matches, current residents first, then by kana.

    Every alternative (see _variants) × current/removed residents is a branch read in the order of
    the index that drives it and cut at `limit`; so a short kana prefix over a million residents
    reads about `limit` index entries instead of sorting every match."""
    # A restricted person is never found by where they live unless the actor may unmask.
    visible = true() if can_unmask else A.restricted == false()
    join_addr = bool(q.addresses or q.name_or_address)
    common = _common_conditions(q, visible=visible, pg=pg)
    parts = []
    for conds, key, current_only in _variants(q, visible=visible, pg=pg):
        for current in (True,) if current_only else (True, False):
            sel = select(P.atena_no, P.status, P.kana_key, P.birth_date).select_from(P)
            if join_addr:
                sel = sel.outerjoin(A, A.atena_no == P.atena_no)
            sel = sel.where(*common, *conds, (P.status == "1") if current else (P.status != "1"))
            parts.append(select(*sel.order_by(key, P.birth_date, P.atena_no).limit(limit).subquery().c))
    merged = (union(*parts) if len(parts) > 1 else parts[0]).subquery("merged")
    return (select(merged.c.atena_no)
            .order_by(merged.c.status != "1", merged.c.kana_key, merged.c.birth_date, merged.c.atena_no)
            .limit(limit).subquery("picked"))


_HEAD = aliased(PersonRow, name="head")
# Only the columns a staff role may write (column privileges); no ORM defaults for the rest.
_EVENTS = table("audit_events", column("action"), column("object_type"), column("object_id"), column("detail"))


def _search_statement(q: ParsedQuery, *, can_unmask: bool, limit: int, pg: bool = False):
    """Pick the (at most `limit`) matching persons first, then join addresses and householders for
    those few only: the joins never run over every match of a short kana prefix."""
    order = ((P.status != "1"), P.kana_key, P.birth_date, P.atena_no)
    picked = _picked(q, can_unmask=can_unmask, limit=limit, pg=pg)
    head = _HEAD
    return (
        select(P.atena_no, P.name, P.name_kana, P.birth_date, P.sex, P.household_no, P.relationship,
               P.status, P.restricted, P.kana_key, head.name.label("head_name"),
               A.postal_code, A.banchi, A.katagaki, A.restricted.label("addr_restricted"),
               Town.name.label("town_name"))
        .select_from(picked)
        .join(P, P.atena_no == picked.c.atena_no)
        .outerjoin(A, A.atena_no == P.atena_no)
        .outerjoin(Town, Town.town_code == A.town_code)
        .outerjoin(head, and_(head.household_no == P.household_no, head.is_householder.is_(True),
                              head.status == "1"))
        .order_by(*order)
    )


def _address_from(row) -> Address | None:  # noqa: ANN001
    if row.banchi is None and row.town_name is None:
        return None
    return Address(town_name=row.town_name or "", banchi=row.banchi or "", katagaki=row.katagaki or "",
                   postal_code=row.postal_code or "")


def search(db: Database, actor: Actor, query: str, limit: int = 50, *, today: date | None = None
           ) -> list[ResidentHit]:
    """Find residents by what the clerk typed; the search itself is audited (who looked for what)."""
    actor.require("resident.read")
    q = parse_query(query, town_names(db))
    if q.empty:
        raise InputError("検索する文字を入力してください（カナ・氏名・生年月日・住所・宛名番号）。")
    today = today or date.today()
    pg = db.dialect == "postgresql"
    params = _search_params(q, pg)
    stmt = _statement_for(q, can_unmask=actor.can(UNMASK_PERMISSION), limit=limit, pg=pg)
    if pg:
        # One statement is one transaction (search + its audit event): autocommit spares the
        # BEGIN and COMMIT round trips.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            rows = conn.execute(stmt, {**params, "query_text": query}).all()
    else:
        with db.uow(actor.info) as uow:
            rows = uow.session.execute(stmt, params).all()
            audit.record(uow.session, actor.info, "person.search", "query", "",
                         {"query": query, "count": len(rows)})
            uow.commit()
    return [_hit(r, today) for r in rows]


_TOWNS: dict[str, tuple[float, tuple[str, ...]]] = {}
TOWNS_TTL = 60.0  # seconds: a 町字 added by tonight's import is known to the search a minute later


def town_names(db: Database) -> tuple[str, ...]:
    """The 町字 names of the master (NFKC) for parse_query, read again at most once a minute."""
    key = str(db.engine.url)  # one list per database (an id could be reused by another engine)
    got = _TOWNS.get(key)
    if got is None or time.monotonic() - got[0] > TOWNS_TTL:
        with db.engine.connect() as conn:
            names = tuple({unicodedata.normalize("NFKC", n) for (n,) in conn.execute(select(Town.name)) if n})
        got = _TOWNS[key] = (time.monotonic(), names)
    return got[1]


# Built statements by query shape (which kinds of words, how many): values are bound parameters,
# so building — the costly part in Python — happens once per shape.
_STATEMENTS: dict[tuple, object] = {}


def _statement_for(q: ParsedQuery, *, can_unmask: bool, limit: int, pg: bool):  # noqa: ANN202
    key = (_shape(q), can_unmask, limit, pg)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _search_statement(q, can_unmask=can_unmask, limit=limit, pg=pg)
        if pg:
            stmt = _audited_pg_search(stmt)
        if len(_STATEMENTS) < 1024:
            _STATEMENTS[key] = stmt
    return stmt


def _audited_pg_search(stmt):  # noqa: ANN001, ANN202
    """The search and its audit event in one statement (one round trip).

    Same insert as audit.record() on PostgreSQL (the trigger stamps actor, time and hash); a
    data-modifying CTE runs exactly once even though the outer query does not read it.
    """
    hits = stmt.cte("hits")
    count = select(func.count()).select_from(hits).scalar_subquery()
    # jsonb renders like json.dumps(sort_keys=True): {"count": 3, "query": "…"}
    query_text = bindparam("query_text", type_=Text)
    detail = func.jsonb_build_object("count", count, "query", query_text).cast(Text)
    event = (insert(_EVENTS).values(action="person.search", object_type="query", object_id="", detail=detail)
             .cte("event"))  # no RETURNING: staff roles may not read audit_events
    return (select(*[hits.c[c.name] for c in stmt.selected_columns])
            .select_from(hits).add_cte(event)
            .order_by(hits.c.status != "1", hits.c.kana_key, hits.c.birth_date, hits.c.atena_no))


def _hit(r, today: date) -> ResidentHit:  # noqa: ANN001
    restricted = bool(r.restricted)
    addr = None if restricted else _address_from(r)
    return ResidentHit(
        atena_no=r.atena_no, name=r.name, kana=r.name_kana, birth_date=r.birth_date,
        birth_text=wareki.format_both(r.birth_date), age=age_on(r.birth_date, today), sex=r.sex,
        household_no=r.household_no, householder_name=r.head_name or "", relationship=r.relationship,
        address_text=MASKED_ADDRESS_TEXT if restricted else (addr.line() if addr else ""),
        status=r.status, status_mark=STATUS_MARK.get(r.status, ""), restricted=restricted,
        note=CHECK_NEEDED_TEXT if restricted else "")


# --- persons and households --------------------------------------------------------------------------------


def load_persons(s: Session, where: ColumnElement[bool]) -> list[Person]:
    rows = s.execute(
        select(P, A, Town.name).select_from(P)
        .outerjoin(A, A.atena_no == P.atena_no)
        .outerjoin(Town, Town.town_code == A.town_code)
        .where(where)
        .order_by(P.is_householder.desc(), P.birth_date, P.atena_no)).all()
    ids = [p.atena_no for p, _a, _t in rows]
    quals: dict[str, list[Qualification]] = {}
    if ids:
        for qr in s.scalars(select(QualificationRow).where(QualificationRow.atena_no.in_(ids))
                            .order_by(QualificationRow.start_date)):
            quals.setdefault(qr.atena_no, []).append(
                Qualification(qr.kind, qr.start_date, qr.end_date, qr.role, qr.detail))
    people = []
    for p, a, town_name in rows:
        address = None
        if a is not None and not p.restricted:
            address = Address(town_name=town_name or "", banchi=a.banchi, katagaki=a.katagaki,
                              postal_code=a.postal_code, town_code=a.town_code)
        people.append(_person(p, address, tuple(quals.get(p.atena_no, ())),
                              moved_in_from="" if p.restricted or a is None else a.moved_in_from))
    return people


def _person(p: PersonRow, address: Address | None, quals: tuple[Qualification, ...],
            moved_in_from: str) -> Person:
    try:
        status = ResidentStatus(p.status)
    except ValueError:
        status = ResidentStatus.RESIDENT
    return Person(
        atena_no=p.atena_no, name=p.name, name_kana=p.name_kana, birth_date=p.birth_date, sex=p.sex,
        household_no=p.household_no, relationship=p.relationship, is_householder=p.is_householder,
        resident_kind=p.resident_kind, status=status, juminhyo_code=p.juminhyo_code,
        former_surname=p.former_surname, alias=p.alias, alias_kana=p.alias_kana, romaji_name=p.romaji_name,
        honseki=p.honseki, hittousha=p.hittousha, nationality=p.nationality,
        residence_status=p.residence_status, residence_expiry=p.residence_expiry,
        mynumber_card_expiry=p.mynumber_card_expiry, e_cert_expiry=p.e_cert_expiry,
        resident_since=p.resident_since, address_since=p.address_since, moved_in_from=moved_in_from,
        removed_on=p.removed_on, removal_reason=p.removal_reason, restricted=p.restricted,
        address=address, qualifications=quals)


def _audit_views(s: Session, actor: Actor, people: Iterable[Person], context: str) -> None:
    for p in people:
        audit.record(s, actor.info, "person.view", "person", p.atena_no, {"via": context})


def household(db: Database, actor: Actor, household_no: str, *, today: date | None = None,
              include_removed: bool = False) -> HouseholdView:
    """Every member of a household, with qualifications; each member's view is audited.

    With `include_removed`, its removed persons (除票) too, audited and masked like the members."""
    actor.require("resident.read")
    today = today or date.today()
    with db.uow(actor.info) as uow:
        people = load_persons(uow.session, P.household_no == household_no)
        if not people:
            raise InputError(f"世帯番号「{household_no}」の世帯は見つかりません。")
        current = [p for p in people if p.is_current]
        removed = [p for p in people if not p.is_current]
        members = current or removed  # a household nobody lives in any more shows its removed persons
        extra = removed if include_removed and current else []
        _audit_views(uow.session, actor, members + extra, f"household:{household_no}")
        uow.commit()
    hh = Household(household_no, members)
    # The household's address was a removed protected person's address too (their 前住所): masked alike.
    masked = any(p.restricted for p in members + extra)
    addr = hh.address
    address_text = MASKED_ADDRESS_TEXT if masked else (addr.line() if addr else "")
    return HouseholdView(hh, address_text, masked, today, extra)


def person_detail(db: Database, actor: Actor, atena_no: str) -> Person:
    """One person's record (address masked if restricted); audited."""
    actor.require("resident.read")
    with db.uow(actor.info) as uow:
        people = load_persons(uow.session, P.atena_no == atena_no)
        if not people:
            raise InputError(f"宛名番号「{atena_no}」の住民は見つかりません。")
        _audit_views(uow.session, actor, people, "detail")
        uow.commit()
    return people[0]


def unmask_address(db: Database, actor: Actor, atena_no: str, reason: str, case_id: int | None = None
                   ) -> Address:
    """Show a restricted person's address to a permitted role, for a stated reason (audited)."""
    actor.require(UNMASK_PERMISSION)
    reason = (reason or "").strip()
    if not reason:
        raise InputError("住所を表示する理由を入力してください。理由は操作ログに記録されます。")
    with db.uow(actor.info) as uow:
        s = uow.session
        row = s.execute(select(A, Town.name).outerjoin(Town, Town.town_code == A.town_code)
                        .where(A.atena_no == atena_no)).first()
        if row is None:
            # In PostgreSQL RLS hides the row from a role that lacks the right in the database.
            raise InputError(f"宛名番号「{atena_no}」の住所を読めません。住所がないか、"
                             "データベース上の権限（支援措置担当）がありません。管理者に確認してください。")
        a, town_name = row
        audit.record(s, actor.info, "person.unmask", "person", atena_no,
                     {"reason": reason, "case_id": case_id})
        # The case's own record of what may print unmasked goes through the case's optimistic
        # locking (OutputService.unmask_for_case); here the case id is only noted in the log.
        uow.commit()
    return Address(town_name=town_name or "", banchi=a.banchi, katagaki=a.katagaki, postal_code=a.postal_code,
                   town_code=a.town_code)


# --- per-user settings of the household screen ---------------------------------------------------------

HOUSEHOLD_COLUMNS_KEY = "household.qualification_columns"
HOUSEHOLD_SHOW_REMOVED_KEY = "household.show_removed"
DEFAULT_QUALIFICATION_COLUMNS = ("kokuho", "nenkin_1", "kouki", "kaigo", "jidou_teate", "inkan")


def _user_setting(db: Database, actor: Actor, key: str) -> object:
    with db.session() as s:
        row = s.get(UserSetting, (actor.login, key))
        return None if row is None else row.value


def _save_user_setting(db: Database, actor: Actor, key: str, value: object) -> None:
    with db.uow(actor.info) as uow:
        row = uow.session.get(UserSetting, (actor.login, key))
        if row is None:
            uow.session.add(UserSetting(login=actor.login, key=key, value=value))
        else:
            row.value = value
        uow.commit()


def qualification_columns(db: Database, actor: Actor) -> list[str]:
    value = _user_setting(db, actor, HOUSEHOLD_COLUMNS_KEY)
    if not isinstance(value, list):
        return list(DEFAULT_QUALIFICATION_COLUMNS)
    return [str(v) for v in value]


def save_qualification_columns(db: Database, actor: Actor, kinds: list[str]) -> None:
    _save_user_setting(db, actor, HOUSEHOLD_COLUMNS_KEY, list(kinds))


def show_removed(db: Database, actor: Actor) -> bool:
    """Whether this staff member's household screen also lists removed persons (default: no)."""
    return _user_setting(db, actor, HOUSEHOLD_SHOW_REMOVED_KEY) is True


def save_show_removed(db: Database, actor: Actor, on: bool) -> None:
    _save_user_setting(db, actor, HOUSEHOLD_SHOW_REMOVED_KEY, bool(on))
