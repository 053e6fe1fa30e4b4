"""証明書の交付請求 through the service (F11, F13, B4) on SQLite and real PostgreSQL."""

from __future__ import annotations

import io
import json
import secrets
from datetime import date

import pytest
from pypdf import PdfReader
from residents_seed import drop_test_roles, make_actor, seed
from sqlalchemy import func, select

from madoguchi.domain.certificates import RequesterType
from madoguchi.errors import InputError, PermissionDenied, StaleWrite
from madoguchi.services import identity
from madoguchi.services.cases import CaseService
from madoguchi.services.certificates import (CertificateService, LineInput, Requester, RequestRefused,
                                             load_shipped_catalogue, search_kinds)
from madoguchi.store.models import AuditEvent, CertificateRequestRow

YAMADA = {"name": "山田太郎", "birth_date": date(1980, 12, 26)}
HANAKO = {"name": "山田花子", "birth_date": date(1982, 4, 1)}


@pytest.fixture
def cert_clerk(any_db):
    seed(any_db)
    login = f"cert_{secrets.token_hex(3)}"
    db, actor = make_actor(any_db, login, ["clerk", "cert"])
    yield any_db, db, actor
    if db is not any_db:
        db.dispose()
    if any_db.dialect == "postgresql":
        drop_test_roles([login])


def _case(db, actor, atena="1001", stated=YAMADA, subject="visitor"):
    cases = CaseService(db, actor)
    case = cases.open_case(purpose="証明書", subject_atena_no=atena)
    if stated is not None:
        identity.record_identity_check(db, actor, atena_no=atena if subject == "visitor" else None,
                                       documents=["driver_license"], stated=stated, subject=subject,
                                       case_id=case.id)
    return cases, case


def _rows(base, case_id):
    with base.session() as s:
        return s.scalars(select(CertificateRequestRow).where(CertificateRequestRow.case_id == case_id)).all()


def _pdf_text(pdf: bytes) -> str:
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\n", "").replace(" ", "").replace("\u3000", "")


def test_several_kinds_and_copies_are_one_request_with_fee_total(cert_clerk):
    base, db, actor = cert_clerk
    cases, case = _case(db, actor)
    svc = CertificateService(db, actor)
    res = svc.request(case.id, case.version, [
        LineInput("juminhyo.zenbu", "1001", 2, {"honseki": True, "zokugara": True}),
        LineInput("inkan.shoumei", "1001", 1),
        LineInput("zei.shotoku", "1001", 3, {"fiscal_year": "令和7年度"}),
    ], Requester(RequesterType.SELF, atena_no="1001", submit_to="銀行"), "住宅ローンの申込み")
    assert res.fee_total == 2 * 300 + 300 + 3 * 300
    assert res.refused == [] and res.request_no == 1
    assert [(x.kind_id, x.copies, x.fee) for x in res.lines] == [
        ("juminhyo.zenbu", 2, 600), ("inkan.shoumei", 1, 300), ("zei.shotoku", 3, 900)]
    assert res.lines[0].option_texts == ["本籍・筆頭者の記載", "続柄の記載"]
    assert res.lines[0].subject_name == "山田\u3000太郎" and res.lines[0].submit_to == "銀行"
    assert res.case.version > case.version
    rows = _rows(base, case.id)
    assert len(rows) == 3 and {r.purpose for r in rows} == {"住宅ローンの申込み"}
    assert sum(r.fee for r in rows) == 1800
    assert svc.fee_total(case.id) == 1800
    events = [e for e in cases.timeline(case.id) if e.kind == "certificate"]
    assert events and "3件 6通" in events[-1].summary and "1,800円" in events[-1].summary

    # A second request in the same visit gets its own number; a cancelled line leaves the total.
    res2 = svc.request(res.case.id, res.case.version, [LineInput("juminhyo.ichibu", "1002", 1)],
                       Requester(RequesterType.HOUSEHOLD, atena_no="1001"), "児童手当")
    assert res2.request_no == 2 and res2.fee_total == 300
    after = svc.cancel_line(case.id, res2.case.version, res.lines[1].id, "印鑑登録証を忘れた")
    assert after.version > res2.case.version
    listed = svc.list(case.id)
    assert [x.status for x in listed] == ["requested", "cancelled", "requested", "requested"]
    assert svc.fee_total(case.id) == 1800 - 300 + 300
    with pytest.raises(InputError, match="取消済み"):
        svc.cancel_line(case.id, after.version, res.lines[1].id)
    with pytest.raises(InputError, match="請求9は取消済みか、この対応にありません"):
        svc.render_request_form(case.id, 9)


