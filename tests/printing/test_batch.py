"""F9: a household's batch of forms from the selected procedures."""

from __future__ import annotations

from datetime import date

from madoguchi.domain.moves import MoveMember, Placement
from madoguchi.printing import samples
from madoguchi.printing.batch import FormRequest, plan_batch, render_batch
from printing_pdf import pdf_text, pdf_pages  # noqa: F401 - fixtures


def _hh():
    hh = samples.sample_household()
    return hh, samples.sample_move(hh)


def test_household_form_printed_once_for_everyone_concerned():
    hh, move = _hh()
    jobs = plan_batch([FormRequest("kokuho_idou", ("000000101",), "国民健康保険 加入届"),
                       FormRequest("kokuho_idou", ("000000102", "000000101"), "国民健康保険 加入届"),
                       FormRequest("juki_idou", ())], samples.sample_case(), household=hh, move=move)
    assert [j.template.id for j in jobs] == ["kokuho_idou", "juki_idou"]
    assert [m["name"] for m in jobs[0].context["subjects"]] == ["𠮷田 太郎", "𠮷田 花子"]
    assert len(jobs[1].context["subjects"]) == 5  # no subjects named: everyone


def test_per_person_forms_and_generic_per_procedure(pdf_pages):
    hh, move = _hh()
    requests = [
        FormRequest("inkan_touroku", ("000000101", "000000102"), "印鑑登録"),
        FormRequest("generic", ("000000101",), "水道の使用開始", "上下水道課", "緑町12番3号での使用開始"),
        FormRequest("generic", ("000000101",), "ごみカレンダーの受け取り", "環境課"),
        FormRequest("inkan_touroku", ("000000102",), "印鑑登録"),
    ]
    jobs = plan_batch(requests, samples.sample_case(), household=hh, move=move)
    assert [(j.template.id, j.context["person.name"]) for j in jobs] == [
        ("inkan_touroku", "𠮷田 太郎"), ("inkan_touroku", "𠮷田 花子"),
        ("generic", "𠮷田 太郎"), ("generic", "𠮷田 太郎")]
    pages = pdf_pages(render_batch(requests, samples.sample_case(), household=hh, move=move))
    assert len(pages) == 4
    assert "水道の使用開始" in pages[2] and "上下水道課" in pages[2]
    assert "ごみカレンダーの受け取り" in pages[3]


def test_new_arrival_without_resident_record_gets_a_form():
    hh, move = _hh()
    move.members["new-1"] = MoveMember("new-1", "𠮷田 みのる", "ヨシダ ミノル", date(1950, 1, 2), "1")
    move.after[0].placements.append(Placement("new-1", "父"))
    jobs = plan_batch([FormRequest("kaigo", ("new-1",), "介護保険 転入")], samples.sample_case(),
                      household=hh, move=move)
    ctx = jobs[0].context
    assert ctx["person.name"] == "𠮷田 みのる"
    assert ctx["person.relationship"] == "父"
    assert ctx["person.address"].startswith("北海道深川市緑町12番3号")


def test_batch_masks_a_protected_household(pdf_text):
    hh = samples.sample_household(restricted=True)
    text = pdf_text(render_batch([FormRequest("juki_idou"), FormRequest("inkan_touroku", ("000000102",))],
                                 samples.sample_case(), household=hh, move=samples.sample_move(hh)))
    assert "緑町" not in text
    assert "（支援措置により非表示）" in text
