"""Every shipped form template renders the sample household's data, and the template format is strict."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from madoguchi.domain.people import Person
from madoguchi.printing import samples
from madoguchi.printing.context import build_context
from madoguchi.printing.render import FormJob, render_form, render_forms
from madoguchi.printing.template import TemplateError, available_templates, load_template, parse_template
from printing_pdf import pdf_text, pdf_pages  # noqa: F401 - fixtures

FORMS = ["juki_idou", "inkan_touroku", "mynumber_kenmen", "kokuho_idou", "nenkin", "kouki", "kaigo",
         "jidou_teate", "kodomo_iryou", "tennyugaku", "inu", "generic", "koufu_seikyu"]

# What each form must show for the sample household (beyond the common header).
EXPECTED = {
    "juki_idou": ["住民異動届", "𠮷田太郎", "𠮷田花子", "𡈽屋キヨ", "昭和55年12月26日", "令和7年11月20日",
                  "北海道深川市緑町12番3号", "北海道札幌市中央区北一条西2丁目1番地", "〒074-0002", "妻の母"],
    "inkan_touroku": ["印鑑登録申請書", "𠮷田花子", "ヨシダハナコ", "昭和59年4月1日", "𡈽屋", "即日登録"],
    "mynumber_kenmen": ["券面事項変更届", "𠮷田太郎", "令和12年12月26日", "グリーンハイツ201号室", "転入"],
    "kokuho_idou": ["国民健康保険", "𠮷田太郎", "全国健康保険協会", "令和7年11月20日", "𠮷田さくら"],
    "nenkin": ["国民年金", "被保険者関係届書", "𠮷田太郎", "昭和55年12月26日"],
    "kouki": ["後期高齢者医療", "𡈽屋キヨ", "昭和24年9月9日", "76歳", "妻の母"],
    "kaigo": ["介護保険", "𡈽屋キヨ", "76歳", "北海道深川市緑町12番3号"],
    "jidou_teate": ["児童手当", "𠮷田一郎", "𠮷田さくら", "平成27年6月15日", "令和6年3月3日", "小学校4年",
                    "北海道銀行深川支店"],
    "kodomo_iryou": ["子ども医療費", "𠮷田一郎", "𠮷田さくら", "𠮷田太郎"],
    "tennyugaku": ["転入学通知書", "𠮷田一郎", "小学校4年", "深川小学校"],
    "inu": ["犬の登録事項変更届", "ポチ", "柴犬", "第R3-0123号", "北海道札幌市中央区北一条西2丁目1番地"],
    "generic": ["住所変更届（各種）", "申請書", "𠮷田太郎"],
}


def test_all_required_templates_are_shipped():
    assert set(FORMS) <= set(available_templates())


@pytest.mark.parametrize("template_id", sorted(EXPECTED))
def test_template_renders_sample_data(template_id, pdf_text):
    text = pdf_text(render_form(template_id, samples.template_sample_context(template_id)))
    for common in ("深川市長様", "令和7年11月25日", "R7-001234", "受付"):
        assert common in text, common
    for expected in EXPECTED[template_id]:
        assert expected in text, f"{template_id}: {expected}"


def test_every_template_loads_strictly():
    for tid in available_templates():
        t = load_template(tid)
        assert t.page_w == 210 and t.page_h == 297
        assert t.title


def _template(elements, **top):
    return parse_template({"id": "t", "title": "テスト", "elements": elements, **top}, base=Path("."))


def test_unknown_key_is_an_error():
    with pytest.raises(TemplateError, match="不明なキー colour"):
        _template([{"type": "text", "x": 1, "y": 1, "text": "a", "colour": 0}])
    with pytest.raises(TemplateError, match="不明な要素"):
        _template([{"type": "circle", "x": 1}])


def test_yaml_boolean_bind_is_explained():
    with pytest.raises(TemplateError, match="引用符"):
        _template([{"type": "text", "x": 1, "y": 1, "bind": False}])


def test_check_marks_follow_booleans(pdf_text):
    t = _template([
        {"type": "check", "x": 10, "y": 10, "bind": "a", "label": "はい"},
        {"type": "check", "x": 10, "y": 20, "bind": "b", "label": "いいえ"},
        {"type": "check", "x": 10, "y": 30, "bind": "kind", "equals": "move_in", "label": "転入"},
    ])
    assert pdf_text(render_form(t, {"a": True, "b": False, "kind": "move_in"})).count("✓") == 2
    assert pdf_text(render_form(t, {"a": False, "b": False, "kind": "move_out"})).count("✓") == 0


def test_long_text_shrinks_into_its_box_and_wraps_when_asked(pdf_text):
    long = "北海道深川市緑町十二番三号グリーンハイツ二〇一号室（ながいながい方書の例）"
    t = _template([
        {"type": "text", "x": 10, "y": 10, "w": 40, "h": 8, "bind": "a", "size": 12},
        {"type": "text", "x": 10, "y": 30, "w": 40, "h": 30, "bind": "a", "size": 12, "wrap": True},
    ])
    assert pdf_text(render_form(t, {"a": long})).count(long) == 2


def test_member_table_continues_on_a_second_page(pdf_pages):
    hh = samples.sample_household()
    extra = [Person(f"0000002{i:02d}", f"深川 {i}郎", "フカガワ", date(2000, 1, i + 1), "1",
                            "H0001", "同居人") for i in range(4)]
    hh.members.extend(extra)
    ctx = build_context(samples.sample_case(), household=hh, move=samples.sample_move(hh))
    pages = pdf_pages(render_form("juki_idou", ctx))
    assert len(pages) == 2
    joined = "".join(pages).replace("\n", "")
    for p in hh.members:
        assert p.name in joined, p.name
    assert "1／2" in pages[0] and "2／2" in pages[1]


def test_batch_renders_several_forms_into_one_pdf(pdf_pages):
    jobs = [FormJob(t, samples.template_sample_context(t)) for t in ("juki_idou", "kokuho_idou", "inkan_touroku")]
    pages = pdf_pages(render_forms(jobs))
    assert len(pages) == 3
    assert "印鑑登録申請書" in pages[2].replace(" ", "")


def test_background_pdf_of_the_citys_own_form(tmp_path, pdf_pages):
    bg = tmp_path / "scan.pdf"
    c = Canvas(str(bg), pagesize=(595.27, 841.89))
    c.drawString(100, 800, "CITY-SCANNED-FORM")
    c.showPage()
    c.save()
    (tmp_path / "own.yaml").write_text(
        "id: own\ntitle: 独自様式\nbackground: scan.pdf\nelements:\n"
        "  - {type: text, x: 30, y: 60, bind: person.name, size: 12}\n", encoding="utf-8")
    pdf = render_form("own", samples.sample_context(), templates_directory=tmp_path)
    pages = pdf_pages(pdf)
    assert len(pages) == 1
    assert "CITY-SCANNED-FORM" in pages[0]
    assert "𠮷田 太郎" in pages[0]
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_missing_background_is_a_template_error(tmp_path):
    (tmp_path / "own.yaml").write_text("id: own\ntitle: 独自様式\nbackground: nothere.pdf\nelements: []\n",
                                       encoding="utf-8")
    with pytest.raises(TemplateError, match="背景PDF"):
        load_template("own", tmp_path)


def test_missing_template_is_a_known_error():
    with pytest.raises(TemplateError, match="ありません"):
        load_template("no_such_form")


def test_every_form_named_by_a_procedure_definition_has_a_template():
    import yaml

    from madoguchi.resources import forms_path

    named: set[str] = set()
    for path in forms_path("procedures").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for proc in data.get("procedures") or []:
            named.update(proc.get("forms") or [])
    assert named, "no procedure definitions found"
    assert named <= set(available_templates()), sorted(named - set(available_templates()))


def test_check_labels_that_do_not_fit_fail_loudly():
    t = _template([{"type": "grid", "x": 10, "y": 10, "w": 30, "rows": [
        {"h": 8, "cells": [{"checks": [{"label": "とても長いチェック欄の文字", "bind": "a"}]}]}]}])
    with pytest.raises(TemplateError, match="収まりません"):
        render_form(t, {"a": True})
