"""Address picker look-ups: the city master (町字 → 番地 → 方書) and nationwide postal data."""

from __future__ import annotations

from pathlib import Path

import pytest

from madoguchi.errors import InputError
from madoguchi.services import case_runner
from madoguchi.services.addresses import CityAddressBook, PostalBook, normalise_postal

FIXTURE = Path(__file__).parents[1] / "e2e" / "cases" / "tennyu.yaml"


@pytest.fixture
def city(any_db):
    case_runner.seed_fixture(any_db, case_runner.load_case_file(FIXTURE))
    return CityAddressBook(any_db)


@pytest.fixture(scope="module")
def postal():
    book = PostalBook()
    yield book
    book.close()


def test_town_kana_search_folds_width_and_hiragana(city):
    for q in ("に", "ニジ", "ﾆｼﾞｮｳ", "にじょー"):
        assert [t.name for t in city.search_towns(q)] == ["二条"], q
    assert [t.name for t in city.search_towns("い")] == ["一条", "稲穂町"]
    assert [t.name for t in city.search_towns("稲穂")] == ["稲穂町"]
    assert [t.name for t in city.search_towns("〒074-0021")] == ["稲穂町"]
    assert len(city.search_towns("")) == 3


def test_banchi_then_katagaki(city):
    assert [b.banchi for b in city.banchi_of("001")] == ["3番12号", "10番1号"]  # natural order
    assert [b.banchi for b in city.banchi_of("001", "1")] == ["10番1号"]
    assert city.katagaki_of("002", "5番1号") == ["コーポ二条 101", "コーポ二条 102"]
    assert city.katagaki_of("002", "5番1号", "102") == ["コーポ二条 102"]
    a = city.address("002", "5番1号", "コーポ二条 102")
    assert a.line() == "北海道深川市二条5番1号　コーポ二条 102" and a.postal_code == "0740002"


def test_unknown_entries_are_refused(city):
    with pytest.raises(InputError, match="住所マスタにありません"):
        city.address("002", "99番1号")
    with pytest.raises(InputError, match="方書「ハイツ」"):
        city.address("002", "5番1号", "ハイツ")
    with pytest.raises(InputError, match="町字コード"):
        city.address("999", "1")


def test_postal_hierarchy(postal):
    prefs = postal.prefectures()
    assert prefs[0] == "北海道" and prefs[-1] == "沖縄県" and len(prefs) == 47
    assert "旭川市" in postal.cities("北海道")
    assert postal.cities("北海道", "あさひかわ") == ["旭川市"]
    towns = postal.towns("北海道", "深川市", "いな")
    assert [t.town for t in towns] == ["稲穂町"] and towns[0].postal_code == "0740021"
    assert [t.town for t in postal.towns("東京都", "世田谷区", "154-0024")] == ["三軒茶屋"]


def test_postal_code_lookup_and_outside_address(postal):
    (hit,) = postal.by_postal("〒154-0024")
    assert (hit.prefecture, hit.city, hit.town) == ("東京都", "世田谷区", "三軒茶屋")
    a = postal.address("東京都", "世田谷区", "三軒茶屋", "１－２－３　三茶ハイツ 201")
    assert a.line() == "東京都世田谷区三軒茶屋1-2-3　三茶ハイツ 201" and a.postal_code == "1540024"
    with pytest.raises(InputError, match="郵便番号データにありません"):
        postal.address("東京都", "世田谷区", "存在しない町", "1")
    assert postal.by_postal("12") == []
    assert normalise_postal("０７４－０００１") == "0740001"


def test_fixed_prefecture_list_matches_the_postal_data(postal):
    in_data = {r[0] for r in postal._conn.execute("SELECT DISTINCT prefecture FROM postal_data")}
    assert set(postal.prefectures()) == in_data
    assert postal.cities("北海道")[:2] == ["札幌市中央区", "札幌市北区"]  # JIS order
