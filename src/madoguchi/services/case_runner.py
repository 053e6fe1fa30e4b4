"""Headless case runner: plays a whole visit from a YAML case file through the GUI's services.

    madoguchi-admin case run tests/e2e/cases/tenkyo.yaml --out out/ [--demo]

A case file has these top-level keys (unknown keys are an error):
  name, today, actor{login,name,terminal,counter}, towns[...], residents[...]   (fixture; --demo seeds it)
  purpose, visitor{...}, identity{...}, move{...}, answers[...], certificates[...], memos[...],
  status, expect{errors, warnings, messages[], status, move_text[], procedures[], identity}
The run writes `summary.json` into the output directory. Later steps (procedure list, forms,
guide, certificate request forms) plug in as *output steps*: callables `(RunContext) -> dict`
whose result is stored under their name in the summary (see `DEFAULT_OUTPUT_STEPS`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from madoguchi.domain.kana import fold_kana
from madoguchi.domain.move_codec import encode_move
from madoguchi.domain.moves import HouseholdChangeKind, HouseholdState, Level, Move, MoveMember, MoveType, Placement
from madoguchi.domain.people import Address, Qualification
from madoguchi.errors import InputError, KnownError
from madoguchi.services.addresses import CityAddressBook, PostalBook
from madoguchi.services.cases import CaseInfo, CaseService, household_states
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import (Banchi, Katagaki, PersonAddressRow, PersonRow, QualificationRow, Staff,
                                    Town)

TOP_KEYS = {"name", "description", "today", "actor", "towns", "residents", "purpose", "visitor", "subject",
            "identity", "move", "answers", "certificates", "memos", "status", "expect"}
MOVE_KEYS = {"type", "change_kind", "move_date", "notified_on", "planned_date", "from_address", "to_address",
             "members", "after"}


class CaseFileError(InputError):
    """The case file itself is wrong (unknown key, bad date, unknown resident …)."""


@dataclass
class RunContext:
    """What output steps see: the services, the case and everything recorded so far."""

    db: Database
    actor: Actor
    service: CaseService
    spec: dict
    today: date
    out_dir: Path
    case: CaseInfo
    move: Move | None = None
    summary: dict = field(default_factory=dict)

    def refresh(self) -> CaseInfo:
        self.case = self.service.get_case(self.case.id)
        return self.case


OutputStep = tuple[str, Callable[[RunContext], dict | list | None]]


def _optional_service_step(module: str, func: str) -> Callable[[RunContext], dict | list | None]:
    """A step that calls `module.func(ctx)` if that service exists yet, else reports it as not available."""
    def step(ctx: RunContext) -> dict | list | None:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            return {"skipped": f"{module} がまだありません"}
        fn = getattr(mod, func, None)
        if fn is None:
            return {"skipped": f"{module}.{func} がまだありません"}
        return fn(ctx)
    return step


def procedures_step(ctx: RunContext) -> dict:
    """The procedures the move lists (with reasons) and the questions shown, through the procedure
    service: the case file's answers are applied, the selection is stored, procedures.json is written."""
    from madoguchi.services.procedure_step import run_step
    return run_step(ctx)


# Output steps in order. Printing adds its step here (forms, 手続き案内書, 交付請求書 → PDFs in out_dir);
DEFAULT_OUTPUT_STEPS: tuple[OutputStep, ...] = (
    ("procedures", procedures_step),
    ("outputs", _optional_service_step("madoguchi.services.outputs", "run_step")),
)


def identity_step(ctx: RunContext) -> dict:
    """Record the identity check through the identity service and note it on the case timeline."""
    from madoguchi.services import identity

    spec = ctx.spec["identity"]
    stated = dict(spec.get("stated") or {})
    if "birth_date" in stated:
        stated["birth_date"] = _date(stated["birth_date"], "identity.stated.birth_date")
    rec = identity.record_identity_check(ctx.db, ctx.actor, atena_no=spec.get("atena_no"),
                                         documents=list(spec.get("documents") or []), stated=stated,
                                         subject=spec.get("subject", "visitor"), case_id=ctx.case.id)
    from madoguchi.domain.identity import OUTCOME_LABELS
    label = OUTCOME_LABELS.get(rec.outcome, rec.outcome)
    ctx.case = ctx.service.record_event(ctx.case.id, ctx.case.version, "identity", f"本人確認（{label}）",
                                        {"check_id": rec.id, "outcome": rec.outcome})
    return {"check_id": rec.id, "outcome": rec.outcome, "differences": [c.label for c in rec.preview.differences]}


