"""手続き案内書 (procedure guide, F10): what the resident still has to do, where, with what, by when.

The input is deliberately simple (``GuideItem``): the procedure engine's results are mapped to
it by the service. One guide per household; long lists continue on further pages. The guide
prints names only, never addresses, so it is safe to hand over for 支援措置 households too.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from ..domain.wareki import format_wareki
from .render import PT_TO_MM, draw_watermark, Painter, wrap_text

PAGE_W, PAGE_H = 210.0, 297.0
LEFT, WIDTH = 15.0, 180.0
BOTTOM = 278.0


@dataclass(frozen=True)
class GuideItem:
    """One procedure still to do, as the resident should read it."""

    name: str
    department: str
    counter: str = ""
    floor: str = ""
    reasons: tuple[str, ...] = ()
    persons: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    resident_text: str = ""
    deadline: date | str | None = None


@dataclass
class GuideHousehold:
    head_name: str
    items: list[GuideItem] = field(default_factory=list)
    member_names: tuple[str, ...] = ()


def _deadline_text(d: date | str | None) -> str:
    if d is None or d == "":
        return ""
    return f"{format_wareki(d)}まで" if isinstance(d, date) else str(d)


class _Flow:
    def __init__(self, canvas: Canvas, ctx: Mapping[str, Any], watermark: str | None, title_name: str) -> None:
        self.c = canvas
        self.p = Painter(canvas, PAGE_H, "gothic")
        self.ctx = ctx
        self.watermark = watermark
        self.title_name = title_name
        self.page = 0
        self.y = 0.0

    def new_page(self) -> None:
        if self.page:
            self.finish_page()
        self.page += 1
        p = self.p
        self.c.setPageSize((PAGE_W * mm, PAGE_H * mm))
        p.text(LEFT, 9, None, None, "窓口支援システム出力", size=7, color=0.35)
        p.text(LEFT + WIDTH - 70, 7, 70, 5, f"受付番号　{self.ctx.get('case.no', '')}", size=8, align="right")
        if self.page == 1:
            p.text(LEFT, 14, WIDTH, 12, "お手続きのご案内", font="mincho", size=22, align="center")
            p.text(LEFT, 25, WIDTH, 6, "（手続き案内書）", font="mincho", size=10, align="center")
            p.text(LEFT, 34, 110, 9, f"{self.title_name}　様", font="mincho", size=15)
            p.line(LEFT, 43, LEFT + 110, 43, width=0.6)
            p.text(LEFT + WIDTH - 75, 33, 75, 5, f"作成日　{self.ctx.get('case.today_wareki', '')}", size=9.5,
                   align="right", font="mincho")
            p.text(LEFT + WIDTH - 75, 38.5, 75, 5,
                   f"{self.ctx.get('city.name', '')}役所　{self.ctx.get('case.counter', '')}", size=9.5,
                   align="right", font="mincho")
            intro = ("本日の届出にともない、次のお手続きが必要です。上から順に各窓口へお越しください。"
                     "お手続きが済んだら「済」の欄に印を付けてお使いください。")
            lines = wrap_text(intro, "mincho", 10, WIDTH)
            for i, ln in enumerate(lines):
                p.text(LEFT, 47 + i * 5, None, None, ln, font="mincho", size=10)
            self.y = 48 + len(lines) * 5 + 2
        else:
            p.text(LEFT, 14, WIDTH, 8, f"お手続きのご案内（続き）　{self.title_name}　様", font="mincho", size=13)
            self.y = 26

    def finish_page(self) -> None:
        p = self.p
        p.line(LEFT, 283, LEFT + WIDTH, 283, width=0.4)
        contact = self.ctx.get("city.contact") or f"{self.ctx.get('city.name', '')}役所 市民課"
        p.text(LEFT, 284.5, WIDTH, 5, f"ご不明な点は {contact} へお尋ねください。", size=8.5, font="mincho")
        p.text(LEFT, 284.5, WIDTH, 5, f"{self.page}ページ", size=8, align="right")
        if self.watermark:
            draw_watermark(self.c, PAGE_W, PAGE_H, self.watermark)
        self.c.showPage()

    def item(self, no: int, item: GuideItem) -> None:
        inner = WIDTH - 12 - 14
        where = "　".join(x for x in (item.department, item.floor, item.counter) if x)
        detail: list[tuple[str, str, float]] = []  # (style, text, size)
        if item.persons:
            detail.append(("gothic", "対象の方：" + "、".join(item.persons), 9.5))
        if item.reasons:
            detail.append(("gothic", "理由：" + "／".join(item.reasons), 9))
        body = [(s, ln, z) for s, t, z in detail for ln in wrap_text(t, s, z, inner)]
        if item.documents:
            docs = "お持ちいただくもの：" + "　".join(f"□{d}" for d in item.documents)
            body += [("gothic", ln, 9.5) for ln in wrap_text(docs, "gothic", 9.5, inner)]
        if item.deadline:
            body.append(("gothic_bold", f"期限：{_deadline_text(item.deadline)}", 9.5))
        if item.resident_text:
            for para in item.resident_text.split("\n"):
                body += [("mincho", ln, 9.5) for ln in wrap_text(para, "mincho", 9.5, inner)]
        line_h = [z * PT_TO_MM * 1.45 for _, _, z in body]
        height = 10 + sum(line_h) + 3
        if self.y + height > BOTTOM:
            self.new_page()
        p, x, y = self.p, LEFT, self.y
        p.rect(x, y, WIDTH, height, width=0.8)
        p.rect(x, y, 12, height, width=0, fill=0.9, stroke=False)
        p.rect(x, y, 12, height, width=0.8)
        p.text(x, y, 12, 10, str(no), font="gothic_bold", size=14, align="center", pad=0)
        p.rect(x + WIDTH - 14, y, 14, height, width=0.8)
        p.text(x + WIDTH - 14, y + 1, 14, 4, "済", size=8, align="center", pad=0)
        p.rect(x + WIDTH - 10, y + 5.5, 6, 6, width=0.6)
        p.text(x + 14, y + 0.5, inner, 9, item.name, font="gothic_bold", size=12.5)
        if where:
            p.text(x + 14, y + 0.5, inner - 1, 9, where, size=9.5, align="right")
        p.line(x + 12, y + 10, x + WIDTH - 14, y + 10, width=0.3, dash=[1, 1])
        cy = y + 11
        for (style, text, size), h in zip(body, line_h, strict=True):
            p.text(x + 14.5, cy, None, None, text, font=style, size=size)
            cy += h
        self.y = y + height + 3


def render_guide(ctx: Mapping[str, Any], households: Sequence[GuideHousehold], *,
                 watermark: str | None = None) -> bytes:
    """The 手続き案内書 for each household, in one PDF (a page break between households)."""
    if not households:
        raise ValueError("no households to print a guide for")
    buf = io.BytesIO()
    c = Canvas(buf, invariant=1, pageCompression=1)
    c.setTitle("お手続きのご案内")
    c.setCreator("madoguchi")
    for hh in households:
        flow = _Flow(c, ctx, watermark, hh.head_name)
        flow.new_page()
        if not hh.items:
            flow.p.text(LEFT, flow.y + 4, WIDTH, 10, "本日のお手続きはすべて終わりました。", size=12, align="center")
        for i, item in enumerate(hh.items, start=1):
            flow.item(i, item)
        flow.finish_page()
    c.save()
    return buf.getvalue()
