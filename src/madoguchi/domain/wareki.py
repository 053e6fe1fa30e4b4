"""和暦 (Japanese era dates): formatting and parsing of what clerks type.

>>> format_wareki(date(2025, 4, 1))
'令和7年4月1日'
>>> format_wareki(date(2019, 5, 1))
'令和元年5月1日'
>>> parse_date("S55.12.26")
datetime.date(1980, 12, 26)
>>> parse_date("5551226")
datetime.date(1980, 12, 26)
>>> parse_date("昭和55年12月26日")
datetime.date(1980, 12, 26)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Era:
    name: str
    letter: str
    code: int  # the digit of 7-digit codes such as 5551226 (odd-number coding: 昭和=5)
    start: date


# Newest first. 明治 dates before 1873 are lunar-calendar territory; residents are not that old.
ERAS: tuple[Era, ...] = (
    Era("令和", "R", 9, date(2019, 5, 1)),
    Era("平成", "H", 7, date(1989, 1, 8)),
    Era("昭和", "S", 5, date(1926, 12, 25)),
    Era("大正", "T", 3, date(1912, 7, 30)),
    Era("明治", "M", 1, date(1868, 1, 25)),
)
_BY_LETTER = {e.letter: e for e in ERAS}
_BY_NAME = {e.name: e for e in ERAS}
_BY_CODE = {e.code: e for e in ERAS}
# Era codes follow the odd-number coding (明治1 大正3 昭和5 平成7 令和9, as in 5551226 = S55.12.26).
# 2 and 4 are unused there, so the 1–5 coding's 大正2 / 平成4 are accepted too without ambiguity.
_BY_CODE.setdefault(2, _BY_LETTER["T"])
_BY_CODE.setdefault(4, _BY_LETTER["H"])


class DateParseError(ValueError):
    """Raised with a Japanese message when a typed date cannot be understood."""


def era_of(d: date) -> Era:
    for era in ERAS:
        if d >= era.start:
            return era
    raise ValueError(f"{d} は明治より前の日付です")


def wareki_parts(d: date) -> tuple[Era, int]:
    era = era_of(d)
    return era, d.year - era.start.year + 1


def format_wareki(d: date | None, *, short: bool = False) -> str:
    """令和7年4月1日 (or R7.4.1 with short=True). Empty string for None."""
    if d is None:
        return ""
    era, year = wareki_parts(d)
    if short:
        return f"{era.letter}{year}.{d.month}.{d.day}"
    y = "元" if year == 1 else str(year)
    return f"{era.name}{y}年{d.month}月{d.day}日"


def format_both(d: date | None) -> str:
    """昭和55年12月26日（1980-12-26） for screens that show both."""
    if d is None:
        return ""
    return f"{format_wareki(d)}（{d.isoformat()}）"


def _normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).strip().upper()
    return t.replace("元年", "1年").replace(" ", "")


def _make(era: Era | None, y: int, m: int, d: int, original: str) -> date:
    year = y if era is None else era.start.year + y - 1
    try:
        result = date(year, m, d)
    except ValueError:
        raise DateParseError(f"「{original}」は存在しない日付です。年月日を確かめてください。") from None
    if era is not None:
        nxt = [e for e in ERAS if e.start > era.start]
        if result < era.start or (nxt and result >= min(e.start for e in nxt)):
            raise DateParseError(
                f"「{original}」は{era.name}の期間にない日付です。元号と年を確かめてください。")
    return result


_SEP = r"[./\-年月]"


def parse_date(text: str) -> date:
    """Parse 西暦 or 和暦 in the forms clerks and core systems use.

    Accepts 2025-04-01, 2025/4/1, 20250401, R7.4.1, R07.04.01, 令和7年4月1日, 5551226 (era code +
    YYMMDD), 令和元年5月1日. Raises DateParseError with a Japanese message otherwise.
    """
    original = text
    t = _normalise(text)
    if not t:
        raise DateParseError("日付が入力されていません。")
    t = t.rstrip("日")
    m = re.fullmatch(r"(\d{4})" + _SEP + r"(\d{1,2})" + _SEP + r"(\d{1,2})", t)
    if m:
        return _make(None, int(m[1]), int(m[2]), int(m[3]), original)
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", t)
    if m:
        return _make(None, int(m[1]), int(m[2]), int(m[3]), original)
    m = re.fullmatch(r"([MTSHR])(\d{1,2})" + _SEP + r"(\d{1,2})" + _SEP + r"(\d{1,2})", t)
    if m:
        return _make(_BY_LETTER[m[1]], int(m[2]), int(m[3]), int(m[4]), original)
    m = re.fullmatch(r"([MTSHR])(\d{2})(\d{2})(\d{2})", t)
    if m:
        return _make(_BY_LETTER[m[1]], int(m[2]), int(m[3]), int(m[4]), original)
    m = re.fullmatch(r"(明治|大正|昭和|平成|令和)(\d{1,2})" + _SEP + r"(\d{1,2})" + _SEP + r"(\d{1,2})", t)
    if m:
        return _make(_BY_NAME[m[1]], int(m[2]), int(m[3]), int(m[4]), original)
    m = re.fullmatch(r"([1-9])(\d{2})(\d{2})(\d{2})", t)
    if m and int(m[1]) in _BY_CODE:
        return _make(_BY_CODE[int(m[1])], int(m[2]), int(m[3]), int(m[4]), original)
    raise DateParseError(
        f"「{original}」を日付として読めません。例: 2025-04-01、R7.4.1、令和7年4月1日、5551226")


def looks_like_date(text: str) -> bool:
    try:
        parse_date(text)
    except DateParseError:
        return False
    return True
