"""和暦, legal age and kana folding: the rules of rules-of-thumb.md, edge cases first."""

from __future__ import annotations

import doctest
from datetime import date

import pytest

from madoguchi.domain import age as age_mod
from madoguchi.domain import jst, kana, wareki
from madoguchi.domain.age import (age, is_school_age, jidou_teate_eligible, kouki_start, legal_age, reaches_age_on,
                                  school_grade)
from madoguchi.domain.kana import fold_kana
from madoguchi.domain.wareki import DateParseError, format_wareki, parse_date


@pytest.mark.parametrize("module", [wareki, age_mod, kana, jst])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("text,expected", [
    ("S55.12.26", date(1980, 12, 26)), ("s55.12.26", date(1980, 12, 26)), ("Ｓ５５．１２．２６", date(1980, 12, 26)),
    ("昭和55年12月26日", date(1980, 12, 26)), ("5551226", date(1980, 12, 26)), ("R07.04.01", date(2025, 4, 1)),
    ("R070401", date(2025, 4, 1)), ("令和元年5月1日", date(2019, 5, 1)), ("H1.1.8", date(1989, 1, 8)),
    ("2025-04-01", date(2025, 4, 1)), ("2025/4/1", date(2025, 4, 1)), ("20250401", date(2025, 4, 1)),
    ("4070401", date(1995, 4, 1)), ("7300101", date(2018, 1, 1)), ("9070401", date(2025, 4, 1)),
    ("2010730", date(1912, 7, 30)), ("3010730", date(1912, 7, 30)),
])
def test_parse_date_forms(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text,fragment", [
    ("2025-02-30", "存在しない日付"), ("H31.5.1", "平成の期間にない"), ("S64.1.8", "昭和の期間にない"),
    ("あした", "日付として読めません"), ("", "入力されていません"),
])
def test_parse_date_errors_are_japanese(text, fragment):
    with pytest.raises(DateParseError, match=fragment):
        parse_date(text)


def test_format_wareki_era_boundaries():
    assert format_wareki(date(1989, 1, 7)) == "昭和64年1月7日"
    assert format_wareki(date(1989, 1, 8)) == "平成元年1月8日"
    assert format_wareki(date(2019, 4, 30)) == "平成31年4月30日"
    assert format_wareki(date(2019, 5, 1), short=True) == "R1.5.1"


def test_legal_age_day_before_birthday():
    b = date(1960, 4, 2)
    assert reaches_age_on(b, 65) == date(2025, 4, 1)
    assert legal_age(b, date(2025, 3, 31)) == 64
    assert legal_age(b, date(2025, 4, 1)) == 65 and age(b, date(2025, 4, 1)) == 64


def test_leap_day_birthday():
    b = date(2004, 2, 29)
    assert age(b, date(2025, 2, 28)) == 20 and age(b, date(2025, 3, 1)) == 21
    assert legal_age(b, date(2025, 2, 28)) == 21


def test_kouki_starts_on_75th_birthday_itself():
    assert kouki_start(date(1950, 6, 10)) == date(2025, 6, 10)


def test_school_year_of_april_first_birthdays():
    # Born 1 April: reaches 6 on 31 March, so starts school a year before a 2 April child.
    assert school_grade(date(2019, 4, 1), date(2025, 4, 1)) == 1
    assert school_grade(date(2019, 4, 2), date(2025, 4, 1)) is None
    assert school_grade(date(2019, 4, 2), date(2026, 4, 1)) == 1
    assert school_grade(date(2010, 4, 2), date(2025, 4, 1)) == 9  # 中学3年
    assert is_school_age(date(2010, 4, 2), date(2026, 3, 31))
    assert not is_school_age(date(2010, 4, 2), date(2026, 4, 1))  # finished junior high


def test_jidou_teate_until_first_march_31_after_18():
    assert jidou_teate_eligible(date(2008, 4, 2), date(2027, 3, 31))
    assert not jidou_teate_eligible(date(2008, 4, 2), date(2027, 4, 1))
    assert jidou_teate_eligible(date(2008, 4, 1), date(2026, 3, 31))
    assert not jidou_teate_eligible(date(2008, 4, 1), date(2026, 4, 1))


@pytest.mark.parametrize("a,b", [("ｻﾄｳ ﾀﾛｳ", "さとう　たろう"), ("サトー", "さとう"), ("キョウコ", "キヨウコ"),
                                  ("ｶﾞｯｺｳ", "がつこう"), ("ケーコ", "けいこ"), ("ヴィクトル", "ヴイクトル")])
def test_kana_folding(a, b):
    assert fold_kana(a) == fold_kana(b)


def test_kana_folding_keeps_distinct_names_distinct():
    assert fold_kana("さとう") != fold_kana("さいとう")
    assert fold_kana("ばば") != fold_kana("はは")


def test_the_deceased_keep_the_age_they_died_at():
    from madoguchi.domain.people import Person, ResidentStatus

    born = date(1940, 2, 2)
    today = date(2026, 11, 25)
    assert Person("1", "茂", "シゲル", born).age_reached(today) == 86
    moved = Person("1", "茂", "シゲル", born, status=ResidentStatus.MOVED_OUT, removed_on=date(2024, 12, 1))
    assert moved.age_reached(today) == 86  # alive elsewhere: as old as today
    dead = Person("1", "茂", "シゲル", born, status=ResidentStatus.DECEASED, removed_on=date(2024, 12, 1))
    assert dead.age_reached(today) == 84
