"""Certificate catalogue and request checks (F11, B4), and the 交付請求書."""

from __future__ import annotations

import dataclasses

import pytest

from madoguchi.domain.certificates import (
    CatalogueError,
    CertificateRequest,
    RequesterType,
    RequestLine,
    Subject,
    check_request,
    load_catalogue,
)
from madoguchi.domain.masking import ISSUE_REFUSED_TEXT
from madoguchi.errors import InputError
from madoguchi.printing import samples
from madoguchi.printing.certificates import catalogue_path, default_catalogue, render_certificate_request
from printing_pdf import pdf_text  # noqa: F401 - fixtures

SUBJECTS = {
    "A1": Subject("A1", "𠮷田 太郎", "H1"),
    "A2": Subject("A2", "𠮷田 花子", "H1", restricted=True),
    "B1": Subject("B1", "𡈽屋 キヨ", "H2"),
}


@pytest.fixture(scope="module")
def catalogue():
    return default_catalogue()


def request(*lines, rt=RequesterType.SELF, atena="A1", **kw):
    base = dict(requester_type=rt, requester_name="𠮷田 太郎", requester_atena_no=atena,
                requester_household_no="H1", purpose="勤務先へ提出", identity_checked=True)
    base.update(kw)
    return CertificateRequest(list(lines), **base)


def test_catalogue_has_all_kinds_of_the_spec(catalogue):
    assert len(catalogue.kinds) == 60
    assert set(catalogue.groups()) == {"住民票", "印鑑", "戸籍", "税", "納税", "資産税", "その他"}
    assert catalogue.get("nouzei.keijidousha_keizoku").fee == 0
    assert catalogue.get("koseki.juri_joushitsu").fee == 1400
    assert catalogue.get("juminhyo.zenbu").section_label.startswith("市民課")
    assert {o.id for o in catalogue.get("juminhyo.zenbu").options} >= {"honseki", "zokugara", "my_number"}


def test_fee_total_over_kinds_and_copies(catalogue):
    r = request(RequestLine("juminhyo.zenbu", 2, {"honseki": True}, ("A1",)),
                RequestLine("koseki.zenbu", 1, {"koseki_honseki": "深川市", "hittousha": "𠮷田 太郎"}, ("A1",)),
                RequestLine("nouzei.keijidousha_keizoku", 3, {"vehicle": "札幌480あ1234"}, ("A1",)))
    check = check_request(r, catalogue, SUBJECTS)
    assert check.ok, check.errors
    assert check.fee_total == 2 * 300 + 450 + 0
    assert check.copies_total == 6


def test_city_fee_settings_override_defaults():
    cat = default_catalogue(fees={"juminhyo.zenbu": 200})
    check = check_request(request(RequestLine("juminhyo.zenbu", 2, {}, ("A1",))), cat, SUBJECTS)
    assert check.fee_total == 400


def test_proxy_needs_letter_of_attorney_and_identity_check(catalogue):
    line = RequestLine("juminhyo.ichibu", 1, {}, ("A1",))
    check = check_request(request(line, rt=RequesterType.PROXY, atena=None, identity_checked=False), catalogue,
                          SUBJECTS)
    assert "代理人による請求には委任状が必要です。" in check.errors
    assert "窓口に来た方の本人確認をしてください。" in check.errors
    ok = check_request(request(line, rt=RequesterType.PROXY, atena=None, letter_of_attorney=True), catalogue,
                       SUBJECTS)
    assert ok.ok, ok.errors


def test_my_number_only_for_the_person_or_same_household(catalogue):
    line = RequestLine("juminhyo.ichibu", 1, {"my_number": True}, ("A1",))
    assert check_request(request(line), catalogue, SUBJECTS).ok
    assert check_request(request(line, rt=RequesterType.HOUSEHOLD, atena="X"), catalogue, SUBJECTS).ok
    proxy = check_request(request(line, rt=RequesterType.PROXY, atena=None, letter_of_attorney=True), catalogue,
                          SUBJECTS)
    assert any("個人番号の記載は、本人または同一世帯" in e for e in proxy.errors)


