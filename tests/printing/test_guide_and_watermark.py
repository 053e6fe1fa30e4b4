"""手続き案内書 (F10) and the 研修/見本 watermarks."""

from __future__ import annotations

from datetime import date

import pytest

from madoguchi.printing import samples
from madoguchi.printing.guide import GuideHousehold, GuideItem, render_guide
from madoguchi.printing.render import (
    DEMO_WATERMARK,
    TRAINING_WATERMARK,
    FormJob,
    render_forms,
    watermark_for,
)
from printing_pdf import pdf_text, pdf_pages  # noqa: F401 - fixtures


def test_guide_lists_where_what_and_until_when(pdf_text):
    text = pdf_text(samples.render_guide_sample())
    for s in ("お手続きのご案内", "𠮷田太郎様", "国民健康保険の加入", "保険医療課国保係1階7番窓口",
              "前住所地の資格喪失の証明", "令和7年12月4日まで", "令和8年2月23日まで", "暗証番号（数字4桁）",
              "転入前に国民健康保険に加入していたため", "𡈽屋キヨ", "犬の登録変更", "作成日令和7年11月25日"):
        assert s in text, s


def test_guide_never_prints_addresses(pdf_text):
    ctx = samples.sample_context(restricted=True)
    text = pdf_text(render_guide(ctx, [GuideHousehold("𠮷田 太郎", samples.sample_guide_items())]))
    assert "緑町" not in text and "札幌" not in text


def test_long_guide_continues_and_each_household_starts_a_page(pdf_pages):
    items = [GuideItem(f"手続き{i}", "市民課", documents=("本人確認書類",), resident_text="説明" * 40,
                       deadline=date(2025, 12, 1)) for i in range(1, 16)]
    pages = pdf_pages(render_guide(samples.sample_context(), [GuideHousehold("𠮷田 太郎", items),
                                                              GuideHousehold("𡈽屋 キヨ", items[:1])]))
    assert len(pages) >= 3
    joined = "".join(pages).replace("\n", "")
    for i in range(1, 16):
        assert f"手続き{i}" in joined
    assert "続き" in pages[1]
    assert "𡈽屋 キヨ" in pages[-1] and "手続き2" not in pages[-1].replace("\n", "")


def test_empty_guide_says_all_done(pdf_text):
    assert "すべて終わりました" in pdf_text(render_guide(samples.sample_context(), [GuideHousehold("𠮷田 太郎")]))


def test_watermark_modes():
    assert watermark_for("training") == "研修"
    assert watermark_for("demo") == "見本"
    assert watermark_for("production") is None


@pytest.mark.parametrize("mark", [TRAINING_WATERMARK, DEMO_WATERMARK])
def test_watermark_on_every_page(mark, pdf_pages):
    jobs = [FormJob(t, samples.template_sample_context(t)) for t in ("juki_idou", "inkan_touroku", "generic")]
    pages = pdf_pages(render_forms(jobs, watermark=mark))
    assert len(pages) == 3
    for page in pages:
        assert mark in page
    guide = pdf_pages(render_guide(samples.sample_context(), [GuideHousehold("𠮷田 太郎",
                                                                             samples.sample_guide_items())],
                                   watermark=mark))
    assert all(mark in p for p in guide)


def test_no_watermark_in_production(pdf_text):
    text = pdf_text(render_forms([FormJob("juki_idou", samples.template_sample_context("juki_idou"))]))
    assert "研修" not in text and "見本" not in text
