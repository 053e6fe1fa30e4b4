"""Render form templates with a context into PDF bytes (reportlab; no Qt).

Coordinates in templates are millimetres from the page's top-left corner. A table bound to a
list (``source: members``) that holds more items than it has rows continues on further pages,
so no member is ever dropped from a form. Training and demo outputs carry a watermark on every
page (「研修」/「見本」).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PdfReader, PdfWriter
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from . import fonts
from .template import FormTemplate, TemplateError, load_template

TRAINING_WATERMARK = "研修"
DEMO_WATERMARK = "見本"
PT_TO_MM = 25.4 / 72
CHECK_MARK = "✓"

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")


def watermark_for(mode: str) -> str | None:
    """The watermark a run mode prints: training → 研修, demo → 見本, production → none."""
    return {"training": TRAINING_WATERMARK, "demo": DEMO_WATERMARK}.get(mode)


# --- context lookup --------------------------------------------------------------------------

_MISSING = object()


def lookup(ctx: Mapping[str, Any], path: str, item: Mapping[str, Any] | None = None) -> Any:
    """Resolve a dotted path: first in the list item (table row), then flat keys, then nesting."""
    for scope in (item, ctx):
        if scope is None:
            continue
        if path in scope:
            return scope[path]
        cur: Any = scope
        for part in path.split("."):
            if isinstance(cur, Mapping) and part in cur:
                cur = cur[part]
            elif isinstance(cur, Sequence) and not isinstance(cur, str) and part.isdigit() \
                    and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                cur = _MISSING
                break
        if cur is not _MISSING:
            return cur
    return None


def display(value: Any) -> str:
    if value is None or value is False or value is True:
        return ""  # booleans are shown by check boxes, not as text
    return str(value)


def _text_of(spec: Mapping[str, Any], ctx: Mapping[str, Any], item: Mapping[str, Any] | None) -> str:
    if "bind" in spec:
        return display(lookup(ctx, spec["bind"], item))
    if "value" in spec:
        return _PLACEHOLDER.sub(lambda m: display(lookup(ctx, m[1], item)), str(spec["value"]))
    return str(spec.get("text", ""))


def _truthy(ctx: Mapping[str, Any], spec: Mapping[str, Any], item: Mapping[str, Any] | None = None) -> bool:
    value = lookup(ctx, spec["bind"], item)
    if "equals" in spec:
        expected = spec["equals"]
        if isinstance(expected, list):
            return value in expected
        return value == expected
    return bool(value)


def _visible(el: Mapping[str, Any], ctx: Mapping[str, Any]) -> bool:
    cond = el.get("when")
    if cond is None:
        return True
    if cond.startswith("!"):
        return not lookup(ctx, cond[1:])
    return bool(lookup(ctx, cond))


# --- drawing primitives ----------------------------------------------------------------------


class Painter:
    def __init__(self, canvas: Canvas, page_h: float, default_font: str) -> None:
        self.c = canvas
        self.page_h = page_h
        self.font = default_font

    def Y(self, y_mm: float) -> float:  # noqa: N802 - a coordinate transform
        return (self.page_h - y_mm) * mm

    def line(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.5,
             dash: Sequence[float] | None = None) -> None:
        c = self.c
        c.setLineWidth(width)
        c.setDash(*(dash or []))
        c.line(x1 * mm, self.Y(y1), x2 * mm, self.Y(y2))
        c.setDash()

    def rect(self, x: float, y: float, w: float, h: float, width: float = 0.5, fill: float | None = None,
             stroke: bool = True, dash: Sequence[float] | None = None, rounded: float = 0) -> None:
        c = self.c
        c.setLineWidth(width)
        c.setDash(*(dash or []))
        if fill is not None:
            c.setFillGray(fill)
        if rounded:
            c.roundRect(x * mm, self.Y(y + h), w * mm, h * mm, rounded * mm,
                        stroke=int(stroke), fill=int(fill is not None))
        else:
            c.rect(x * mm, self.Y(y + h), w * mm, h * mm, stroke=int(stroke), fill=int(fill is not None))
        c.setFillGray(0)
        c.setDash()

    def text(self, x: float, y: float, w: float | None, h: float | None, text: str, *,
             font: str | None = None, size: float = 10, align: str = "left", valign: str = "middle",
             fit: bool = True, min_size: float = 5, wrap: bool = False, color: float = 0,
             pad: float = 1.2) -> None:
        """Draw text into the box (x, y, w, h); shrink to fit, wrap by character if asked."""
        if not text:
            return
        style = font or self.font
        inner_w = (w - 2 * pad) if w else None
        lines = text.split("\n")
        if inner_w and inner_w > 0:
            lines, size = _fit_lines(lines, style, size, inner_w, h, min_size, fit, wrap)
        line_h = size * PT_TO_MM * 1.3
        total = line_h * len(lines)
        if h is None:
            top = y
        elif valign == "top":
            top = y + pad * 0.6
        elif valign == "bottom":
            top = y + h - total - pad * 0.4
        else:
            top = y + (h - total) / 2
        self.c.setFillGray(color)
        for i, line in enumerate(lines):
            if h is None:  # y is the top of the first line
                baseline = top + line_h * i + size * PT_TO_MM * 0.88
            else:
                baseline = top + line_h * i + line_h / 2 + size * PT_TO_MM * 0.36
            lw = fonts.string_width(line, style, size) / mm
            if align == "center" and w:
                lx = x + (w - lw) / 2
            elif align == "right" and w:
                lx = x + w - pad - lw
            elif align == "distribute" and w and len(line) > 1:
                # 均等割り: spread characters over the box, as printed labels do.
                step = (w - 2 * pad - fonts.string_width(line, style, size) / mm) / (len(line) - 1)
                cx = x + pad
                for ch in line:
                    fonts.draw_string(self.c, cx * mm, self.Y(baseline), ch, style, size)
                    cx += fonts.string_width(ch, style, size) / mm + step
                continue
            else:
                lx = x + pad
            fonts.draw_string(self.c, lx * mm, self.Y(baseline), line, style, size)
        self.c.setFillGray(0)

    def vertical_text(self, x: float, y: float, w: float, h: float, text: str, *, font: str | None = None,
                      size: float = 9) -> None:
        """縦書き label: one character per line, centred in the box, spread over its height."""
        style = font or self.font
        chars = [ch for ch in text if ch not in "\n "]
        if not chars:
            return
        step = min(h / len(chars), size * PT_TO_MM * 1.6)
        top = y + (h - step * len(chars)) / 2
        for i, ch in enumerate(chars):
            self.text(x, top + i * step, w, step, ch, font=style, size=size, align="center", pad=0)

    def checkbox(self, x: float, y: float, box: float, checked: bool) -> None:
        self.rect(x, y, box, box, width=0.6)
        if checked:
            size = box / PT_TO_MM * 1.05
            self.text(x - 0.1, y - 0.25, box, box, CHECK_MARK, font="gothic_bold", size=size,
                      align="center", pad=0, fit=False)


def _fit_lines(lines: list[str], style: str, size: float, width: float, height: float | None,
               min_size: float, fit: bool, wrap: bool) -> tuple[list[str], float]:
    def widest(ls: list[str], s: float) -> float:
        return max(fonts.string_width(ln, style, s) / mm for ln in ls)

    if not wrap:
        if fit and widest(lines, size) > width:
            size = max(min_size, size * width / widest(lines, size))
        return lines, size
    s = size
    while True:
        wrapped = [part for ln in lines for part in wrap_text(ln, style, s, width)]
        fits_h = height is None or len(wrapped) * s * PT_TO_MM * 1.3 <= height - 0.5
        if fits_h or not fit or s <= min_size:
            return wrapped, s
        s = max(min_size, s - 0.5)


_NO_LINE_START = set("、。，．）」』】〕・ー？！ぁぃぅぇぉっゃゅょァィゥェォッャュョ,.)")


def wrap_text(line: str, style: str, size: float, width: float) -> list[str]:
    out: list[str] = []
    cur = ""
    for ch in line:
        if cur and fonts.string_width(cur + ch, style, size) / mm > width and ch not in _NO_LINE_START:
            out.append(cur)
            cur = ch
        else:
            cur += ch
    out.append(cur)
    return out


# --- elements --------------------------------------------------------------------------------


def _draw_checks(p: Painter, x: float, y: float, w: float, h: float, checks: Sequence[Mapping[str, Any]],
                 ctx: Mapping[str, Any], item: Mapping[str, Any] | None, size: float) -> float:
    box = min(3.2, h - 1.0)
    cx = x + 1.2
    cy = y + (h - box) / 2
    for chk in checks:
        label = str(chk.get("label", ""))
        lw = fonts.string_width(label, p.font, size) / mm
        if cx + box + 0.6 + lw > x + w + 0.5:
            # Static labels: a template fault, found by rendering the template once (tests do).
            raise TemplateError(f"チェック欄「{label}」が枠に収まりません。枠を広げるか label_size を"
                                "小さくしてください。")
        p.checkbox(cx, cy, box, _truthy(ctx, chk, item) if "bind" in chk else False)
        p.text(cx + box + 0.6, y, None, h, label, size=size, pad=0)
        cx += box + 0.6 + lw + 2.5
    return cx


def _draw_grid(p: Painter, x: float, y: float, w: float, rows: Sequence[Mapping[str, Any]],
               ctx: Mapping[str, Any], width: float) -> float:
    cy = y
    for row in rows:
        h = float(row["h"])
        cells = list(row.get("cells") or [])
        fixed = sum(float(c["w"]) for c in cells if "w" in c)
        flex = [c for c in cells if "w" not in c]
        flex_w = (w - fixed) / len(flex) if flex else 0
        cx = x
        for cell in cells:
            cw = float(cell["w"]) if "w" in cell else flex_w
            _draw_cell(p, cx, cy, cw, h, cell, ctx, width)
            cx += cw
        cy += h
    return cy


def _draw_cell(p: Painter, x: float, y: float, w: float, h: float, cell: Mapping[str, Any],
               ctx: Mapping[str, Any], width: float) -> None:
    if "rows" in cell:
        _draw_grid(p, x, y, w, cell["rows"], ctx, width)
        return
    is_label = "label" in cell
    fill = cell.get("fill", 0.92 if is_label else None)
    if fill is not None:
        p.rect(x, y, w, h, width=0, fill=fill, stroke=False)
    if cell.get("border", True):
        p.rect(x, y, w, h, width=width)
    size = float(cell.get("size", 9.5 if is_label else 11))
    font = cell.get("font")
    if is_label:
        label = str(cell["label"])
        if cell.get("vertical"):
            p.vertical_text(x, y, w, h, label, font=font or "mincho", size=size)
        else:
            p.text(x, y, w, h, label, font=font or "mincho", size=size, align=cell.get("align", "center"),
                   valign=cell.get("valign", "middle"), wrap=cell.get("wrap", False), pad=0.8)
        return
    if "boxes" in cell:
        # 桁枠: one character per box (番号 fields), divided by thin lines.
        n = int(cell["boxes"])
        step = w / n
        for i in range(1, n):
            p.line(x + i * step, y + h * 0.35, x + i * step, y + h, width=0.3, dash=[1, 1])
        chars = _text_of(cell, ctx, None)
        for i, ch in enumerate(chars[:n]):
            p.text(x + i * step, y, step, h, ch, font=font, size=size, align="center", pad=0)
        return
    if "hint" in cell:
        hint = _text_of({"value": cell["hint"]}, ctx, None)
        p.text(x + 1, y + 0.4, None, 2.4, hint, font="mincho", size=6, color=0.25, pad=0)
    cx = x
    if "checks" in cell:
        cx = _draw_checks(p, x, y, w, h, cell["checks"], ctx, None, float(cell.get("label_size", 8.5)))
    text = _text_of(cell, ctx, None)
    if text:
        pad = float(cell.get("pad", 1.5))
        top_offset = 1.6 if "hint" in cell else 0
        p.text(cx, y + top_offset, x + w - cx, h - top_offset, text, font=font, size=size,
               align=cell.get("align", "left"), valign=cell.get("valign", "middle"),
               fit=cell.get("fit", True), min_size=float(cell.get("min_size", 5)),
               wrap=cell.get("wrap", False), pad=pad)
    if "suffix" in cell:
        p.text(x, y, w, h, str(cell["suffix"]), font="mincho", size=8.5, align="right", pad=1.2)


def _draw_table(p: Painter, el: Mapping[str, Any], ctx: Mapping[str, Any], page_index: int) -> None:
    x, y = float(el["x"]), float(el["y"])
    cols = el["columns"]
    header_h = float(el.get("header_h", 8))
    row_h = float(el.get("row_h", 9))
    n_rows = int(el["rows"])
    width = float(el.get("width", 0.5))
    size = float(el.get("size", 10))
    items = _items(ctx, el)[page_index * n_rows:(page_index + 1) * n_rows]
    total_w = sum(float(c["w"]) for c in cols)
    cx = x
    for col in cols:
        cw = float(col["w"])
        p.rect(cx, y, cw, header_h, width=0, fill=0.92, stroke=False)
        p.rect(cx, y, cw, header_h, width=width)
        p.text(cx, y, cw, header_h, str(col.get("label", "")), font="mincho", size=8.5, align="center",
               wrap="\n" not in str(col.get("label", "")), pad=0.6)
        cx += cw
    for r in range(n_rows):
        ry = y + header_h + r * row_h
        item = items[r] if r < len(items) else None
        cx = x
        for col in cols:
            cw = float(col["w"])
            p.rect(cx, ry, cw, row_h, width=width)
            if item is not None:
                if "checks" in col:
                    _draw_checks(p, cx, ry, cw, row_h, col["checks"], ctx, item, 8)
                else:
                    text = _text_of(col, ctx, item)
                    top = 0.0
                    if "hint" in col:  # e.g. フリガナ above the name
                        p.text(cx, ry + 0.3, cw, 3.2, display(lookup(ctx, col["hint"], item)), size=6.5,
                               color=0.15)
                        top = 2.6
                    p.text(cx, ry + top, cw, row_h - top, text, font=col.get("font"),
                           size=float(col.get("size", size)), align=col.get("align", "left"),
                           wrap="\n" in text or bool(col.get("wrap")))
            cx += cw
    p.rect(x, y, total_w, header_h + n_rows * row_h, width=width * 2)


def _items(ctx: Mapping[str, Any], el: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = lookup(ctx, el["source"])
    if value is None:
        return []
    if not isinstance(value, list):
        raise TemplateError(f"表の source「{el['source']}」がリストではありません。")
    return value


def _draw_stamp(p: Painter, el: Mapping[str, Any]) -> None:
    x, y, w, h = (float(el[k]) for k in ("x", "y", "w", "h"))
    labels = el.get("labels") or ["受付"]
    header_h = float(el.get("header_h", 5))
    cw = w / len(labels)
    for i, label in enumerate(labels):
        cx = x + i * cw
        p.rect(cx, y, cw, header_h, width=0, fill=0.92, stroke=False)
        p.rect(cx, y, cw, header_h, width=0.5)
        p.rect(cx, y + header_h, cw, h - header_h, width=0.5)
        p.text(cx, y, cw, header_h, str(label), font="mincho", size=float(el.get("size", 7.5)), align="center",
               pad=0.3)


def _draw_element(p: Painter, el: Mapping[str, Any], ctx: Mapping[str, Any], page_index: int) -> None:
    if not _visible(el, ctx):
        return
    kind = el["type"]
    if kind == "text":
        p.text(float(el["x"]), float(el["y"]), _opt(el, "w"), _opt(el, "h"), _text_of(el, ctx, None),
               font=el.get("font"), size=float(el.get("size", 10)), align=el.get("align", "left"),
               valign=el.get("valign", "middle"), fit=el.get("fit", True),
               min_size=float(el.get("min_size", 5)), wrap=el.get("wrap", False),
               color=float(el.get("color", 0)), pad=0 if "w" not in el else 1.2)
    elif kind == "rect":
        p.rect(float(el["x"]), float(el["y"]), float(el["w"]), float(el["h"]),
               width=float(el.get("width", 0.5)), fill=el.get("fill"), dash=el.get("dash"),
               rounded=float(el.get("round", 0)))
    elif kind == "line":
        p.line(float(el["x1"]), float(el["y1"]), float(el["x2"]), float(el["y2"]),
               width=float(el.get("width", 0.5)), dash=el.get("dash"))
    elif kind == "check":
        box = float(el.get("box", 3.2))
        p.checkbox(float(el["x"]), float(el["y"]), box, _truthy(ctx, el))
        if el.get("label"):
            p.text(float(el["x"]) + box + 0.8, float(el["y"]), None, box, str(el["label"]),
                   size=float(el.get("size", 9)), pad=0)
    elif kind == "grid":
        width = float(el.get("width", 0.5))
        x, y, w = float(el["x"]), float(el["y"]), float(el["w"])
        bottom = _draw_grid(p, x, y, w, el["rows"], ctx, width)
        p.rect(x, y, w, bottom - y, width=width * 2)  # a heavier outer frame, as printed forms have
    elif kind == "table":
        _draw_table(p, el, ctx, page_index)
    elif kind == "stamp":
        _draw_stamp(p, el)
    else:  # pragma: no cover - validated on load
        raise TemplateError(f"不明な要素 {kind}")


def _opt(el: Mapping[str, Any], key: str) -> float | None:
    return float(el[key]) if key in el else None


def draw_watermark(c: Canvas, page_w: float, page_h: float, text: str) -> None:
    c.saveState()
    c.setFillColorRGB(0.85, 0.1, 0.1, alpha=0.22)
    c.translate(page_w * mm / 2, page_h * mm / 2)
    c.rotate(35)
    size = min(page_w, page_h) * mm / max(len(text), 1) * 0.75
    width = fonts.string_width(text, "gothic_bold", size)
    fonts.draw_string(c, -width / 2, -size * 0.35, text, "gothic_bold", size)
    c.restoreState()
    # A small line at the top as well, readable even where the big mark is faint.
    c.saveState()
    c.setFillColorRGB(0.8, 0.1, 0.1)
    note = f"【{text}】この帳票は{text}用の出力です。正式な届出・証明には使用できません。"
    fonts.draw_string(c, 8 * mm, (page_h - 5) * mm, note, "gothic", 7)
    c.restoreState()


# --- public API ------------------------------------------------------------------------------


@dataclass
class FormJob:
    """One form to render: a template (or its id) with its context."""

    template: FormTemplate | str
    context: Mapping[str, Any]


def page_count(template: FormTemplate, ctx: Mapping[str, Any]) -> int:
    pages = 1
    for el in template.tables:
        if _visible(el, ctx):
            pages = max(pages, math.ceil(len(_items(ctx, el)) / int(el["rows"])) or 1)
    return pages


def _resolve(t: FormTemplate | str, directory: Path | None) -> FormTemplate:
    return t if isinstance(t, FormTemplate) else load_template(t, directory)


def render_forms(jobs: Iterable[FormJob], *, watermark: str | None = None,
                 templates_directory: Path | None = None, title: str = "") -> bytes:
    """Render several forms into one PDF (a batch for one household; F9)."""
    buf = io.BytesIO()
    c = Canvas(buf, invariant=1, pageCompression=1)
    c.setCreator("madoguchi")
    backgrounds: list[Path | None] = []
    titles: list[str] = []
    for job in jobs:
        t = _resolve(job.template, templates_directory)
        ctx = {"form.date_label": "届出日", **t.vars, **job.context}
        ctx.setdefault("form.title", t.title)
        ctx.setdefault("form.id", t.id)
        n = page_count(t, ctx)
        for i in range(n):
            c.setPageSize((t.page_w * mm, t.page_h * mm))
            painter = Painter(c, t.page_h, t.font)
            page_ctx = {**ctx, "page.no": i + 1, "page.count": n,
                        "page.label": f"{i + 1}／{n}" if n > 1 else ""}
            for el in t.elements:
                _draw_element(painter, el, page_ctx, i)
            if watermark:
                draw_watermark(c, t.page_w, t.page_h, watermark)
            c.showPage()
            backgrounds.append(t.background)
        titles.append(t.title)
    if not backgrounds:
        raise TemplateError("印刷する帳票がありません。")
    c.setTitle(title or "・".join(dict.fromkeys(titles)))
    c.save()
    pdf = buf.getvalue()
    if any(backgrounds):
        pdf = _merge_backgrounds(pdf, backgrounds)
    return pdf


def render_form(template: FormTemplate | str, context: Mapping[str, Any], *, watermark: str | None = None,
                templates_directory: Path | None = None) -> bytes:
    """Render one form template with its context into PDF bytes."""
    return render_forms([FormJob(template, context)], watermark=watermark,
                        templates_directory=templates_directory)


def _merge_backgrounds(pdf: bytes, backgrounds: Sequence[Path | None]) -> bytes:
    """Put each rendered page over the first page of its template's scanned form."""
    overlay = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    for page, bg in zip(overlay.pages, backgrounds, strict=True):
        if bg is None:
            writer.add_page(page)
            continue
        base = writer.add_page(PdfReader(bg).pages[0])
        base.merge_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
