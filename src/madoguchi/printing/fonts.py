"""Japanese fonts for printed forms, registered with reportlab on first use.

BIZ UD fonts cover JIS X 0208/0213 (髙, 﨑, 𡈽 …) but not CJK Extension B characters such as
𠮷 (U+20BB7); those fall back to 花園明朝B, which is large (30 MB) and so is loaded only when a
text actually needs it. reportlab embeds subsets of TrueType fonts, so a PDF shows the same
glyphs on any PC.

>>> [(style, part) for style, part in runs("𠮷田", "mincho")]
[('fallback', '𠮷'), ('mincho', '田')]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import lru_cache

from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont

from ..resources import resource_path

# style -> (reportlab font name, file in resources/fonts)
FONT_FILES: dict[str, tuple[str, str]] = {
    "gothic": ("MadoguchiGothic", "BIZUDGothic-Regular.ttf"),
    "gothic_bold": ("MadoguchiGothicBold", "BIZUDGothic-Bold.ttf"),
    "mincho": ("MadoguchiMincho", "BIZUDMincho-Regular.ttf"),
    "fallback": ("MadoguchiHanaMinB", "HanaMinB.ttf"),
}
STYLES = ("gothic", "gothic_bold", "mincho")
FALLBACK = "fallback"

_lock = threading.Lock()


def _is_variation_selector(cp: int) -> bool:
    # IVS/SVS selectors: reportlab cannot shape them; the base character is drawn as is.
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode CMap, but writing non-BMP code points as UTF-16 surrogate pairs.

    reportlab 4/5 writes U+20BB7 as <20BB7> (odd-length, invalid), so PDF viewers and text
    extraction lose 𠮷 and 𡈽; the PDF spec wants UTF-16BE (<D842DFB7>).
    """
    def utf16(cp: int) -> str:
        return chr(cp).encode("utf-16-be", "surrogatepass").hex().upper()

    lines = [
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap", "/CIDSystemInfo",
        f"<< /Registry ({fontname})", f"/Ordering ({fontname})", "/Supplement 0", ">> def",
        f"/CMapName /{fontname} def", "/CMapType 2 def", "1 begincodespacerange",
        "<00> <%02X>" % (len(subset) - 1), "endcodespacerange", "%d beginbfchar" % len(subset),
        *("<%02X> <%s>" % (i, utf16(v)) for i, v in enumerate(subset)),
        "endbfchar", "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end",
    ]
    return "\n".join(lines)


@lru_cache(maxsize=None)
def _font(style: str) -> TTFont:
    if style not in FONT_FILES:
        raise ValueError(f"unknown font style {style!r}; use one of {', '.join(FONT_FILES)}")
    name, filename = FONT_FILES[style]
    with _lock:
        ttfonts.makeToUnicodeCMap = _to_unicode_cmap  # see _to_unicode_cmap; same output for BMP text
        try:
            return pdfmetrics.getFont(name)  # type: ignore[return-value]
        except KeyError:
            font = TTFont(name, str(resource_path("fonts", filename)))
            pdfmetrics.registerFont(font)
            return font


def font_name(style: str) -> str:
    """The reportlab name of a style's font, registering it on first use."""
    return _font(style).fontName


@lru_cache(maxsize=None)
def _cmap(style: str) -> frozenset[int]:
    return frozenset(_font(style).face.charToGlyph)


def has_glyph(style: str, ch: str) -> bool:
    return ord(ch) in _cmap(style)


def _style_for(ch: str, style: str) -> str:
    cp = ord(ch)
    if cp < 0x80:  # ASCII is in every BIZ UD font
        return style
    if cp in _cmap(style):
        return style
    if cp > 0xFFFF or not any(cp in _cmap(s) for s in STYLES):
        # Only now pay for loading 花園明朝B.
        if cp in _cmap(FALLBACK):
            return FALLBACK
    return style


def runs(text: str, style: str) -> Iterator[tuple[str, str]]:
    """Split text into (style, substring) runs so each run's characters exist in its font."""
    current: str | None = None
    buf: list[str] = []
    for ch in text:
        if _is_variation_selector(ord(ch)):
            continue
        s = _style_for(ch, style)
        if s != current and buf:
            yield current, "".join(buf)  # type: ignore[misc]
            buf = []
        current = s
        buf.append(ch)
    if buf:
        yield current, "".join(buf)  # type: ignore[misc]


def string_width(text: str, style: str, size: float) -> float:
    """Width in points of text drawn at size, counting fallback runs in their own font."""
    return sum(pdfmetrics.stringWidth(part, font_name(s), size) for s, part in runs(text, style))


def draw_string(canvas, x: float, y: float, text: str, style: str, size: float) -> float:
    """Draw text starting at (x, y) baseline, switching fonts per run. Returns the end x."""
    # One text object for all runs: viewers and text extraction keep 𠮷田 as one word.
    t = canvas.beginText(x, y)
    for s, part in runs(text, style):
        name = font_name(s)
        t.setFont(name, size)
        t.textOut(part)
        x += pdfmetrics.stringWidth(part, name, size)
    canvas.drawText(t)
    return x
