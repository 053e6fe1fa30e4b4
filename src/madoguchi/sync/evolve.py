"""The next day of a synthetic core-system export (training servers and nightly-import benchmarks).

`evolve_export(src_dir, out_dir, seed, today)` reads a full export folder in the default layout
(design/kikan-export-format.md; normally one written by `generate_export` or by an earlier evolve)
and writes the full export of `today`: the same population after one day of real-life changes.

Timing. An export dated T is made at T 06:00 and holds what was registered up to T-1 (the generator
keeps every `updated_at` before T). So the export of `today` adds what happened on the business day
`today - 1` (the *event day*): notifications handled that day carry `updated_at` on it, between
08:00 and 17:59. Qualifications that begin by date rather than by notification (後期高齢者医療 on
the 75th birthday, 介護保険 第1号 on reaching 65) are added for every day after the source export up
to `today`, as the generator includes rows that begin on its own `today`. `today` defaults to the
source's date + `days`; with `days=N` the day step runs N times (N-1 intermediate exports are
written into a temporary folder inside `out_dir` and removed).

What changes (`EvolveRates`: expected events per 1,000 current residents per day; the default is a
busy weekday of the spring moving season, about 0.5 % of the resident rows change; `scaled(x)` for a
quieter or busier day):

- 転居 move_within 0.55 households: the current members move together to a vacant house or flat
  (town_code, banchi, katagaki, postal_code; address_since = the move date, up to 6 days before the
  notification; moved_in_from = the old address).
- 世帯分離・転居 household_split 0.12: a grown child (18–35) moves out to a place of their own: a new
  household_no, 世帯主 (and 国保世帯主 when on 国保).
- 転出 move_out 0.45 households, move_out_single 0.25 (a grown child, 18–40, leaves alone): status 2,
  removed_on, 消除事由 転出; their current qualifications end that day.
- 転入 move_in 0.6 households: a new household (the generator's household shapes, mostly under 65)
  at a vacant address, with its 国保/年金/介護/後期/子ども医療/学齢簿/児童手当 rows.
- 出生 birth 0.08: a child (子, or 孫 of a 子の妻) in the mother's household with the father's surname,
  子ども医療費, and 児童手当 (a new row from the next month, or one more child on the current one).
- 死亡 death 0.16 (weighted by age): status 3, 消除事由 死亡; a householder's death makes the spouse or
  the eldest child 世帯主.
- 世帯主変更 head_change 0.04: an old householder (70+) hands over to an adult child. With any change
  of head every 続柄 is restated relative to the new head (父, 母, 妻, 子, 兄/姉 …) and 国保世帯主 moves.
- マイナンバーカード card 1.5: issued (none, or expired more than 60 days ago), renewed (expiry within
  60 days before / 90 days after the event day) or only the 署名用電子証明書 renewed.
- 在留期間更新 residence_renewal 0.03: residence_expiry (and a card that ended with it) + 1, 3 or 5 years.
- 国保加入 kokuho_join 0.2 / 国保喪失 kokuho_loss 0.2: kokuho (with nenkin_1 and kokuho_head as
  needed) starts, or ends (employer insurance; nenkin_1 ends too).
- 要介護認定 kaigo_grade 0.15: the detail of a current kaigo row changes. 印鑑登録 inkan 0.25: a new
  inkan row with the next 登録番号.
- 支援措置 support_new 0.01 (one year from the event day) / support_end 0.005 (ends on the event day:
  unrestricted at the import); support_extend 5 % per day for each measure ending within 30 days
  (the next year's row).
- 番地 banchi_new 0.05 / 建物 building_new 0.01: a new house lot, or an apartment building with its
  rooms (方書); a move also gets a new lot (新築) when no vacant address is at hand.

Each household takes part in at most one event that changes resident rows per day (qualification-only
events excepted), so the importer's person counts follow from the event counts: new = birth +
move_in_persons, moved = move_within_persons + household_split, removed = death + move_out_persons,
changed = head_change_persons + card_issued + card_renewed + e_cert_renewed + residence_renewed.
`EvolveSummary.persons` also states them directly, computed the importer's way.

Row placement, as a core system exporting in key order would: residents.csv, qualifications.csv and
support_measures.csv are in atena_no order, so new persons (the next 宛名番号 numbers) are appended at
the end and a new qualification or measure of an existing person follows that person's existing rows;
addresses.csv and katagaki.csv are in registration order, new entries are appended. Every row that does
not change is copied byte for byte (same line ending; a BOM on the header is kept). New atena_no,
household_no and 住民票コード follow the generator's formats (`atena_no_for`, `household_no_for`,
`juminhyo_code` with its check digit); names come from `names.py` through the generator's own code.

Passes and memory. The files are read line by line and the source is checked against its manifest
(rows and SHA-256) on the way. A census pass keeps ~11 bytes per resident (age, flags, 続柄 class,
household key) to draw the candidates; a second pass keeps the raw lines of the few households,
qualifications and addresses involved (parsed only when the plan looks at them); a third pass copies
the files with the changed rows replaced. Measured on 2 shared cores: 20,000 residents 0.3 s / 34 MB
peak RSS (mostly the interpreter), 1,000,000 residents (440 MB) 12 s / 130 MB. Same input, seed and
`today` give byte-identical output.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import re
import shutil
import tempfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from pathlib import Path

from madoguchi.domain.age import jidou_teate_eligible, kouki_start, reaches_age_on, school_entry_year, school_grade
from madoguchi.errors import InputError

from . import names as N
from .generator import (
    _KAIGO_GRADES,
    _SCHOOLS,
    ADDRESS_COLUMNS,
    CITY,
    FILES,
    KATAGAKI_COLUMNS,
    QUALIFICATION_COLUMNS,
    RESIDENT_COLUMNS,
    SPACE,
    SUPPORT_COLUMNS,
    _birthday,
    _Generator,
    atena_no_for,
    household_no_for,
    juminhyo_code,
)

PREFECTURE = "北海道"
_COLUMNS = {"residents.csv": RESIDENT_COLUMNS, "qualifications.csv": QUALIFICATION_COLUMNS,
            "support_measures.csv": SUPPORT_COLUMNS, "addresses.csv": ADDRESS_COLUMNS,
            "katagaki.csv": KATAGAKI_COLUMNS}
_BOM = b"\xef\xbb\xbf"
_JUKYO = re.compile(r"(\d+)番(\d+)号")
_CHIBAN = re.compile(r"(\d+)番地(\d*)")
_INKAN_NO = re.compile("登録番号(\\d+)".encode())
_CHILD_COUNT = re.compile(r"児童(\d+)人")
_SUPPORT_NOTES = {"dv": "加害者：配偶者（別居中）", "stalker": "加害者：元交際相手"}

# Census flags, one byte per resident row.
_CUR, _HEAD, _FEMALE, _FOREIGN, _NOCARD, _CARD_DUE, _CERT_DUE, _REXP_DUE = (1 << k for k in range(8))
# 続柄 classes, one byte per resident row.
_REL = {"世帯主": 1, "妻": 2, "夫": 2, "子": 3, "子の妻": 4, "孫": 5}


@dataclass(frozen=True)
class EvolveRates:
    """Expected events per 1,000 current residents per day (see the module docstring).

    `support_extend` is a probability per day per measure that ends within 30 days."""

    move_within: float = 0.55
    household_split: float = 0.12
    move_out: float = 0.45
    move_out_single: float = 0.25
    move_in: float = 0.6
    birth: float = 0.08
    death: float = 0.16
    head_change: float = 0.04
    card: float = 1.5
    residence_renewal: float = 0.03
    kokuho_join: float = 0.2
    kokuho_loss: float = 0.2
    kaigo_grade: float = 0.15
    inkan: float = 0.25
    support_new: float = 0.01
    support_end: float = 0.005
    support_extend: float = 0.05
    banchi_new: float = 0.05
    building_new: float = 0.01

    def scaled(self, factor: float) -> EvolveRates:
        """Every rate times `factor` (a quieter or busier day)."""
        if factor < 0:
            raise ValueError("factor must not be negative")
        return EvolveRates(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


# Summary keys in the order the CLI prints them.
CHANGE_KINDS = (
    "move_within", "move_within_persons", "household_split", "move_out", "move_out_persons", "move_in",
    "move_in_persons", "birth", "death", "head_change", "head_change_persons", "card_issued", "card_renewed",
    "e_cert_renewed", "residence_renewed", "kokuho_join", "kokuho_loss", "kaigo_grade", "inkan",
    "kouki_start", "kaigo_start", "qualification_started", "qualification_ended", "qualification_changed",
    "support_started", "support_extended", "support_ended", "banchi_added", "building_added", "katagaki_added",
)


@dataclass
class EvolveSummary:
    folder: Path
    export_id: str
    source_date: date
    today: date
    days: int
    changes: Counter = field(default_factory=Counter)  # CHANGE_KINDS -> count
    persons: dict[str, int] = field(default_factory=dict)  # new/moved/changed/removed as the importer counts
    rows: dict[str, int] = field(default_factory=dict)  # file name -> data rows written
    current_residents: int = 0  # status 1 in the output


# --- CSV plumbing ---------------------------------------------------------------------------------------


def _records(fh) -> Iterator[bytes]:  # noqa: ANN001 - a binary file
    """Raw records of an RFC 4180 file, a quoted line break kept inside its record."""
    pending = b""
    for line in fh:
        if pending:
            pending += line
            if line.count(b'"') & 1:
                yield pending
                pending = b""
        elif line.count(b'"') & 1:
            pending = line
        else:
            yield line
    if pending:
        yield pending


def _split(text: str) -> list[str]:
    text = text.rstrip("\r\n")
    if '"' not in text:
        return text.split(",")
    return next(csv.reader(io.StringIO(text, newline="")), [])


def _fields(raw: bytes) -> list[str]:
    return _split(raw.decode("utf-8", "replace"))


def _blank(raw: bytes) -> bool:
    return len(raw) <= 2 and not raw.strip()


class _Table:
    """One CSV file of the source export: header line, column positions, line ending."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.name = path.name
        with path.open("rb") as fh:
            self.header_raw = fh.readline()
        if not self.header_raw.strip():
            raise InputError(f"元データの {self.name} が空です（見出し行がありません）。"
                             "元データを作り直してください。")
        self.newline = "\r\n" if self.header_raw.endswith(b"\r\n") else "\n"
        try:
            text = self.header_raw.removeprefix(_BOM).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"元データの {self.name} が UTF-8 ではありません。既定レイアウト（UTF-8）の"
                             "連携データを指定してください。") from None
        self.names = [h.strip() for h in next(csv.reader([text.rstrip("\r\n")]))]
        missing = [c for c in columns if c not in self.names]
        if missing:
            raise InputError(f"元データの {self.name} に列「{missing[0]}」がありません。既定レイアウトの"
                             "基幹系連携データ（demo export の出力など）を指定してください。")
        self.col = {n: i for i, n in enumerate(self.names)}
        self.width = len(self.names)

    def records(self, digest: hashlib._Hash | None = None) -> Iterator[bytes]:
        """Data records (blank lines included); `digest` is fed every byte of the file, header too."""
        with self.path.open("rb") as fh:
            fh.readline()
            if digest is not None:
                digest.update(self.header_raw)
                for raw in _records(fh):
                    digest.update(raw)
                    yield raw
            else:
                yield from _records(fh)

    def as_dict(self, f: list[str]) -> dict[str, str]:
        return dict(zip(self.names, f))

    def line(self, row: dict[str, str]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator=self.newline).writerow([row.get(n, "") for n in self.names])
        return buf.getvalue().encode("utf-8")


