"""Mapping files: how one city's core-system export maps onto the default layout, without code.

A mapping (TOML) names, per file of the export, where each target field comes from (a CSV header,
or fixed-width byte positions, or a constant), the encoding, the date format, code translations
(続柄, 性別, qualification kinds …), maximum field lengths and what to do with bad rows.
See `server_sync/mappings/default.toml` (the default layout) and `example-cp932-fixed.toml`.
"""

from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from madoguchi.errors import InputError

ENCODINGS = ("utf-8", "utf-8-sig", "cp932")
DATE_FORMATS = ("iso", "yyyymmdd", "wareki", "era-code", "auto")
FORMATS = ("csv", "fixed")
POLICIES = ("quarantine", "abort")


@dataclass(frozen=True)
class FieldDef:
    """A target field of the default layout."""

    name: str
    kind: str = "text"  # text / date / timestamp / bool / digits / enum
    max_length: int = 0  # 0 = unlimited
    required: bool = False
    choices: tuple[str, ...] = ()
    default: str = ""
    digits: int = 0  # exact digit count for kind "digits"


def _t(name: str, n: int, **kw) -> FieldDef:  # noqa: ANN003
    return FieldDef(name, "text", n, **kw)


def _d(name: str, **kw) -> FieldDef:  # noqa: ANN003
    return FieldDef(name, "date", **kw)


# Target fields per file kind; lengths follow the tables in store/models.py.
CATALOGUE: dict[str, tuple[FieldDef, ...]] = {
    "residents": (
        _t("atena_no", 20, required=True),
        FieldDef("juminhyo_code", "digits", 11, digits=11),
        _t("household_no", 20, required=True),
        FieldDef("is_householder", "bool", default="0"),
        _t("relationship", 40),
        FieldDef("resident_kind", "enum", 1, choices=("1", "2"), default="1"),
        FieldDef("status", "enum", 1, choices=("1", "2", "3", "4"), default="1"),
        _t("name", 200, required=True),
        _t("name_kana", 400),
        _t("former_surname", 100),
        _t("alias", 200),
        _t("alias_kana", 400),
        _t("romaji_name", 200),
        _d("birth_date", required=True),
        FieldDef("sex", "enum", 1, choices=("1", "2", "")),
        _t("town_code", 16),
        _t("banchi", 100),
        _t("katagaki", 200),
        FieldDef("postal_code", "digits", 7, digits=7),
        _d("resident_since"),
        _d("address_since"),
        _t("moved_in_from", 300),
        _t("honseki", 300),
        _t("hittousha", 200),
        _t("nationality", 100),
        _t("residence_status", 100),
        _d("residence_expiry"),
        _d("mynumber_card_expiry"),
        _d("e_cert_expiry"),
        _d("removed_on"),
        _t("removal_reason", 100),
        FieldDef("updated_at", "timestamp"),
    ),
    "qualifications": (
        _t("atena_no", 20, required=True),
        _t("kind", 40, required=True),
        _t("role", 20, default="insured"),
        _d("start_date"),
        _d("end_date"),
        _t("detail", 200),
    ),
    "support_measures": (
        _t("atena_no", 20, required=True),
        _d("start_date"),
        _d("end_date"),
        _t("kind", 20, default="other"),
        _t("note", 2000),
    ),
    "addresses": (
        _t("town_code", 16, required=True),
        _t("town_name", 100, required=True),
        _t("town_kana", 200),
        _t("banchi", 100),
        _t("banchi_kana", 200),
        FieldDef("postal_code", "digits", 7, digits=7),
        _t("district", 100),
    ),
    "katagaki": (
        _t("town_code", 16, required=True),
        _t("banchi", 100),
        _t("katagaki", 200, required=True),
        _t("katagaki_kana", 400),
    ),
}
FILE_KINDS = tuple(CATALOGUE)
# residents is the heart of an export; the others may be absent from a city's export.
REQUIRED_FILES = ("residents",)
DEFAULT_PATHS = {k: f"{k}.csv" for k in FILE_KINDS}


@dataclass(frozen=True)
class ColumnSource:
    """Where a target field comes from: a CSV header, fixed byte positions, or a constant."""

    header: str | None = None
    start: int | None = None  # 1-based byte position (fixed width)
    length: int | None = None
    value: str | None = None  # constant

    def describe(self) -> str:
        if self.value is not None:
            return f"固定値「{self.value}」"
        if self.start is not None:
            return f"{self.start}〜{self.start + (self.length or 0) - 1}バイト目"
        return self.header or ""


@dataclass
class FileMapping:
    kind: str
    path: str
    format: str = "csv"
    encoding: str = "utf-8-sig"
    header: bool = True
    delimiter: str = ","
    date_format: str = "iso"
    null_values: tuple[str, ...] = ()
    record_length: int | None = None  # fixed width: bytes per line (without the newline)
    optional: bool = True
    columns: dict[str, ColumnSource] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    max_length: dict[str, int] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[FieldDef, ...]:
        return CATALOGUE[self.kind]

    def source(self, target: str) -> ColumnSource:
        """Unmapped fields of a CSV file are looked up by their own name."""
        return self.columns.get(target) or ColumnSource(header=target if self.format == "csv" else None)

    def limit(self, f: FieldDef) -> int:
        return self.max_length.get(f.name, f.max_length)


