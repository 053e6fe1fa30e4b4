"""Record boundaries and hashes (records.py) agree with the csv reader; parts read in parallel join up."""

from __future__ import annotations

import random
from pathlib import Path

from madoguchi.sync.mapping import parse_mapping
from madoguchi.sync.reader import FileReader
from madoguchi.sync.records import guess_chunks, scan, unpack_rows

FM = parse_mapping({}).files["qualifications"]
HEADER = "atena_no,kind,role,start_date,end_date,detail"
PIECES = ["A1", "kokuho", "", '"x,y"', '"a\nb"', '"q""q"', 'b"c', '"u"v', "\r", '"', "ア", "2020-01-01", '"改\r\n行"']


def _random_csv(rnd: random.Random) -> str:
    lines = [HEADER]
    for _ in range(rnd.randint(0, 9)):
        if rnd.random() < 0.1:
            lines.append("")
        elif rnd.random() < 0.4:  # a good row
            lines.append(",".join(rnd.choice(["A1", '"A,2"', "B3"]) if k == 0 else rnd.choice(["x", '"y\nz"', ""])
                                  for k in range(6)))
        else:
            lines.append(",".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 7))))
    term = rnd.choice(["\n", "\r\n"])
    data = term.join(lines) + rnd.choice(["", term])
    return ("\ufeff" if rnd.random() < 0.3 else "") + data


def test_scan_finds_the_records_the_csv_reader_reads(tmp_path):
    """Fuzzed CSV with quotes in every odd place: the same record starts, count and hashes."""
    rnd = random.Random(1)
    path = tmp_path / "q.csv"
    good = 0
    for _ in range(2000):
        path.write_bytes(_random_csv(rnd).encode())
        issues = []
        reader = FileReader(path, FM, issues.append, salt=b"s")
        rows = [(line, h) for line, h, _v in reader]
        header, data_start = reader.read_header()
        got = scan(path, csv_format=True, delimiter=",", header=True, salt=b"s", bom=True, start=data_start,
                   line_base=1)
        starts = {line: h for line, _off, _len, h in unpack_rows(got.data)}
        assert len(starts) == reader.records
        assert {i.line for i in issues} | {line for line, _h in rows} == set(starts)
        assert all(starts[line] == h for line, h in rows)
        good += len(rows)
    assert good > 200


def _parts_equal_whole(path: Path, parts: int) -> None:
    issues: list = []
    whole_reader = FileReader(path, FM, issues.append, salt=b"s")
    whole = [(line, h, v) for line, h, v in whole_reader]
    header, data_start = whole_reader.read_header()
    size = path.stat().st_size
    chunks = guess_chunks(path, data_start, size, parts, 1)
    seen, expected, wrong = [], (data_start, 1), 0
    for start, end, base in chunks:  # what the importer does: re-read a part from the true boundary
        if start != expected[0]:
            wrong += 1
            start, base = expected
        reader = FileReader(path, FM, issues.append, start=start, end=end, line_base=base, header=header, salt=b"s")
        seen += list(reader)
        expected = (reader.stop, reader.stop_line)
    assert seen == whole
    scanned, expected = [], (data_start, 1)
    for start, end, base in chunks:
        if start != expected[0]:
            start, base = expected
        got = scan(path, csv_format=True, delimiter=",", header=True, salt=b"s", bom=True, start=start, end=end,
                   line_base=base)
        scanned += [(line, h) for line, _o, _n, h in unpack_rows(got.data)]
        expected = (got.stop, got.stop_line)
    assert [(line, h) for line, h, _v in whole] == [x for x in scanned if x[0] in {w[0] for w in whole}]
    return wrong


def test_parts_read_in_parallel_join_up_even_when_a_guessed_boundary_is_wrong(tmp_path):
    path = tmp_path / "q.csv"
    lines = [HEADER]
    for n in range(400):
        detail = "旭川市\n北1条" if n % 9 == 0 else f"番号{n}"
        if n % 13 == 0:
            detail = 'ハイツ"A'  # a literal quote: the even-quote guess goes wrong after it
        lines.append(f'A{n:04d},kokuho,insured,2020-01-01,,"{detail}"' if "\n" in detail else
                     f"A{n:04d},kokuho,insured,2020-01-01,,{detail}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    wrong = _parts_equal_whole(path, 37)
    assert wrong > 0  # the case the check exists for did happen


def test_reader_reads_a_record_that_crosses_the_end_whole(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(f'{HEADER}\r\nA1,kokuho,,,,"a\r\nb"\r\nA2,kokuho,,,,c\r\n'.encode())
    header, data_start = FileReader(path, FM, print).read_header()
    reader = FileReader(path, FM, print, start=data_start, end=data_start + 5, line_base=1, header=header)
    assert [(line, v[0], v[5]) for line, _h, v in reader] == [(2, "A1", "a\r\nb")]
    assert reader.stop == len(f'{HEADER}\r\nA1,kokuho,,,,"a\r\nb"\r\n'.encode()) and reader.stop_line == 3


def test_reader_names_the_first_wrong_field_and_finds_control_characters(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes((f"{HEADER}\r\n"
                      "A1,kokuho,,2020-02-30,2020-13-01,\r\n"  # two bad dates: the first one is named
                      "A2,,,,2020-13-01,\r\n"  # the required kind comes before end_date
                      "A3,kokuho,,,,ok\x07\r\n"  # a control character in the last column
                      "A4,kokuho, holder ,2020-01-01,,詳細\r\n").encode())
    issues: list = []
    rows = [(line, v) for line, _h, v in FileReader(path, FM, issues.append)]
    assert [(i.line, i.column) for i in issues] == [(2, "start_date"), (3, "kind"), (4, "detail")]
    assert "存在しない日付" in issues[0].reason and "必須" in issues[1].reason and "制御文字" in issues[2].reason
    assert rows == [(5, ["A4", "kokuho", "holder", "2020-01-01", None, "詳細"])]


def test_fields_from_constants_and_missing_columns_are_converted_like_columns(tmp_path):
    # Not every field from its own column: the general path, with the same values.
    fm = parse_mapping({"files": {"qualifications": {"columns": {"role": {"value": "holder"}}}}}).files["qualifications"]
    path = tmp_path / "q.csv"
    path.write_bytes("atena_no,kind,start_date\r\nA1,kokuho,2020-01-01\r\nA2,,2020-01-01\r\n".encode())
    issues: list = []
    rows = [v for _line, _h, v in FileReader(path, fm, issues.append)]
    assert rows == [["A1", "kokuho", "holder", "2020-01-01", None, ""]]
    assert [(i.line, i.column) for i in issues] == [(3, "kind")]
