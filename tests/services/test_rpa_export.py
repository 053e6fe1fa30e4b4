"""RPA export (F18): only finished cases, each once, restricted addresses never written."""

from __future__ import annotations

import csv
import json
from datetime import date

from madoguchi.domain.moves import HouseholdState, Move, MoveMember, MoveType, Placement
from madoguchi.domain.people import Address
from madoguchi.services import rpa
from madoguchi.services.cases import CaseService
from madoguchi.services.context import Actor

ACTOR = Actor(login="clerk1", display_name="窓口 一郎", terminal="pc01", counter_no="2",
              permissions=frozenset({"case.write"}))
NEW = Address(town_name="一条", banchi="3番12号", postal_code="0740001", town_code="001")


def _finished_case(db, name: str, restricted: bool) -> str:
    svc = CaseService(db, ACTOR)
    info = svc.open_case(purpose="転居")
    move = Move(MoveType.MOVE_WITHIN, move_date=date(2026, 11, 20), notified_on=date(2026, 11, 25),
                members={"A1": MoveMember("A1", name, "ヨシダ　ハナコ", date(1990, 5, 6), "2", "A1",
                                          restricted=restricted)},
                after=[HouseholdState("H1", [Placement("A1", "世帯主", True)], NEW)])
    info, _ = svc.save_move(info.id, info.version, move, date(2026, 11, 25))
    svc.set_status(info.id, info.version, "done")
    return info.case_no


def test_export_writes_finished_cases_once_and_masks_restricted(any_db, tmp_path):
    open_only = CaseService(any_db, ACTOR).open_case(purpose="相談")
    done1 = _finished_case(any_db, "𠮷田　花子", restricted=False)
    done2 = _finished_case(any_db, "山田　秘子", restricted=True)
    first = rpa.export_cases(any_db, ACTOR, tmp_path)
    assert first.cases == 2
    with (first.folder / "cases.csv").open(encoding="utf-8-sig") as fh:
        case_nos = [r["case_no"] for r in csv.DictReader(fh)]
    assert case_nos == [done1, done2] and open_only.case_no not in case_nos
    with (first.folder / "members.csv").open(encoding="utf-8-sig") as fh:
        members = {r["name"]: r for r in csv.DictReader(fh)}
    assert members["𠮷田　花子"]["address_after"] == "北海道深川市一条3番12号"
    assert "3番12号" not in members["山田　秘子"]["address_after"] and members["山田　秘子"]["restricted"] == "1"
    manifest = json.loads((first.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["members.csv"]["rows"] == 2
    # The watermark advances: nothing new → an empty export, and a new finished case → only it.
    assert rpa.export_cases(any_db, ACTOR, tmp_path / "2").cases == 0
    done3 = _finished_case(any_db, "佐藤　一", restricted=False)
    third = rpa.export_cases(any_db, ACTOR, tmp_path / "3")
    with (third.folder / "cases.csv").open(encoding="utf-8-sig") as fh:
        assert [r["case_no"] for r in csv.DictReader(fh)] == [done3]
