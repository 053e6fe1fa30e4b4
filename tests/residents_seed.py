"""A small, hand-made set of residents for service and GUI tests (synthetic people only)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert

from madoguchi.domain.kana import fold_kana
from madoguchi.services.residents import address_key
from madoguchi.store.db import Database
from madoguchi.store.models import PersonAddressRow, PersonRow, QualificationRow, Town

TOWNS = [("01228001", "あけぼの町", "アケボノチョウ", "0740001"), ("01228002", "一条", "イチジョウ", "0740011"),
         ("01228003", "広里町", "ヒロサトチョウ", "0740021")]

# atena, household, head?, relationship, name, kana, birth, sex, town, banchi, katagaki, status, restricted
PEOPLE = [
    ("1001", "H100", True, "世帯主", "山田\u3000太郎", "ヤマダ\u3000タロウ", date(1980, 12, 26), "1",
     "01228001", "3番12号", "", "1", False),
    ("1002", "H100", False, "妻", "山田\u3000花子", "ヤマダ\u3000ハナコ", date(1982, 4, 1), "2",
     "01228001", "3番12号", "", "1", False),
    ("1003", "H100", False, "子", "山田\u3000陽翔", "ヤマダ\u3000ハルト", date(2015, 7, 7), "1",
     "01228001", "3番12号", "", "1", False),
    ("1004", "H101", True, "世帯主", "佐藤\u3000京子", "サトウ\u3000キョウコ", date(1955, 3, 3), "2",
     "01228002", "1234番地5", "ひまわり荘101", "1", False),
    ("1005", "H102", True, "世帯主", "𠮷田\u3000一郎", "ヨシダ\u3000イチロウ", date(1948, 1, 20), "1",
     "01228003", "7番地", "", "1", False),
    ("1006", "H103", True, "世帯主", "山田\u3000秘子", "ヤマダ\u3000ヒミコ", date(1990, 5, 5), "2",
     "01228003", "99番地", "コーポ広里202", "1", True),
    ("1007", "H104", True, "世帯主", "山田\u3000次郎", "ヤマダ\u3000ジロウ", date(1980, 2, 2), "1",
     "01228002", "5番地", "", "2", False),
    ("1008", "H105", True, "世帯主", "髙橋\u3000昭", "タカハシ\u3000アキラ", date(1930, 6, 1), "1",
     "01228002", "8番地", "", "3", False),
]

QUALS = [("1001", "kokuho"), ("1002", "kokuho"), ("1003", "kokuho"), ("1003", "jidou_teate"),
         ("1003", "kodomo_iryou"), ("1001", "inkan"), ("1004", "kaigo"), ("1005", "kouki")]


def seed(db: Database) -> None:
    towns = {code: name for code, name, _k, _p in TOWNS}
    with db.engine.begin() as conn:
        conn.execute(insert(Town), [dict(town_code=c, name=n, kana=k, kana_key=fold_kana(k), postal_code=p)
                                    for c, n, k, p in TOWNS])
        conn.execute(insert(PersonRow), [
            dict(atena_no=a, juminhyo_code=f"9{a:0>10}", household_no=h, is_householder=head, relationship=rel,
                 name=name, name_kana=kana, kana_key=fold_kana(kana), birth_date=birth, sex=sex, status=st,
                 restricted=r, removed_on=None if st == "1" else date(2024, 3, 31),
                 removal_reason={"1": "", "2": "転出", "3": "死亡"}[st])
            for a, h, head, rel, name, kana, birth, sex, _t, _b, _k, st, r in PEOPLE])
        conn.execute(insert(PersonAddressRow), [
            dict(atena_no=a, restricted=r, postal_code=dict((c, p) for c, _n, _k, p in TOWNS)[t], town_code=t,
                 banchi=b, katagaki=k, address_key=address_key(towns[t] + b + k))
            for a, _h, _hd, _rel, _n, _kn, _bd, _s, t, b, k, _st, r in PEOPLE])
        conn.execute(insert(QualificationRow), [dict(atena_no=a, kind=k, start_date=date(2020, 4, 1))
                                                for a, k in QUALS])


# Removed persons (除票) beside residents, added on top of seed(): a son of H100 who moved out, and
# H106 where a protected wife (支援措置) moved out, her father-in-law died and her husband still lives.
# atena, household, head?, relationship, name, kana, birth, sex, town, banchi, status, restricted, removed_on,
# moved_in_from (前住所)
REMOVED_PEOPLE = [
    ("1009", "H100", False, "子", "山田\u3000健太", "ヤマダ\u3000ケンタ", date(2005, 1, 10), "1",
     "01228001", "3番12号", "2", False, date(2025, 3, 31), ""),
    ("1010", "H106", True, "世帯主", "北村\u3000剛", "キタムラ\u3000ツヨシ", date(1985, 1, 1), "1",
     "01228002", "2番地", "1", False, None, ""),
    ("1011", "H106", False, "妻", "北村\u3000静", "キタムラ\u3000シズカ", date(1988, 8, 8), "2",
     "01228002", "2番地", "2", True, date(2025, 6, 30), "札幌市中央区北1条西2丁目"),
    ("1012", "H106", False, "父", "北村\u3000茂", "キタムラ\u3000シゲル", date(1940, 2, 2), "1",
     "01228002", "2番地", "3", False, date(2024, 12, 1), ""),
]


def seed_removed(db: Database) -> None:
    """Add REMOVED_PEOPLE (after seed(), which made the towns)."""
    towns = {code: (name, postal) for code, name, _k, postal in TOWNS}
    with db.engine.begin() as conn:
        conn.execute(insert(PersonRow), [
            dict(atena_no=a, juminhyo_code=f"9{a:0>10}", household_no=h, is_householder=head, relationship=rel,
                 name=name, name_kana=kana, kana_key=fold_kana(kana), birth_date=birth, sex=sex, status=st,
                 restricted=r, removed_on=removed, removal_reason={"1": "", "2": "転出", "3": "死亡"}[st])
            for a, h, head, rel, name, kana, birth, sex, _t, _b, st, r, removed, _f in REMOVED_PEOPLE])
        conn.execute(insert(PersonAddressRow), [
            dict(atena_no=a, restricted=r, postal_code=towns[t][1], town_code=t, banchi=b, katagaki="",
                 moved_in_from=f, address_key=address_key(towns[t][0] + b))
            for a, _h, _hd, _rel, _n, _kn, _bd, _s, t, b, _st, r, _rm, f in REMOVED_PEOPLE])


def make_actor(db: Database, login: str, groups: list[str], *, url: str | None = None):
    """A real staff member: a login role in PostgreSQL (connect as it), an Argon2 hash in SQLite.

    Returns (db, actor); in PostgreSQL db is a new connection as that role (caller disposes)."""
    from madoguchi.services import auth, staff
    from madoguchi.store.db import SessionInfo

    password = f"pw-{login}-secret"
    staff.add_staff(db, SessionInfo("setup"), login, f"職員 {login}", password, groups)
    if db.dialect == "postgresql":
        from sqlalchemy.engine import make_url
        role_url = make_url(url or db.engine.url.render_as_string(hide_password=False)).set(
            username=login, password=password).render_as_string(hide_password=False)
        return auth.login_server(role_url, login, "test-pc", "3")
    return db, auth.login_demo(db, login, password, "test-pc", "3")


def drop_test_roles(logins: list[str]) -> None:
    import pgtools
    pgtools.drop_roles(logins)
