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
    ctx.setdefault("procedure.department", "市民課 1階 3番窓口")
    ctx.setdefault("procedure.content", "転入にともなう住所の変更。\n新住所での各種通知の送付先を変更する。")
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
    out["guide"] = lambda: render_guide_sample()
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


def sample_guide_items() -> list[Any]:
    from .guide import GuideItem

    return [
        GuideItem("国民健康保険の加入", "保険医療課 国保係", floor="1階", counter="7番窓口",
                  reasons=("転入前に国民健康保険に加入していたため",), persons=("𠮷田 太郎", "𠮷田 花子"),
                  documents=("前住所地の資格喪失の証明",), deadline=date(2025, 12, 4),
                  resident_text="加入の届出は転入日から14日以内です。資格確認書は後日郵送します。"),
        GuideItem("マイナンバーカードの継続利用", "市民課", floor="1階", counter="2番窓口",
                  reasons=("転入した方がマイナンバーカードをお持ちのため",), persons=("𠮷田 太郎",),
                  documents=("マイナンバーカード", "暗証番号（数字4桁）"), deadline=date(2026, 2, 23),
                  resident_text="転入届の日から90日以内に手続きをしないとカードが失効します。"),
        GuideItem("児童手当の認定請求", "こども課", floor="2階", counter="12番窓口",
                  reasons=("中学生以下（高校生年代まで）のお子さんがいるため",), persons=("𠮷田 一郎", "𠮷田 さくら"),
                  documents=("請求者名義の預金通帳", "請求者の健康保険の資格情報"),
                  deadline="転出予定日の翌日から15日以内",
                  resident_text="請求が遅れると、遅れた月分の手当を受け取れなくなります。"),
        GuideItem("転入学の手続き", "教育委員会 学校教育課", floor="3階", counter="",
                  reasons=("学齢のお子さんがいるため",), persons=("𠮷田 一郎",),
                  documents=("在学証明書", "教科書給与証明書"),
                  resident_text="転入学通知書を受け取り、深川小学校へ提出してください。"),
        GuideItem("後期高齢者医療の住所変更", "保険医療課 医療係", floor="1階", counter="8番窓口",
                  reasons=("75歳以上の方が転入したため",), persons=("𡈽屋 キヨ",),
                  documents=("負担区分等証明書",), deadline=date(2025, 12, 4)),
        GuideItem("犬の登録変更", "環境課", floor="2階", counter="15番窓口", persons=("𠮷田 太郎",),
                  documents=("前住所地の鑑札",), resident_text="新しい鑑札を交付します（手数料はかかりません）。"),
    ]


def render_guide_sample() -> bytes:
    from .guide import GuideHousehold, render_guide

    return render_guide(sample_context(), [GuideHousehold("𠮷田 太郎", sample_guide_items())])