def load_case_file(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaseFileError(f"ケースファイル「{path}」が見つかりません。") from None
    except yaml.YAMLError as exc:
        raise CaseFileError(f"ケースファイル「{path}」を読めません（YAMLの書式誤り）: {exc}") from None
    if not isinstance(data, dict):
        raise CaseFileError(f"ケースファイル「{path}」の中身が辞書形式ではありません。")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise CaseFileError(f"ケースファイル「{path.name}」に知らない項目があります: {', '.join(sorted(unknown))}")
    if "move" in data and data["move"] is not None:
        unknown = set(data["move"]) - MOVE_KEYS
        if unknown:
            raise CaseFileError(f"ケースファイル「{path.name}」の move に知らない項目があります: "
                                f"{', '.join(sorted(unknown))}")
    return data


def _date(v: Any, what: str) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    from madoguchi.domain.wareki import parse_date
    try:
        return parse_date(str(v))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a case-file error
        raise CaseFileError(f"{what} の日付「{v}」を読めません。") from exc


# --- fixture -------------------------------------------------------------------------------------


def seed_fixture(db: Database, spec: dict) -> dict[str, int]:
    """Load `towns:` and `residents:` of a case file into an empty demo database."""
    counts = {"towns": 0, "banchi": 0, "katagaki": 0, "residents": 0}
    with db.session() as s:
        for t in spec.get("towns") or []:
            code = str(t["code"])
            s.add(Town(town_code=code, name=t["name"], kana=t.get("kana", ""), kana_key=fold_kana(t.get("kana", "")),
                       postal_code=str(t.get("postal_code", ""))))
            counts["towns"] += 1
            for b in t.get("banchi") or []:
                b = b if isinstance(b, dict) else {"banchi": str(b)}
                s.add(Banchi(town_code=code, banchi=str(b["banchi"]),
                             postal_code=str(b.get("postal_code", t.get("postal_code", "")))))
                counts["banchi"] += 1
                for k in b.get("katagaki") or []:
                    s.add(Katagaki(town_code=code, banchi=str(b["banchi"]), katagaki=str(k)))
                    counts["katagaki"] += 1
        for r in spec.get("residents") or []:
            atena = str(r["atena_no"])
            head = bool(r.get("head", r.get("relationship") == "世帯主"))
            s.add(PersonRow(atena_no=atena, household_no=str(r["household"]), is_householder=head,
                            relationship=r.get("relationship", "世帯主" if head else ""), name=r["name"],
                            name_kana=r.get("kana", ""), kana_key=fold_kana(r.get("kana", "")),
                            birth_date=_date(r["birth"], f"住民 {atena}"), sex=str(r.get("sex", "")),
                            resident_kind=str(r.get("resident_kind", "1")), status="1",
                            mynumber_card_expiry=_date(r.get("mynumber_card_expiry"), f"住民 {atena}"),
                            e_cert_expiry=_date(r.get("e_cert_expiry"), f"住民 {atena}"),
                            restricted=bool(r.get("restricted", False))))
            a = r.get("address") or {}
            if a:
                town_code = str(a.get("town_code", ""))
                if not town_code and a.get("town"):
                    found = s.query(Town).filter(Town.name == a["town"]).first()
                    if found is None:
                        raise CaseFileError(f"住民 {atena} の町字「{a['town']}」が towns にありません。")
                    town_code = found.town_code
                s.add(PersonAddressRow(atena_no=atena, restricted=bool(r.get("restricted", False)),
                                       postal_code=str(a.get("postal_code", "")), town_code=town_code,
                                       banchi=str(a.get("banchi", "")), katagaki=str(a.get("katagaki", ""))))
            for q in r.get("qualifications") or []:
                q = q if isinstance(q, dict) else {"kind": q}
                s.add(QualificationRow(atena_no=atena, kind=q["kind"], role=q.get("role", "insured"),
                                       start_date=_date(q.get("start"), f"住民 {atena} の資格"),
                                       end_date=_date(q.get("end"), f"住民 {atena} の資格")))
            counts["residents"] += 1
        s.commit()
    return counts


# --- building the move -----------------------------------------------------------------------------


def _resolve_address(spec: dict | None, city: CityAddressBook, postal: PostalBook, what: str) -> Address | None:
    if not spec:
        return None
    try:
        if "country" in spec:
            return Address(prefecture="", city="", abroad_country=str(spec["country"]))
        if "town_code" in spec:
            return city.address(str(spec["town_code"]), str(spec["banchi"]), str(spec.get("katagaki", "")))
        if "prefecture" in spec:
            return postal.address(spec["prefecture"], spec["city"], spec.get("town", ""), str(spec.get("rest", "")),
                                  str(spec.get("postal_code", "")))
        return city.find_address(spec["town"], str(spec["banchi"]), str(spec.get("katagaki", "")))
    except KeyError as exc:
        raise CaseFileError(f"{what} の住所に項目 {exc} がありません。") from None
    except InputError as exc:
        raise CaseFileError(f"{what}: {exc.message}") from None


def build_move(db: Database, spec: dict, *, city: CityAddressBook, postal: PostalBook) -> Move:
    """The Move a clerk would enter on the grid for this case file's `move:` section."""
    try:
        move_type = MoveType(spec["type"])
    except (KeyError, ValueError):
        raise CaseFileError("move.type は " + "、".join(f"{t.value}（{t.label}）" for t in MoveType)
                            + " のどれかにしてください。") from None
    ck = spec.get("change_kind")
    try:
        change_kind = HouseholdChangeKind(ck) if ck else None
    except ValueError:
        raise CaseFileError("move.change_kind は split / merge / head_change / reorganise のどれかです。") from None

    existing: list[str] = []
    new_members: list[MoveMember] = []
    for m in spec.get("members") or []:
        if isinstance(m, (str, int)):
            existing.append(str(m))
        else:
            key = str(m.get("key") or f"new-{len(new_members) + 1}")
            new_members.append(MoveMember(key=key, name=m["name"], name_kana=m.get("kana", ""),
                                          birth_date=_date(m["birth"], f"転入者 {key}"),  # type: ignore[arg-type]
                                          sex=str(m.get("sex", "")), resident_kind=str(m.get("resident_kind", "1")),
                                          mynumber_card_expiry=_date(m.get("mynumber_card_expiry"), key),
                                          qualifications=tuple(Qualification(q) for q in m.get("qualifications", []))))
    after_keys = [str(h["key"]) for h in spec.get("after") or []]
    involved = list(existing)
    if after_keys:
        # Existing households named on the after side are involved too (e.g. the partner's household).
        from sqlalchemy import select
        with db.session() as s:
            heads = s.execute(select(PersonRow.atena_no).where(PersonRow.household_no.in_(after_keys))).scalars()
            involved += [a for a in heads if a not in involved]
    members: dict[str, MoveMember] = {}
    before: list[HouseholdState] = []
    if involved:
        members, before = household_states(db, involved)
        for k, m in members.items():
            m.moving = k in existing
    for m in new_members:
        members[m.key] = m

    after: list[HouseholdState] = []
    placed: set[str] = set()
    for h in spec.get("after") or []:
        key = str(h["key"])
        prev = next((b for b in before if b.key == key), None)
        address = _resolve_address(h.get("address"), city, postal, f"異動後の世帯 {key}")
        if address is None and prev is not None:
            address = prev.address
        placements: list[Placement] = []
        raw = h.get("members")
        if raw == "same":
            if prev is None:
                raise CaseFileError(f"異動後の世帯 {key}: members: same は既存の世帯にだけ使えます。")
            placements = [Placement(p.member_key, p.relationship, p.is_head) for p in prev.placements]
        else:
            for p in raw or []:
                mk = str(p["member"])
                if mk not in members:
                    raise CaseFileError(f"異動後の世帯 {key}: 「{mk}」は members にも関係世帯にもいません。")
                rel = str(p.get("relationship", ""))
                placements.append(Placement(mk, rel, bool(p.get("head", rel == "世帯主"))))
        placed |= {p.member_key for p in placements}
        after.append(HouseholdState(key, placements, address))
    # Those who stay keep their household, 続柄 and address unless the file says otherwise.
    for b in before:
        stay = [p for p in b.placements if p.member_key not in placed and not members[p.member_key].moving]
        if not stay:
            continue
        target = next((h for h in after if h.key == b.key), None)
        if target is None:
            target = HouseholdState(b.key, [], b.address)
            after.append(target)
        # stayers first: a newcomer joins after the existing members
        target.placements[:0] = [Placement(p.member_key, p.relationship, p.is_head) for p in stay]
    return Move(move_type=move_type, move_date=_date(spec.get("move_date"), "異動日"),
                notified_on=_date(spec.get("notified_on"), "届出日"),
                planned_date=_date(spec.get("planned_date"), "転出予定日"), change_kind=change_kind,
                from_address=_resolve_address(spec.get("from_address"), city, postal, "転入元"),
                to_address=_resolve_address(spec.get("to_address"), city, postal, "転出先"),
                members=members, before=before, after=after)


# --- the run ----------------------------------------------------------------------------------------


# The runner is an administrator's tool: it acts with the counter clerk's rights. (On PostgreSQL
# the database role it connects with still decides what it may actually read and write.)
RUNNER_PERMISSIONS = frozenset({"resident.read", "case.write", "certificate.issue"})


def _actor(spec: dict, *, demo: bool) -> Actor:
    a = spec.get("actor") or {}
    return Actor(login=str(a.get("login", "case_runner")), display_name=str(a.get("name", "ケース実行")),
                 terminal=str(a.get("terminal", "runner")), counter_no=str(a.get("counter", "")),
                 permissions=RUNNER_PERMISSIONS, demo=demo)


def ensure_staff(db: Database, actor: Actor) -> None:
    """Demo only: the runner's staff member must exist for names in the timeline."""
    with db.session() as s:
        if s.get(Staff, actor.login) is None:
            s.add(Staff(login=actor.login, display_name=actor.display_name))
            s.commit()


def run_case(db: Database, spec: dict, out_dir: Path, *, demo: bool = False,
             output_steps: tuple[OutputStep, ...] = DEFAULT_OUTPUT_STEPS,
             postal: PostalBook | None = None) -> dict:
    """Play the visit; write `summary.json`; return the summary. Raises KnownError on failure."""
    today = _date(spec.get("today"), "today") or datetime.now(UTC).date()
    actor = _actor(spec, demo=demo)
    if demo:
        ensure_staff(db, actor)
    svc = CaseService(db, actor)
    city = CityAddressBook(db)
    postal = postal or PostalBook()
    visitor = dict(spec.get("visitor") or {})
    case = svc.open_case(purpose=str(spec.get("purpose", "")), visitor=visitor,
                         subject_atena_no=str(spec["subject"]) if spec.get("subject") else None)
    ctx = RunContext(db, actor, svc, spec, today, out_dir, case)
    steps: list[dict] = [{"step": "open", "case_no": case.case_no}]

    if spec.get("identity"):
        steps.append({"step": "identity", **identity_step(ctx)})

    findings = []
    if spec.get("move"):
        move = build_move(db, spec["move"], city=city, postal=postal)
        ctx.case, findings = svc.save_move(ctx.case.id, ctx.case.version, move, today)
        ctx.move = move
        steps.append({"step": "move", "errors": sum(f.level is Level.ERROR for f in findings),
                      "warnings": sum(f.level is Level.WARNING for f in findings)})

    if spec.get("certificates"):
        result = _optional_service_step("madoguchi.services.certificates", "run_step")(ctx)
        steps.append({"step": "certificates", **(result if isinstance(result, dict) else {"result": result})})
        ctx.refresh()

    for memo in spec.get("memos") or []:
        ctx.case = svc.add_memo(ctx.case.id, ctx.case.version, str(memo))

    outputs: dict[str, Any] = {}
    for name, step in output_steps:
        outputs[name] = step(ctx)
        ctx.refresh()

    if spec.get("status"):
        ctx.case = svc.set_status(ctx.case.id, ctx.case.version, str(spec["status"]))

    summary = {
        "name": spec.get("name", ""),
        "case_no": ctx.case.case_no,
        "status": ctx.case.status,
        "status_label": ctx.case.status_label,
        "version": ctx.case.version,
        "today": today.isoformat(),
        "actor": {"login": actor.login, "terminal": actor.terminal},
        "visitor": visitor,
        "move": encode_move(ctx.move) if ctx.move else None,
        "move_text": describe_move(ctx.move) if ctx.move else [],
        "findings": [{"level": f.level.value, "message": f.message, "household": f.household,
                      "member": f.member, "field": f.field} for f in findings],
        "memos": [m[2] for m in svc.memos(ctx.case.id)],
        "timeline": [{"kind": e.kind, "summary": e.summary, "login": e.login, "terminal": e.terminal}
                     for e in svc.timeline(ctx.case.id)],
        "steps": steps,
        "outputs": outputs,
    }
    summary["expect"] = check_expectations(spec.get("expect") or {}, summary)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n",
                                          encoding="utf-8")
    ctx.summary = summary
    return summary


