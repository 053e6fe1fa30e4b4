"""Certificate requests of a case (証明書の交付請求; F11, F13, B4).

One call of `CertificateService.request` stores one request: several kinds, each for one person
and with its copies and options, asked for by one requester (本人/同一世帯/代理人/第三者) for one
purpose. The domain (`domain.certificates.check_request`) checks it; the identity check comes from
the case's recorded identity checks (a proxy needs their own). Lines that would reveal a 支援措置
person's whereabouts to anyone but that person are stopped: nothing is stored for them, the clerk
sees 「交付制限対象です（担当者確認）」 and an audit event ``certificate.refused`` names who asked,
for whom and which kind (never an address). Every write goes through `touch_case`, so the case's
optimistic locking and timeline apply.

Storage: one ``certificate_requests`` row per line; ``fee`` is the line amount (fee per copy ×
copies) at request time. The request-level facts (request number, requester, 提出先, 委任状, the
identity checks used) are kept under the reserved key ``_request`` of the row's ``options``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.domain.certificates import (Catalogue, CertificateKind, CertificateRequest, PricedLine,
                                           RequestCheck, RequesterType, RequestLine, Subject, check_request,
                                           load_catalogue)
from madoguchi.domain.jst import japan_date
from madoguchi.domain.kana import fold_kana
from madoguchi.domain.masking import ISSUE_REFUSED_TEXT, may_receive_address
from madoguchi.errors import InputError
from madoguchi.resources import forms_path
from madoguchi.services import audit
from madoguchi.services.cases import CaseInfo, case_info, touch_case
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import CaseRow, CertificateRequestRow, IdentityCheckRow, PersonRow, Staff

PERMISSION = "certificate.issue"
REQUEST_KEY = "_request"
STATUS_LABELS = {"requested": "請求中", "cancelled": "取消", "issued": "交付済み"}
FORM_KIND = "koufu_seikyu"
FORM_TITLE = "証明書交付請求書"
# Identity documents → the check boxes of the form's 本人確認 box (case.id_*).
_DOC_FIELDS = {"mynumber_card": "id_mynumber_card", "driver_license": "id_license", "passport": "id_passport",
               "residence_card": "id_residence_card", "special_permanent": "id_residence_card"}


# --- catalogue ----------------------------------------------------------------------------------


@functools.cache
def _catalogue_at(path: str, mtime: float) -> Catalogue:
    return load_catalogue(Path(path).read_text(encoding="utf-8"))


def load_shipped_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue file, parsed once (again only when the file changes)."""
    p = path or forms_path("certificates", "catalogue.yaml")
    return _catalogue_at(str(p), p.stat().st_mtime)


# Readings of the words in the kinds' names, so that typing kana (「じゅうみんひょう」「こせき」) finds
# them. Longest words first when building a reading; unknown characters are skipped.
_READINGS = {
    "住民基本台帳": "じゅうみんきほんだいちょう", "住民票": "じゅうみんひょう", "住民": "じゅうみん",
    "戸籍": "こせき", "印鑑": "いんかん", "証明書": "しょうめいしょ", "証明": "しょうめい", "登録": "とうろく",
    "写し": "うつし", "世帯全員": "せたいぜんいん", "一部": "いちぶ", "除票": "じょひょう", "記載事項": "きさいじこう",
    "広域交付": "こういきこうふ", "不在住": "ふざいじゅう", "改製原": "かいせいげん", "全部事項": "ぜんぶじこう",
    "謄本": "とうほん", "個人事項": "こじんじこう", "抄本": "しょうほん", "一部事項": "いちぶじこう",
    "除籍": "じょせき", "除附票": "じょふひょう", "附票": "ふひょう", "受理": "じゅり", "上質紙": "じょうしつし",
    "届書": "とどけしょ", "身分": "みぶん", "独身": "どくしん", "不在籍": "ふざいせき", "電子": "でんし",
    "提供用識別符号": "ていきょうようしきべつふごう", "非課税": "ひかぜい", "課税台帳": "かぜいだいちょう",
    "課税": "かぜい", "所得": "しょとく", "年度別": "ねんどべつ", "控除": "こうじょ", "扶養": "ふよう",
    "内訳": "うちわけ", "営業": "えいぎょう", "事業": "じぎょう", "納税": "のうぜい", "市民税": "しみんぜい",
    "道民税": "どうみんぜい", "固定資産税": "こていしさんぜい", "都市計画税": "としけいかくぜい",
    "軽自動車税": "けいじどうしゃぜい", "種別割": "しゅべつわり", "継続検査用": "けいぞくけんさよう",
    "国民健康保険税": "こくみんけんこうほけんぜい", "法人": "ほうじん", "滞納": "たいのう", "全税目": "ぜんぜいもく",
    "固定資産": "こていしさん", "評価": "ひょうか", "公課": "こうか", "名寄帳": "なよせちょう", "兼": "けん",
    "土地": "とち", "家屋図": "かおくず", "家屋": "かおく", "無資産": "むしさん", "住宅用": "じゅうたくよう",
    "地番図": "ちばんず", "外国人": "がいこくじん", "在留": "ざいりゅう", "居住": "きょじゅう",
    "住居表示実施": "じゅうきょひょうじじっし", "閲覧": "えつらん", "廃止": "はいし", "就学": "しゅうがく",
    "在学": "ざいがく", "家族構成": "かぞくこうせい", "転出": "てんしゅつ", "再交付": "さいこうふ",
    "各種": "かくしゅ", "交付手数料": "こうふてすうりょう", "免除申請": "めんじょしんせい", "資産税": "しさんぜい",
    "税": "ぜい", "事項": "じこう", "関": "かん", "番号": "ばんごう", "個人": "こじん",
}
_WORDS = sorted(_READINGS, key=len, reverse=True)


