"""Declarative form templates (forms/templates/*.yaml): loading and strict validation.

A template is a page description in millimetres from the top-left corner: static text, lines,
boxes, labelled grids, member tables, check boxes and stamp boxes, with fields bound to a render
context by dotted paths (``person.name``, ``move.move_date_wareki``, ``answers.X``). Unknown keys
are errors so that a typo in a city's template fails when it is loaded, not on paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import KnownError
from ..resources import forms_path


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TemplateError(KnownError):
    """A form template is missing or malformed."""


PAGE_SIZES_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0), "B5": (182.0, 257.0), "B4": (257.0, 364.0)}

_TEXT_KEYS = {"text", "bind", "value", "size", "font", "align", "valign", "fit", "min_size", "wrap",
              "color", "when"}
_ELEMENT_KEYS: dict[str, set[str]] = {
    "text": {"x", "y", "w", "h"} | _TEXT_KEYS,
    "rect": {"x", "y", "w", "h", "width", "fill", "dash", "when", "round"},
    "line": {"x1", "y1", "x2", "y2", "width", "dash", "when"},
    "check": {"x", "y", "bind", "equals", "label", "size", "box", "when"},
    "grid": {"x", "y", "w", "rows", "width", "when"},
    "table": {"x", "y", "source", "rows", "header_h", "row_h", "columns", "size", "width", "when",
              "number"},
    "stamp": {"x", "y", "w", "h", "labels", "header_h", "size", "when"},
    "include": {"file", "dx", "dy", "when"},
}
_ROW_KEYS = {"h", "cells"}
_CELL_KEYS = {"w", "label", "hint", "checks", "rows", "fill", "vertical", "border", "pad",
              "label_size", "suffix", "boxes"} | _TEXT_KEYS
_CHECK_ITEM_KEYS = {"label", "bind", "equals"}
_COLUMN_KEYS = {"w", "label", "bind", "value", "text", "align", "size", "font", "checks", "hint", "wrap"}
_TOP_KEYS = {"id", "title", "page", "font", "background", "elements", "description", "vars", "per"}
_PAGE_KEYS = {"size", "orientation"}


@dataclass(frozen=True)
class FormTemplate:
    id: str
    title: str
    page_w: float
    page_h: float
    elements: tuple[dict[str, Any], ...]
    font: str = "gothic"
    background: Path | None = None
    description: str = ""
    vars: dict[str, Any] = field(default_factory=dict)  # context defaults, e.g. form.date_label
    per: str = "household"  # "person": one sheet per person concerned (印鑑登録, 年金 …)
    source: Path | None = field(default=None, compare=False)

    @property
    def tables(self) -> list[dict[str, Any]]:
        return [e for e in self.elements if e["type"] == "table"]


def _check_keys(where: str, data: Any, allowed: set[str]) -> None:
    if not isinstance(data, dict):
        raise TemplateError(f"{where}: 項目の形式が正しくありません（キーと値の組で書いてください）。")
    unknown = set(data) - allowed
    for key in ("bind", "source", "hint", "when"):
        if key in data and not isinstance(data[key], str):
            raise TemplateError(f"{where}: {key} は文字列で書いてください（YAMLでは no/yes/on/off は"
                                f"真偽値になるため引用符で囲みます）: {data[key]!r}")
    if unknown:
        raise TemplateError(f"{where}: 不明なキー {', '.join(sorted(unknown))} があります。"
                            f"使えるキー: {', '.join(sorted(allowed))}")


def _validate_cell(where: str, cell: dict[str, Any]) -> None:
    _check_keys(where, cell, _CELL_KEYS)
    for j, item in enumerate(cell.get("checks") or []):
        _check_keys(f"{where} checks[{j}]", item, _CHECK_ITEM_KEYS)
    if "rows" in cell:
        _validate_rows(where, cell["rows"])


def _validate_rows(where: str, rows: Any) -> None:
    if not isinstance(rows, list) or not rows:
        raise TemplateError(f"{where}: rows は1行以上のリストにしてください。")
    for i, row in enumerate(rows):
        _check_keys(f"{where} rows[{i}]", row, _ROW_KEYS)
        if "h" not in row:
            raise TemplateError(f"{where} rows[{i}]: 行の高さ h がありません。")
        for j, cell in enumerate(row.get("cells") or []):
            _validate_cell(f"{where} rows[{i}].cells[{j}]", cell)


def _validate_element(where: str, el: Any, base: Path) -> list[dict[str, Any]]:
    if not isinstance(el, dict) or "type" not in el:
        raise TemplateError(f"{where}: 要素に type がありません。")
    kind = el["type"]
    if kind not in _ELEMENT_KEYS:
        raise TemplateError(f"{where}: 不明な要素 type: {kind}（使えるもの: {', '.join(_ELEMENT_KEYS)}）")
    _check_keys(where, {k: v for k, v in el.items() if k != "type"}, _ELEMENT_KEYS[kind])
    if kind == "grid":
        _validate_rows(where, el.get("rows"))
    if kind == "table":
        for j, col in enumerate(el.get("columns") or []):
            _check_keys(f"{where} columns[{j}]", col, _COLUMN_KEYS)
            for k, item in enumerate(col.get("checks") or []):
                _check_keys(f"{where} columns[{j}].checks[{k}]", item, _CHECK_ITEM_KEYS)
    if kind == "include":
        # Shared parts (header, notifier block, stamp row) are pasted in, offset by dx/dy.
        part = _read_yaml(base / el["file"])
        dx, dy = float(el.get("dx", 0)), float(el.get("dy", 0))
        out = []
        for i, sub in enumerate(part.get("elements") or []):
            for e in _validate_element(f"{el['file']} elements[{i}]", sub, base):
                e = _offset(e, dx, dy)
                if "when" in el and "when" not in e:
                    e["when"] = el["when"]
                out.append(e)
        return out
    return [dict(el)]


def _offset(el: dict[str, Any], dx: float, dy: float) -> dict[str, Any]:
    e = dict(el)
    for k in ("x", "x1", "x2"):
        if k in e:
            e[k] = float(e[k]) + dx
    for k in ("y", "y1", "y2"):
        if k in e:
            e[k] = float(e[k]) + dy
    return e


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"帳票テンプレート {path} が見つかりません。") from None
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (libyaml's when present)
    except yaml.YAMLError as exc:
        raise TemplateError(f"帳票テンプレート {path.name} を読めません（YAMLの書式誤り）。",
                            detail=str(exc)) from None
    if not isinstance(data, dict):
        raise TemplateError(f"帳票テンプレート {path.name} の形式が正しくありません。")
    return data


def parse_template(data: dict[str, Any], *, base: Path, source: Path | None = None) -> FormTemplate:
    name = source.name if source else data.get("id", "?")
    _check_keys(str(name), data, _TOP_KEYS)
    for key in ("id", "title", "elements"):
        if key not in data:
            raise TemplateError(f"{name}: {key} がありません。")
    page = data.get("page") or {}
    _check_keys(f"{name} page", page, _PAGE_KEYS)
    size = page.get("size", "A4")
    if size not in PAGE_SIZES_MM:
        raise TemplateError(f"{name}: 用紙サイズ {size} には対応していません（{', '.join(PAGE_SIZES_MM)}）。")
    w, h = PAGE_SIZES_MM[size]
    if page.get("orientation", "portrait") == "landscape":
        w, h = h, w
    elements: list[dict[str, Any]] = []
    for i, el in enumerate(data["elements"]):
        elements.extend(_validate_element(f"{name} elements[{i}]", el, base))
    per = data.get("per", "household")
    if per not in ("household", "person"):
        raise TemplateError(f"{name}: per は household か person にしてください（{per}）。")
    background = None
    if data.get("background"):
        background = base / data["background"]
        if not background.exists():
            raise TemplateError(f"{name}: 背景PDF {background} が見つかりません。")
    return FormTemplate(id=str(data["id"]), title=str(data["title"]), page_w=w, page_h=h,
                        elements=tuple(elements), font=data.get("font", "gothic"),
                        background=background, description=data.get("description", ""),
                        vars=dict(data.get("vars") or {}), per=per,
                        source=source)


def templates_dir() -> Path:
    return forms_path("templates")


_cache: dict[Path, tuple[tuple[int, ...], FormTemplate]] = {}


def _stamp(path: Path, base: Path) -> tuple[int, ...]:
    parts = base / "_parts"
    files = [path, *(sorted(parts.glob("*.yaml")) if parts.is_dir() else [])]
    return tuple(f.stat().st_mtime_ns for f in files)


def load_template(template_id: str, directory: Path | None = None) -> FormTemplate:
    """Load forms/templates/<id>.yaml (or from another directory, e.g. a city's own).

    Parsed templates are kept until the file or a shared part changes on disk.
    """
    base = directory or templates_dir()
    path = base / f"{template_id}.yaml"
    if not path.exists():
        raise TemplateError(f"帳票テンプレート「{template_id}」がありません（{base}）。")
    stamp = _stamp(path, base)
    hit = _cache.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    template = parse_template(_read_yaml(path), base=base, source=path)
    _cache[path] = (stamp, template)
    return template


def available_templates(directory: Path | None = None) -> list[str]:
    base = directory or templates_dir()
    return sorted(p.stem for p in base.glob("*.yaml") if not p.name.startswith("_"))
