"""Outputs of a case (F9, F10, F13) through the service, on SQLite and PostgreSQL: the PDFs' text
matches the case, 支援措置 addresses stay hidden unless unmasked in this case, print state is kept."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader
from sqlalchemy import select

from madoguchi.errors import InputError, PermissionDenied, StaleWrite
from madoguchi.services import case_runner
from madoguchi.services.addresses import CityAddressBook, PostalBook
from madoguchi.services.cases import CaseService
from madoguchi.services.context import Actor
from madoguchi.services.outputs import OutputService
from madoguchi.services.procedures import ProcedureService
from madoguchi.store.db import Database
from madoguchi.store.models import AuditEvent, CaseEvent, CaseRow, MoveEntryRow, OutputRow, SelectedProcedure

TODAY = date(2026, 11, 25)
MASK = "（支援措置により非表示）"
CASES = Path(__file__).parents[1] / "e2e" / "cases"
CLERK_RIGHTS = frozenset({"case.write", "resident.read"})
CLERK = Actor("tanaka", "田中　窓口", terminal="T01", counter_no="1", permissions=CLERK_RIGHTS)
SUPPORT = Actor("yamada", "山田　支援措置担当", terminal="T09", counter_no="9",
                permissions=CLERK_RIGHTS | {"support_measure.unmask"})

FIXTURE = yaml.safe_load("""
towns:
  - {code: "001", name: 一条, kana: イチジョウ, postal_code: "0740001", banchi: [{banchi: 3番12号}]}
  - {code: "002", name: 二条, kana: ニジョウ, postal_code: "0740002", banchi: [{banchi: 7番3号}, {banchi: 9番1号}]}
  - {code: "021", name: 稲穂町, kana: イナホチョウ, postal_code: "0740021", banchi: [{banchi: 1丁目2番3号}]}
residents:
  - {atena_no: "500001", household: H500, relationship: 世帯主, name: 𠮷田　太郎, kana: ヨシダ　タロウ,
     birth: 1950-03-15, sex: "1", address: {town_code: "021", banchi: 1丁目2番3号, postal_code: "0740021"},
     qualifications: [{kind: kouki, start: 2025-03-15}, {kind: kaigo}]}
  - {atena_no: "500002", household: H500, relationship: 妻, name: 𠮷田　花子, kana: ヨシダ　ハナコ,
     birth: 1955-07-07, sex: "2", address: {town_code: "021", banchi: 1丁目2番3号, postal_code: "0740021"},
     qualifications: [{kind: kaigo}]}
  - {atena_no: "600001", household: H600, relationship: 世帯主, name: 石狩　静香, kana: イシカリ　シズカ,
     birth: 1990-01-20, sex: "2", restricted: true,
     address: {town_code: "001", banchi: 3番12号, postal_code: "0740001"}}
