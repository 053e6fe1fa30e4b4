"""Benchmark: a batch of 10 forms for one household, template renderer vs bare reportlab.

The bare run draws exactly the same strings (already split into font runs), lines and boxes
at the same positions straight onto a reportlab canvas, so the ratio is the overhead of the
template layer (YAML already loaded, context lookups, fitting, wrapping, font fallback).

Usage: PYTHONPATH=src python bench/bench_printing.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from typing import Any

from reportlab.pdfgen.canvas import Canvas

from madoguchi.printing import fonts, render, samples
from madoguchi.printing.render import FormJob, render_forms
from madoguchi.printing.template import load_template

FORMS = ["juki_idou", "inkan_touroku", "mynumber_kenmen", "kokuho_idou", "nenkin", "kouki", "kaigo",
         "jidou_teate", "kodomo_iryou", "tennyugaku"]


class _Recorder(Canvas):
    """A canvas that also records what was drawn, page by page, for the bare replay."""

    ops: list[list[tuple[Any, ...]]] = []

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        _Recorder.ops = [[]]

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        _Recorder.ops[-1].insert(0, ("page", self._pagesize))
        _Recorder.ops.append([])
        super().showPage()

    def rect(self, x, y, w, h, stroke=1, fill=0):  # noqa: ANN001
        _Recorder.ops[-1].append(("rect", x, y, w, h, stroke, fill, self._lineWidth))
        return super().rect(x, y, w, h, stroke=stroke, fill=fill)

    def line(self, x1, y1, x2, y2):  # noqa: ANN001
        _Recorder.ops[-1].append(("line", x1, y1, x2, y2, self._lineWidth))
        return super().line(x1, y1, x2, y2)


def _record(jobs: list[FormJob]) -> list[list[tuple[Any, ...]]]:
    """Render once through a recording canvas; text is recorded per font run."""
    original_canvas, original_draw = render.Canvas, fonts.draw_string

    def draw(canvas, x, y, text, style, size):  # noqa: ANN001
        cx = x
        for s, part in fonts.runs(text, style):
            name = fonts.font_name(s)
            _Recorder.ops[-1].append(("text", name, size, cx, y, part))
            cx += fonts.pdfmetrics.stringWidth(part, name, size)
        return original_draw(canvas, x, y, text, style, size)

    render.Canvas, fonts.draw_string = _Recorder, draw
    try:
        render_forms(jobs)
    finally:
        render.Canvas, fonts.draw_string = original_canvas, original_draw
    return [p for p in _Recorder.ops if p]


def _bare(pages: list[list[tuple[Any, ...]]]) -> bytes:
    buf = io.BytesIO()
    c = Canvas(buf, invariant=1, pageCompression=1)
    for ops in pages:
        for op in ops:
            kind = op[0]
            if kind == "page":
                c.setPageSize(op[1])
            elif kind == "rect":
                c.setLineWidth(op[7])
                c.rect(op[1], op[2], op[3], op[4], stroke=op[5], fill=op[6])
            elif kind == "line":
                c.setLineWidth(op[5])
                c.line(op[1], op[2], op[3], op[4])
            else:
                c.setFont(op[1], op[2])
                c.drawString(op[3], op[4], op[5])
        c.showPage()
    c.save()
    return buf.getvalue()


def _time(fn, repeat: int) -> tuple[float, Any]:  # noqa: ANN001
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    templates = {t: load_template(t) for t in FORMS}
    jobs = [FormJob(templates[t], samples.template_sample_context(t)) for t in FORMS]
    t0 = time.perf_counter()
    render_forms(jobs)  # warm: registers fonts (花園明朝B too, for 𠮷)
    first = time.perf_counter() - t0
    pages = _record(jobs)
    n_text = sum(1 for p in pages for op in p if op[0] == "text")
    tmpl, pdf = _time(lambda: render_forms(jobs), args.repeat)
    bare, bare_pdf = _time(lambda: _bare(pages), args.repeat)
    print(f"forms: {len(jobs)}  pages: {len(pages)}  text runs: {n_text}")
    print(f"first batch (cold fonts): {first * 1000:.0f} ms")
    print(f"template renderer: {tmpl * 1000:.1f} ms  ({len(pdf) / 1024:.0f} KiB)")
    print(f"bare reportlab:    {bare * 1000:.1f} ms  ({len(bare_pdf) / 1024:.0f} KiB)")
    print(f"ratio: {tmpl / bare:.2f}x  per form: {tmpl / len(jobs) * 1000:.1f} ms")
    from madoguchi.printing import template as tpl
    cold = _time(lambda: (tpl._cache.clear(), [load_template(t) for t in FORMS]), 3)[0]
    print(f"template loading (YAML, 10 forms, uncached): {cold * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
