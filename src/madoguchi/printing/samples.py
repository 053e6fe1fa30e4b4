"""Synthetic sample data (a fictional household) for form previews, demo mode, tests and benchmarks.

Names use characters outside JIS X 0208 on purpose (𠮷 U+20BB7, 𡈽 U+2123D) so that every
preview exercises the font fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

from ..domain.moves import HouseholdState, Move, MoveMember, MoveType, Placement
from ..domain.people import Address, Household, Person, Qualification
from .context import CaseInfo, build_context

TODAY = date(2025, 11, 25)
NEW_ADDRESS = Address(town_name="緑町", banchi="12番3号", katagaki="グリーンハイツ201号室",
                      postal_code="0740002")
OLD_ADDRESS = Address(city="札幌市中央区", town_name="北一条西", banchi="2丁目1番地", postal_code="0600001")


def sample_household(*, restricted: bool = False) -> Household:
    def q(kind: str, start: date) -> Qualification:
        return Qualification(kind, start)

    members = [
        Person("000000101", "𠮷田 太郎", "ヨシダ タロウ", date(1980, 12, 26), "1", "H0001", "世帯主", True,
               address=NEW_ADDRESS, moved_in_from="北海道札幌市中央区北一条西2丁目1番地",
               juminhyo_code="12345678901", honseki="北海道札幌市中央区北一条西2丁目1番地", hittousha="𠮷田 太郎",
               mynumber_card_expiry=date(2030, 12, 26), qualifications=(q("kokuho", date(2025, 11, 20)),)),
        Person("000000102", "𠮷田 花子", "ヨシダ ハナコ", date(1984, 4, 1), "2", "H0001", "妻",
               address=NEW_ADDRESS, former_surname="𡈽屋", restricted=restricted,
               moved_in_from="北海道札幌市中央区北一条西2丁目1番地",
               qualifications=(q("kokuho", date(2025, 11, 20)), q("inkan", date(2010, 5, 1)))),
        Person("000000103", "𠮷田 一郎", "ヨシダ イチロウ", date(2015, 6, 15), "1", "H0001", "子",
               address=NEW_ADDRESS, qualifications=(q("jidou_teate", date(2015, 7, 1)),)),
        Person("000000104", "𠮷田 さくら", "ヨシダ サクラ", date(2024, 3, 3), "2", "H0001", "子",
               address=NEW_ADDRESS, qualifications=(q("jidou_teate", date(2024, 4, 1)),)),
        Person("000000105", "𡈽屋 キヨ", "ツチヤ キヨ", date(1949, 9, 9), "2", "H0001", "妻の母",
               address=NEW_ADDRESS, qualifications=(q("kouki", date(2024, 9, 9)), q("kaigo", date(2014, 9, 8)))),
    ]
    return Household("H0001", members)


def sample_move(household: Household) -> Move:
    members = {
        p.atena_no: MoveMember(p.atena_no, p.name, p.name_kana, p.birth_date, p.sex, p.atena_no,
                               qualifications=p.qualifications, mynumber_card_expiry=p.mynumber_card_expiry,
                               restricted=p.restricted)
        for p in household.members
    }
    after = HouseholdState("H0001", [Placement(p.atena_no, p.relationship, p.is_householder)
                                     for p in household.members], address=NEW_ADDRESS)
    return Move(MoveType.MOVE_IN, move_date=date(2025, 11, 20), notified_on=TODAY, from_address=OLD_ADDRESS,
                members=members, after=[after])


def sample_case() -> CaseInfo:
    return CaseInfo(today=TODAY, case_no="R7-001234", clerk="窓口 一郎", terminal="SHIMIN-03", counter="3番窓口",
                    notifier_name="𠮷田 太郎", notifier_kana="ヨシダ タロウ", notifier_relation="本人",
                    notifier_phone="0164-26-2000", notifier_address="深川市緑町12番3号")


SAMPLE_ANSWERS: dict[str, Any] = {
    "kokuho_reason": "転入",
    "previous_insurance": "全国健康保険協会（協会けんぽ）",
    "nenkin_kind": "第1号",
    "school_name": "深川小学校",
    "grade": "5年",
    "dog_name": "ポチ",
    "dog_breed": "柴犬",
    "dog_color": "茶",
    "dog_registration_no": "第R3-0123号",
    "dog_born_wareki": "令和3年5月",
    "bank_name": "北海道銀行 深川支店",
    "account_no": "普通 1234567",
    "inkan_method": "即日登録（本人確認書類による）",
    "card_change_item": "住所",
}


def sample_context(*, restricted: bool = False, unmasked: frozenset[str] = frozenset(),
                   person_index: int = 0) -> dict[str, Any]:
    hh = sample_household(restricted=restricted)
    return build_context(sample_case(), person=hh.members[person_index], household=hh, move=sample_move(hh),
                         answers=SAMPLE_ANSWERS, unmasked=unmasked)


def template_sample_context(template_id: str) -> dict[str, Any]:
    """The sample context a template is previewed with (one person for per-person forms)."""
    per_person = {"inkan_touroku": 1, "mynumber_kenmen": 0, "kouki": 4, "kaigo": 4, "tennyugaku": 2,
                  "kodomo_iryou": 3, "nenkin": 0}
    ctx = sample_context(person_index=per_person.get(template_id, 0))
    ctx.setdefault("procedure.name", "住所変更届（各種）")
    ctx.setdefault("case.id_mynumber_card", True)
    return ctx


def sample_outputs() -> dict[str, Callable[[], bytes]]:
    """name → a function rendering that sample: every template, plus masked/watermarked variants."""
    from .render import DEMO_WATERMARK, TRAINING_WATERMARK, render_form
    from .template import available_templates

    out: dict[str, Callable[[], bytes]] = {
        tid: partial(lambda t: render_form(t, template_sample_context(t)), tid) for tid in available_templates()
    }
    out["koufu_seikyu"] = _koufu_seikyu_sample
    out["juki_idou-masked"] = lambda: render_form("juki_idou", sample_context(restricted=True))
    out["juki_idou-training"] = lambda: render_form("juki_idou", template_sample_context("juki_idou"),
                                                    watermark=TRAINING_WATERMARK)
    out["inkan_touroku-demo"] = lambda: render_form("inkan_touroku", template_sample_context("inkan_touroku"),
                                                    watermark=DEMO_WATERMARK)
    return out


def sample_certificate_request():
    """A 本人 request for four kinds (住民票 with 本籍・続柄, 印鑑, 所得, 軽自動車 継続検査)."""
    from ..domain.certificates import CertificateRequest, RequesterType, RequestLine, Subject

    hh = sample_household()
    subjects = {p.atena_no: Subject(p.atena_no, p.name, p.household_no, p.restricted) for p in hh.members}
    request = CertificateRequest(
        lines=[
            RequestLine("juminhyo.zenbu", 2, {"honseki": True, "zokugara": True}, ("000000101",)),
            RequestLine("inkan.shoumei", 1, {}, ("000000101",)),
            RequestLine("zei.shotoku", 1, {"fiscal_year": "令和7年度"}, ("000000101",)),
            RequestLine("nouzei.keijidousha_keizoku", 1, {"vehicle": "札幌 480 あ 12-34"}, ("000000101",)),
        ],
        requester_type=RequesterType.SELF, requester_name="𠮷田 太郎", requester_atena_no="000000101",
        requester_household_no="H0001", purpose="自動車購入のため", submit_to="自動車販売店",
        identity_checked=True)
    return request, subjects


def _koufu_seikyu_sample() -> bytes:
    from .certificates import default_catalogue, render_certificate_request
    from ..domain.certificates import check_request

    request, subjects = sample_certificate_request()
    check = check_request(request, default_catalogue(), subjects)
    return render_certificate_request(sample_case(), request, check, subjects)