def test_protected_persons_address_is_refused_to_others(catalogue):
    line = RequestLine("juminhyo.zenbu", 1, {}, ("A1", "A2"))
    by_husband = check_request(request(line, rt=RequesterType.HOUSEHOLD, atena="A1"), catalogue, SUBJECTS)
    assert by_husband.refused
    assert by_husband.errors[0] == ISSUE_REFUSED_TEXT == "交付制限対象です（担当者確認）"
    assert by_husband.refusal == ["juminhyo.zenbu: 宛名番号 A2"]
    herself = check_request(request(RequestLine("juminhyo.ichibu", 1, {}, ("A2",)), atena="A2"), catalogue,
                            SUBJECTS)
    assert herself.ok, herself.errors
    # A certificate without an address (戸籍謄本) is not stopped by 支援措置 alone.
    koseki = RequestLine("koseki.zenbu", 1, {"koseki_honseki": "深川市", "hittousha": "𠮷田 太郎"}, ("A2",))
    assert not check_request(request(koseki, rt=RequesterType.HOUSEHOLD), catalogue, SUBJECTS).refused


def test_requester_types_and_required_options(catalogue):
    third = check_request(request(RequestLine("inkan.shoumei", 1, {}, ("A1",)), rt=RequesterType.THIRD_PARTY,
                                  atena=None), catalogue, SUBJECTS)
    assert any("第三者からの請求を受け付けできません" in e for e in third.errors)
    assert any("請求の理由" in e for e in third.errors)
    missing = check_request(request(RequestLine("zei.shotoku", 1, {}, ("A1",))), catalogue, SUBJECTS)
    assert "「所得証明書」の年度を入力してください。" in missing.errors


def test_bad_lines_are_reported_in_japanese(catalogue):
    check = check_request(request(RequestLine("juminhyo.zenbu", 0, {"colour": True}, ("ZZ",)),
                                  RequestLine("no.such", 1), purpose=""), catalogue, SUBJECTS)
    text = "\n".join(check.errors)
    assert "通数は1から20" in text
    assert "「colour」という指定はありません" in text
    assert "宛名番号 ZZ" in text
    assert "証明書の種類「no.such」は登録されていません。" in text
    assert "使用目的を入力してください。" in text
    assert not check.ok


def test_household_requester_must_share_the_household(catalogue):
    check = check_request(request(RequestLine("juminhyo.ichibu", 1, {}, ("B1",)), rt=RequesterType.HOUSEHOLD),
                          catalogue, SUBJECTS)
    assert any("同一世帯ではありません" in e for e in check.errors)


def test_catalogue_is_strict():
    text = catalogue_path().read_text(encoding="utf-8")
    with pytest.raises(CatalogueError, match="不明なキー"):
        load_catalogue(text.replace("reveals_address: false, requesters: [self], options: [koseki_honseki, "
                                    "hittousha]}", "reveals_adress: false, requesters: [self]}", 1))
    with pytest.raises(CatalogueError, match="オプション nope"):
        load_catalogue(text.replace("options: [fiscal_year]}", "options: [nope]}", 1))
    with pytest.raises(CatalogueError, match="kinds"):
        load_catalogue("version: 1\n")


def test_request_form_lists_kinds_options_and_total(pdf_text):
    req, subjects = samples.sample_certificate_request()
    check = check_request(req, default_catalogue(), subjects)
    assert check.ok, check.errors
    text = pdf_text(render_certificate_request(samples.sample_case(), req, check, subjects))
    for s in ("証明書交付請求書", "請求日", "住民票の写し（世帯全員）", "印鑑登録証明書", "所得証明書",
              "軽自動車税継続検査用納税証明書", "本籍・筆頭者の記載", "続柄の記載", "令和7年度", "2通", "5通",
              "1,200円", "600円", "自動車購入のため", "𠮷田太郎", "4種類"):
        assert s in text, s


def test_refused_request_is_not_printed():
    req, subjects = samples.sample_certificate_request()
    subjects = {k: dataclasses.replace(v, restricted=True) for k, v in subjects.items()}
    req.requester_atena_no = "000000102"  # someone else
    check = check_request(req, default_catalogue(), subjects)
    assert check.refused
    with pytest.raises(InputError, match="交付制限対象です"):
        render_certificate_request(samples.sample_case(), req, check, subjects)