def reading(text: str) -> str:
    """A kana reading of a kind's name or group (for incremental search)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        for w in _WORDS:
            if text.startswith(w, i):
                out.append(_READINGS[w])
                i += len(w)
                break
        else:
            ch = text[i]
            if "\u3040" <= ch <= "\u30ff":
                out.append(ch)
            i += 1
    return "".join(out)


@functools.cache
def _search_key(kind: CertificateKind) -> tuple[str, str]:
    plain = f"{kind.name} {kind.group} {kind.id}".lower()
    return plain, fold_kana(reading(kind.name) + " " + reading(kind.group))


def search_kinds(catalogue: Catalogue, query: str) -> list[CertificateKind]:
    """Kinds whose name, group, id or kana reading contain every word of the query (catalogue order)."""
    words = [w for w in query.replace("\u3000", " ").lower().split() if w]
    if not words:
        return list(catalogue.kinds.values())
    out = []
    for kind in catalogue.kinds.values():
        plain, kana = _search_key(kind)
        if all(w in plain or (fold_kana(w) and fold_kana(w) in kana) for w in words):
            out.append(kind)
    # Names starting with the query first: 「住民票」 → 住民票の写し before 改製原住民票.
    first = words[0]
    return sorted(out, key=lambda k: not (k.name.startswith(first) or k.group.startswith(first)
                                          or _search_key(k)[1].startswith(fold_kana(first))))


# --- inputs and results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    """One line of a request as the clerk enters it."""

    kind_id: str
    subject: str | None  # 宛名番号 of the person on the certificate
    copies: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Requester:
    """Who asks. `atena_no` for 本人/同一世帯 (whose identity check is on the case); a proxy's own
    check (subject "proxy") must be recorded on the case too."""

    type: RequesterType
    name: str = ""
    atena_no: str | None = None
    letter_of_attorney: bool = False  # 委任状
    third_party_reason: str = ""
    submit_to: str = ""               # 提出先

    @classmethod
    def of(cls, type_: RequesterType | str, **kw: Any) -> Requester:
        try:
            rt = RequesterType(type_)
        except ValueError:
            raise InputError("請求者の種別は 本人・同一世帯・代理人・第三者 のいずれかです。") from None
        return cls(rt, **kw)


@dataclass(frozen=True)
class StoredLine:
    id: int
    request_no: int
    kind_id: str
    kind_name: str
    group: str
    subject_atena_no: str | None
    subject_name: str
    copies: int
    options: dict[str, Any]
    option_texts: list[str]
    fee: int            # line amount (per copy × copies)
    status: str
    requester_type: str
    requester_name: str
    purpose: str
    submit_to: str
    at: datetime

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def requester_label(self) -> str:
        try:
            return RequesterType(self.requester_type).label
        except ValueError:
            return self.requester_type


@dataclass(frozen=True)
class RefusedLine:
    kind_id: str
    kind_name: str
    subject_atena_no: str
    subject_name: str


@dataclass(frozen=True)
class RequestResult:
    case: CaseInfo | None          # the new version (None when nothing was written to the case)
    request_no: int | None
    lines: list[StoredLine]
    refused: list[RefusedLine]
    fee_total: int

    @property
    def message(self) -> str:
        """What the clerk sees after the call."""
        parts = []
        if self.refused:
            who = "、".join(f"{r.kind_name}（{r.subject_name}）" for r in self.refused)
            parts.append(f"{ISSUE_REFUSED_TEXT}: {who}")
        if self.lines:
            parts.append(f"{len(self.lines)}件 {sum(x.copies for x in self.lines)}通 "
                         f"手数料合計 {self.fee_total:,}円 で受け付けました。")
        return "\n".join(parts)


class RequestRefused(InputError):
    """Every line of the request was stopped for 支援措置 (the audit event is written)."""

    def __init__(self, refused: list[RefusedLine]) -> None:
        super().__init__(ISSUE_REFUSED_TEXT)
        self.refused = refused


# --- the service --------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _subject(p: PersonRow) -> Subject:
    return Subject(p.atena_no, p.name, p.household_no, bool(p.restricted))


def _identity_ok(checks: Sequence[IdentityCheckRow], requester: Requester) -> bool:
    ok = [c for c in checks if c.result == "ok"]
    rt = requester.type
    if rt is RequesterType.PROXY:
        return any(c.subject == "proxy" for c in ok)
    if rt is RequesterType.THIRD_PARTY:
        return bool(ok)
    return any(c.subject == "visitor" and c.atena_no == requester.atena_no for c in ok)


class CertificateService:
    """Certificate requests of cases, for one logged-in actor (needs 「証明書の交付請求」)."""

    def __init__(self, db: Database, actor: Actor, *, catalogue: Catalogue | None = None,
                 clock: Any = _utcnow) -> None:
        self.db = db
        self.actor = actor
        self._catalogue = catalogue
        self.clock = clock

    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = load_shipped_catalogue()
        return self._catalogue

    def search(self, query: str) -> list[CertificateKind]:
        return search_kinds(self.catalogue(), query)

    # --- reading --------------------------------------------------------------------------------

    def candidates(self, case_id: int) -> list[Subject]:
        """Whom the certificates of this case may be about: the case subject's household, the
        persons identified on the case, and anyone already on a line (for the subject picker)."""
        self.actor.require(PERMISSION)
        with self.db.session() as s:
            case = s.get(CaseRow, case_id)
            if case is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。")
            atenas = [case.subject_atena_no] if case.subject_atena_no else []
            atenas += [a for a in s.scalars(select(IdentityCheckRow.atena_no)
                                            .where(IdentityCheckRow.case_id == case_id)) if a]
            atenas += [a for a in s.scalars(select(CertificateRequestRow.subject_atena_no)
                                            .where(CertificateRequestRow.case_id == case_id)) if a]
            hh = list(dict.fromkeys(s.scalars(select(PersonRow.household_no)
                                              .where(PersonRow.atena_no.in_(atenas)))))
            rows = s.scalars(select(PersonRow).where(
                (PersonRow.household_no.in_(hh)) | (PersonRow.atena_no.in_(atenas)))
                .order_by(PersonRow.household_no, PersonRow.is_householder.desc(), PersonRow.birth_date)).all()
            first = case.subject_atena_no
            out = [_subject(p) for p in rows if p.status == "1" or p.atena_no in atenas]
            return sorted(out, key=lambda x: x.atena_no != first)

    def identity_checks(self, case_id: int) -> list[IdentityCheckRow]:
        with self.db.session() as s:
            return list(s.scalars(select(IdentityCheckRow).where(IdentityCheckRow.case_id == case_id)
                                  .order_by(IdentityCheckRow.id)))

    def list(self, case_id: int, *, include_cancelled: bool = True) -> list[StoredLine]:
        self.actor.require(PERMISSION)
        with self.db.session() as s:
            return self._lines(s, case_id, include_cancelled=include_cancelled)

    def _lines(self, s: Session, case_id: int, *, include_cancelled: bool = True,
               request_no: int | None = None) -> list[StoredLine]:
        q = select(CertificateRequestRow).where(CertificateRequestRow.case_id == case_id)
        if not include_cancelled:
            q = q.where(CertificateRequestRow.status != "cancelled")
        rows = s.scalars(q.order_by(CertificateRequestRow.id)).all()
        names = {a: n for a, n in s.execute(select(PersonRow.atena_no, PersonRow.name).where(
            PersonRow.atena_no.in_({r.subject_atena_no for r in rows if r.subject_atena_no})))}
        cat = self.catalogue()
        out = []
        for r in rows:
            opts = dict(r.options or {})
            req = opts.pop(REQUEST_KEY, {}) or {}
            no = int(req.get("no", 0))
            if request_no is not None and no != request_no:
                continue
            kind = cat.kinds.get(r.kind_id)
            texts = PricedLine(kind, r.copies, opts, ()).option_texts() if kind else []
            out.append(StoredLine(
                id=r.id, request_no=no, kind_id=r.kind_id, kind_name=kind.name if kind else r.kind_id,
                group=kind.group if kind else "", subject_atena_no=r.subject_atena_no,
                subject_name=names.get(r.subject_atena_no or "", ""), copies=r.copies, options=opts,
                option_texts=texts, fee=r.fee, status=r.status, requester_type=r.requester_type,
                requester_name=str(req.get("requester_name", "")), purpose=r.purpose,
                submit_to=str(req.get("submit_to", "")),
                at=r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)))
        return out

    def fee_total(self, case_id: int) -> int:
        return sum(x.fee for x in self.list(case_id, include_cancelled=False))

    # --- writing --------------------------------------------------------------------------------

    def check(self, case_id: int, lines: Sequence[LineInput], requester: Requester, purpose: str
              ) -> tuple[RequestCheck, list[RefusedLine]]:
        """What `request` would decide, without writing (the panel shows it while the clerk types)."""
        with self.db.session() as s:
            return self._check(s, case_id, lines, requester, purpose)[:2]

    def _check(self, s: Session, case_id: int, lines: Sequence[LineInput], requester: Requester, purpose: str
               ) -> tuple[RequestCheck, list[RefusedLine], list[int], CertificateRequest, dict[str, Subject]]:
        cat = self.catalogue()
        atenas = {ln.subject for ln in lines if ln.subject} | ({requester.atena_no} if requester.atena_no else set())
        subjects = {p.atena_no: _subject(p) for p in s.scalars(select(PersonRow)
                                                                .where(PersonRow.atena_no.in_(atenas)))}
        checks = list(s.scalars(select(IdentityCheckRow).where(IdentityCheckRow.case_id == case_id)))
        req_person = subjects.get(requester.atena_no or "")
        extra: list[str] = []
        if requester.type in (RequesterType.SELF, RequesterType.HOUSEHOLD):
            if not requester.atena_no:
                extra.append("請求者（窓口に来た方）の住民を選んでください。")
            elif req_person is None:
                extra.append(f"請求者（宛名番号 {requester.atena_no}）が見つかりません。")
        if requester.type is RequesterType.SELF:
            for ln in lines:
                if ln.subject and requester.atena_no and ln.subject != requester.atena_no:
                    who = subjects[ln.subject].name if ln.subject in subjects else ln.subject
                    extra.append(f"本人請求ですが、{who} さんは請求者本人ではありません"
                                 "（同一世帯・代理人として請求してください）。")
        for ln in lines:
            if not ln.subject:
                kind = cat.kinds.get(ln.kind_id)
                extra.append(f"「{kind.name if kind else ln.kind_id}」の対象者を選んでください。")
        # Proxies and third parties are not residents as far as the address check goes: only the
        # protected person themselves may receive their address.
        receiver = requester.atena_no if requester.type in (RequesterType.SELF, RequesterType.HOUSEHOLD) else None
        refused_idx: list[int] = []
        refused: list[RefusedLine] = []
        for i, ln in enumerate(lines):
            kind = cat.kinds.get(ln.kind_id)
            p = subjects.get(ln.subject or "")
            if kind and kind.reveals_address and p and p.restricted and not may_receive_address(p.atena_no, receiver):
                refused_idx.append(i)
                refused.append(RefusedLine(kind.id, kind.name, p.atena_no, p.name))
        domain_req = CertificateRequest(
            lines=[RequestLine(ln.kind_id, ln.copies, dict(ln.options), (ln.subject,) if ln.subject else ())
                   for i, ln in enumerate(lines) if i not in refused_idx],
            requester_type=requester.type, requester_name=requester.name or (req_person.name if req_person else ""),
            requester_atena_no=receiver, requester_household_no=req_person.household_no if req_person else "",
            purpose=purpose, submit_to=requester.submit_to, identity_checked=_identity_ok(checks, requester),
            letter_of_attorney=requester.letter_of_attorney, third_party_reason=requester.third_party_reason)
        check = check_request(domain_req, cat, subjects)
        if refused and not domain_req.lines:
            check.errors = [e for e in check.errors if e != "請求する証明書を選んでください。"]
        check.errors[:0] = [e for e in extra if e not in check.errors]
        return check, refused, refused_idx, domain_req, subjects

    def request(self, case_id: int, version: int, lines: Sequence[LineInput], requester: Requester,
                purpose: str) -> RequestResult:
        """Store one request (several kinds × copies). Problems raise InputError with every reason in
        Japanese and store nothing; 支援措置 lines are stopped (audited) and the rest is stored.
        If every line is stopped, `RequestRefused` is raised after the audit event is committed."""
        self.actor.require(PERMISSION)
        self.actor.require("case.write")
        now = self.clock()
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            case = s.get(CaseRow, case_id)
            if case is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。")
            check, refused, _idx, dreq, subjects = self._check(s, case_id, lines, requester, purpose)
            if refused:
                # Logged even if the rest is rejected: the attempt itself matters.
                audit.record(s, self.actor.info, "certificate.refused", "case", case.case_no, {
                    "reason": ISSUE_REFUSED_TEXT, "requester_type": requester.type.value,
                    "requester_atena_no": requester.atena_no, "requester_name": dreq.requester_name,
                    "lines": [{"kind_id": r.kind_id, "atena_no": r.subject_atena_no} for r in refused]})
            problems = [e for e in check.errors if e != ISSUE_REFUSED_TEXT]
            if problems or not dreq.lines:
                if refused:
                    uow.commit()  # the audit event only; no case change
                if problems:
                    raise InputError("\n".join(([ISSUE_REFUSED_TEXT] if refused else []) + problems))
                raise RequestRefused(refused)
            last = [int((r.options or {}).get(REQUEST_KEY, {}).get("no", 0)) for r in s.scalars(
                select(CertificateRequestRow).where(CertificateRequestRow.case_id == case_id))]
            request_no = max(last, default=0) + 1
            ids = [c.id for c in s.scalars(select(IdentityCheckRow).where(IdentityCheckRow.case_id == case_id,
                                                                         IdentityCheckRow.result == "ok"))]
            req_data = {"no": request_no, "requester_name": dreq.requester_name,
                        "requester_atena_no": requester.atena_no, "submit_to": requester.submit_to,
                        "letter_of_attorney": requester.letter_of_attorney,
                        "third_party_reason": requester.third_party_reason, "identity_check_ids": ids}
            rows = []
            for pl in check.lines:
                row = CertificateRequestRow(case_id=case_id, kind_id=pl.kind.id,
                                            subject_atena_no=pl.subjects[0] if pl.subjects else None,
                                            copies=pl.copies, options={**dict(pl.options), REQUEST_KEY: req_data},
                                            purpose=purpose, requester_type=requester.type.value, fee=pl.amount,
                                            status="requested", at=now)
                s.add(row)
                rows.append(row)
            s.flush()
            summary = (f"証明書を請求（{requester.type.label}・{len(rows)}件 {check.copies_total}通・"
                       f"{check.fee_total:,}円）")
            if refused:
                summary += f"／{ISSUE_REFUSED_TEXT} {len(refused)}件"
            data = {"request_no": request_no, "line_ids": [r.id for r in rows], "fee_total": check.fee_total,
                    "kinds": [pl.kind.id for pl in check.lines], "refused": len(refused)}
            row = touch_case(s, self.actor, case_id, version, "certificate", summary, data, now=now)
            info = case_info(s, row)
            stored = self._lines(s, case_id, request_no=request_no)
            uow.commit()
            return RequestResult(info, request_no, stored, refused, check.fee_total)

    def cancel_line(self, case_id: int, version: int, line_id: int, reason: str = "") -> CaseInfo:
        """Cancel one line (e.g. the resident changed their mind); the row stays, marked 取消."""
        self.actor.require(PERMISSION)
        self.actor.require("case.write")
        with self.db.uow(self.actor.info) as uow:
            s = uow.session
            row = s.get(CertificateRequestRow, line_id)
            if row is None or row.case_id != case_id:
                raise InputError(f"証明書の請求（番号 {line_id}）はこの対応にありません。")
            if row.status == "cancelled":
                raise InputError("この請求は取消済みです。")
            row.status = "cancelled"
            kind = self.catalogue().kinds.get(row.kind_id)
            name = kind.name if kind else row.kind_id
            summary = f"証明書の請求を取消（{name} {row.copies}通）" + (f"：{reason}" if reason else "")
            case = touch_case(s, self.actor, case_id, version, "certificate", summary,
                              {"cancelled": line_id, "reason": reason})
            info = case_info(s, case)
            uow.commit()
            return info

    # --- printing -------------------------------------------------------------------------------

    def request_numbers(self, case_id: int) -> list[int]:
        return sorted({x.request_no for x in self.list(case_id, include_cancelled=False)})

    def render_request_form(self, case_id: int, request_no: int | None = None) -> bytes:
        """The 交付請求書 (PDF) of one request (default: the latest) with its fee total; training and
        demo outputs carry their watermark. A request stopped for 支援措置 is never printed."""
        from madoguchi.printing.certificates import render_certificate_request
        from madoguchi.printing.context import CaseInfo as PrintCase
        from madoguchi.printing.render import watermark_for

        self.actor.require(PERMISSION)
        with self.db.session() as s:
            case = s.get(CaseRow, case_id)
            if case is None:
                raise InputError(f"対応（ID {case_id}）が見つかりません。")
            nos = sorted({x.request_no for x in self._lines(s, case_id, include_cancelled=False)})
            if not nos:
                raise InputError("印刷する証明書の請求がありません。先に請求を登録してください。")
            no = request_no if request_no is not None else nos[-1]
            if no not in nos:
                raise InputError(f"請求{no}は取消済みか、この対応にありません。")
            rows = [r for r in s.scalars(select(CertificateRequestRow).where(
                CertificateRequestRow.case_id == case_id, CertificateRequestRow.status != "cancelled")
                .order_by(CertificateRequestRow.id))
                if int((r.options or {}).get(REQUEST_KEY, {}).get("no", 0)) == no]
            req = dict(rows[0].options[REQUEST_KEY])
            atenas = {r.subject_atena_no for r in rows if r.subject_atena_no}
            if req.get("requester_atena_no"):
                atenas.add(req["requester_atena_no"])
            subjects = {p.atena_no: _subject(p) for p in s.scalars(select(PersonRow)
                                                                    .where(PersonRow.atena_no.in_(atenas)))}
            rt = RequesterType(rows[0].requester_type)
            receiver = req.get("requester_atena_no") if rt in (RequesterType.SELF, RequesterType.HOUSEHOLD) else None
            reqp = subjects.get(req.get("requester_atena_no") or "")
            dreq = CertificateRequest(
                lines=[RequestLine(r.kind_id, r.copies, {k: v for k, v in (r.options or {}).items()
                                                         if k != REQUEST_KEY},
                                   (r.subject_atena_no,) if r.subject_atena_no else ()) for r in rows],
                requester_type=rt, requester_name=str(req.get("requester_name", "")), requester_atena_no=receiver,
                requester_household_no=reqp.household_no if reqp else "", purpose=rows[0].purpose,
                submit_to=str(req.get("submit_to", "")), identity_checked=bool(req.get("identity_check_ids")),
                letter_of_attorney=bool(req.get("letter_of_attorney")),
                third_party_reason=str(req.get("third_party_reason", "")))
            # Re-checked at print time: a person put under 支援措置 since the request is stopped here too.
            check = check_request(dreq, self.catalogue(), subjects)
            clerk = s.get(Staff, self.actor.login)
            relation = {"self": "本人", "household": "同一世帯", "proxy": "代理人"}.get(rt.value, "その他")
            visitor = dict(case.visitor or {})
            counter = self.actor.counter_no or case.counter_no
            docs = {d.get("code") for c in s.scalars(select(IdentityCheckRow).where(
                IdentityCheckRow.id.in_(req.get("identity_check_ids") or []))) for d in (c.documents or [])}
            shown = {f: True for code, f in _DOC_FIELDS.items() if code in docs}
            if docs - set(_DOC_FIELDS):
                shown["id_other"] = True
            pcase = PrintCase(today=japan_date(self.clock()), case_no=case.case_no,
                              clerk=clerk.display_name if clerk else self.actor.display_name,
                              terminal=self.actor.terminal, counter=f"{counter}番窓口" if counter else "",
                              notifier_name=dreq.requester_name or str(visitor.get("name", "")),
                              notifier_relation=relation, notifier_phone=str(visitor.get("phone", "")),
                              extra=shown)
            mode = "training" if (self.actor.training or case.training) else "demo" if self.actor.demo else ""
            case_no = case.case_no
            pdf = None if check.refused else render_certificate_request(pcase, dreq, check, subjects,
                                                                        watermark=watermark_for(mode))
        if pdf is None:
            with self.db.uow(self.actor.info) as uow:
                audit.record(uow.session, self.actor.info, "certificate.refused", "case", case_no, {
                    "reason": ISSUE_REFUSED_TEXT, "at": "print", "request_no": no,
                    "requester_type": rt.value, "lines": [x for x in check.refusal]})
                uow.commit()
            raise InputError(ISSUE_REFUSED_TEXT)
        return pdf


@dataclass(frozen=True)
class RecordedForm:
    """A rendered 交付請求書, recorded in case_outputs (print state via OutputService.mark_printed)."""

    case: CaseInfo
    output_id: int
    request_no: int
    title: str
    pdf: bytes = field(repr=False)


def record_request_form(svc: CertificateService, case_id: int, version: int,
                        request_no: int | None = None) -> RecordedForm:
    """Render the 交付請求書 and record it as an output of the case (kind ``koufu_seikyu``), so the
    outputs service's print-state bookkeeping (mark_printed / mark_failed) applies to it too."""
    import hashlib

    from madoguchi.store.models import OutputRow

    nos = svc.request_numbers(case_id)
    no = request_no if request_no is not None else (nos[-1] if nos else None)
    pdf = svc.render_request_form(case_id, no)
    assert no is not None  # noqa: S101 - render_request_form raised otherwise
    title = f"{FORM_TITLE}（請求{no}）"
    now = svc.clock()
    with svc.db.uow(svc.actor.info) as uow:
        s = uow.session
        row = OutputRow(case_id=case_id, kind=FORM_KIND, title=title, sha256=hashlib.sha256(pdf).hexdigest(),
                        state="rendered", message="", at=now)
        s.add(row)
        s.flush()
        case = touch_case(s, svc.actor, case_id, version, "output", f"帳票を作成（{title}）",
                          {"action": "render", "outputs": [row.id], "titles": [title]}, now=now)
        info = case_info(s, case)
        out_id = row.id
        uow.commit()
    return RecordedForm(info, out_id, no, title, pdf)