@dataclass
class Mapping:
    name: str = "default"
    bad_rows: str = "quarantine"
    manifest: str = "required"  # required / optional
    manifest_path: str = "manifest.json"
    files: dict[str, FileMapping] = field(default_factory=dict)
    source: str = ""


def default_mapping() -> Mapping:
    """The default layout of kikan-export-format.md (UTF-8 with or without BOM, ISO dates)."""
    return Mapping(name="標準レイアウト", source="(default)",
                   files={k: FileMapping(kind=k, path=DEFAULT_PATHS[k], optional=k not in REQUIRED_FILES)
                          for k in FILE_KINDS})


def _err(where: str, msg: str) -> InputError:
    return InputError(f"マッピングファイル {where}: {msg}")


def _column(where: str, target: str, spec: object) -> ColumnSource:
    if isinstance(spec, str):
        return ColumnSource(header=spec)
    if isinstance(spec, dict):
        if "value" in spec:
            return ColumnSource(value=str(spec["value"]))
        if "start" in spec and "length" in spec:
            start, length = spec["start"], spec["length"]
            if not (isinstance(start, int) and isinstance(length, int) and start >= 1 and length >= 1):
                raise _err(where, f"列「{target}」の start/length は 1 以上の整数にしてください。")
            return ColumnSource(start=start, length=length)
        if "header" in spec:
            return ColumnSource(header=str(spec["header"]))
    raise _err(where, f"列「{target}」の指定が読めません。\"見出し名\"、{{ start = 1, length = 10 }}、"
                      "{ value = \"固定値\" } のいずれかで書いてください。")


def _choice(where: str, key: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _err(where, f"{key} = 「{value}」は使えません。使えるのは {' / '.join(allowed)} です。")
    return str(value)


def parse_mapping(data: dict, where: str = "") -> Mapping:
    m = default_mapping()
    m.source = where
    m.name = str(data.get("name", m.name))
    m.bad_rows = _choice(where, "bad_rows", data.get("bad_rows", m.bad_rows), POLICIES)
    m.manifest = _choice(where, "manifest", data.get("manifest", m.manifest), ("required", "optional"))
    m.manifest_path = str(data.get("manifest_path", m.manifest_path))
    defaults = data.get("defaults", {})
    files = data.get("files", {})
    unknown = set(files) - set(FILE_KINDS)
    if unknown:
        raise _err(where, f"[files.{sorted(unknown)[0]}] は知らないファイル種別です。使えるのは "
                          f"{', '.join(FILE_KINDS)} です。")
    only_listed = bool(data.get("only_listed_files", False))
    for kind in FILE_KINDS:
        spec = {**defaults, **files.get(kind, {})}
        fm = m.files[kind]
        if only_listed and kind not in files:
            del m.files[kind]
            continue
        fm.path = str(spec.get("path", fm.path))
        fm.format = _choice(where, f"files.{kind}.format", spec.get("format", fm.format), FORMATS)
        fm.encoding = _choice(where, f"files.{kind}.encoding", spec.get("encoding", fm.encoding), ENCODINGS)
        codecs.lookup(fm.encoding)
        fm.header = bool(spec.get("header", fm.format == "csv"))
        fm.delimiter = str(spec.get("delimiter", fm.delimiter))
        if len(fm.delimiter) != 1:
            raise _err(where, f"files.{kind}.delimiter は1文字にしてください。")
        fm.date_format = _choice(where, f"files.{kind}.date_format", spec.get("date_format", fm.date_format),
                                 DATE_FORMATS)
        fm.null_values = tuple(str(v) for v in spec.get("null_values", ()))
        fm.record_length = spec.get("record_length")
        fm.optional = bool(spec.get("optional", kind not in REQUIRED_FILES))
        targets = {f.name for f in CATALOGUE[kind]}
        for section in ("columns", "codes", "max_length"):
            bad = set(spec.get(section, {})) - targets
            if bad:
                raise _err(where, f"[files.{kind}.{section}] の「{sorted(bad)[0]}」は{kind}の項目にありません。")
        fm.columns = {t: _column(where, t, s) for t, s in spec.get("columns", {}).items()}
        fm.codes = {t: {str(k): str(v) for k, v in table.items()} for t, table in spec.get("codes", {}).items()}
        fm.max_length = {t: int(n) for t, n in spec.get("max_length", {}).items()}
        if fm.format == "fixed":
            missing = [f.name for f in CATALOGUE[kind] if f.required
                       and (fm.columns.get(f.name) is None or fm.columns[f.name].header is not None)]
            if missing:
                raise _err(where, f"固定長の {kind} では「{missing[0]}」の位置 (start, length) が必要です。")
    return m


def load_mapping(path: str | Path | None) -> Mapping:
    """Read a mapping file; None gives the default layout."""
    if path is None:
        return default_mapping()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"マッピングファイル {p} が見つかりません。") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"マッピングファイル {p} の書式が正しくありません: {exc}") from None
    return parse_mapping(data, str(p))
