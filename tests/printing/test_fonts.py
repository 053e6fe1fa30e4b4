"""Font fallback: non-BMP characters go to 花園明朝B, everything else stays in BIZ UD."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from madoguchi.printing import fonts

ROOT = Path(__file__).resolve().parents[2]


def test_runs_send_only_missing_characters_to_the_fallback():
    assert list(fonts.runs("𠮷田 太郎", "gothic")) == [("fallback", "𠮷"), ("gothic", "田 太郎")]
    # 𡈽 (JIS X 0213) exists in BIZ UD: no fallback needed.
    assert list(fonts.runs("𡈽屋", "mincho")) == [("mincho", "𡈽屋")]
    assert list(fonts.runs("ABC123", "gothic_bold")) == [("gothic_bold", "ABC123")]


def test_variation_selectors_are_dropped_but_the_base_character_kept():
    assert list(fonts.runs("葛\U000E0100城", "mincho")) == [("mincho", "葛城")]


def test_width_counts_fallback_characters():
    assert fonts.string_width("𠮷", "gothic", 10) > 5
    assert fonts.string_width("𠮷田", "gothic", 10) > fonts.string_width("田", "gothic", 10)


def test_pdf_embeds_subsets_and_extracts_non_bmp_names():
    buf = io.BytesIO()
    c = Canvas(buf)
    fonts.draw_string(c, 50, 700, "𠮷田 太郎・𡈽屋 キヨ・髙﨑", "mincho", 12)
    c.showPage()
    c.save()
    pdf = buf.getvalue()
    reader = PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert "𠮷田 太郎・𡈽屋 キヨ・髙﨑" in text
    names = {str(f.get_object()["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"].values()}
    assert any(n.endswith("+HanaMinB") for n in names), names  # a subset (AAAAAA+), embedded
    assert any(n.endswith("+BIZUDMincho-Regular") for n in names), names
    assert len(pdf) < 200_000  # subsets, not the 30 MB font


def test_fallback_font_is_loaded_only_when_needed():
    code = (
        "from reportlab.pdfbase import pdfmetrics\n"
        "from madoguchi.printing import fonts\n"
        "fonts.string_width('田中 太郎', 'gothic', 10)\n"
        "print('MadoguchiHanaMinB' in pdfmetrics.getRegisteredFontNames())\n"
        "fonts.string_width('𠮷', 'gothic', 10)\n"
        "print('MadoguchiHanaMinB' in pdfmetrics.getRegisteredFontNames())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "src")})
    assert out.stdout.split() == ["False", "True"]


def test_font_files_and_licences_are_shipped():
    d = ROOT / "resources" / "fonts"
    for name in ("BIZUDGothic-Regular.ttf", "BIZUDGothic-Bold.ttf", "BIZUDMincho-Regular.ttf", "HanaMinB.ttf"):
        assert (d / name).stat().st_size > 1_000_000
    for lic in ("LICENSE-BIZUDGothic.txt", "LICENSE-BIZUDMincho.txt", "LICENSE-HanaMinB.txt"):
        assert "Open Font License" in (d / lic).read_text(encoding="utf-8")
    assert "HanaMinB.ttf" in (d / "README.md").read_text(encoding="utf-8")


def test_doctests():
    import doctest

    assert doctest.testmod(fonts).failed == 0
