"""Resident search in every input form, on SQLite and real PostgreSQL (connected as staff roles)."""

from __future__ import annotations

import secrets
from datetime import date

import pgtools
import pytest
from residents_seed import drop_test_roles, make_actor, seed
from sqlalchemy import select

from madoguchi.errors import InputError
from madoguchi.services import audit, residents
from madoguchi.store import migrate
from madoguchi.store.db import Database
from madoguchi.store.models import AuditEvent

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clerk_env(request, tmp_path_factory):
    """One seeded database per dialect for the whole module (read-mostly tests)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'm.sqlite3'}"
        name = None
    else:
        name = pgtools.create_database()
        url = pgtools.url_for(name)
    base = Database.connect(url)
    migrate.upgrade(base.engine)
    seed(base)
    login = f"clerk_{secrets.token_hex(3)}"
    db, actor = make_actor(base, login, ["clerk"])
    yield base, db, actor
    if db is not base:
        db.dispose()
    base.dispose()
    if name:
        pgtools.drop_database(name)
        drop_test_roles([login])


@pytest.fixture
def clerk(clerk_env):
    return clerk_env[1], clerk_env[2]


def ids(hits):
    return [h.atena_no for h in hits]


@pytest.mark.parametrize("query, expected", [
    ("やまだ", ["1001", "1002", "1003", "1006", "1007"]),
    ("ヤマダ", ["1001", "1002", "1003", "1006", "1007"]),
    ("ﾔﾏﾀﾞ ﾀﾛｳ", ["1001"]),
    ("やまだ　たろう", ["1001"]),
    ("さとー", ["1004"]),           # long vowel folded
    ("きよーこ", []),               # wrong kana prefix finds nothing
    ("サトウキヨウコ", ["1004"]),    # small kana folded
    ("山田　太郎", ["1001"]),
    ("山田太郎", ["1001"]),
    ("山田 太郎", ["1001"]),
    ("𠮷田", ["1005"]),             # non-BMP kanji survives the round trip
    ("髙橋", ["1008"]),
    ("S55.12.26", ["1001"]),
    ("昭和55年12月26日", ["1001"]),
    ("5551226", ["1001"]),
    ("1980-12-26", ["1001"]),
    ("19801226", ["1001"]),
    ("やまだ S55", ["1001", "1007"]),
    ("やまだ S55.12", ["1001"]),
    ("やまだ 昭和55年", ["1001", "1007"]),
    ("1004", ["1004"]),
    ("90000001004", ["1004"]),      # 住民票コード
    ("一条", ["1004"]),             # by address: who lives there now (1007 moved out, 1008 died)
    ("髙橋 一条", ["1008"]),         # with a name, removed persons are found too
    ("一条1234", ["1004"]),
    ("あけぼの町3番", ["1001", "1002", "1003"]),
    ("やまだ あけぼの町", ["1001", "1002", "1003"]),
])
def test_search_forms(clerk, query, expected):
    db, actor = clerk
    hits = residents.search(db, actor, query, today=TODAY)
    assert sorted(ids(hits)) == sorted(expected)


def test_hit_contents_and_order(clerk):
    db, actor = clerk
    hits = residents.search(db, actor, "やまだ", today=TODAY)
    # current residents first, removed ones last and marked
    assert hits[-1].atena_no == "1007" and hits[-1].status_mark == "転出"
    taro = next(h for h in hits if h.atena_no == "1001")
    assert taro.birth_text == "昭和55年12月26日（1980-12-26）"
    assert taro.age == 45
    assert taro.householder_name == "山田\u3000太郎"
    assert taro.address_text == "北海道深川市あけぼの町3番12号"
    child = next(h for h in hits if h.atena_no == "1003")
    assert child.householder_name == "山田\u3000太郎" and child.relationship == "子"
    dead = residents.search(db, actor, "髙橋", today=TODAY)[0]
    assert dead.status_mark == "死亡"


def test_restricted_person_masked_and_not_found_by_address(clerk):
    db, actor = clerk
    hit = residents.search(db, actor, "やまだ ひみこ", today=TODAY)[0]
    assert hit.restricted and hit.address_text == "支援措置対象（住所非表示）"
    assert "コーポ" not in repr(hit) and "99番地" not in repr(hit)
    assert hit.note == "確認が必要です（担当者へ）"
    assert residents.search(db, actor, "広里町99", today=TODAY) == []
    assert ids(residents.search(db, actor, "広里町", today=TODAY)) == ["1005"]


def test_empty_query_is_a_japanese_input_error(clerk):
    db, actor = clerk
    with pytest.raises(InputError, match="検索する文字"):
        residents.search(db, actor, "  \u3000 ")


def test_search_is_audited(clerk_env):
    base, db, actor = clerk_env
    residents.search(db, actor, "ささき", today=TODAY)
    with base.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "person.search")
                       .where(AuditEvent.detail.contains("ささき"))).all()
        assert audit.verify(s).ok                      # the chain holds with search events in it
    assert len(ev) == 1 and ev[0].actor == actor.login and '"count": 0' in ev[0].detail


def test_parse_query_classifies_words():
    q = residents.parse_query("ﾔﾏﾀﾞ 山田 S55 1001 一条3番")
    assert q.kana == "ヤマダ" and q.name == "山田"
    assert q.dates == [(date(1980, 1, 1), date(1980, 12, 31))]
    assert q.numbers == [("1001", None)]
    assert q.addresses == [residents.address_key("一条3番")]
    assert residents.parse_query("北条").name_or_address == ["北条"]
    assert residents.parse_query("H1").dates == [(date(1989, 1, 8), date(1989, 12, 31))]
    assert residents.address_key("北海道深川市 あけぼの町３番１２号") == "アケボノ町3番12号"


def test_town_names_without_an_address_ending_are_searched_as_addresses(clerk_env, monkeypatch):
    """深川市 has 町字 like 音江町字菊丘, 多度志, 鷹泊: no 町/条/番地 ending tells them from a name, so
    the search asks the town master. Without it they were looked for as names and found nobody."""
    from sqlalchemy import delete, insert

    from madoguchi.domain.kana import fold_kana
    from madoguchi.store.models import PersonAddressRow, PersonRow, Town
    base, db, actor = clerk_env
    with base.engine.begin() as conn:
        conn.execute(insert(Town), [dict(town_code="01228037", name="音江町字菊丘", kana="オトエチョウアザキクオカ",
                                         kana_key=fold_kana("オトエチョウアザキクオカ"), postal_code="0741273")])
        conn.execute(insert(PersonRow), [dict(atena_no="1901", juminhyo_code="90000001901", household_no="H901",
                                              is_householder=True, relationship="世帯主", name="佐々木\u3000一郎",
                                              name_kana="ササキ\u3000イチロウ", kana_key=fold_kana("ササキイチロウ"),
                                              birth_date=date(1950, 6, 1), sex="1", status="1", restricted=False)])
        conn.execute(insert(PersonAddressRow), [dict(atena_no="1901", restricted=False, postal_code="0741273",
                                                     town_code="01228037", banchi="1番地3", katagaki="",
                                                     address_key=residents.address_key("音江町字菊丘1番地3"))])
    monkeypatch.setattr(residents, "_TOWNS", {})  # the master changed: read it now, not in a minute
    try:
        assert residents.parse_query("音江町字菊丘").name == "音江町字菊丘"  # without the master: a name
        for query in ("音江町字菊丘", "ささき 音江町字菊丘"):
            assert ids(residents.search(db, actor, query, today=TODAY)) == ["1901"], query
        # only the beginning of a 町字 name stays a name (深川 is a surname before it is 深川町…)
        assert residents.parse_query("音江", residents.town_names(base)).name == "音江"
        assert ids(residents.search(db, actor, "山田 音江町字菊丘", today=TODAY)) == []
    finally:
        with base.engine.begin() as conn:
            conn.execute(delete(PersonAddressRow).where(PersonAddressRow.atena_no == "1901"))
            conn.execute(delete(PersonRow).where(PersonRow.atena_no == "1901"))
            conn.execute(delete(Town).where(Town.town_code == "01228037"))
        residents._TOWNS.clear()


def test_a_person_is_found_by_their_tsusho(clerk_env):
    """通称 (alias) in kana and in kanji, next to the registered name. The PostgreSQL indexes of the 通称
    hold only persons who have one (0007); the search must still find them by it."""
    from sqlalchemy import delete, insert

    from madoguchi.domain.kana import fold_kana
    from madoguchi.store.models import PersonAddressRow, PersonRow
    base, db, actor = clerk_env
    with base.engine.begin() as conn:
        conn.execute(insert(PersonRow), [dict(atena_no="1902", juminhyo_code="90000001902", household_no="H902",
                                              is_householder=True, relationship="世帯主", name="金\u3000花子",
                                              name_kana="キム\u3000ファジャ", kana_key=fold_kana("キムファジャ"),
                                              alias="金田\u3000花子", alias_kana="カネダ\u3000ハナコ",
                                              alias_kana_key=fold_kana("カネダハナコ"), birth_date=date(1970, 2, 3),
                                              sex="2", status="1", restricted=False, nationality="韓国")])
        conn.execute(insert(PersonAddressRow), [dict(atena_no="1902", restricted=False, postal_code="0740021",
                                                     town_code="01228003", banchi="12番地", katagaki="",
                                                     address_key=residents.address_key("広里町12番地"))])
    try:
        for query in ("かねだ", "カネダ　ハナコ", "金田", "きむ", "金", "かねだ 広里町"):
            assert ids(residents.search(db, actor, query, today=TODAY)) == ["1902"], query
        assert ids(residents.search(db, actor, "かねだ 一条", today=TODAY)) == []
    finally:
        with base.engine.begin() as conn:
            conn.execute(delete(PersonAddressRow).where(PersonAddressRow.atena_no == "1902"))
            conn.execute(delete(PersonRow).where(PersonRow.atena_no == "1902"))