class _Out:
    """An output file written in blocks; counts data rows, bytes and SHA-256."""

    def __init__(self, path: Path, table: _Table) -> None:
        self.fh = path.open("wb")
        self.sha = hashlib.sha256()
        self.newline = table.newline.encode()
        self.buf: list[bytes] = []
        self.size = 0
        self.bytes = 0
        self.rows = 0
        self.last = b"\n"
        self._put(table.header_raw)

    def _put(self, data: bytes) -> None:
        if not self.last.endswith(b"\n"):  # the source's last line had no line break
            self.buf.append(self.newline)
            self.size += len(self.newline)
        self.buf.append(data)
        self.size += len(data)
        self.last = data
        if self.size >= 1 << 20:
            self.flush()

    def row(self, data: bytes) -> None:
        """One data record (a copied line or a new one)."""
        self.rows += 1
        self._put(data)

    def blank(self, data: bytes) -> None:
        self._put(data)

    def flush(self) -> None:
        block = b"".join(self.buf)
        self.fh.write(block)
        self.sha.update(block)
        self.bytes += len(block)
        self.buf.clear()
        self.size = 0

    def close(self) -> dict:
        self.flush()
        self.fh.close()
        return {"name": Path(self.fh.name).name, "rows": self.rows, "bytes": self.bytes,
                "sha256": self.sha.hexdigest()}


def _atena_key(a: str | bytes) -> tuple[int, str | bytes]:
    """Sort key of 宛名番号: numeric for digit strings (compare str keys with str, bytes with bytes)."""
    return (len(a), a) if a.isdigit() else (1 << 30, a)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _d(s: str) -> date | None:
    try:
        return date.fromisoformat(s) if s else None
    except ValueError:
        return None


def _iso(d: date) -> str:
    return d.isoformat()


def _first_of_next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


# --- the source export ---------------------------------------------------------------------------------


