"""The procedure catalogue (forms/procedures/*.yaml): read from disk once per process, cached.

The domain package parses text and never touches files; this module is where the definition
folder is read. `catalogue()` is safe to call from a worker thread (the GUI lists off the UI
thread); `reload()` is for the administrator after editing the definitions.
"""

from __future__ import annotations

import threading
from pathlib import Path

from madoguchi.domain.procedures import Catalogue, parse_catalogue
from madoguchi.errors import InputError
from madoguchi.resources import forms_path

_lock = threading.Lock()
_cached: Catalogue | None = None


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


def load(directory: Path | None = None, templates: Path | None = None) -> Catalogue:
    """Read and parse a catalogue (not cached). Definition errors raise CatalogueError."""
    return parse_catalogue(read_sources(directory or forms_path("procedures")),
                           known_form_ids(templates or forms_path("templates")))


def catalogue() -> Catalogue:
    """The shipped catalogue, loaded on first use."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = load()
        return _cached


def reload() -> Catalogue:
    """Read the definitions again (after an administrator changed them); the old copy stays on error."""
    global _cached
    fresh = load()
    with _lock:
        _cached = fresh
    return fresh