def test_request_form_pdf_lists_kinds_copies_and_total(cert_clerk):
    _base, db, actor = cert_clerk
    _cases, case = _case(db, actor)
    svc = CertificateService(db, actor)
    res = svc.request(case.id, case.version, [
        LineInput("juminhyo.zenbu", "1001", 2, {"honseki": True}),
        LineInput("koseki.zenbu", "1001", 1, {"koseki_honseki": "深川市あけぼの町3番", "hittousha": "山田太郎"}),
    ], Requester(RequesterType.SELF, atena_no="1001", submit_to="勤務先"), "勤務先へ提出")
    text = _pdf_text(svc.render_request_form(case.id))
    for s in ("証明書交付請求書", "住民票の写し（世帯全員）", "戸籍全部事項証明書（謄本）", "2通", "1通",
              "1,050円", "勤務先へ提出", "本籍・筆頭者の記載", "2種類", "山田太郎", res.case.case_no,
              "✓運転免許証", "3番窓口"):
        assert s in text, s
    # Training outputs carry the watermark.
    import dataclasses
    trainee = CertificateService(db, dataclasses.replace(actor, training=True))
    assert "研修" in _pdf_text(trainee.render_request_form(case.id, res.request_no))
    assert "研修" not in text


def test_proxy_without_letter_of_attorney_is_refused_in_japanese(cert_clerk):
    base, db, actor = cert_clerk
    _cases, case = _case(db, actor, stated={"name": "代理 一郎"}, subject="proxy")
    svc = CertificateService(db, actor)
    line = [LineInput("juminhyo.ichibu", "1001", 1)]
    with pytest.raises(InputError) as exc:
        svc.request(case.id, case.version, line, Requester(RequesterType.PROXY, name="代理 一郎"), "年金の手続き")
    assert "代理人による請求には委任状が必要です。" in exc.value.message
    assert _rows(base, case.id) == []
    ok = svc.request(case.id, case.version, line,
                     Requester(RequesterType.PROXY, name="代理 一郎", letter_of_attorney=True), "年金の手続き")
    assert ok.fee_total == 300 and ok.lines[0].requester_name == "代理 一郎"


def test_proxy_needs_their_own_identity_check(cert_clerk):
    _base, db, actor = cert_clerk
    _cases, case = _case(db, actor)  # only the resident was checked, not the proxy
    with pytest.raises(InputError, match="本人確認をしてください"):
        CertificateService(db, actor).request(
            case.id, case.version, [LineInput("juminhyo.ichibu", "1001", 1)],
            Requester(RequesterType.PROXY, name="代理 一郎", letter_of_attorney=True), "年金の手続き")