class _Export:
    """A full export folder in the default layout: manifest, date, the five tables."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if not folder.is_dir():
            raise InputError(f"元データのフォルダ「{folder}」がありません。demo export などで作った"
                             "基幹系連携データのフォルダ（manifest.json のあるフォルダ）を指定してください。")
        path = folder / "manifest.json"
        if not path.is_file():
            raise InputError(f"元データのフォルダ「{folder}」に manifest.json がありません。"
                             "基幹系連携データ（全件出力）のフォルダを指定してください。")
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"元データの manifest.json が JSON として読めません（{folder}）。"
                             "元データを作り直してください。") from None
        if not isinstance(data, dict) or str(data.get("kind", "full")) != "full":
            raise InputError(f"元データ「{folder}」は全件出力（manifest.json の kind が full）ではありません。")
        self.export_id = str(data.get("export_id", ""))
        self.manifest_sha = hashlib.sha256(path.read_bytes()).hexdigest()
        created = str(data.get("created_at", ""))[:10]
        try:
            self.date = date.fromisoformat(created)
        except ValueError:
            raise InputError(f"元データの manifest.json の作成日時「{data.get('created_at', '')}」が読めません。"
                             "元データを作り直してください。") from None
        raw = data.get("files", [])
        items = raw.items() if isinstance(raw, dict) else (
            (e.get("name") or e.get("path"), e) for e in raw if isinstance(e, dict))
        self.expected = {str(n): (e.get("rows"), e.get("sha256")) for n, e in items if isinstance(e, dict)}
        for name in FILES:
            if not (folder / name).is_file():
                raise InputError(f"元データのフォルダ「{folder}」に {name} がありません。"
                                 "5つの CSV と manifest.json がそろった全件出力を指定してください。")
        self.tables = {name: _Table(folder / name, _COLUMNS[name]) for name in FILES}

    def check(self, name: str, digest: str, rows: int) -> None:
        want_rows, want_sha = self.expected.get(name, (None, None))
        if (want_sha and want_sha.lower() != digest) or (want_rows is not None and int(want_rows) != rows):
            raise InputError(f"元データの {name} が manifest.json と一致しません（行数または SHA-256）。"
                             "途中で切れたか書き換えられています。元データを作り直してください。")


# --- one day ------------------------------------------------------------------------------------------


class _Day:
    """One day step: census → candidates → gather → plan → write."""

    def __init__(self, src: _Export, out: Path, seed: int, today: date, since: date, rates: EvolveRates) -> None:
        self.src = src
        self.out = out
        self.today = today
        self.day = today - timedelta(days=1)  # the business day whose notifications this export adds
        self.since = since  # the source export's date: date-driven rows begin after it
        self.rates = rates
        self.rng = random.Random(f"madoguchi-evolve:{seed}:{today.isoformat()}")
        self.r = self.rng.random
        # names, household shapes and card dates exactly as the generator makes them
        self.people = _Generator(f"madoguchi-evolve-people:{seed}:{today.isoformat()}", today, [], None)
        self.changes: Counter = Counter()
        self.res = src.tables["residents.csv"]
        self.qual = src.tables["qualifications.csv"]
        self.sup = src.tables["support_measures.csv"]
        self.addr = src.tables["addresses.csv"]
        self.kata = src.tables["katagaki.csv"]

    def run(self) -> dict[str, dict]:
        self.census_master()
        self.draw_places()
        self.resolve_places()
        self.census_residents()
        self.draw_persons()
        self.gather()
        self.plan()
        return self.write()

    # ----- pass 1: the address master and support measures -----------------------------------------
    def census_master(self) -> None:
        # katagaki: which (town, banchi) are buildings
        digest = hashlib.sha256()
        self.buildings: set[str] = set()
        c = self.kata.col
        i_t, i_b = c["town_code"], c["banchi"]
        n = 0
        for raw in self.kata.records(digest):
            if _blank(raw):
                continue
            n += 1
            f = _fields(raw)
            if len(f) == self.kata.width:
                self.buildings.add(f"{f[i_t]}\0{f[i_b]}")
        self.src.check(self.kata.name, digest.hexdigest(), n)
        self.n_kata = n
        # addresses: towns, their style and the highest 番地 (for new lots)
        digest = hashlib.sha256()
        c = self.addr.col
        i_t, i_n, i_k, i_b, i_p, i_d = (c[k] for k in ("town_code", "town_name", "town_kana", "banchi",
                                                        "postal_code", "district"))
        self.towns: dict[str, dict] = {}
        n = 0
        for raw in self.addr.records(digest):
            if _blank(raw):
                continue
            n += 1
            f = _fields(raw)
            if len(f) != self.addr.width:
                continue
            t = self.towns.get(f[i_t])
            if t is None:
                t = self.towns[f[i_t]] = {"code": f[i_t], "name": f[i_n], "kana": f[i_k], "district": f[i_d],
                                          "rows": 0, "style": "", "top": (0, 0), "postal": f[i_p]}
            t["rows"] += 1
            m = _JUKYO.fullmatch(f[i_b])
            style = "jukyo"
            if m is None:
                m = _CHIBAN.fullmatch(f[i_b])
                style = "chiban"
            if m is not None:
                t["style"] = t["style"] or style
                key = (int(m.group(1)), int(m.group(2) or 0))
                if t["style"] == style and key > t["top"]:
                    t["top"], t["postal"] = key, f[i_p]
        self.src.check(self.addr.name, digest.hexdigest(), n)
        self.n_addr = n
        # support measures: small, read whole
        digest = hashlib.sha256()
        self.supports: list[dict] = []
        n = 0
        for raw in self.sup.records(digest):
            if _blank(raw):
                continue
            f = _fields(raw)
            if len(f) == self.sup.width:
                row = self.sup.as_dict(f)
                row["_idx"], row["_orig"] = n, tuple(f)
                self.supports.append(row)
            n += 1
        self.src.check(self.sup.name, digest.hexdigest(), n)

    def draw_places(self) -> None:
        """Candidate flats (katagaki rows) and houses (address rows) for the households that move."""
        rows = self.src.expected.get(self.res.name, (None, None))[0]
        rows = int(rows) if rows is not None else self.res.path.stat().st_size // 280
        rates = self.rates
        moving = (rates.move_within + rates.household_split + rates.move_in) * rows / 1000
        # about 1 flat in 8 and 1 house in 12 stands empty in a generated export; each pool is drawn to
        # hold well over the share of moves it serves (else a move gets a new lot, 新築)
        r = self.r
        self.room_idx = [int(r() * self.n_kata) for _ in range(int(moving * 8) + 40)] if self.n_kata else []
        self.house_idx = [int(r() * self.n_addr) for _ in range(int(moving * 12) + 40)] if self.n_addr else []

    def resolve_places(self) -> None:
        rooms: dict[int, tuple[str, str, str]] = {}  # idx -> (town_code, banchi, katagaki)
        want = set(self.room_idx)
        c = self.kata.col
        idx = -1
        for raw in self.kata.records():
            if _blank(raw):
                continue
            idx += 1
            if idx in want:
                f = _fields(raw)
                if len(f) == self.kata.width:
                    rooms[idx] = (f[c["town_code"]], f[c["banchi"]], f[c["katagaki"]])
        need = {f"{t}\0{b}" for t, b, _ in rooms.values()}
        houses: dict[int, tuple] = {}
        lots: dict[str, tuple] = {}
        want = set(self.house_idx)
        c = self.addr.col
        idx = -1
        for raw in self.addr.records():
            if _blank(raw):
                continue
            idx += 1
            f = None
            if idx in want:
                f = _fields(raw)
                if len(f) == self.addr.width and f"{f[c['town_code']]}\0{f[c['banchi']]}" not in self.buildings:
                    houses[idx] = self._place(f, "")
            if need:
                f = f or _fields(raw)
                if len(f) == self.addr.width and (key := f"{f[c['town_code']]}\0{f[c['banchi']]}") in need:
                    lots[key] = self._place(f, "")
        # places as (town_code, banchi, katagaki, postal_code, district), in drawn order, each once
        self.room_pool = [(*rooms[i], *lot[3:]) for i in dict.fromkeys(self.room_idx)
                          if i in rooms and (lot := lots.get(f"{rooms[i][0]}\0{rooms[i][1]}")) is not None]
        self.house_pool = [houses[i] for i in dict.fromkeys(self.house_idx) if i in houses]

    def _place(self, f: list[str], katagaki: str) -> tuple:
        c = self.addr.col
        return f[c["town_code"]], f[c["banchi"]], katagaki, f[c["postal_code"]], f[c["district"]]

    @staticmethod
    def _place_key(p: tuple | dict) -> str:
        if isinstance(p, dict):
            return f"{p['town_code']}\0{p['banchi']}\0{p['katagaki']}"
        return f"{p[0]}\0{p[1]}\0{p[2]}"

    # ----- pass 1: residents ----------------------------------------------------------------------------
    def census_residents(self) -> None:
        """One byte each of age, flags and 続柄 class and the household key per row; who lives at the
        candidate places; whose 75th birthday / 65 到達日 falls in this step."""
        t = self.res
        c = t.col
        i_a, i_h, i_head, i_rel, i_kind = c["atena_no"], c["household_no"], c["is_householder"], \
            c["relationship"], c["resident_kind"]
        i_st, i_bd, i_sex, i_card, i_cert = c["status"], c["birth_date"], c["sex"], c["mynumber_card_expiry"], \
            c["e_cert_expiry"]
        i_rexp, i_rstat = c["residence_expiry"], c["residence_status"]
        i_t, i_b, i_k = c["town_code"], c["banchi"], c["katagaki"]
        width = t.width
        ages, flags, rels, hh = bytearray(), bytearray(), bytearray(), array("q")
        kouki_bd, kaigo_bd = self._trigger_birth_dates()
        self.triggers: list[tuple[int, str]] = []
        places = {self._place_key(p) for p in self.room_pool + self.house_pool}
        self.occupied: set[str] = set()
        tm = self.today + timedelta(days=1)  # legal age on `today` = everyday age on the day after
        ty, tmd = tm.year, f"{tm:%m-%d}"
        card_lo, card_hi = _iso(self.day - timedelta(days=60)), _iso(self.day + timedelta(days=90))
        rexp_lo, rexp_hi = _iso(self.day), _iso(self.day + timedelta(days=60))
        rel_code = _REL.get
        max_atena = max_hh = current = 0
        digest = hashlib.sha256()
        idx = -1
        for raw in t.records(digest):
            if _blank(raw):
                continue
            idx += 1
            text = raw.decode("utf-8", "replace")
            f = _split(text)
            if len(f) != width:
                ages.append(0)
                flags.append(0)
                rels.append(0)
                hh.append(-1)
                continue
            a, hno = f[i_a], f[i_h]
            if a.isdigit() and int(a) > max_atena:
                max_atena = int(a)
            if hno.isdigit():
                key = int(hno)
                max_hh = max(max_hh, key)
            else:
                key = zlib.crc32(hno.encode())
            hh.append(key)
            bd = f[i_bd]
            try:
                age = ty - int(bd[:4]) - (bd[5:10] > tmd)
            except ValueError:
                age = -1
            fl = 0
            if f[i_st] == "1" and age >= 0 and "\ufffd" not in text:
                fl = _CUR
                current += 1
                if f"{f[i_t]}\0{f[i_b]}\0{f[i_k]}" in places:
                    self.occupied.add(f"{f[i_t]}\0{f[i_b]}\0{f[i_k]}")
                if f[i_head] == "1":
                    fl |= _HEAD
                if f[i_sex] == "2":
                    fl |= _FEMALE
                card, cert = f[i_card], f[i_cert]
                if not card or card < card_lo:
                    fl |= _NOCARD
                elif card <= card_hi:
                    fl |= _CARD_DUE
                elif cert and card_lo <= cert <= card_hi:
                    fl |= _CERT_DUE
                if f[i_kind] == "2":
                    fl |= _FOREIGN
                    rexp = f[i_rexp]
                    if rexp and rexp_lo <= rexp <= rexp_hi and f[i_rstat] not in ("永住者", "特別永住者"):
                        fl |= _REXP_DUE
                if bd in kouki_bd:
                    self.triggers.append((idx, "kouki"))
                if bd in kaigo_bd:
                    self.triggers.append((idx, "kaigo"))
            elif f[i_st] == "1" and f"{f[i_t]}\0{f[i_b]}\0{f[i_k]}" in places:
                self.occupied.add(f"{f[i_t]}\0{f[i_b]}\0{f[i_k]}")
            ages.append(min(max(age, 0), 255))
            flags.append(fl)
            rels.append(rel_code(f[i_rel], 0))
        self.src.check(t.name, digest.hexdigest(), idx + 1)
        self.room_pool = [p for p in self.room_pool if self._place_key(p) not in self.occupied]
        self.house_pool = [p for p in self.house_pool if self._place_key(p) not in self.occupied]
        self.room_pool.reverse()  # take_place pops from the end: the first drawn first
        self.house_pool.reverse()
        self.n_rows = idx + 1
        self.ages, self.flags, self.rels, self.hh = ages, flags, rels, hh
        self.current = current
        # the next numbers in the generator's sequences, above every number in use
        self.atena_seq = max(0, -(-(max_atena - 1_000_000_000) // 7))
        self.hh_seq = max(0, -(-(max_hh - 30_000_000) // 3))

    def _trigger_birth_dates(self) -> tuple[set[str], set[str]]:
        """Birth dates whose 75th birthday (後期高齢者医療) or 65 到達日 (介護保険) falls after the
        source export's date, up to `today`."""
        lo, hi = self.since, self.today
        kouki, kaigo = set(), set()
        for years, starts, out in ((75, kouki_start, kouki), (65, lambda b: reaches_age_on(b, 65), kaigo)):
            first = _birthday(lo, lo.year - years) - timedelta(days=3)
            last = _birthday(hi, hi.year - years) + timedelta(days=3)
            d = first
            while d <= last:
                if lo < starts(d) <= hi:
                    out.add(_iso(d))
                d += timedelta(days=1)
        return kouki, kaigo

    # ----- candidates --------------------------------------------------------------------------------
    def _pick(self, n: int, weight: Callable[[int], float]) -> list[int]:
        """Up to n distinct resident rows, each accepted with probability weight(row)."""
        out: list[int] = []
        seen: set[int] = set()
        rows, r = self.n_rows, self.r
        tries = 400 * n + 4000
        while len(out) < n and tries > 0 and rows:
            tries -= 1
            i = int(r() * rows)
            if i in seen:
                continue
            w = weight(i)
            if w > 0 and r() < w:
                seen.add(i)
                out.append(i)
        return out

    def draw_persons(self) -> None:
        rates, k = self.rates, self.current / 1000.0
        self.k = {name: _poisson(self.rng, getattr(rates, name) * k)
                  for name in ("death", "move_out", "move_out_single", "move_within", "household_split",
                               "head_change", "birth", "card", "residence_renewal", "kokuho_loss",
                               "kokuho_join", "kaigo_grade", "inkan", "move_in", "support_new", "support_end",
                               "banchi_new", "building_new")}
        ages, flags, rels = self.ages, self.flags, self.rels
        cur = _CUR

        def death(i: int) -> float:
            if not flags[i] & cur:
                return 0.0
            return (min(0.5, 2e-5 * math.exp(0.095 * ages[i])) + 1e-4) / 0.5

        def birth(i: int) -> float:
            fl, a = flags[i], ages[i]
            if fl & (cur | _FEMALE) != cur | _FEMALE or not 18 <= a <= 45:
                return 0.0
            w = {2: 1.0, 4: 1.0, 1: 0.15}.get(rels[i], 0.0)
            return w * math.exp(-(((a - 31) / 5.5) ** 2) / 2)

        def head(young: float, middle: float, old: float, foreign: float = 1.0) -> Callable[[int], float]:
            def w(i: int) -> float:
                fl, a = flags[i], ages[i]
                if fl & (cur | _HEAD) != cur | _HEAD or a < 18:
                    return 0.0
                v = young if a < 40 else middle if a < 65 else old
                return min(1.0, v * (foreign if fl & _FOREIGN else 1.0))
            return w

        def child(lo: int, hi: int) -> Callable[[int], float]:
            return lambda i: 1.0 if flags[i] & cur and rels[i] in (3, 5) and lo <= ages[i] <= hi else 0.0

        def aged(lo: int, hi: int, extra: int = 0) -> Callable[[int], float]:
            return lambda i: 1.0 if flags[i] & cur and lo <= ages[i] <= hi and flags[i] & extra == extra else 0.0

        def card(i: int) -> float:
            fl = flags[i]
            if not fl & cur:
                return 0.0
            return 1.0 if fl & (_CARD_DUE | _CERT_DUE) else 0.3 if fl & _NOCARD else 0.0

        def kokuho_join(i: int) -> float:
            return (1.0 if 60 <= ages[i] <= 64 else 0.3) if flags[i] & cur and 20 <= ages[i] <= 74 else 0.0

        def kaigo(i: int) -> float:
            return min(1.0, (ages[i] - 60) / 40) if flags[i] & cur and ages[i] >= 65 else 0.0

        def old_head(i: int) -> float:
            return min(1.0, (ages[i] - 65) / 35) if flags[i] & (cur | _HEAD) == cur | _HEAD and ages[i] >= 70 else 0.0

        k = self.k
        # oversampled where the plan checks facts the census does not see (household, qualifications)
        self.cands = {
            "death": self._pick(k["death"] * 2, death),
            "move_out": self._pick(k["move_out"] * 2, head(1.0, 0.4, 0.12, 2.0)),
            "move_out_single": self._pick(k["move_out_single"] * 2, child(18, 40)),
            "move_within": self._pick(k["move_within"] * 2, head(1.0, 0.55, 0.25)),
            "household_split": self._pick(k["household_split"] * 3, child(18, 35)),
            "head_change": self._pick(k["head_change"] * 6, old_head),
            "birth": self._pick(k["birth"] * 3, birth),
            "card": self._pick(k["card"] * 2, card),
            "residence_renewal": self._pick(k["residence_renewal"] * 2, aged(0, 255, _REXP_DUE)),
            "kokuho_loss": self._pick(k["kokuho_loss"] * 10, aged(20, 64)),
            "kokuho_join": self._pick(k["kokuho_join"] * 4, kokuho_join),
            "kaigo_grade": self._pick(k["kaigo_grade"] * 4, kaigo),
            "inkan": self._pick(k["inkan"] * 4, aged(15, 255)),
            "support_new": self._pick(k["support_new"] * 3, aged(18, 55, _FEMALE)),
        }

    # ----- pass 2: gather --------------------------------------------------------------------------------
    def gather(self) -> None:
        """The raw rows of every candidate's household and their qualifications (parsed when the plan
        looks at them); the highest 印鑑登録番号."""
        keys = {self.hh[i] for rows in self.cands.values() for i in rows}
        keys.update(self.hh[i] for i, _ in self.triggers)
        keys.discard(-1)
        t = self.res
        i_h, i_a = t.col["household_no"], t.col["atena_no"]
        hh = self.hh
        self.raw_rows: dict[int, bytes] = {}
        self.hh_rows: dict[str, list[int]] = {}
        self.by_idx: dict[int, dict] = {}  # parsed rows
        atenas: set[bytes] = set()
        idx = -1
        for raw in t.records():
            if _blank(raw):
                continue
            idx += 1
            if hh[idx] in keys:
                f = _fields(raw)
                self.raw_rows[idx] = raw
                self.hh_rows.setdefault(f[i_h], []).append(idx)
                atenas.add(f[i_a].encode())
        self.qual_raw: dict[str, list[tuple[int, bytes]]] = {}
        self.quals: dict[str, list[dict]] = {}  # parsed
        search = _INKAN_NO.search
        self.inkan_no = 0
        digest = hashlib.sha256()
        idx = -1
        for raw in self.qual.records(digest):
            if _blank(raw):
                continue
            idx += 1
            if b",inkan," in raw and (m := search(raw, max(0, len(raw) - 64))):  # the detail ends the line
                self.inkan_no = max(self.inkan_no, int(m.group(1)))
            a = raw[:raw.find(b",")]
            if a in atenas:
                self.qual_raw.setdefault(a.decode(), []).append((idx, raw))
        self.src.check(self.qual.name, digest.hexdigest(), idx + 1)

    def row(self, idx: int) -> dict | None:
        """The gathered resident row `idx`, parsed once (the plan edits the dict in place)."""
        got = self.by_idx.get(idx)
        if got is None and (raw := self.raw_rows.get(idx)) is not None:
            f = _fields(raw)
            if len(f) == self.res.width:
                got = self.by_idx[idx] = self.res.as_dict(f)
                got["_idx"], got["_orig"] = idx, tuple(f)
        return got

    # ----- the plan ------------------------------------------------------------------------------------
    def plan(self) -> None:
        self.touched_hh: set[str] = set()  # households whose resident rows changed today
        self.touched_q: set[str] = set()  # persons with a qualification event today
        self.new_residents: list[dict] = []
        self.new_quals: dict[str, list[dict]] = {}
        self.new_supports: list[dict] = []
        self.new_addresses: list[dict] = []
        self.new_katagaki: list[dict] = []
        for name in ("death", "move_out", "move_out_single", "move_within", "household_split", "head_change",
                     "birth", "card", "residence_renewal"):
            step = getattr(self, f"_{name}")
            done = 0
            for i in self.cands[name]:
                if done >= self.k[name]:
                    break
                row = self.row(i)
                if row is not None and row["status"] == "1" and step(row):
                    done += 1
        for name in ("kokuho_loss", "kokuho_join", "kaigo_grade", "inkan"):
            step = getattr(self, f"_{name}")
            done = 0
            for i in self.cands[name]:
                if done >= self.k[name]:
                    break
                row = self.row(i)
                if row is not None and row["status"] == "1" and row["atena_no"] not in self.touched_q \
                        and step(row):
                    self.touched_q.add(row["atena_no"])
                    self.changes[name] += 1
                    done += 1
        for i, what in self.triggers:
            row = self.row(i)
            if row is not None and row["status"] == "1":
                self._age_reached(row, what)
        self._supports()
        for _ in range(self.k["banchi_new"]):
            self._new_banchi()
        for _ in range(self.k["building_new"]):
            self._new_building()  # its flats are the first a newcomer gets
        for _ in range(self.k["move_in"]):
            self._move_in()

    # helpers on the gathered rows
    def stamp(self) -> str:
        return f"{_iso(self.day)}T{8 + int(self.r() * 10):02d}:{int(self.r() * 60):02d}:00+09:00"

    def household(self, row: dict) -> list[dict]:
        """Every row of the row's household (除票 included), in file order."""
        hno = row["household_no"]
        rows = [self.row(i) for i in self.hh_rows.get(hno, ())]
        return [m for m in rows if m is not None and m["household_no"] == hno] or [row]

    def members(self, row: dict) -> list[dict]:
        """Current members of the row's household (the row included), in file order."""
        return [m for m in self.household(row) if m["status"] == "1"]

    def free(self, row: dict) -> bool:
        return row["household_no"] not in self.touched_hh

    def head_of(self, row: dict) -> dict | None:
        return next((m for m in self.members(row) if m["is_householder"] == "1"), None)

    def age(self, row: dict, on: date | None = None) -> int:
        b = _d(row["birth_date"])
        on = (on or self.today) + timedelta(days=1)
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day)) if b else -1

    def qrows(self, atena: str) -> list[dict]:
        rows = self.quals.get(atena)
        if rows is None:
            rows = self.quals[atena] = []
            for idx, raw in self.qual_raw.get(atena, ()):
                f = _fields(raw)
                if len(f) == self.qual.width:
                    q = self.qual.as_dict(f)
                    q["_idx"], q["_orig"] = idx, tuple(f)
                    rows.append(q)
        return [q for q in rows + self.new_quals.get(atena, []) if not q.get("_deleted")]

    def current_q(self, atena: str, kind: str, role: str | None = None) -> dict | None:
        day = _iso(self.day)
        for q in self.qrows(atena):
            if q["kind"] == kind and (role is None or q["role"] == role) and (not q["end_date"]
                                                                              or q["end_date"] >= day):
                return q
        return None

    def add_q(self, atena: str, kind: str, role: str, start: date, detail: str = "") -> bool:
        s = _iso(start)
        if any(q["kind"] == kind and q["start_date"] == s for q in self.qrows(atena)):
            return False  # (atena_no, kind, start_date) is the key
        self.new_quals.setdefault(atena, []).append(
            {"atena_no": atena, "kind": kind, "role": role, "start_date": s, "end_date": "", "detail": detail})
        self.changes["qualification_started"] += 1
        return True

    def end_q(self, q: dict, end: date) -> None:
        e = _iso(end)
        if q["start_date"] > e:  # had not begun: the row goes (the generator writes no such row)
            q["_deleted"] = True
        else:
            q["end_date"] = e
        self.changes["qualification_ended"] += 1

    def end_all_q(self, atena: str, end: date) -> None:
        e = _iso(end)
        for q in self.qrows(atena):
            if not q["end_date"] or q["end_date"] > e:
                self.end_q(q, end)

    def _settle_kokuho_head(self, rows: list[dict], last_day: date) -> None:
        """国保世帯主 ends when no current member of the household is insured by 国保 any more."""
        if any(self.current_q(m["atena_no"], "kokuho", "insured") for m in rows if m["status"] == "1"):
            return
        head = next((m for m in rows if m["status"] == "1" and m["is_householder"] == "1"), None)
        if head is not None and (q := self.current_q(head["atena_no"], "kokuho_head")) is not None:
            self.end_q(q, max(last_day, _d(q["start_date"]) or last_day))

    def address_text(self, row: dict) -> str:
        town = self.towns.get(row["town_code"], {}).get("name", "")
        kata = f"　{row['katagaki']}" if row["katagaki"] else ""
        return f"{PREFECTURE}{CITY}{town}{row['banchi']}{kata}"

    def new_atena(self) -> str:
        self.atena_seq += 1
        return atena_no_for(self.atena_seq)

    def new_household_no(self) -> str:
        self.hh_seq += 1
        return household_no_for(self.hh_seq)

    # resident events ---------------------------------------------------------------------------------
    def _death(self, p: dict) -> bool:
        if not self.free(p):
            return False
        since = _d(p["address_since"]) or self.day
        on = max(self.day - timedelta(days=int(self.r() * 3)), min(since + timedelta(days=1), self.day))
        others = [m for m in self.members(p) if m is not p]
        p.update(status="3", removed_on=_iso(on), removal_reason="死亡", updated_at=self.stamp())
        kokuho_head = self.current_q(p["atena_no"], "kokuho_head")
        self.end_all_q(p["atena_no"], on)
        self.touched_hh.add(p["household_no"])
        self.changes["death"] += 1
        if p["is_householder"] == "1" and others:
            self._rehead(others, p, None, on + timedelta(days=1), kokuho_head is not None)
        else:
            self._settle_kokuho_head(others, on)
        return True

    def _leave(self, rows: list[dict], on: date) -> None:
        for m in rows:
            m.update(status="2", removed_on=_iso(on), removal_reason="転出", updated_at=self.stamp())
            self.end_all_q(m["atena_no"], on)
        self.changes["move_out_persons"] += len(rows)

    def _move_out(self, head: dict) -> bool:
        if not self.free(head) or head["is_householder"] != "1":
            return False
        self._leave(self.members(head), self.day)
        self.touched_hh.add(head["household_no"])
        self.changes["move_out"] += 1
        return True

    def _move_out_single(self, p: dict) -> bool:
        if not self.free(p) or p["is_householder"] == "1" or len(self.members(p)) < 2:
            return False
        self._leave([p], self.day)
        self._settle_kokuho_head(self.members(p), self.day)
        self.touched_hh.add(p["household_no"])
        return True

    def _move_date(self, rows: list[dict]) -> date:
        latest = max((_d(m["address_since"]) or date.min for m in rows), default=date.min)
        on = self.day - timedelta(days=int(self.r() * 7))
        return min(max(on, latest + timedelta(days=1)), self.day)

    def _relocate(self, rows: list[dict], dest: dict) -> None:
        on = self._move_date(rows)
        for m in rows:
            m.update(moved_in_from=self.address_text(m), town_code=dest["town_code"], banchi=dest["banchi"],
                     katagaki=dest["katagaki"], postal_code=dest["postal_code"], address_since=_iso(on),
                     updated_at=self.stamp())

    def _move_within(self, head: dict) -> bool:
        if not self.free(head) or head["is_householder"] != "1":
            return False
        rows = self.members(head)
        flat = self.r() < (0.6 if len(rows) <= 2 and self.age(head) < 65 else 0.2)
        dest = self.take_place(flat)
        self._relocate(rows, dest)
        self.touched_hh.add(head["household_no"])
        self.changes["move_within"] += 1
        self.changes["move_within_persons"] += len(rows)
        return True

    def _household_split(self, p: dict) -> bool:
        if not self.free(p) or p["is_householder"] == "1" or len(self.members(p)) < 2:
            return False
        old = p["household_no"]
        stay = [m for m in self.members(p) if m is not p]
        dest = self.take_place(self.r() < 0.8)
        self._relocate([p], dest)
        p.update(household_no=self.new_household_no(), is_householder="1", relationship="世帯主")
        if self.current_q(p["atena_no"], "kokuho", "insured") is not None:  # 国保: a household of their own
            self.add_q(p["atena_no"], "kokuho_head", "head", _d(p["address_since"]) or self.day)
            self._settle_kokuho_head(stay, (_d(p["address_since"]) or self.day) - timedelta(days=1))
        self.touched_hh.update((old, p["household_no"]))
        self.changes["household_split"] += 1
        return True

    def _head_change(self, head: dict) -> bool:
        if not self.free(head) or head["is_householder"] != "1":
            return False
        kids = [m for m in self.members(head) if m["relationship"] == "子" and self.age(m) >= 25]
        if not kids:
            return False
        kids.sort(key=lambda m: m["birth_date"])
        has_kokuho_head = self.current_q(head["atena_no"], "kokuho_head") is not None
        self._rehead(self.members(head), head, kids[0], self.day, has_kokuho_head)
        return True

    def _rehead(self, rows: list[dict], old: dict, new: dict | None, on: date, kokuho_head: bool) -> None:
        """Make `new` (or the spouse, else the eldest child, else the eldest member) the householder of
        `rows` instead of `old` and restate every 続柄 relative to them."""
        if new is None:
            adults = sorted((m for m in rows if self.age(m) >= 18), key=lambda m: m["birth_date"])
            new = next((m for m in adults if m["relationship"] in ("妻", "夫")), None) \
                or next((m for m in adults if m["relationship"] == "子"), None) \
                or min(rows, key=lambda m: m["birth_date"])
        new_rel, new_sex, new_birth = new["relationship"], new["sex"], new["birth_date"]
        changed = 0
        for m in rows:
            if m is new:
                rel, head = "世帯主", "1"
            else:
                rel = _relationship_to_new_head(m["relationship"], m["sex"], m["birth_date"], new_rel, new_sex,
                                                new_birth)
                head = "0"
            if (rel, head) != (m["relationship"], m["is_householder"]):
                m.update(relationship=rel, is_householder=head, updated_at=self.stamp())
                changed += 1
        if kokuho_head:
            q = self.current_q(old["atena_no"], "kokuho_head")
            if q is not None and old["status"] == "1":
                self.end_q(q, on - timedelta(days=1))
            if any(self.current_q(m["atena_no"], "kokuho", "insured") for m in rows):
                self.add_q(new["atena_no"], "kokuho_head", "head", on)
        self.touched_hh.add(new["household_no"])
        self.changes["head_change"] += 1
        self.changes["head_change_persons"] += changed

    def _birth(self, mother: dict) -> bool:
        if not self.free(mother):
            return False
        rows = self.members(mother)
        rel = mother["relationship"]
        if rel == "妻":
            father = self.head_of(mother)
        elif rel == "世帯主":
            father = next((m for m in rows if m["relationship"] == "夫"), None)
        elif rel == "子の妻":
            sons = [m for m in rows if m["relationship"] == "子" and m["sex"] == "1"]
            father = min(sons, key=lambda m: abs(self.age(m) - self.age(mother)), default=None)
        else:
            return False
        if father is not None and father["resident_kind"] != "1":
            return False  # a child of foreign parents: not modelled
        if father is None and mother["resident_kind"] != "1":
            return False
        parent = father or mother
        sn, _, _ = parent["name"].partition(SPACE)
        snk, _, _ = parent["name_kana"].partition(SPACE)
        born = self.day - timedelta(days=int(self.r() * 14))  # 出生届: within 14 days
        kid = self.people.person(sn, snk, "1" if self.r() < 0.512 else "2", born.toordinal(),
                                 "孫" if rel == "子の妻" else "子")
        a = self.new_atena()
        b = _iso(born)
        self.new_residents.append({
            "atena_no": a, "juminhyo_code": juminhyo_code(a), "household_no": mother["household_no"],
            "is_householder": "0", "relationship": kid.rel, "resident_kind": "1", "status": "1",
            "name": f"{sn}{SPACE}{kid.gn}", "name_kana": f"{snk}{SPACE}{kid.gnk}", "birth_date": b, "sex": kid.sex,
            "town_code": mother["town_code"], "banchi": mother["banchi"], "katagaki": mother["katagaki"],
            "postal_code": mother["postal_code"], "resident_since": b, "address_since": b,
            "honseki": parent["honseki"], "hittousha": parent["hittousha"], "updated_at": self.stamp(),
        })
        self.add_q(a, "kodomo_iryou", "child", born)
        q = self.current_q(parent["atena_no"], "jidou_teate", "recipient")
        if q is not None and (m := _CHILD_COUNT.fullmatch(q["detail"])):
            q["detail"] = f"児童{int(m.group(1)) + 1}人"  # 額改定: one more child on the current 認定
            self.changes["qualification_changed"] += 1
        elif q is None:
            self.add_q(parent["atena_no"], "jidou_teate", "recipient", _first_of_next_month(born), "児童1人")
        self.touched_hh.add(mother["household_no"])
        self.changes["birth"] += 1
        return True

    def _card(self, p: dict) -> bool:
        if not self.free(p):
            return False
        b = _d(p["birth_date"])
        card, cert = _d(p["mynumber_card_expiry"]), _d(p["e_cert_expiry"])
        lo, hi = self.day - timedelta(days=60), self.day + timedelta(days=90)
        new_card, new_cert = self._card_dates(p, b)
        if card is not None and card >= lo and not card <= hi:  # card fine: only the 電子証明書
            if cert is None or not lo <= cert <= hi or new_cert is None:
                return False
            p.update(e_cert_expiry=_iso(min(new_cert, card)), updated_at=self.stamp())
            kind = "e_cert_renewed"
        else:
            kind = "card_issued" if card is None or card < lo else "card_renewed"
            p.update(mynumber_card_expiry=_iso(new_card), e_cert_expiry=_iso(new_cert) if new_cert else "",
                     updated_at=self.stamp())
        self.touched_hh.add(p["household_no"])
        self.changes[kind] += 1
        return True

    def _card_dates(self, p: dict, b: date) -> tuple[date, date | None]:
        """A card issued on the event day: the 10th (under 18: 5th) birthday after issue; 電子証明書 (15+)
        the 5th. A foreign resident's card ends with the period of stay."""
        iss = self.day
        bday = _birthday(b, iss.year)
        adjust = 1 if bday > iss else 0
        card = _birthday(b, iss.year + (10 if self.age(p, iss) >= 18 else 5) - adjust)
        rexp = _d(p["residence_expiry"])
        if p["resident_kind"] == "2" and rexp is not None and p["residence_status"] not in ("永住者", "特別永住者"):
            card = min(card, rexp)
        cert = min(_birthday(b, iss.year + 5 - adjust), card) if self.age(p, iss) >= 15 else None
        return card, cert

    def _residence_renewal(self, p: dict) -> bool:
        rexp = _d(p["residence_expiry"])
        if not self.free(p) or rexp is None or p["resident_kind"] != "2":
            return False
        years = (1, 3, 5)[int(self.r() * 3)]
        new = _birthday(rexp, rexp.year + years)
        if p["mynumber_card_expiry"] == p["residence_expiry"]:
            p["mynumber_card_expiry"] = _iso(new)
        p.update(residence_expiry=_iso(new), updated_at=self.stamp())
        self.touched_hh.add(p["household_no"])
        self.changes["residence_renewed"] += 1
        return True

    # qualification events ---------------------------------------------------------------------------------
    def _kokuho_loss(self, p: dict) -> bool:
        q = self.current_q(p["atena_no"], "kokuho", "insured")
        if q is None or q["end_date"] or self.age(p) >= 75:
            return False
        start = _d(q["start_date"]) or self.day
        end = max(self.day - timedelta(days=1 + int(self.r() * 13)), start)  # the day before 社保 began
        self.end_q(q, end)
        if self.age(p) < 60 and (n1 := self.current_q(p["atena_no"], "nenkin_1")) is not None:
            self.end_q(n1, end)  # 第1号 → 第2号
        self._settle_kokuho_head(self.members(p), end)
        return True

    def _kokuho_join(self, p: dict) -> bool:
        a = p["atena_no"]
        if any(self.current_q(a, k) for k in ("kokuho", "kouki", "seikatsu_hogo")) or self.age(p) >= 75:
            return False
        since = _d(p["address_since"]) or self.day
        start = min(max(self.day - timedelta(days=int(self.r() * 14)), since), self.day)  # 退職の翌日
        if not self.add_q(a, "kokuho", "insured", start):
            return False
        if self.age(p) < 60 and self.current_q(a, "nenkin_1") is None:
            self.add_q(a, "nenkin_1", "insured", start)
        head = self.head_of(p)
        if head is not None and self.current_q(head["atena_no"], "kokuho_head") is None:
            self.add_q(head["atena_no"], "kokuho_head", "head", start)
        return True

    def _kaigo_grade(self, p: dict) -> bool:
        q = self.current_q(p["atena_no"], "kaigo", "insured")
        if q is None:
            return False
        grades = _KAIGO_GRADES
        if q["detail"] in grades:
            k = grades.index(q["detail"]) + (1 if self.r() < 0.7 else -1)
            q["detail"] = grades[min(max(k, 0), len(grades) - 1)] if k >= 0 else ""
        else:
            q["detail"] = grades[int(self.r() * 4)]  # 要支援1 … 要介護2
        self.changes["qualification_changed"] += 1
        return True

    def _inkan(self, p: dict) -> bool:
        if self.current_q(p["atena_no"], "inkan") is not None or self.age(p) < 15:
            return False
        self.inkan_no += 1
        return self.add_q(p["atena_no"], "inkan", "holder", self.day, f"登録番号{self.inkan_no:07d}")

    def _age_reached(self, p: dict, what: str) -> None:
        a, b = p["atena_no"], _d(p["birth_date"])
        if b is None:
            return
        if what == "kaigo":
            if self.current_q(a, "kaigo") is None and self.add_q(a, "kaigo", "insured", reaches_age_on(b, 65)):
                self.changes["kaigo_start"] += 1
            return
        if self.current_q(a, "kouki") is not None or self.current_q(a, "seikatsu_hogo") is not None:
            return
        start = kouki_start(b)
        if not self.add_q(a, "kouki", "insured", start, f"被保険者番号{int(a) % 10**8:08d}" if a.isdigit() else ""):
            return
        self.changes["kouki_start"] += 1
        q = self.current_q(a, "kokuho", "insured")
        if q is not None and (not q["end_date"] or q["end_date"] >= _iso(start)):
            self.end_q(q, start - timedelta(days=1))
            self._settle_kokuho_head(self.members(p), start - timedelta(days=1))

    def _supports(self) -> None:
        day = _iso(self.day)
        current = [s for s in self.supports if (not s["start_date"] or s["start_date"] <= day)
                   and (not s["end_date"] or s["end_date"] >= day)]
        ending = min(1.0, self.rates.support_extend)
        soon = _iso(self.day + timedelta(days=30))
        extended: set[str] = set()
        for s in current:
            if s["end_date"] and s["end_date"] <= soon and self.r() < ending:
                start = _d(s["end_date"]) + timedelta(days=1)
                if any(o["atena_no"] == s["atena_no"] and o["start_date"] >= _iso(start) for o in self.supports):
                    continue
                self.new_supports.append({"atena_no": s["atena_no"], "start_date": _iso(start),
                                          "end_date": _iso(start + timedelta(days=364)), "kind": s["kind"],
                                          "note": s["note"]})
                extended.add(s["atena_no"])
                self.changes["support_extended"] += 1
        for _ in range(self.k["support_end"]):
            open_ = [s for s in current if s["end_date"] != day and s["atena_no"] not in extended]
            if not open_:
                break
            s = open_[int(self.r() * len(open_))]
            s["end_date"] = day  # 終了の申出: restricted no longer from the next import
            self.changes["support_ended"] += 1
        done = 0
        restricted = {s["atena_no"] for s in self.supports + self.new_supports}
        for i in self.cands["support_new"]:
            if done >= self.k["support_new"]:
                break
            row = self.row(i)
            if row is None or row["status"] != "1" or row["atena_no"] in restricted:
                continue
            kind = "dv" if self.r() < 0.8 else "stalker"
            self.new_supports.append({"atena_no": row["atena_no"], "start_date": day,
                                      "end_date": _iso(self.day + timedelta(days=364)), "kind": kind,
                                      "note": _SUPPORT_NOTES[kind]})
            restricted.add(row["atena_no"])
            self.changes["support_started"] += 1
            done += 1

    # move-ins ---------------------------------------------------------------------------------------------
    def _move_in(self) -> None:
        g = self.people
        for _ in range(50):  # newcomers are mostly of working age
            members, shape = g.household()
            members = [m for m in members if m.b < g.t]
            if members and ((g.t - members[0].b) / 365.2425 < 65 or self.r() < 0.25):
                break
        head = members[0]
        head.koseki = head.koseki or head
        flat = self.r() < (0.6 if len(members) <= 2 else 0.25)
        dest = self.take_place(flat)
        hno = self.new_household_no()
        on = self.day - timedelta(days=int(self.r() * 7))  # 転入届: within 14 days of moving
        pc = N.PREVIOUS_CITIES[int(self.r() * len(N.PREVIOUS_CITIES))]
        if pc.endswith("区"):
            came_from = f"{pc}{1 + int(self.r() * 9)}丁目{1 + int(self.r() * 30)}番{1 + int(self.r() * 20)}号"
        else:
            came_from = f"{pc}{1 + int(self.r() * 3000)}番地{1 + int(self.r() * 9)}"
        honseki = f"{pc}{1 + int(self.r() * 900)}番地"
        elderly = any((g.t - m.b) / 365.2425 >= 60 for m in members) or shape in ("couple_elderly",
                                                                               "single_elderly")
        if head.kind == "2":
            kokuho = head.rstat in ("永住者", "特別永住者", "家族滞在") and self.r() < 0.4
        else:
            kokuho = self.r() < (0.85 if elderly else 0.24)
        for m in members:
            m.atena = self.new_atena()
        for m in members:
            a = m.atena
            card, cert = g.card_expiry(m)  # a card made before the move (特例転入) or none
            if m.kind == "1":
                k = m.koseki or head
                hittousha = f"{k.sn}{SPACE}{k.gn}" if k.kind == "1" else f"{m.sn}{SPACE}{m.gn}"
                moved, hs = came_from, honseki
            else:
                hittousha, hs = "", ""
                moved = came_from if m.rstat == "特別永住者" else f"国外（{m.nat}）"
            self.new_residents.append({
                "atena_no": a, "juminhyo_code": juminhyo_code(a), "household_no": hno,
                "is_householder": "1" if m is head else "0", "relationship": m.rel, "resident_kind": m.kind,
                "status": "1", "name": f"{m.sn}{SPACE}{m.gn}", "name_kana": f"{m.snk}{SPACE}{m.gnk}",
                "former_surname": m.former, "alias": m.alias, "alias_kana": m.alias_kana, "romaji_name": m.romaji,
                "birth_date": g.s(m.b), "sex": m.sex, "town_code": dest["town_code"], "banchi": dest["banchi"],
                "katagaki": dest["katagaki"], "postal_code": dest["postal_code"], "resident_since": _iso(on),
                "address_since": _iso(on), "moved_in_from": moved, "honseki": hs, "hittousha": hittousha,
                "nationality": m.nat, "residence_status": m.rstat, "residence_expiry": g.s(m.rexp),
                "mynumber_card_expiry": g.s(card), "e_cert_expiry": g.s(cert), "updated_at": self.stamp(),
            })
            self._move_in_quals(m, members, head, on, kokuho, dest)
        self.changes["move_in"] += 1
        self.changes["move_in_persons"] += len(members)

    def _move_in_quals(self, m, members, head, on: date, kokuho: bool, dest: dict) -> None:  # noqa: ANN001
        a, bd = m.atena, self.people.d(m.b)
        age = self.age({"birth_date": _iso(bd)})
        if age >= 75:
            self.add_q(a, "kouki", "insured", on, f"被保険者番号{int(a) % 10**8:08d}")
        if age >= 65:
            self.add_q(a, "kaigo", "insured", on)
        if kokuho and age < 75:
            self.add_q(a, "kokuho", "insured", on)
            if 20 <= age < 60:
                self.add_q(a, "nenkin_1", "insured", on)
        if kokuho and m is head and any(self.people.t - x.b < 75 * 365.2425 for x in members):
            self.add_q(a, "kokuho_head", "head", on)
        if m.parent is not None or m.rel in ("子", "孫", "妻の子"):
            if jidou_teate_eligible(bd, self.today):
                self.add_q(a, "kodomo_iryou", "child", on)
            grade = school_grade(bd, self.today)
            schools = _SCHOOLS.get(dest["district"])
            if grade is not None and schools:
                school = schools[0] if grade <= 6 else schools[1]
                entry = date(school_entry_year(bd) + (6 if grade > 6 else 0), 4, 1)
                self.add_q(a, "gakurei", "child", max(entry, on), f"{school} {grade if grade <= 6 else grade - 6}年")
        kids = [k for k in members if k.parent is m and jidou_teate_eligible(self.people.d(k.b), self.today)]
        if kids:
            self.add_q(a, "jidou_teate", "recipient", _first_of_next_month(on), f"児童{len(kids)}人")

    # places --------------------------------------------------------------------------------------------
    def take_place(self, flat: bool) -> dict:
        """A vacant flat or house from the drawn candidates, else a new house lot (新築)."""
        pools = (self.room_pool, self.house_pool) if flat else (self.house_pool, self.room_pool)
        for pool in pools:
            while pool:
                p = pool.pop()
                key = self._place_key(p)
                if key not in self.occupied:
                    self.occupied.add(key)
                    return dict(zip(("town_code", "banchi", "katagaki", "postal_code", "district"), p))
        p = self._new_banchi()
        self.occupied.add(self._place_key(p))
        return p

    def _town_for_new(self) -> dict | None:
        towns = [t for t in self.towns.values() if t["style"]]
        if not towns:
            return None
        x = self.r() * sum(t["rows"] for t in towns)
        for t in towns:
            x -= t["rows"]
            if x < 0:
                return t
        return towns[-1]

    def _new_banchi(self) -> dict:
        t = self._town_for_new()
        if t is None:
            raise InputError("元データの住所マスタ（addresses.csv）に番地の形（3番12号 / 1234番地5）の行がないため、"
                             "新しい番地を作れません。")
        a, b = t["top"]
        if t["style"] == "jukyo":
            b += 1 + (self.r() < 0.35)
            banchi = f"{a}番{b}号"
        else:
            a, b = a + 1 + int(self.r() * 5), 0
            banchi = f"{a}番地"
        t["top"] = (a, b)
        self.new_addresses.append({"town_code": t["code"], "town_name": t["name"], "town_kana": t["kana"],
                                   "banchi": banchi, "banchi_kana": "", "postal_code": t["postal"],
                                   "district": t["district"]})
        self.changes["banchi_added"] += 1
        return {"town_code": t["code"], "banchi": banchi, "katagaki": "", "postal_code": t["postal"],
                "district": t["district"]}

    def _new_building(self) -> None:
        lot = self._new_banchi()
        t = self.towns[lot["town_code"]]
        stem = t["name"].split("丁目")[0].rstrip("0123456789").split("字")[-1]
        name = N.APARTMENT_NAMES[int(self.r() * len(N.APARTMENT_NAMES))] + stem
        if self.r() < 0.3:
            name += "第" + "一二三"[int(self.r() * 3)]
        floors, per = 2 + (self.r() < 0.4), 4 + int(self.r() * 4)
        rooms = [f"{name}{fl}{k:02d}号室" for fl in range(1, floors + 1) for k in range(1, per + 1)]
        for room in rooms:
            self.new_katagaki.append({"town_code": lot["town_code"], "banchi": lot["banchi"], "katagaki": room,
                                      "katagaki_kana": ""})
            self.room_pool.append((lot["town_code"], lot["banchi"], room, lot["postal_code"], lot["district"]))
        self.buildings.add(f"{lot['town_code']}\0{lot['banchi']}")
        self.occupied.add(self._place_key(lot))  # the lot itself is no house
        self.changes["building_added"] += 1
        self.changes["katagaki_added"] += len(rooms)

    # ----- pass 3: write ----------------------------------------------------------------------------------
    def write(self) -> dict[str, dict]:
        files: dict[str, dict] = {}
        # residents: changed rows in place, new persons (the next atena numbers) at the end
        t = self.res
        changed = {i: r for i, r in self.by_idx.items() if tuple(r.get(n, "") for n in t.names) != r["_orig"]}
        out = _Out(self.out / t.name, t)
        idx = -1
        for raw in t.records():
            if _blank(raw):
                out.blank(raw)
                continue
            idx += 1
            row = changed.get(idx)
            out.row(raw if row is None else t.line(row))
        for row in sorted(self.new_residents, key=lambda r: _atena_key(r["atena_no"])):
            out.row(t.line(row))
        files[t.name] = out.close()
        self.changed_rows = changed
        # qualifications and support measures: in atena order, a person's new rows after their old ones
        mods = {q["_idx"]: q for rows in self.quals.values() for q in rows
                if q.get("_deleted") or tuple(q.get(n, "") for n in self.qual.names) != q["_orig"]}
        new = [q for a in sorted(self.new_quals, key=_atena_key) for q in self.new_quals[a] if not q.get("_deleted")]
        files[self.qual.name] = self._merge(self.qual, mods, new)
        mods = {s["_idx"]: s for s in self.supports if tuple(s.get(n, "") for n in self.sup.names) != s["_orig"]}
        new = sorted(self.new_supports, key=lambda s: _atena_key(s["atena_no"]))  # stable: a person's in order
        files[self.sup.name] = self._merge(self.sup, mods, new)
        # the address master: new entries at the end
        for table, rows in ((self.addr, self.new_addresses), (self.kata, self.new_katagaki)):
            out = _Out(self.out / table.name, table)
            for raw in table.records():
                (out.blank if _blank(raw) else out.row)(raw)
            for row in rows:
                out.row(table.line(row))
            files[table.name] = out.close()
        return files

    def _merge(self, table: _Table, mods: dict[int, dict], new: list[dict]) -> dict:
        out = _Out(self.out / table.name, table)
        pending = [(_atena_key(q["atena_no"].encode()), q) for q in new]
        pending.reverse()  # pop() from the end = the smallest key first
        idx = -1
        for raw in table.records():
            if _blank(raw):
                out.blank(raw)
                continue
            idx += 1
            if pending:
                a = raw[:raw.find(b",")].strip(b'"')
                key = (len(a), a) if a.isdigit() else (1 << 30, a)
                while pending and pending[-1][0] < key:
                    out.row(table.line(pending.pop()[1]))
            row = mods.get(idx)
            if row is None:
                out.row(raw)
            elif not row.get("_deleted"):
                out.row(table.line(row))
        while pending:
            out.row(table.line(pending.pop()[1]))
        return out.close()

    # ----- who changed, the importer's way --------------------------------------------------------------
    def person_states(self) -> dict[str, tuple[_State | None, _State]]:
        """atena_no → (state before, state after) for every resident row this day changed or added."""
        names = self.res.names
        out: dict[str, tuple[_State | None, _State]] = {}
        for row in self.changed_rows.values():
            out[row["atena_no"]] = (_state(dict(zip(names, row["_orig"])), names), _state(row, names))
        for row in self.new_residents:
            out[row["atena_no"]] = (None, _state(row, names))
        return out


