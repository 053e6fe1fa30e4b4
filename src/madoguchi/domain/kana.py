"""Kana folding for search: hiragana/katakana, half/full width, small kana, long vowels, spaces.

>>> fold_kana("ｷｮｳｺ")  == fold_kana("きょうこ") == fold_kana("キヨウコ")
True
>>> fold_kana("サトー") == fold_kana("さとう")
True
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_VOWEL_OF = {}
for row, vowel in (
    ("アカサタナハマヤラワガザダバパァャヮ", "ア"),
    ("イキシチニヒミリギジヂビピィ", "イ"),
    ("ウクスツヌフムユルグズヅブプゥュヴ", "ウ"),
    ("エケセテネヘメレゲゼデベペェ", "エ"),
    ("オコソトノホモヨロヲゴゾドボポォョ", "オ"),
):
    for ch in row:
        _VOWEL_OF[ch] = vowel
# オ-row long vowels are written with ウ (さとう); エ-row with イ (けいこ).
_LONG = {"ア": "ア", "イ": "イ", "ウ": "ウ", "エ": "イ", "オ": "ウ"}
_SPACE = re.compile(r"[\s\u3000・･]+")


def to_katakana(text: str) -> str:
    """Full-width katakana, NFKC-normalised (half-width ｶﾀｶﾅ joined with their dakuten)."""
    t = jaconv.h2z(text, kana=True, ascii=False, digit=False)
    t = unicodedata.normalize("NFKC", t)
    return jaconv.hira2kata(t)


def fold_kana(text: str) -> str:
    """A search key: katakana, no spaces, small kana made large, ー replaced by its vowel."""
    t = _SPACE.sub("", to_katakana(text))
    t = t.translate(_SMALL)
    out: list[str] = []
    for ch in t:
        if ch in "ー〜～-‐" and out:
            out.append(_LONG.get(_VOWEL_OF.get(out[-1], ""), ""))
        else:
            out.append(ch)
    return "".join(out)


def is_kana(text: str) -> bool:
    t = _SPACE.sub("", to_katakana(text))
    return bool(t) and all("\u30a0" <= ch <= "\u30ff" for ch in t)


def hiragana(text: str) -> str:
    return jaconv.kata2hira(to_katakana(text))