# --- case runner step -------------------------------------------------------------------------------


def _line_inputs(spec: Iterable[Mapping[str, Any]], default_subject: str | None) -> list[LineInput]:
    out = []
    for ln in spec:
        unknown = set(ln) - {"kind", "subject", "copies", "options"}
        if unknown:
            raise InputError(f"certificates の行に知らない項目があります: {', '.join(sorted(unknown))}")
        subject = ln.get("subject", default_subject)
        out.append(LineInput(str(ln["kind"]), str(subject) if subject else None, int(ln.get("copies", 1)),
                             dict(ln.get("options") or {})))
    return out


REQUEST_KEYS = {"requester", "purpose", "submit_to", "lines", "proxy_identity"}
REQUESTER_KEYS = {"type", "name", "atena_no", "letter_of_attorney", "third_party_reason"}


def run_step(ctx: Any) -> dict:
    """Case runner: each entry of the case file's ``certificates:`` is one request through the
    service. The result lists the stored lines with fees, the refusals and any rejections."""
    spec = ctx.spec["certificates"]
    requests = spec if isinstance(spec, list) else [spec]
    svc = CertificateService(ctx.db, ctx.actor)
    results: list[dict] = []
    for i, r in enumerate(requests, start=1):
        unknown = set(r) - REQUEST_KEYS
        if unknown:
            raise InputError(f"certificates[{i}] に知らない項目があります: {', '.join(sorted(unknown))}")
        rq = dict(r.get("requester") or {"type": "self"})
        unknown = set(rq) - REQUESTER_KEYS
        if unknown:
            raise InputError(f"certificates[{i}].requester に知らない項目があります: {', '.join(sorted(unknown))}")
        if rq.get("type", "self") in ("self", "household") and not rq.get("atena_no"):
            rq["atena_no"] = ctx.case.subject_atena_no
        requester = Requester.of(rq.get("type", "self"), name=str(rq.get("name", "")),
                                 atena_no=str(rq["atena_no"]) if rq.get("atena_no") else None,
                                 letter_of_attorney=bool(rq.get("letter_of_attorney", False)),
                                 third_party_reason=str(rq.get("third_party_reason", "")),
                                 submit_to=str(r.get("submit_to", "")))
        if r.get("proxy_identity"):
            from madoguchi.services import identity
            pid = r["proxy_identity"]
            rec = identity.record_identity_check(ctx.db, ctx.actor, atena_no=pid.get("atena_no"),
                                                 documents=list(pid.get("documents") or []),
                                                 stated=dict(pid.get("stated") or {}), subject="proxy",
                                                 case_id=ctx.case.id)
            from madoguchi.domain.identity import OUTCOME_LABELS
            ctx.case = ctx.service.record_event(ctx.case.id, ctx.case.version, "identity",
                                                f"代理人の本人確認（{OUTCOME_LABELS.get(rec.outcome, rec.outcome)}）",
                                                {"check_id": rec.id, "outcome": rec.outcome, "subject": "proxy"})
        default_subject = requester.atena_no or ctx.case.subject_atena_no
        entry: dict[str, Any] = {"requester_type": requester.type.value}
        try:
            res = svc.request(ctx.case.id, ctx.case.version, _line_inputs(r.get("lines") or [], default_subject),
                              requester, str(r.get("purpose", "")))
        except RequestRefused as exc:
            entry.update({"stored": [], "fee_total": 0, "message": exc.message,
                          "refused": [{"kind_id": x.kind_id, "atena_no": x.subject_atena_no} for x in exc.refused]})
        except InputError as exc:
            entry.update({"stored": [], "fee_total": 0, "errors": exc.message.split("\n"), "refused": []})
            if ISSUE_REFUSED_TEXT in exc.message:
                entry["refused"] = ["（他の誤りとともに停止）"]
        else:
            ctx.case = res.case or ctx.case
            entry.update({
                "request_no": res.request_no, "fee_total": res.fee_total, "message": res.message,
                "stored": [{"kind_id": x.kind_id, "name": x.kind_name, "subject": x.subject_atena_no,
                            "copies": x.copies, "fee": x.fee, "options": x.option_texts} for x in res.lines],
                "refused": [{"kind_id": x.kind_id, "atena_no": x.subject_atena_no} for x in res.refused]})
            pdf = svc.render_request_form(ctx.case.id, res.request_no)
            ctx.out_dir.mkdir(parents=True, exist_ok=True)
            path = ctx.out_dir / f"交付請求書_{res.request_no}.pdf"
            path.write_bytes(pdf)
            entry["form"] = path.name
        results.append(entry)
    lines = [x for e in results for x in e["stored"]]
    return {"requests": results, "lines": len(lines), "copies": sum(x["copies"] for x in lines),
            "fee_total": sum(e["fee_total"] for e in results),
            "refused": sum(len(e["refused"]) for e in results),
            "rejected": sum(1 for e in results if e.get("errors"))}


__all__ = ["CertificateService", "LineInput", "RecordedForm", "RefusedLine", "record_request_form", "RequestRefused", "RequestResult", "Requester",
           "StoredLine", "load_shipped_catalogue", "reading", "run_step", "search_kinds"]
