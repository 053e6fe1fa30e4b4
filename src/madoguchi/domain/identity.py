"""本人確認 (identity check): the document catalogue, the sufficiency rule and the comparison of
what the visitor states with the 宛名.

One photo ID issued by a public body is enough; otherwise two documents from the second list.

>>> sufficiency(["mynumber_card"]).ok
True
>>> sufficiency(["kenko_hoken"]).ok
False
>>> sufficiency(["kenko_hoken", "nenkin_techo"]).ok
True
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from .kana import fold_kana, is_kana
from .wareki import format_wareki


@dataclass(frozen=True)
class IdDocument:
    code: str
    label: str
    kind: str  # "one": enough alone / "two": two of these needed


ONE_DOCUMENT: tuple[IdDocument, ...] = tuple(IdDocument(c, label, "one") for c, label in (
    ("mynumber_card", "マイナンバーカード"),
    ("driver_license", "運転免許証"),
    ("passport", "旅券（パスポート）"),
    ("residence_card", "在留カード"),
    ("special_permanent", "特別永住者証明書"),
    ("shintai_techo_photo", "身体障害者手帳（写真付き）"),
    ("ryouiku_techo_photo", "療育手帳（写真付き）"),
    ("seishin_techo_photo", "精神障害者保健福祉手帳（写真付き）"),
    ("driving_history", "運転経歴証明書"),
    ("seaman_book", "船員手帳"),
    ("official_photo_id", "官公署発行の写真付き身分証明書"),
))

TWO_DOCUMENTS: tuple[IdDocument, ...] = tuple(IdDocument(c, label, "two") for c, label in (
    ("kenko_hoken", "健康保険の資格確認書・被保険者証"),
    ("nenkin_techo", "年金手帳・年金証書"),
    ("kaigo_hoken", "介護保険被保険者証"),
    ("kouki_hoken", "後期高齢者医療被保険者証"),
    ("student_id", "学生証（写真付き）"),
    ("employee_id", "社員証（写真付き）"),
    ("bankbook", "預金通帳"),
    ("utility_receipt", "本人名義の公共料金領収書"),
))

DOCUMENTS: dict[str, IdDocument] = {d.code: d for d in ONE_DOCUMENT + TWO_DOCUMENTS}

FIELD_LABELS = {"name": "氏名", "name_kana": "フリガナ", "birth_date": "生年月日", "address": "住所"}


def document_label(code: str) -> str:
    d = DOCUMENTS.get(code)
    return d.label if d else code


@dataclass(frozen=True)
class Sufficiency:
    ok: bool
    message: str


def sufficiency(codes: list[str]) -> Sufficiency:
    """Whether the documents shown suffice: one from the first list, or two from the second."""
    unknown = [c for c in codes if c not in DOCUMENTS]
    if unknown:
        return Sufficiency(False, f"不明な書類があります: {'、'.join(unknown)}")
    ones = [c for c in codes if DOCUMENTS[c].kind == "one"]
    twos = sorted({c for c in codes if DOCUMENTS[c].kind == "two"})
    if ones:
        return Sufficiency(True, f"{document_label(ones[0])}で確認しました（1点で可）。")
    if len(twos) >= 2:
        return Sufficiency(True, "写真のない書類2点で確認しました。")
    if len(twos) == 1:
        return Sufficiency(False, f"{document_label(twos[0])}だけでは足りません。"
                                  "写真のない書類はもう1点必要です。")
    return Sufficiency(False, "本人確認書類が選ばれていません。")


@dataclass(frozen=True)
class Comparison:
    field: str
    stated: str
    recorded: str
    match: bool

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field)


_SPACES = re.compile(r"[\s\u3000]+")


def normalise_text(text: str) -> str:
    """NFKC, no spaces, hyphen variants unified: how two writings of a name/address are compared."""
    t = unicodedata.normalize("NFKC", text or "")
    t = _SPACES.sub("", t)
    return re.sub(r"[‐‑‒–—―ー−－]", "-", t) if any(ch.isdigit() for ch in t) else t


def _address_core(text: str) -> str:
    t = normalise_text(text)
    t = re.sub(r"^.{2,3}?[都道府県]", "", t)
    return re.sub(r"^[^0-9]{1,5}?市", "", t)


def compare(stated: dict, recorded: dict) -> list[Comparison]:
    """Compare stated items (name, name_kana, birth_date, address) with the record, item by item.

    Only items the visitor stated are compared. Names compare without spaces (and kana folded);
    an address compares without the prefecture/city prefix.
    """
    out: list[Comparison] = []
    for f in ("name", "name_kana", "birth_date", "address"):
        s = stated.get(f)
        if s in (None, ""):
            continue
        r = recorded.get(f)
        if f == "birth_date":
            s_d = s if isinstance(s, date) else None
            match = s_d is not None and s_d == r
            out.append(Comparison(f, _date_text(s), _date_text(r), match))
            continue
        s_text, r_text = str(s), str(r or "")
        if f == "address":
            match = bool(r_text) and _address_core(s_text) == _address_core(r_text)
        elif f == "name_kana" or (f == "name" and is_kana(s_text)):
            match = fold_kana(s_text) == fold_kana(str(recorded.get("name_kana") if f == "name" else r_text))
        else:
            match = normalise_text(s_text) == normalise_text(r_text)
        out.append(Comparison(f, s_text, r_text, match))
    return out


def _date_text(d: object) -> str:
    if isinstance(d, date):
        return format_wareki(d)
    return str(d or "")


def outcome(suff: Sufficiency, comparisons: list[Comparison]) -> str:
    """ok / mismatch / insufficient — what the check concluded."""
    if not suff.ok:
        return "insufficient"
    if any(not c.match for c in comparisons):
        return "mismatch"
    return "ok"


OUTCOME_LABELS = {"ok": "確認済み", "mismatch": "相違あり", "insufficient": "書類不足"}
