"""Move ⇄ dict must be lossless and JSON-able."""

from __future__ import annotations

import json
from datetime import date

import pytest
from move_samples import move_in_family, split_and_join

from madoguchi.domain.move_codec import decode_move, encode_move
from madoguchi.domain.moves import Move, MoveType
from madoguchi.domain.people import Address


@pytest.mark.parametrize("make", [split_and_join, move_in_family])
def test_round_trip_through_json_is_lossless(make):
    move = make()
    text = json.dumps(encode_move(move), ensure_ascii=False)
    back = decode_move(json.loads(text))
    assert back == move
    assert list(back.members) == list(move.members)  # order kept


def test_dates_are_iso_and_gaiji_survive():
    d = encode_move(split_and_join())
    assert d["move_date"] == "2026-11-20"
    assert d["members"][0]["qualifications"][0]["start_date"] == "2020-04-01"
    assert decode_move(d).members["200001"].name == "髙橋　𠮷雄"


def test_abroad_and_out_addresses_and_unknown_keys():
    m = Move(MoveType.ABROAD_OUT, planned_date=date(2026, 12, 1), notified_on=date(2026, 11, 25),
             to_address=Address(prefecture="", city="", abroad_country="カナダ"))
    d = encode_move(m)
    d["findings"] = [{"level": "error"}]  # extra keys stored next to the move are ignored
    back = decode_move(d)
    assert back == m
    assert back.to_address.line() == "国外（カナダ）"