def test_protected_person_requested_by_another_is_stopped_and_audited(cert_clerk):
    base, db, actor = cert_clerk
    # 1006 山田秘子 is under 支援措置; 1001 asks for her 住民票 (as a third party, with a reason).
    _cases, case = _case(db, actor)
    svc = CertificateService(db, actor)
    with pytest.raises(RequestRefused) as exc:
        svc.request(case.id, case.version, [LineInput("juminhyo.ichibu", "1006", 1)],
                    Requester(RequesterType.THIRD_PARTY, atena_no="1001", third_party_reason="相続手続き"),
                    "相続手続き")
    assert exc.value.message == "交付制限対象です（担当者確認）"
    assert [(r.kind_id, r.subject_atena_no) for r in exc.value.refused] == [("juminhyo.ichibu", "1006")]
    assert _rows(base, case.id) == []
    assert CaseService(db, actor).get_case(case.id).version == case.version  # nothing written to the case
    with base.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.refused")).all()
    assert len(ev) == 1 and ev[0].object_id == case.case_no
    detail = json.loads(ev[0].detail)
    assert detail["lines"] == [{"kind_id": "juminhyo.ichibu", "atena_no": "1006"}]
    assert detail["requester_type"] == "third_party" and detail["requester_atena_no"] == "1001"
    assert "99番地" not in ev[0].detail and "コーポ" not in ev[0].detail and "広里" not in ev[0].detail
    if base.dialect == "postgresql":
        assert ev[0].actor == actor.login  # stamped by the database

    # Mixed request: the stopped line is not stored, the rest is.
    res = svc.request(case.id, case.version, [LineInput("juminhyo.ichibu", "1006", 1),
                                              LineInput("koseki.zenbu", "1006", 1,
                                                        {"koseki_honseki": "深川市", "hittousha": "山田秘子"}),
                                              ], Requester(RequesterType.THIRD_PARTY, atena_no="1001",
                                                           third_party_reason="相続手続き"), "相続手続き")
    assert [x.kind_id for x in res.lines] == ["koseki.zenbu"]  # 戸籍 shows no address
    assert [r.kind_id for r in res.refused] == ["juminhyo.ichibu"]
    assert res.message.startswith("交付制限対象です（担当者確認）")
    assert len(_rows(base, case.id)) == 1
    with base.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "certificate.refused")) == 2


def test_protected_person_may_ask_for_her_own(cert_clerk):
    _base, db, actor = cert_clerk
    _cases, case = _case(db, actor, atena="1006", stated={"name": "山田秘子", "birth_date": date(1990, 5, 5)})
    res = CertificateService(db, actor).request(case.id, case.version, [LineInput("juminhyo.ichibu", "1006", 1)],
                                                Requester(RequesterType.SELF, atena_no="1006"), "転職先へ提出")
    assert res.refused == [] and len(res.lines) == 1


def test_my_number_only_for_self_or_same_household(cert_clerk):
    _base, db, actor = cert_clerk
    svc = CertificateService(db, actor)
    opts = {"my_number": True}
    _c, case = _case(db, actor)
    # Same household (1001 for his wife 1002): allowed.
    res = svc.request(case.id, case.version, [LineInput("juminhyo.ichibu", "1002", 1, opts)],
                      Requester(RequesterType.HOUSEHOLD, atena_no="1001"), "年金")
    assert res.lines[0].option_texts == ["個人番号の記載"]
    # A proxy may not have it.
    _c, case2 = _case(db, actor, stated={"name": "代理 一郎"}, subject="proxy")
    with pytest.raises(InputError, match="個人番号の記載は、本人または同一世帯"):
        svc.request(case2.id, case2.version, [LineInput("juminhyo.ichibu", "1002", 1, opts)],
                    Requester(RequesterType.PROXY, name="代理 一郎", letter_of_attorney=True), "年金")
    # 「同一世帯」 must really be the same household (1004 is not).
    with pytest.raises(InputError, match="同一世帯ではありません"):
        svc.request(res.case.id, res.case.version, [LineInput("juminhyo.ichibu", "1004", 1, opts)],
                    Requester(RequesterType.HOUSEHOLD, atena_no="1001"), "年金")


def test_self_request_must_be_for_the_requester(cert_clerk):
    _base, db, actor = cert_clerk
    _c, case = _case(db, actor)
    with pytest.raises(InputError, match="請求者本人ではありません"):
        CertificateService(db, actor).request(case.id, case.version, [LineInput("juminhyo.ichibu", "1002", 1)],
                                              Requester(RequesterType.SELF, atena_no="1001"), "年金")


def test_stale_version_is_rejected_and_nothing_stored(cert_clerk):
    base, db, actor = cert_clerk
    cases, case = _case(db, actor)
    newer = cases.add_memo(case.id, case.version, "別の入力")
    with pytest.raises(StaleWrite, match="変更しました"):
        CertificateService(db, actor).request(case.id, case.version, [LineInput("juminhyo.ichibu", "1001", 1)],
                                              Requester(RequesterType.SELF, atena_no="1001"), "年金")
    assert _rows(base, case.id) == []
    assert cases.get_case(case.id).version == newer.version


