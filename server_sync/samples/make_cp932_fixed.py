"""Write the small CP932 fixed-width sample export (synthetic people) for example-cp932-fixed.toml.

    python server_sync/samples/make_cp932_fixed.py   # rewrites server_sync/samples/cp932-fixed/
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).with_name("cp932-fixed")


def field(value: str, length: int) -> bytes:
    b = value.encode("cp932")
    if len(b) > length:
        raise ValueError(f"{value!r} is longer than {length} bytes")
    return b + b" " * (length - len(b))


def record(parts: list[tuple[str, int]]) -> bytes:
    return b"".join(field(v, n) for v, n in parts) + b"\r\n"


# atena, household, 続柄, 世帯主, 性別, 状態, 氏名, フリガナ, 生年月日(元号コード), 町字, 番地, 方書, 〒, 住民日, 住定日
RESIDENTS = [
    ("0000100001", "0000010001", "01", "1", "男", "1", "髙橋　健一", "タカハシ　ケンイチ", "5551226", "001",
     "1番地", "", "0740001", "4070401", "4070401"),
    ("0000100002", "0000010001", "02", "0", "女", "1", "髙橋　美﨑", "タカハシ　ミサキ", "5570303", "001",
     "1番地", "", "0740001", "4070401", "4070401"),
    ("0000100003", "0000010001", "03", "0", "女", "1", "髙橋　陽菜", "タカハシ　ヒナ", "9020715", "001",
     "1番地", "", "0740001", "9020715", "9020715"),
    ("0000100004", "0000010002", "01", "1", "男", "1", "佐々木　一", "ササキ　ハジメ", "3150101", "002",
     "3番12号", "緑町ハイツ２０１号", "0740002", "5300401", "4300601"),
    ("0000100005", "0000010003", "01", "1", "女", "2", "斉藤　はな", "サイトウ　ハナ", "4100510", "002",
     "5番地", "", "0740002", "4100510", "4200101"),
]
WIDTHS = (10, 10, 2, 1, 2, 1, 40, 40, 7, 3, 20, 40, 7, 7, 7)
QUALIFICATIONS = [
    ("0000100001", "01", "H07.04.01", "", "国保 記号123"),
    ("0000100002", "01", "H07.04.01", "", "国保 記号123"),
    ("0000100003", "01", "R02.07.15", "", ""),
    ("0000100004", "02", "R02.01.01", "", "被保険者番号00012345"),
    ("0000100004", "03", "R03.04.01", "", "要介護2"),
    ("0000100001", "05", "H10.10.01", "R07.03.31", "印鑑登録証 45"),
]
QWIDTHS = (10, 2, 9, 9, 30)
ADDRESSES = [
    ("001", "本町", "ホンマチ", "1番地", "0740001"),
    ("001", "本町", "ホンマチ", "2番地", "0740001"),
    ("002", "緑町", "ミドリマチ", "3番12号", "0740002"),
    ("002", "緑町", "ミドリマチ", "5番地", "0740002"),
]
AWIDTHS = (3, 20, 40, 20, 7)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, rows, widths in (("JUMIN.DAT", RESIDENTS, WIDTHS), ("SHIKAKU.DAT", QUALIFICATIONS, QWIDTHS),
                               ("JUSHO.DAT", ADDRESSES, AWIDTHS)):
        (OUT / name).write_bytes(b"".join(record(list(zip(r, widths))) for r in rows))


if __name__ == "__main__":
    main()