# What the importer's person diff looks at: status, address, and whether anything else changed.
_State = tuple[str, str, str, str, bytes]


def _state(row: dict, names: list[str]) -> _State:
    whole = hashlib.blake2b("\x1f".join(row.get(n, "") for n in names).encode(), digest_size=16).digest()
    return row.get("status") or "1", row.get("town_code", ""), row.get("banchi", ""), row.get("katagaki", ""), whole


_SIBLINGS = {("1", True): "兄", ("1", False): "弟", ("2", True): "姉", ("2", False): "妹"}


def _relationship_to_new_head(rel: str, sex: str, birth: str, new_rel: str, new_sex: str, new_birth: str) -> str:
    """The 続柄 of a member once the member whose 続柄 was `new_rel` becomes 世帯主 (`rel` 世帯主 = the
    old head).

    >>> _relationship_to_new_head("世帯主", "1", "1950-01-01", "子", "1", "1980-05-05")
    '父'
    >>> _relationship_to_new_head("子の妻", "2", "1982-02-02", "子", "1", "1980-05-05")
    '妻'
    >>> _relationship_to_new_head("子", "2", "1978-03-03", "子", "1", "1980-05-05")
    '姉'
    >>> _relationship_to_new_head("母", "2", "1925-01-01", "妻", "2", "1952-01-01")
    '夫の母'
    """
    if new_rel in ("妻", "夫"):
        if rel == "世帯主":
            return "夫" if sex == "1" else "妻"
        if rel == "妻の子":
            return "子"
        if rel in ("父", "母"):
            return f"{'夫' if new_rel == '妻' else '妻'}の{rel}"
        return rel
    if new_rel == "子":
        if rel in ("世帯主", "妻", "夫"):
            return "父" if sex == "1" else "母"
        if rel == "子の妻":
            return "妻" if new_sex == "1" else "縁故者"
        if rel == "孫":
            return "子"
        if rel in ("子", "妻の子"):
            return _SIBLINGS[(sex or "1", birth < new_birth)]
        if rel in ("父", "母"):
            return "祖父" if sex == "1" else "祖母"
        return rel
    if new_rel in ("父", "母"):
        if rel == "世帯主":
            return "子"
        if rel in ("父", "母"):
            return "夫" if sex == "1" else "妻"
        if rel in ("妻", "夫"):
            return "子の妻" if rel == "妻" else "子の夫"
        if rel == "子":
            return "孫"
        return rel
    return rel if rel in ("同居人", "縁故者") else "縁故者"


