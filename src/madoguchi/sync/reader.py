"""Reading one export file through its mapping: decode, split, translate codes, validate fields.

Shared by both database dialects. Each record comes out as its line number, its hash (see
`records.py`) and a list of values in the order of the file kind's fields (str, bool or None for
an unknown date), or as an `Issue` saying, in Japanese, which file, line and column is wrong and why.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from madoguchi.domain.jst import JST
from madoguchi.domain.wareki import DateParseError, parse_date
from madoguchi.errors import ImportFailed
from madoguchi.sync.mapping import FieldDef, FileMapping
from madoguchi.sync.records import hasher, record_bytes

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same characters as bytes: in UTF-8 and CP932 they are never part of a multi-byte character, so
# a record's bytes have one exactly when its text does (deleting bytes is cheaper than the regex).
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_YMD = re.compile(r"(\d{4})(\d{2})(\d{2})")
_PAD = " \t\r\u3000"
RAW_LIMIT = 2000


@dataclass
class Issue:
    file: str
    line: int
    column: str
    reason: str
    raw: str = ""
    key: str = ""  # atena_no of the row when it could be read (to hold that person's previous data)

    def text(self) -> str:
        col = f" {self.column}列" if self.column else ""
        return f"{self.file} {self.line}行目{col}: {self.reason}"


class FieldError(ValueError):
    pass


def _date_iso(s: str, fmt: str) -> str:
    if fmt == "iso":
        m = _ISO.fullmatch(s)
        if not m:
            raise FieldError(f"「{s}」は日付の形（YYYY-MM-DD）ではありません。")
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif fmt == "yyyymmdd":
        m = _YMD.fullmatch(s)
        if not m:
            raise FieldError(f"「{s}」は日付の形（YYYYMMDD）ではありません。")
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        if fmt == "era-code" and not re.fullmatch(r"\d{7}", s):
            raise FieldError(f"「{s}」は元号コード付き日付（例: 4070401）の形ではありません。")
        if fmt == "wareki" and not re.fullmatch(r"[MTSHR]\d{1,2}\.\d{1,2}\.\d{1,2}", s):
            raise FieldError(f"「{s}」は和暦の日付（例: R07.04.01）の形ではありません。")
        try:
            return parse_date(s).isoformat()
        except DateParseError as exc:
            raise FieldError(str(exc)) from None
    try:
        return date(y, mo, d).isoformat()
    except ValueError:
        raise FieldError(f"「{s}」は存在しない日付です。") from None


def _timestamp(s: str) -> str:
    try:
        t = datetime.fromisoformat(s.replace("/", "-"))
    except ValueError:
        raise FieldError(f"「{s}」は日時（YYYY-MM-DD HH:MM:SS）として読めません。") from None
    if t.tzinfo is not None:
        t = t.astimezone(JST).replace(tzinfo=None)
    # isoformat, not strftime: %Y does not pad a year before 1000 to four digits (glibc)
    return t.replace(microsecond=0).isoformat(sep=" ")


def _plain_timestamp(v: str) -> str | None:
    """The usual timestamp (`YYYY-MM-DD HH:MM:SS`, or with T and +09:00) as stored; None for any other."""
    if v[10:11] in (" ", "T") and (len(v) == 19 or (len(v) == 25 and v.endswith("+09:00"))):
        try:
            datetime.fromisoformat(v)
            return f"{v[:10]} {v[11:19]}"
        except ValueError:
            pass
    return None


class Converter:
    """Field conversion for one file mapping, with caches for values that repeat (dates, codes)."""

    def __init__(self, fm: FileMapping) -> None:
        self.fm = fm
        self._dates: dict[str, str | FieldError] = {}
        self._nulls = frozenset(fm.null_values)

    def row_converter(self, columns: list[tuple[int, FieldDef]], *, missing: bool = False
                      ) -> Callable[[list], list]:
        """One function for a whole row (field f from column i each, `convert` for every value):
        the usual values (a plain text within its limit, digits, a date seen before, a code) are
        checked by one generated expression per field, so that they cost no Python call; any other
        value goes to `convert`, which decides and names the error. Generated source, as dataclasses
        and namedtuple do: at 1M residents × 32 fields the calls were a fifth of reading.
        `missing`: a value may be None (no such column in this row)."""
        fm = self.fm
        ns: dict[str, object] = {"D": self._dates, "TS": _plain_timestamp}
        exprs = []
        for k, (i, f) in enumerate(columns):
            s = f"s{k}"
            ns[s] = functools.partial(self.convert, f)
            # `first`: the value's first use in the expression, binding x; later uses read x
            first = "x" if missing else f"(x := row[{i}])"
            if f.name in fm.codes or self._nulls:
                e = f"{s}({first})"
            elif f.kind == "text":
                chars = " \t\r" if fm.format == "csv" else _PAD
                empty = "" if f.required else f"{f.default!r} if not t else "
                e = f"(t if (t := {first}.strip({chars!r})) and len(t) <= {fm.limit(f) or 1 << 30} else {empty}{s}(x))"
            elif f.kind == "digits":
                n = f" and len(x) == {f.digits}" if f.digits else ""
                empty = "" if f.required else f"{f.default!r} if not x else "
                e = f"(x if {first}.isdigit() and x.isascii(){n} else {empty}{s}(x))"
            elif f.kind == "date":
                empty = "" if f.required else "None if not x else "
                e = f"(g if (g := D.get({first})).__class__ is str else {empty}{s}(x))"
            elif f.kind == "timestamp":
                empty = "" if f.required else "None if not x else "
                e = f"(g if (g := TS({first})) is not None else {empty}{s}(x))"
            elif f.kind == "enum":
                ns[f"ok{k}"] = frozenset(c for c in f.choices if c)
                empty = "" if f.required else f"{f.default!r} if not x else "
                e = f"(x if {first} in ok{k} else {empty}{s}(x))"
            elif f.kind == "bool":
                e = f'(True if {first} == "1" else False if x == "0" else {s}(x))'
            else:
                e = f"{s}({first})"
            exprs.append(f"({s}(None) if (x := row[{i}]) is None else {e})" if missing else e)
        src = "def convert(row):\n    return [" + ",\n            ".join(exprs) + "]\n"
        exec(compile(src, f"<row converter: {fm.kind}>", "exec"), ns)  # noqa: S102 - our own source
        return ns["convert"]  # type: ignore[return-value]

    def convert(self, f: FieldDef, v: str | None) -> object:
        fm = self.fm
        if v is None:
            v = ""
        codes = fm.codes.get(f.name)
        if f.kind != "text":
            v = v.strip(_PAD)
        else:
            v = v.strip(" \t\r") if fm.format == "csv" else v.strip(_PAD)
        if v in self._nulls:
            v = ""
        if codes is not None and v in codes:
            v = codes[v]
        if not v:
            if f.required:
                raise FieldError("必須の項目が空です。")
            if f.kind in ("date", "timestamp"):
                return None
            v = f.default
            if f.kind == "bool":
                return v == "1"
            return v
        kind = f.kind
        if kind == "text":
            limit = fm.limit(f)
            if limit and len(v) > limit:
                raise FieldError(f"{limit}文字を超えています（{len(v)}文字）。")
            return v
        if kind == "date":
            got = self._dates.get(v)
            if got is None:
                try:
                    got = _date_iso(v, fm.date_format)
                except FieldError as exc:
                    got = exc
                self._dates[v] = got
            if isinstance(got, FieldError):
                raise got
            return got
        if kind == "timestamp":
            return _timestamp(v)
        if kind == "bool":
            low = v.lower()
            if low in ("1", "true", "t", "yes", "y"):
                return True
            if low in ("0", "false", "f", "no", "n"):
                return False
            raise FieldError(f"「{v}」は 1（はい）/0（いいえ）のどちらでもありません。")
        if kind == "digits":
            d = v.replace("-", "").replace("－", "")
            if not (d.isascii() and d.isdigit()) or (f.digits and len(d) != f.digits):
                raise FieldError(f"「{v}」は{f.digits}桁の数字ではありません。")
            return d
        if kind == "enum":
            if v not in f.choices:
                allowed = "、".join(c for c in f.choices if c)
                raise FieldError(f"「{v}」は使えない値です（使える値: {allowed}）。")
            return v
        raise AssertionError(kind)  # pragma: no cover


def _decode_reason(encoding: str) -> str:
    return f"文字コード {encoding} として読めないバイトがあります（文字化け・別の文字コードの可能性）。"


class FileReader:
    """Iterates the records of one file. `issues` collects row problems; fatal problems raise."""

    def __init__(self, path: Path, fm: FileMapping, issue: Callable[[Issue], None], *, start: int = 0,
                 end: int | None = None, line_base: int = 0, header: list[str] | None = None,
                 salt: bytes = b"", ranges: list[tuple[int, int | None, int]] | None = None) -> None:
        """`start`/`end`/`line_base`/`header` read a part of a file: the records that begin in bytes
        [start, end) (`start` at a record boundary; a record that crosses `end` is read whole), line
        numbers counted from line_base + 1; `ranges` several such parts, (start, end, line_base) each,
        in file order. `stop` is where reading stopped. `salt` seeds the record hashes
        (`records.hasher`)."""
        self.path = path
        self.fm = fm
        self.name = path.name
        self.issue = issue
        self.conv = Converter(fm)
        self.records = 0  # data records seen (for the manifest row count)
        self.bad = 0
        self.ranges = ranges if ranges is not None else [(start, end, line_base)]
        self.start, self.line_base, self.header = self.ranges[0][0] if self.ranges else 0, line_base, header
        self.stop, self.stop_line = self.start, line_base  # where reading stopped (offset, physical lines)
        self.hash = hasher(salt)
        self._in_record = False  # the csv reader is inside a record: do not stop at `end`

    # -- helpers ------------------------------------------------------------------------------

    def _report(self, line: int, column: str, reason: str, raw: str, key: str = "") -> None:
        self.bad += 1
        self.issue(Issue(self.name, line, column, reason, raw[:RAW_LIMIT], key))

    def _raw_lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, bytes) of the physical lines of the ranges, stopping at a range's end only
        between records."""
        bom = self.fm.encoding.startswith("utf-8")
        with open(self.path, "rb") as fh:
            for start, end, line_base in self.ranges:
                fh.seek(start)
                pos, n = start, line_base
                if pos == 0 and bom and fh.read(3) == b"\xef\xbb\xbf":
                    pos = 3
                fh.seek(pos)
                limit = end if end is not None else 1 << 62
                for line in fh:
                    if pos >= limit and not self._in_record:
                        break
                    pos += len(line)
                    n += 1
                    self.stop, self.stop_line = pos, n
                    self._in_record = True
                    yield n, line

    def read_header(self) -> tuple[list[str], int]:
        """The header names and the byte offset where the data starts (CSV with a one-line header)."""
        with open(self.path, "rb") as fh:
            first = fh.readline()
        text = first.removeprefix(b"\xef\xbb\xbf") if self.fm.encoding.startswith("utf-8") else first
        enc = "utf-8" if self.fm.encoding.startswith("utf-8") else self.fm.encoding
        try:
            row = next(csv.reader([text.decode(enc)], delimiter=self.fm.delimiter, strict=True))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            raise ImportFailed(f"{self.name} の見出し行が読めません。文字コードと区切り文字を確認してください。") from None
        return [h.strip(_PAD) for h in row], len(first)

    def _plan(self, names: list[str]) -> tuple[list[int | None], list[str | None]]:
        idx: list[int | None] = []
        consts: list[str | None] = []
        pos = {h: i for i, h in enumerate(names)}
        for f in self.fm.fields:
            src = self.fm.source(f.name)
            if src.value is not None:
                idx.append(None)
                consts.append(src.value)
            elif src.header in pos:
                idx.append(pos[src.header])
                consts.append(None)
            elif f.required:
                raise ImportFailed(f"{self.name} に必要な列「{src.header}」（{f.name}）がありません。"
                                   "見出し行とマッピングを確認してください。")
            else:
                idx.append(None)
                consts.append(None)
        return idx, consts

    def __iter__(self) -> Iterator[tuple[int, str, list]]:
        if self.fm.format == "fixed":
            yield from self._fixed()
        else:
            yield from self._csv()

    # -- CSV ----------------------------------------------------------------------------------

    def _csv(self) -> Iterator[tuple[int, str, list]]:
        enc = "utf-8" if self.fm.encoding.startswith("utf-8") else self.fm.encoding
        lines_text: list[str] = []
        lines_raw: list[bytes] = []
        rec = {"line": 0, "bad": False}  # the current record: its first line, a line that did not decode

        def decoded() -> Iterator[str]:
            add_text, add_raw = lines_text.append, lines_raw.append
            for n, raw in self._raw_lines():
                if not lines_raw:
                    rec["line"], rec["bad"] = n, False
                try:
                    text = raw.decode(enc)
                except UnicodeDecodeError:
                    text = raw.decode(enc, errors="replace")
                    rec["bad"] = True
                add_text(text)
                add_raw(raw)
                yield text

        reader = csv.reader(decoded(), delimiter=self.fm.delimiter, strict=True)
        fields = self.fm.fields
        idx: list[int | None] = []
        consts: list[str | None] = []
        header_len = 0
        if self.header is not None:
            idx, consts = self._plan(self.header)
            header_len = len(self.header)
        elif self.fm.header:
            try:
                header = next(reader)
            except StopIteration:
                raise ImportFailed(f"{self.name} が空です（見出し行がありません）。") from None
            except csv.Error as exc:
                raise ImportFailed(f"{self.name} の見出し行が読めません: {exc}") from None
            if rec["bad"]:
                raise ImportFailed(f"{self.name} の見出し行が文字コード {self.fm.encoding} として読めません。"
                                   "マッピングの encoding を確認してください。")
            names = [h.strip(_PAD) for h in header]
            header_len = len(names)
            idx, consts = self._plan(names)
            lines_text.clear()
            lines_raw.clear()
        else:
            for f in fields:
                src = self.fm.source(f.name)
                consts.append(src.value)
                idx.append(int(src.header) - 1 if src.header and src.header.isdigit() else None)
        plan = list(zip(idx, consts))

        def arg(row: list[str], i: int | None, c: str | None) -> str | None:
            """A field's raw value: its constant, its column, or None (no such column in this row)."""
            return c if c is not None else (row[i] if i is not None and i < len(row) else None)

        # The usual case: a header names every field's column, and every row has the header's length.
        direct = (header_len and all(i is not None and i < header_len for i in idx) and
                  all(c is None for c in consts))
        convert = self.conv.row_converter(list(zip(idx, fields)) if direct else list(enumerate(fields)),
                                          missing=not direct)  # type: ignore[arg-type]
        while True:
            self._in_record = False
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                start = rec["line"]
                raw = "".join(lines_text)
                lines_text.clear()
                lines_raw.clear()
                self.records += 1
                # Best effort at the atena_no so that this person keeps their previous data.
                guess = [c.strip('"') for c in raw.split(self.fm.delimiter)]
                self._report(start, "", f"引用符（\"）の使い方が正しくありません（{exc}）。"
                                        "値の中の \" は \"\" と二重にしてください。", raw, self._key(guess, idx))
                continue
            start = rec["line"]
            raw = "".join(lines_text)
            lines_text.clear()
            data = record_bytes(lines_raw)
            lines_raw.clear()
            if not row:
                continue  # blank line
            self.records += 1
            if header_len and len(row) != header_len:
                self._report(start, "", f"列の数が見出しと違います（見出し {header_len} 列、この行 {len(row)} 列）。"
                                        "区切り文字や引用符の閉じ忘れを確認してください。", raw,
                             self._key(row, idx))
                continue
            broken = rec["bad"]
            if broken or "\ufffd" in raw or len(data.translate(None, _CONTROL_BYTES)) != len(data):
                col = ""
                for f, i in zip(fields, idx):
                    if i is not None and i < len(row) and ("\ufffd" in row[i] or _CONTROL.search(row[i])):
                        col = self.fm.source(f.name).describe()
                        break
                reason = (_decode_reason(self.fm.encoding) if (broken or "\ufffd" in raw)
                          else "制御文字が含まれています。")
                self._report(start, col, reason, raw, self._key(row, idx))
                continue
            try:
                # direct: every field from a column of this full-length row
                out = convert(row if direct else [arg(row, i, c) for i, c in plan])
            except FieldError:
                # Again field by field, to name the first field that is wrong.
                for f, (i, c) in zip(fields, plan):
                    try:
                        self.conv.convert(f, arg(row, i, c))
                    except FieldError as exc:
                        self._report(start, self.fm.source(f.name).describe(), str(exc), raw, self._key(row, idx))
                        break
                continue
            yield start, self.hash(data), out

    def _key(self, row: list[str], idx: list[int | None]) -> str:
        i = idx[0] if idx else None
        if self.fields_first_is_atena and i is not None and i < len(row):
            return row[i].strip(_PAD)
        return ""

    @property
    def fields_first_is_atena(self) -> bool:
        return self.fm.fields[0].name == "atena_no"

    # -- fixed width --------------------------------------------------------------------------

    def _fixed(self) -> Iterator[tuple[int, str, list]]:
        fm = self.fm
        fields = fm.fields
        srcs = [fm.source(f.name) for f in fields]
        enc = fm.encoding
        conv = self.conv.convert
        for n, raw_b in self._raw_lines():
            self._in_record = False
            line = raw_b.rstrip(b"\r\n")
            if n == 1 and fm.header:
                continue
            if not line.strip():
                continue
            self.records += 1
            raw = line.decode(enc, errors="replace")
            key = ""
            a = srcs[0]
            if fields[0].name == "atena_no" and a.start is not None:
                key = line[a.start - 1:a.start - 1 + (a.length or 0)].decode(enc, "replace").strip(_PAD)
            if fm.record_length and len(line) != fm.record_length:
                self._report(n, "", f"レコード長が {len(line)} バイトです（{fm.record_length} バイトのはず）。"
                                    "行の欠けや文字コードを確認してください。", raw, key)
                continue
            out = []
            f = fields[0]
            try:
                for f, src in zip(fields, srcs):
                    if src.value is not None:
                        v: str | None = src.value
                    elif src.start is not None:
                        chunk = line[src.start - 1:src.start - 1 + (src.length or 0)]
                        try:
                            v = chunk.decode(enc)
                        except UnicodeDecodeError:
                            raise FieldError(_decode_reason(enc)) from None
                        if _CONTROL.search(v):
                            raise FieldError("制御文字が含まれています。")
                    else:
                        v = None
                    out.append(conv(f, v))
            except FieldError as exc:
                self._report(n, fm.source(f.name).describe(), str(exc), raw, key)
                continue
            yield n, self.hash(record_bytes([raw_b])), out
