"""Reading definition files from a folder — the one place in this package that touches files.

Kept next to the loader so the admin CLI and the services read definitions the same way; the
rest of the package works on text and stays free of I/O.
"""

from __future__ import annotations

from pathlib import Path

from madoguchi.errors import InputError


def read_sources(directory: Path) -> dict[str, str]:
    """`*.yaml` of `directory` (not recursive), by file name, in name order."""
    if not directory.is_dir():
        raise InputError(f"手続き定義のフォルダ {directory} がありません。")
    out = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            out[path.name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path.name} が UTF-8 で保存されていません。UTF-8 で保存し直してください。") from None
    if not out:
        raise InputError(f"手続き定義のフォルダ {directory} に YAML ファイルがありません。")
    return out


def known_form_ids(templates: Path) -> set[str] | None:
    """Form template ids (file stems of forms/templates/*.yaml, plus `generic`).

    None when the folder is missing or holds no template, which skips the form-id check.
    """
    if not templates.is_dir():
        return None
    stems = {p.stem for p in templates.glob("*.yaml") if not p.stem.startswith("_")}
    return (stems | {"generic"}) if stems else None