def _classify(before: _State | None, after: _State) -> str | None:
    """The importer's person change for one row (importer.diff): new / removed / moved / changed."""
    s = after[0]
    if before is None:
        return "new" if s == "1" else None
    p = before[0]
    if s == "1" and p != "1":
        return "new"
    if p == "1" and s != "1":
        return "removed"
    if s == p == "1" and before[1:4] != after[1:4]:
        return "moved"
    return "changed" if before != after else None


# --- the entry point ---------------------------------------------------------------------------------------


def evolve_export(src_dir: str | Path, out_dir: str | Path, seed: int = 1, today: date | None = None, *,
                  days: int = 1, rates: EvolveRates | None = None) -> EvolveSummary:
    """Write the full export of `today` (default: the source's date + `days`) into `out_dir`: the source
    export after `days` days of changes. Existing export files in `out_dir` are overwritten.

    Raises InputError (Japanese message) for a missing or broken source, or a `today` that is not
    after the source's date by at least `days` days."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if days < 1:
        raise InputError(f"日数は 1 以上で指定してください（指定: {days}）。")
    rates = rates or EvolveRates()
    src = _Export(src_dir)
    today = today or src.date + timedelta(days=days)
    if today - timedelta(days=days) < src.date:
        earliest = src.date + timedelta(days=days)
        raise InputError(f"基準日 {today.isoformat()} が早すぎます。元データは {src.date.isoformat()} 時点なので、"
                         f"{days} 日分進めるには {earliest.isoformat()} 以降を指定してください。")
    out_dir.mkdir(parents=True, exist_ok=True)
    if out_dir.resolve() == src_dir.resolve():
        raise InputError("出力先に元データと同じフォルダは指定できません。別のフォルダを指定してください。")
    summary = EvolveSummary(out_dir, "", src.date, today, days)
    first: dict[str, _State | None] = {}
    last: dict[str, _State] = {}
    work = Path(tempfile.mkdtemp(prefix=".evolve-", dir=out_dir)) if days > 1 else None
    try:
        since = src.date
        for n in range(days):
            step_today = today - timedelta(days=days - 1 - n)
            target = out_dir if n == days - 1 else work / f"day{n}"
            target.mkdir(exist_ok=True)
            day = _Day(src, target, seed, step_today, since, rates)
            files = day.run()
            summary.changes.update(day.changes)
            for a, (before, after) in day.person_states().items():
                first.setdefault(a, before)
                last[a] = after
            export_id = f"demo-{step_today:%Y%m%d}-evolve-s{seed}-{src.manifest_sha[:12]}"
            _write_manifest(target, export_id, step_today, src.export_id, files)
            previous = src.folder
            src, since = _Export(target), step_today
            if work is not None and previous.parent == work:
                shutil.rmtree(previous)
        summary.export_id = export_id
        summary.rows = {name: f["rows"] for name, f in files.items()}
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    summary.persons = _person_counts(first, last)
    last_step = day.person_states()
    step = _person_counts({a: b for a, (b, _) in last_step.items()}, {a: r for a, (_, r) in last_step.items()})
    summary.current_residents = day.current + step["new"] - step["removed"]
    return summary


def _person_counts(before: dict[str, _State | None], after: dict[str, _State]) -> dict[str, int]:
    counts = Counter(_classify(before[a], after[a]) for a in after)
    return {k: counts.get(k, 0) for k in ("new", "moved", "changed", "removed")}


def _write_manifest(folder: Path, export_id: str, today: date, previous: str, files: dict[str, dict]) -> None:
    manifest = {
        "export_id": export_id,
        "created_at": f"{today.isoformat()}T06:00:00+09:00",
        "kind": "full",
        "source": "madoguchi synthetic data generator (evolve)",
        "previous_export_id": previous,
        "files": [files[name] for name in FILES],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")
