"""Record boundaries and record hashes of an export file, without parsing the fields.

The nightly load compares each record of tonight's export with the record the live row came
from: a record whose bytes are unchanged needs no parsing, no validation and no write. For that
the file is scanned once here (`scan`): where each record starts, how long it is, and a 128-bit
hash of its bytes (SHA-256, salted with the mapping, so that another mapping never matches).

The boundaries are exactly those of Python's `csv` reader, which `reader.FileReader` uses: a
line ends a record unless it leaves a quoted field open, and a quote only opens a field at the
field's start (`a,b"c` is a literal quote). Only lines with a quote character go through the
small state machine below; the others end their record at once.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# States of CPython's csv reader (Modules/_csv.c), as far as they decide where a record ends.
START_RECORD, START_FIELD, IN_FIELD, IN_QUOTED, QUOTE_IN_QUOTED, EAT_CRNL = range(6)
_QUOTE = 0x22
_NEWLINE = (0x0A, 0x0D)


def csv_state_after(line: bytes, state: int, delimiter: int) -> int:
    """The reader's state after one physical line (terminator included).

    START_RECORD: the record ends with this line (also after a strict-mode error, where the reader
    drops the rest of the line and starts afresh); IN_QUOTED: it continues on the next line."""
    for c in line:
        if state == IN_QUOTED:
            if c == _QUOTE:
                state = QUOTE_IN_QUOTED
        elif c in _NEWLINE:
            state = EAT_CRNL
        elif state == START_RECORD or state == START_FIELD:
            state = IN_QUOTED if c == _QUOTE else START_FIELD if c == delimiter else IN_FIELD
        elif state == IN_FIELD:
            if c == delimiter:
                state = START_FIELD
        elif state == QUOTE_IN_QUOTED:
            if c == _QUOTE:
                state = IN_QUOTED
            elif c == delimiter:
                state = START_FIELD
            else:
                return START_RECORD  # strict: "',' expected after '\"'"
        else:  # EAT_CRNL followed by a character: "new-line character seen in unquoted field"
            return START_RECORD
    return IN_QUOTED if state == IN_QUOTED else START_RECORD


def hasher(salt: bytes) -> Callable[[bytes], str]:
    """record bytes -> SHA-256 of salt + record, its first 16 bytes (a UUID's worth, as `scan` keeps
    them) as 32 hex digits (the text form of a UUID)."""
    copy = hashlib.sha256(salt).copy

    def h(record: bytes) -> str:
        m = copy()
        m.update(record)
        return m.digest()[:16].hex()
    return h


# One index row in PostgreSQL's binary COPY format: (line int4, off int8, len int4, h uuid).
# Binary, because parsing a UUID from text costs the server three times as much as the copy itself.
ROW = struct.Struct("!hiiiqiii16s")
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)


def unpack_rows(data: bytes) -> Iterator[tuple[int, int, int, str]]:
    """(line, offset, length, hash hex) of index rows made by `scan`."""
    for _n, _a, line, _b, off, _c, length, _d, h in ROW.iter_unpack(data):
        yield line, off, length, h.hex()


def record_bytes(lines: list[bytes]) -> bytes:
    """A record's bytes as hashed: its physical lines as they are, line terminators included (a
    record that gains a terminator because rows were appended after it is then simply read again)."""
    return lines[0] if len(lines) == 1 else b"".join(lines)


@dataclass
class Scanned:
    """What `scan` found in [start, end): one binary COPY row (`ROW`) per record, and where it stopped."""

    data: bytes
    records: int
    start: int
    stop: int  # offset after the last record read (records that begin before `end` are read whole)
    stop_line: int  # physical lines up to `stop`


def scan(path: Path, *, csv_format: bool, delimiter: str, header: bool, salt: bytes, bom: bool, start: int = 0,
         end: int | None = None, line_base: int = 0) -> Scanned:
    """Records beginning in [start, end) of `path`: their first line number, byte span and hash.

    Blank records are skipped as the reader skips them (an empty line in CSV, a blank line in a
    fixed-width file). `line_base` is the number of physical lines before `start`; `bom`: a UTF-8
    byte order mark at the start of the file is not part of the first record. This loop runs for
    every record of every nightly export, hence its shape."""
    copy = hashlib.sha256(salt).copy
    pack_into = ROW.pack_into
    size = ROW.size
    delim = ord(delimiter)
    buf = bytearray(size << 16)
    at = 0
    pos = start
    lineno = line_base
    pending: list[bytes] = []
    rec_start = rec_line = 0
    with open(path, "rb") as fh:
        fh.seek(start)
        if start == 0:  # the first line: byte order mark, header
            line = fh.readline()
            if bom and line.startswith(b"\xef\xbb\xbf"):
                line, pos = line[3:], 3
            if line and header:
                pos += len(line)
                lineno += 1
            elif line:
                fh.seek(pos)
        for line in fh:
            n = len(line)
            if pending:
                pos += n
                lineno += 1
                pending.append(line)
                if csv_state_after(line, IN_QUOTED, delim) != IN_QUOTED:
                    m = copy()
                    m.update(b"".join(pending))
                    if at + size > len(buf):
                        buf.extend(bytes(len(buf)))
                    pack_into(buf, at, 4, 4, rec_line, 8, rec_start, 4, pos - rec_start, 16, m.digest())
                    at += size
                    pending = []
                continue
            if end is not None and pos >= end:
                break
            off = pos
            pos += n
            lineno += 1
            if csv_format:
                if b'"' in line and csv_state_after(line, START_RECORD, delim) == IN_QUOTED:
                    pending = [line]
                    rec_start, rec_line = off, lineno
                    continue
                if line[0] in _NEWLINE and not line.strip(b"\r\n"):  # the csv reader returns [] for these
                    continue
            elif not line.strip():
                continue
            m = copy()
            m.update(line)
            if at + size > len(buf):
                buf.extend(bytes(len(buf)))
            pack_into(buf, at, 4, 4, lineno, 8, off, 4, n, 16, m.digest())
            at += size
    if pending:  # a quoted field still open at the end of the file: one (bad) record, as the reader sees it
        m = copy()
        m.update(b"".join(pending))
        if at + size > len(buf):
            buf.extend(bytes(size))
        pack_into(buf, at, 4, 4, rec_line, 8, rec_start, 4, pos - rec_start, 16, m.digest())
        at += size
    return Scanned(bytes(buf[:at]), at // size, start, pos, lineno)


def guess_chunks(path: Path, start: int, end: int, parts: int, line_base: int,
                 csv_quotes: bool = True) -> list[tuple[int, int, int]]:
    """Split [start, end) into about `parts` pieces at probable record boundaries.

    Returns (start, end, line_base) per piece. A boundary is a newline with an even number of
    quotes before it; a literal quote in an unquoted field can make that guess wrong, so whoever
    reads the pieces checks that each one stopped where the next begins (`Scanned.stop`,
    `FileReader.stop`) and reads again from the true boundary where it did not."""
    span = max(1, (end - start) // max(1, parts))
    targets = [start + k * span for k in range(1, parts)]
    bounds = [(start, line_base)]
    quotes, lines, pos, ti, seeking = 0, line_base, start, 0, False
    with open(path, "rb") as fh:
        fh.seek(start)
        while ti < len(targets) and pos < end:
            block = fh.read(min(1 << 22, end - pos))
            if not block:
                break
            i = 0
            while ti < len(targets):
                if not seeking:
                    t = targets[ti] - pos
                    if t >= len(block):
                        break
                    if t > i:
                        quotes += block.count(b'"', i, t)
                        lines += block.count(b"\n", i, t)
                        i = t
                    seeking = True
                j = block.find(b"\n", i)
                if j < 0:
                    break
                quotes += block.count(b'"', i, j + 1)
                lines += 1
                i = j + 1
                if not csv_quotes or quotes % 2 == 0:
                    seeking = False
                    if pos + i < end:
                        bounds.append((pos + i, lines))
                    while ti < len(targets) and targets[ti] <= pos + i:
                        ti += 1
            quotes += block.count(b'"', i)
            lines += block.count(b"\n", i)
            pos += len(block)
    return [(s, bounds[k + 1][0] if k + 1 < len(bounds) else end, base) for k, (s, base) in enumerate(bounds)]
