"""Residents (宛名), households and qualifications as plain domain objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from .age import age as everyday_age


class ResidentStatus(StrEnum):
    RESIDENT = "1"   # 住登者
    MOVED_OUT = "2"  # 転出者
    DECEASED = "3"   # 死亡者
    STRUCK_OFF = "4"  # 職権消除等

    @property
    def label(self) -> str:
        return {"1": "住登者", "2": "転出", "3": "死亡", "4": "職権消除等"}[self.value]


SEX_LABEL = {"1": "男", "2": "女"}

QUALIFICATION_LABELS: dict[str, str] = {
    "kokuho": "国民健康保険",
    "kokuho_head": "国保世帯主",
    "nenkin_1": "国民年金第1号",
    "nenkin_3": "国民年金第3号",
    "kouki": "後期高齢者医療",
    "kaigo": "介護保険",
    "jidou_teate": "児童手当",
    "jidou_fuyou": "児童扶養手当",
    "tokubetsu_jidou_fuyou": "特別児童扶養手当",
    "kodomo_iryou": "子ども医療費",
    "hitorioya_iryou": "ひとり親家庭等医療費",
    "juudo_iryou": "重度心身障害者医療費",
    "shintai_techo": "身体障害者手帳",
    "ryouiku_techo": "療育手帳",
    "seishin_techo": "精神障害者保健福祉手帳",
    "inkan": "印鑑登録",
    "seikatsu_hogo": "生活保護",
    "gakurei": "学齢簿",
    "hoiku": "保育所等在園",
    "inu": "犬の登録",
    "gentsuki": "原付・小型特殊",
    "kei_jidousha": "軽自動車",
}

# Short column headers for the household grid.
QUALIFICATION_SHORT: dict[str, str] = {
    "kokuho": "国保", "nenkin_1": "年金1号", "nenkin_3": "年金3号", "kouki": "後期",
    "kaigo": "介護", "jidou_teate": "児手", "kodomo_iryou": "子医", "inkan": "印鑑",
    "gakurei": "学齢", "hoiku": "保育", "inu": "犬", "shintai_techo": "身障",
    "jidou_fuyou": "児扶", "seikatsu_hogo": "生保", "juudo_iryou": "重度", "gentsuki": "原付",
    "hitorioya_iryou": "ひとり親", "ryouiku_techo": "療育", "seishin_techo": "精神",
    "kei_jidousha": "軽自", "kokuho_head": "国保主", "tokubetsu_jidou_fuyou": "特児扶",
}


def qualification_label(kind: str) -> str:
    """Unknown kinds are shown as they are, never dropped."""
    return QUALIFICATION_LABELS.get(kind, kind)


@dataclass(frozen=True)
class Qualification:
    kind: str
    start_date: date | None = None
    end_date: date | None = None
    role: str = "insured"
    detail: str = ""

    def active_on(self, on: date) -> bool:
        if self.start_date and self.start_date > on:
            return False
        return self.end_date is None or self.end_date >= on


@dataclass(frozen=True)
class Address:
    """An address inside the city (町字 + 番地 + 方書) or outside (free `rest` after 町域)."""

    prefecture: str = "北海道"
    city: str = "深川市"
    town_name: str = ""
    banchi: str = ""
    katagaki: str = ""
    postal_code: str = ""
    town_code: str = ""
    abroad_country: str = ""

    def line(self, *, with_prefecture: bool = True) -> str:
        if self.abroad_country:
            return f"国外（{self.abroad_country}）"
        head = f"{self.prefecture}{self.city}" if with_prefecture else self.city
        main = f"{head}{self.town_name}{self.banchi}"
        return f"{main}　{self.katagaki}" if self.katagaki else main

    def postal_display(self) -> str:
        p = self.postal_code
        return f"〒{p[:3]}-{p[3:]}" if len(p) == 7 else ""


MASKED_ADDRESS_TEXT = "支援措置対象（住所非表示）"


@dataclass
class Person:
    atena_no: str
    name: str
    name_kana: str
    birth_date: date
    sex: str = ""
    household_no: str = ""
    relationship: str = ""
    is_householder: bool = False
    resident_kind: str = "1"
    status: ResidentStatus = ResidentStatus.RESIDENT
    juminhyo_code: str = ""
    former_surname: str = ""
    alias: str = ""
    alias_kana: str = ""
    romaji_name: str = ""
    honseki: str = ""
    hittousha: str = ""
    nationality: str = ""
    residence_status: str = ""
    residence_expiry: date | None = None
    mynumber_card_expiry: date | None = None
    e_cert_expiry: date | None = None
    resident_since: date | None = None
    address_since: date | None = None
    moved_in_from: str = ""
    removed_on: date | None = None
    removal_reason: str = ""
    restricted: bool = False
    address: Address | None = None  # None: unknown, or masked for a restricted person
    qualifications: tuple[Qualification, ...] = field(default_factory=tuple)

    @property
    def is_foreign(self) -> bool:
        return self.resident_kind == "2"

    @property
    def is_current(self) -> bool:
        return self.status == ResidentStatus.RESIDENT

    @property
    def sex_label(self) -> str:
        return SEX_LABEL.get(self.sex, "")

    def age_on(self, on: date) -> int:
        return everyday_age(self.birth_date, on)

    def age_reached(self, today: date) -> int:
        """Age today; the deceased stay at the age they died at."""
        if self.status is ResidentStatus.DECEASED and self.removed_on is not None:
            return self.age_on(min(self.removed_on, today))
        return self.age_on(today)

    def has(self, kind: str, on: date) -> bool:
        return any(q.kind == kind and q.active_on(on) for q in self.qualifications)

    def active_kinds(self, on: date) -> set[str]:
        return {q.kind for q in self.qualifications if q.active_on(on)}

    def has_mynumber_card(self, on: date) -> bool:
        return self.mynumber_card_expiry is not None and self.mynumber_card_expiry >= on

    def has_e_cert(self, on: date) -> bool:
        return self.e_cert_expiry is not None and self.e_cert_expiry >= on

    def address_text(self) -> str:
        if self.address is None:
            return MASKED_ADDRESS_TEXT if self.restricted else ""
        return self.address.line()


@dataclass
class Household:
    household_no: str
    members: list[Person]

    @property
    def head(self) -> Person | None:
        return next((m for m in self.members if m.is_householder), None)

    @property
    def address(self) -> Address | None:
        head = self.head or (self.members[0] if self.members else None)
        return head.address if head else None