""")


def _text(pdf: bytes) -> str:
    raw = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    return raw.replace("\n", "").replace(" ", "").replace("\u3000", "")


def _open_move(db: Database, atena_nos: list[str], household: str, banchi: str, actor: Actor = CLERK):
    """A 転居 of a whole household to 二条<banchi>, entered by `actor`; returns the case info."""
    cases = CaseService(db, actor)
    case = cases.open_case(purpose="転居", visitor={"name": "𠮷田　花子", "relation": "妻"})
    spec = {"type": "move_within", "move_date": "2026-11-22", "notified_on": "2026-11-25", "members": atena_nos,
            "after": [{"key": household, "members": "same", "address": {"town": "二条", "banchi": banchi}}]}
    move = case_runner.build_move(db, spec, city=CityAddressBook(db), postal=PostalBook())
    case, _ = cases.save_move(case.id, case.version, move, TODAY)
    listing = ProcedureService(db, actor).listing(case.id)  # the selection is stored, as the panel does
    return listing.case


@pytest.fixture
def db(any_db: Database) -> Database:
    case_runner.seed_fixture(any_db, FIXTURE)
    for a in (CLERK, SUPPORT):
        case_runner.ensure_staff(any_db, a)
    return any_db


def test_forms_and_guide_match_the_case(db):
    case = _open_move(db, ["500001", "500002"], "H500", "7番3号")
    svc = OutputService(db, CLERK, today=TODAY)
    batch = svc.render_case_outputs(case.id)
    docs = list(batch)
    assert batch.case.version == case.version + 1
    kinds = [(d.kind, d.form_id) for d in docs]
    assert ("form", "juki_idou") in kinds and ("form", "kouki") in kinds and kinds[-1] == ("guide", "guide")
    texts = {d.output_id: _text(d.pdf) for d in docs}
    juki = next(d for d in docs if d.form_id == "juki_idou")
    t = texts[juki.output_id]
    for expected in ("住民異動届", "𠮷田太郎", "𠮷田花子", "ヨシダタロウ", "昭和25年3月15日", "昭和30年7月7日",
                     "世帯主", "妻", "北海道深川市二条7番3号", "北海道深川市稲穂町1丁目2番3号", "令和8年11月22日",
                     batch.case.case_no, "田中窓口"):
        assert expected in t, expected
    assert "同一世帯" in t  # the visitor (妻) notified for her household
    assert t.count("北海道深川市二条7番3号") == 2  # 新住所 and the notifier's address
    # per-person forms carry the person's own data
    kaigo = [d for d in docs if d.form_id == "kaigo"]
    assert [d.title.split("　", 1)[1] for d in kaigo] == ["𠮷田　太郎", "𠮷田　花子"]
    assert "昭和30年7月7日" in texts[kaigo[1].output_id]
    # the guide: what, where (課・窓口・階), what to bring, by when
    guide = texts[docs[-1].output_id]
    for expected in ("お手続きのご案内", "𠮷田太郎様", "後期高齢者医療", "保険医療課", "1階", "6番窓口",
                     "お持ちいただくもの", "期限", "14日以内"):
        assert expected in guide, expected
    assert all(d.pages >= 1 for d in docs)
    # recorded: one row per document (sha256 of what was rendered), one case event, one audit event
    with db.session() as s:
        rows = s.execute(select(OutputRow).where(OutputRow.case_id == case.id).order_by(OutputRow.id)).scalars().all()
        assert [(r.id, r.kind, r.title, r.state) for r in rows] == [(d.output_id, d.kind, d.title, "rendered")
                                                                     for d in docs]
        assert [r.sha256 for r in rows] == [hashlib.sha256(d.pdf).hexdigest() for d in docs]
        ev = s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                               CaseEvent.kind == "output")).scalars().all()
        assert len(ev) == 1 and ev[0].summary.startswith("帳票を作成（申請書")
        assert s.execute(select(AuditEvent).where(AuditEvent.action == "case.output")).scalars().all()


def test_only_selected_procedures_print(db):
    case = _open_move(db, ["500001", "500002"], "H500", "7番3号")
    procs = ProcedureService(db, CLERK)
    listing = procs.remove(case.id, case.version, "kouki.juusho_henko", "500001", "本人が後日来庁")
    batch = OutputService(db, CLERK, today=TODAY).render_case_outputs(case.id)
    assert "kouki" not in [d.form_id for d in batch]
    assert "後期高齢者医療" not in _text(batch[-1].pdf)
    assert batch.case.version == listing.case.version + 1


def test_restricted_address_prints_only_when_unmasked_in_this_case(db):
    case = _open_move(db, ["600001"], "H600", "9番1号")
    svc = OutputService(db, CLERK, today=TODAY)
    batch = svc.render_case_outputs(case.id)
    assert batch.hidden == (("600001", "石狩　静香"),)
    juki = next(d for d in batch if d.form_id == "juki_idou")
    t = _text(juki.pdf)
    assert "石狩静香" in t and MASK.replace("　", "") in t
    assert "二条9番1号" not in t and "一条3番12号" not in t
    for d in batch:
        assert "二条9番1号" not in _text(d.pdf) and "一条3番12号" not in _text(d.pdf)
    # a counter clerk may not unmask
    with pytest.raises(PermissionDenied):
        svc.unmask_for_case(case.id, batch.case.version, "600001", "本人の申出")
    # the 支援措置担当 takes the case over and unmasks it for this case, with a reason
    support = OutputService(db, SUPPORT, today=TODAY)
    taken = CaseService(db, SUPPORT).take_over(case.id)
    with pytest.raises(InputError, match="理由"):
        support.unmask_for_case(case.id, taken.version, "600001", "  ")
    with pytest.raises(InputError, match="この対応の異動にいません"):
        support.unmask_for_case(case.id, taken.version, "500001", "確認")
    info = support.unmask_for_case(case.id, taken.version, "600001", "本人が窓口で申出、住所記載を確認")
    assert info.version == taken.version + 1
    with db.session() as s:
        assert s.get(CaseRow, case.id).unmasked == ["600001"]
        audit = s.execute(select(AuditEvent).where(AuditEvent.action == "person.unmask")).scalars().all()
        assert [a.object_id for a in audit] == ["600001"] and "本人が窓口で申出、住所記載を確認" in audit[0].detail
        assert s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "output",
                                                 CaseEvent.summary.like("%600001%"))).scalar_one()
    unmasked = support.render_case_outputs(case.id)
    assert unmasked.hidden == ()
    t = _text(next(d for d in unmasked if d.form_id == "juki_idou").pdf)
    assert "北海道深川市二条9番1号" in t and "北海道深川市一条3番12号" in t and MASK not in t
    # the guide never prints an address
    assert "二条" not in _text(unmasked[-1].pdf)
    # another case of the same person is masked again
    other = _open_move(db, ["600001"], "H600", "7番3号", actor=SUPPORT)
    again = support.render_case_outputs(other.id)
    assert "二条7番3号" not in _text(next(d for d in again if d.form_id == "juki_idou").pdf)


@pytest.mark.parametrize("mode,mark", [("training", "研修"), ("demo", "見本"), ("production", None)])
def test_watermark_on_every_page(db, mode, mark):
    actor = Actor("tanaka", "田中　窓口", terminal="T01", counter_no="1", permissions=CLERK_RIGHTS,
                  training=mode == "training", demo=mode == "demo")
    case = _open_move(db, ["500001", "500002"], "H500", "7番3号", actor=actor)
    for d in OutputService(db, actor, today=TODAY).render_case_outputs(case.id):
        pages = [p.extract_text() or "" for p in PdfReader(io.BytesIO(d.pdf)).pages]
        for page in pages:
            if mark:
                assert mark in page, d.title
            else:
                assert "研修" not in page and "見本" not in page


def test_failed_print_is_marked_and_can_be_retried(db):
    case = _open_move(db, ["500001", "500002"], "H500", "7番3号")
    svc = OutputService(db, CLERK, today=TODAY)
    batch = svc.render_case_outputs(case.id)
    ids = [d.output_id for d in batch]
    with db.session() as s:
        move_before = s.execute(select(MoveEntryRow.data).where(MoveEntryRow.case_id == case.id)).scalar_one()
        procs_before = sorted((r.procedure_id, r.subject, r.progress, r.selected) for r in s.execute(
            select(SelectedProcedure).where(SelectedProcedure.case_id == case.id)).scalars())
    failed = svc.mark_failed(case.id, batch.case.version, ids[:2], "プリンタ「窓口1」が見つかりません。")
    assert failed.version == batch.case.version + 1
    states = {r.output_id: (r.state, r.message) for r in svc.outputs(case.id)}
    assert states[ids[0]] == ("failed", "プリンタ「窓口1」が見つかりません。") and states[ids[2]][0] == "rendered"
    with pytest.raises(StaleWrite):
        svc.mark_printed(case.id, batch.case.version, ids[:2])
    with pytest.raises(InputError, match="この対応にない帳票"):
        svc.mark_printed(case.id, failed.version, [ids[0], 999999])
    printed = svc.mark_printed(case.id, failed.version, ids, printer="窓口2")
    assert {r.state for r in svc.outputs(case.id)} == {"printed"}
    assert {r.state_label for r in svc.outputs(case.id)} == {"印刷済み"}
    summaries = [e.summary for e in CaseService(db, CLERK).timeline(case.id) if e.kind == "output"]
    assert summaries[1].startswith("印刷失敗") and "見つかりません" in summaries[1]
    assert summaries[2].startswith("印刷（窓口2）")
    assert printed.version == failed.version + 1
    with db.session() as s:  # printing changed nothing else of the case
        assert s.execute(select(MoveEntryRow.data).where(MoveEntryRow.case_id == case.id)).scalar_one() == move_before
        assert sorted((r.procedure_id, r.subject, r.progress, r.selected) for r in s.execute(
            select(SelectedProcedure).where(SelectedProcedure.case_id == case.id)).scalars()) == procs_before


def test_another_terminal_cannot_record_outputs(db):
    case = _open_move(db, ["500001", "500002"], "H500", "7番3号")
    other = Actor("sato", "佐藤　窓口", terminal="T07", permissions=CLERK_RIGHTS)
    with pytest.raises(StaleWrite):
        OutputService(db, other, today=TODAY).render_case_outputs(case.id)
    with db.session() as s:
        assert not s.execute(select(OutputRow).where(OutputRow.case_id == case.id)).scalars().all()


def test_case_without_move_has_nothing_to_print(db):
    case = CaseService(db, CLERK).open_case(purpose="住民票")
    batch = OutputService(db, CLERK, today=TODAY).render_case_outputs(case.id)
    assert len(batch) == 0 and "異動" in batch.message and batch.case.version == case.version


def test_case_runner_writes_the_pdfs(sqlite_db, tmp_path):
    spec = case_runner.load_case_file(CASES / "tenkyo.yaml")
    case_runner.seed_fixture(sqlite_db, spec)
    out = tmp_path / "out"
    summary = case_runner.run_case(sqlite_db, spec, out, demo=True)
    files = summary["outputs"]["outputs"]["files"]
    assert [f["form_id"] for f in files][0] == "juki_idou" and files[-1]["form_id"] == "guide"
    for f in files:
        pdf = (out / f["file"]).read_bytes()
        assert hashlib.sha256(pdf).hexdigest() == f["sha256"]
        assert "見本" in _text(pdf)
    assert "納内健一" in _text((out / files[0]["file"]).read_bytes())
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["outputs"]["outputs"]["count"] == len(files)