def test_requires_certificate_issue_right(cert_clerk):
    any_db, _db, _actor = cert_clerk
    login = f"clerk_{secrets.token_hex(3)}"
    db, clerk = make_actor(any_db, login, ["clerk"])
    try:
        _c, case = _case(db, clerk)
        with pytest.raises(PermissionDenied, match="証明書の交付請求"):
            CertificateService(db, clerk).request(case.id, case.version, [LineInput("juminhyo.ichibu", "1001")],
                                                  Requester(RequesterType.SELF, atena_no="1001"), "年金")
    finally:
        if db is not any_db:
            db.dispose()
        if any_db.dialect == "postgresql":
            drop_test_roles([login])


def test_incremental_search_by_name_kana_and_group():
    cat = load_shipped_catalogue()
    assert load_shipped_catalogue() is cat  # parsed once
    assert len(cat.kinds) == 60
    hits = [k.id for k in search_kinds(cat, "じゅうみんひょう")]
    assert hits[0].startswith("juminhyo.") and "juminhyo.zenbu" in hits
    assert [k.id for k in search_kinds(cat, "住民票")][0] == "juminhyo.zenbu"
    assert {k.id for k in search_kinds(cat, "こせき とうほん")} == {"koseki.zenbu", "koseki.joseki_zenbu", "koseki.kaisei_gen_touhon"}
    assert {k.group for k in search_kinds(cat, "のうぜい")} == {"納税"}
    assert [k.id for k in search_kinds(cat, "いんかん")][0] == "inkan.shoumei"
    assert search_kinds(cat, "ぜんぜんない") == []
    assert len(search_kinds(cat, "")) == 60


def test_form_is_recorded_as_a_case_output_and_printed_state_kept(cert_clerk):
    from madoguchi.services.certificates import record_request_form
    from madoguchi.services.outputs import OutputService
    from madoguchi.store.models import OutputRow

    base, db, actor = cert_clerk
    cases, case = _case(db, actor)
    svc = CertificateService(db, actor)
    res = svc.request(case.id, case.version, [LineInput("inkan.shoumei", "1001", 2)],
                      Requester(RequesterType.SELF, atena_no="1001"), "車の購入")
    form = record_request_form(svc, case.id, res.case.version)
    assert form.request_no == 1 and form.title == "証明書交付請求書（請求1）"
    assert "600円" in _pdf_text(form.pdf)
    info = OutputService(db, actor).mark_printed(case.id, form.case.version, [form.output_id], printer="窓口3")
    with base.session() as s:
        out = s.scalars(select(OutputRow).where(OutputRow.case_id == case.id)).all()
    assert [(o.kind, o.state) for o in out] == [("koufu_seikyu", "printed")]
    assert [e.kind for e in cases.timeline(case.id)][-2:] == ["output", "output"]
    assert info.version > form.case.version
    with pytest.raises(StaleWrite):
        record_request_form(svc, case.id, res.case.version)  # an old version


def test_print_time_check_stops_a_person_restricted_since(cert_clerk):
    from sqlalchemy import update

    from madoguchi.store.models import PersonRow

    base, db, actor = cert_clerk
    _cases, case = _case(db, actor)
    svc = CertificateService(db, actor)
    svc.request(case.id, case.version, [LineInput("juminhyo.ichibu", "1002", 1)],
                Requester(RequesterType.HOUSEHOLD, atena_no="1001"), "年金")
    with base.session() as s:  # 支援措置 decided after the request (the next import brings it)
        s.execute(update(PersonRow).where(PersonRow.atena_no == "1002").values(restricted=True))
        s.commit()
    with pytest.raises(InputError, match="交付制限対象です"):
        svc.render_request_form(case.id)
    with base.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.refused")).all()
    assert len(ev) == 1 and '"at": "print"' in ev[0].detail and "1002" in ev[0].detail