def describe_move(move: Move) -> list[str]:
    """Plain Japanese lines for people reading summary.json."""
    lines = [f"{move.move_type.label}" + (f"（{move.change_kind.label}）" if move.change_kind else "")]
    for h in move.after:
        names = "、".join(f"{move.members[p.member_key].name}（{p.relationship}）" for p in h.placements)
        addr = h.address.line() if h.address else "住所未選択"
        lines.append(f"異動後 {h.key}: {names} ／ {addr}")
    for m in move.moving_members():
        if move.household_after_of(m.key) is None and move.move_type.is_out:
            dest = move.to_address.line() if move.to_address else "転出先未選択"
            lines.append(f"転出: {m.name} → {dest}")
    return lines


def check_expectations(expect: dict, summary: dict) -> dict:
    """Compare with the case file's `expect:`; the result lists every mismatch in Japanese."""
    problems: list[str] = []
    levels = [f["level"] for f in summary["findings"]]
    for key, level in (("errors", "error"), ("warnings", "warning")):
        if key in expect and levels.count(level) != int(expect[key]):
            found = [f["message"] for f in summary["findings"] if f["level"] == level]
            problems.append(f"{'エラー' if level == 'error' else '警告'}の件数が {levels.count(level)} 件"
                            f"（期待 {expect[key]} 件）: {found}")
    for text_ in expect.get("messages") or []:
        if not any(text_ in f["message"] for f in summary["findings"]):
            problems.append(f"「{text_}」を含む指摘がありません。")
    if "status" in expect and summary["status"] != expect["status"]:
        problems.append(f"進捗が {summary['status']}（期待 {expect['status']}）です。")
    proc_out = (summary.get("outputs") or {}).get("procedures")
    listed = {x["procedure_id"] for x in proc_out.get("listed", [])} \
        if isinstance(proc_out, dict) and isinstance(proc_out.get("listed"), list) else set()
    for pid in expect.get("procedures") or []:
        if pid not in listed:
            problems.append(f"手続き「{pid}」が挙がっていません（挙がった手続き: {', '.join(sorted(listed))}）。")
    if "identity" in expect:
        got = [s_["outcome"] for s_ in summary["steps"] if s_.get("step") == "identity"]
        if got != [expect["identity"]]:
            problems.append(f"本人確認の結果が {got}（期待 {expect['identity']}）です。")
    cert = next((s_ for s_ in summary["steps"] if s_.get("step") == "certificates"), {})
    for key, label in (("fee_total", "手数料合計"), ("lines", "請求件数"), ("copies", "通数"),
                       ("refused", "交付制限"), ("rejected", "受付できなかった請求")):
        want = (expect.get("certificates") or {}).get(key)
        if want is not None and cert.get(key) != want:
            problems.append(f"証明書の{label}が {cert.get(key)}（期待 {want}）です。")
    for line in expect.get("move_text") or []:
        if line not in summary["move_text"]:
            problems.append(f"異動内容に「{line}」がありません: {summary['move_text']}")
    return {"ok": not problems, "problems": problems}


def demo_database(tmp_dir: Path) -> Database:
    """A throw-away SQLite database, migrated to the current schema."""
    from madoguchi.store import migrate
    db = Database.connect(f"sqlite:///{tmp_dir / 'demo.sqlite3'}")
    migrate.upgrade(db.engine)
    return db


__all__ = ["CaseFileError", "DEFAULT_OUTPUT_STEPS", "KnownError", "RunContext", "build_move", "demo_database",
           "load_case_file", "run_case", "seed_fixture"]
