"""交付請求書 (certificate request form) printing, and the shipped certificate catalogue.

One request for several kinds of certificate prints as one 交付請求書 listing each kind, the
copies, the options asked for, the fee per line and the total. A request stopped for 支援措置
is never printed: the clerk sees 「交付制限対象です（担当者確認）」 instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..domain.certificates import (
    Catalogue,
    CertificateRequest,
    RequestCheck,
    RequesterType,
    Subject,
    load_catalogue,
)
from ..domain.masking import ISSUE_REFUSED_TEXT
from ..errors import InputError
from ..resources import forms_path
from .context import CaseInfo
from .render import render_form

TEMPLATE_ID = "koufu_seikyu"


def catalogue_path() -> Path:
    return forms_path("certificates", "catalogue.yaml")


def default_catalogue(fees: Mapping[str, int] | None = None, path: Path | None = None) -> Catalogue:
    """The shipped catalogue (or a city's own file), with the city's fee settings applied."""
    return load_catalogue((path or catalogue_path()).read_text(encoding="utf-8"), fees=fees)


def yen(amount: int) -> str:
    return f"{amount:,}円"


def request_context(case_context: Mapping[str, Any], request: CertificateRequest, check: RequestCheck,
                    subjects: Mapping[str, Subject]) -> dict[str, Any]:
    """Add the request's lines and totals to a case context (see context.build_context)."""
    if check.refused:
        raise InputError(ISSUE_REFUSED_TEXT)
    rows = []
    for i, line in enumerate(check.lines, start=1):
        names = "・".join(subjects[a].name for a in line.subjects if a in subjects)
        opts = "、".join(line.option_texts())
        rows.append({
            "seq": i,
            "name": line.kind.name,
            "group": line.kind.group,
            "section": line.kind.section_label,
            "copies": line.copies,
            "copies_text": f"{line.copies}通",
            "options_text": opts,
            "subjects_text": names,
            "detail": "　".join(t for t in (f"対象：{names}" if names else "", opts) if t),
            "fee": yen(line.kind.fee),
            "amount": yen(line.amount),
        })
    rt = request.requester_type
    names = list(dict.fromkeys(subjects[a].name for line in check.lines for a in line.subjects if a in subjects))
    ctx = dict(case_context)
    ctx.update({
        "requests": rows,
        "request.fee_total": yen(check.fee_total),
        "request.copies_total": f"{check.copies_total}通",
        "request.kinds_total": f"{len(rows)}種類",
        "request.purpose": request.purpose,
        "request.submit_to": request.submit_to,
        "request.requester_name": request.requester_name,
        "request.requester_type": rt.label,
        "request.subject_names": "・".join(names),
        "request.letter_of_attorney": request.letter_of_attorney,
        "request.identity_checked": request.identity_checked,
        "request.third_party_reason": request.third_party_reason,
        **{f"request.is_{t.value}": rt is t for t in RequesterType},
    })
    return ctx


def render_certificate_request(case: CaseInfo | Mapping[str, Any], request: CertificateRequest,
                               check: RequestCheck, subjects: Mapping[str, Subject], *,
                               watermark: str | None = None) -> bytes:
    """Print the 交付請求書 for a checked request (refused requests raise InputError)."""
    from .context import build_context

    base = build_context(case) if isinstance(case, CaseInfo) else case
    return render_form(TEMPLATE_ID, request_context(base, request, check, subjects), watermark=watermark)
