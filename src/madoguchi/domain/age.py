"""Age by Japanese law (年齢計算ニ関スル法律): age N is reached at the end of the day before the
N-th birthday, so on a given date a person born on `birth` is `legal_age(birth, on)` years old.

>>> legal_age(date(1960, 4, 2), date(2025, 4, 1))   # 65th birthday tomorrow: already 65
65
>>> age(date(1960, 4, 2), date(2025, 4, 1))         # everyday age: still 64
64
"""

from __future__ import annotations

from datetime import date, timedelta


def _birthday_in(birth: date, year: int) -> date:
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February in a common year: the birthday is 1 March
        return date(year, 3, 1)


def age(birth: date, on: date) -> int:
    """Everyday age (the number of birthdays passed), as printed on screens."""
    years = on.year - birth.year
    if on < _birthday_in(birth, on.year):
        years -= 1
    return years


def legal_age(birth: date, on: date) -> int:
    """Age by law: one day earlier than everyday age on the day before a birthday."""
    return age(birth, on + timedelta(days=1))


def reaches_age_on(birth: date, n: int) -> date:
    """The 到達日 of age n: the day before the n-th birthday (介護 65, 年金 20 …)."""
    return _birthday_in(birth, birth.year + n) - timedelta(days=1)


def kouki_start(birth: date) -> date:
    """後期高齢者医療 begins on the 75th birthday itself."""
    return _birthday_in(birth, birth.year + 75)


def school_entry_year(birth: date) -> int:
    """The April a child enters elementary school: reached 6 (legal age) by 1 April.

    Those born 2 April – 1 April of the next year form one school year.
    """
    year = birth.year + 6
    if reaches_age_on(birth, 6) >= date(year, 4, 1):
        year += 1
    return year


def school_grade(birth: date, on: date) -> int | None:
    """1–6 elementary, 7–9 junior high (学齢), None outside 学齢."""
    entry = school_entry_year(birth)
    school_year = on.year if on >= date(on.year, 4, 1) else on.year - 1
    grade = school_year - entry + 1
    return grade if 1 <= grade <= 9 else None


def is_school_age(birth: date, on: date) -> bool:
    return school_grade(birth, on) is not None


def jidou_teate_eligible(birth: date, on: date) -> bool:
    """児童手当: until the first 31 March on or after the day the child reaches 18 (legal age)."""
    reached = reaches_age_on(birth, 18)
    end_year = reached.year if reached <= date(reached.year, 3, 31) else reached.year + 1
    return on <= date(end_year, 3, 31)
