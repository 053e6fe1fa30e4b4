"""RPA export (F18): accepted cases as files a robot keys into other systems.

One folder per export: `cases.csv` (one row per case), `members.csv` (one row per moving member:
old/new address, dates), `procedures.csv` (one row per selected procedure with its progress),
`certificates.csv`, and `manifest.json` (row counts, SHA-256). UTF-8 with BOM so that Excel-based
robots read Japanese correctly. A 支援措置 person's addresses are never written: the row carries
`restricted=1` and the robot must route it to manual handling.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from madoguchi.domain.move_codec import decode_move
from madoguchi.domain.people import MASKED_ADDRESS_TEXT
from madoguchi.services import audit
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import AppMeta, CaseRow, CertificateRequestRow, MoveEntryRow, SelectedProcedure

WATERMARK_KEY = "rpa.last_export_closed_at"

CASE_COLUMNS = ["case_no", "status", "purpose", "opened_at", "closed_at", "counter_no", "opened_by", "subject_atena_no",
                "move_type", "change_kind", "move_date", "notified_on", "planned_date", "from_address", "to_address"]
MEMBER_COLUMNS = ["case_no", "member_key", "atena_no", "name", "name_kana", "birth_date", "sex", "moving",
                  "household_after", "relationship_after", "is_head_after", "address_after", "restricted"]
PROCEDURE_COLUMNS = ["case_no", "procedure_id", "subject", "source", "selected", "progress", "reasons"]
CERT_COLUMNS = ["case_no", "kind_id", "subject_atena_no", "copies", "fee", "purpose", "requester_type", "status"]


@dataclass(frozen=True)
class RpaExport:
    folder: Path
    cases: int
    counts: dict[str, int]

    def message(self) -> str:
        if self.cases == 0:
            return "出力対象の完了済み対応はありませんでした（前回の出力以降）。"
        return f"完了済みの対応 {self.cases} 件を {self.folder} に出力しました。"


def _iso(ts: datetime | None) -> str:
    if ts is None:
        return ""
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()


def export_cases(db: Database, actor: Actor, out_dir: Path, *, since: datetime | None = None,
                 advance_watermark: bool = True) -> RpaExport:
    """Write cases closed as done after `since` (default: after the previous export)."""
    with db.uow(actor.info) as uow:
        s = uow.session
        if since is None:
            mark = s.get(AppMeta, WATERMARK_KEY)
            since = datetime.fromisoformat(mark.value) if mark and mark.value else None
        q = select(CaseRow).where(CaseRow.status == "done").order_by(CaseRow.closed_at, CaseRow.id)
        if since is not None:
            q = q.where(CaseRow.closed_at > since)
        cases = s.execute(q).scalars().all()
        rows: dict[str, list[list]] = {"cases": [], "members": [], "procedures": [], "certificates": []}
        latest = since
        for c in cases:
            entry = s.execute(select(MoveEntryRow).where(MoveEntryRow.case_id == c.id)
                              .order_by(MoveEntryRow.id.desc()).limit(1)).scalar_one_or_none()
            move = decode_move(entry.data) if entry else None
            rows["cases"].append([
                c.case_no, c.status, c.purpose, _iso(c.opened_at), _iso(c.closed_at), c.counter_no, c.opened_by,
                c.subject_atena_no or "",
                move.move_type.value if move else "", move.change_kind.value if move and move.change_kind else "",
                move.move_date.isoformat() if move and move.move_date else "",
                move.notified_on.isoformat() if move and move.notified_on else "",
                move.planned_date.isoformat() if move and move.planned_date else "",
                move.from_address.line() if move and move.from_address else "",
                move.to_address.line() if move and move.to_address else ""])
            if move:
                for key, m in move.members.items():
                    hh = move.household_after_of(key)
                    place = next((p for p in hh.placements if p.member_key == key), None) if hh else None
                    address = hh.address.line() if hh and hh.address else ""
                    if m.restricted:
                        address = MASKED_ADDRESS_TEXT
                    rows["members"].append([
                        c.case_no, key, m.atena_no or "", m.name, m.name_kana, m.birth_date.isoformat(), m.sex,
                        int(m.moving), hh.key if hh else "", place.relationship if place else "",
                        int(place.is_head) if place else 0, address, int(m.restricted)])
            for p in s.execute(select(SelectedProcedure).where(SelectedProcedure.case_id == c.id)
                               .order_by(SelectedProcedure.id)).scalars():
                rows["procedures"].append([c.case_no, p.procedure_id, p.subject, p.source, int(p.selected),
                                           p.progress, " / ".join(str(r) for r in (p.reasons or []))])
            for r in s.execute(select(CertificateRequestRow).where(CertificateRequestRow.case_id == c.id)
                               .order_by(CertificateRequestRow.id)).scalars():
                rows["certificates"].append([c.case_no, r.kind_id, r.subject_atena_no or "", r.copies, r.fee,
                                             r.purpose, r.requester_type, r.status])
            if c.closed_at and (latest is None or c.closed_at > latest):
                latest = c.closed_at
        folder = out_dir / f"rpa-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
        counts = _write_folder(folder, rows)
        audit.record(s, actor.info, "rpa.export", "rpa", folder.name, counts)
        if advance_watermark and latest is not None:
            mark = s.get(AppMeta, WATERMARK_KEY) or AppMeta(key=WATERMARK_KEY)
            mark.value = latest.isoformat()
            s.add(mark)
        uow.commit()
    return RpaExport(folder, len(cases), counts)


def _write_folder(folder: Path, rows: dict[str, list[list]]) -> dict[str, int]:
    tmp = folder.with_name(folder.name + ".part")
    tmp.mkdir(parents=True, exist_ok=False)
    headers = {"cases": CASE_COLUMNS, "members": MEMBER_COLUMNS, "procedures": PROCEDURE_COLUMNS,
               "certificates": CERT_COLUMNS}
    manifest: dict[str, dict] = {}
    for name, data in rows.items():
        path = tmp / f"{name}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh, lineterminator="\r\n")
            w.writerow(headers[name])
            w.writerows(data)
        manifest[path.name] = {"rows": len(data), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (tmp / "manifest.json").write_text(json.dumps({"kind": "madoguchi-rpa", "version": 1, "files": manifest},
                                                  ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.rename(folder)  # the robot never sees a half-written folder
    return {k: v["rows"] for k, v in manifest.items()}
