"""証明書 (certificates): the catalogue of kinds, and checking a multi-kind request (交付請求).

Pure: the catalogue comes in as YAML text (``forms/certificates/catalogue.yaml``) and the
persons as plain facts. A request lists kinds × copies × options for one or more persons, says
who asks (本人/同一世帯/代理人/第三者) and why. ``check_request`` returns every problem in
Japanese, the fee total, and whether the request must be stopped for 支援措置.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from ..errors import InputError
from .masking import ISSUE_REFUSED_TEXT, may_receive_address


class RequesterType(StrEnum):
    SELF = "self"
    HOUSEHOLD = "household"
    PROXY = "proxy"
    THIRD_PARTY = "third_party"

    @property
    def label(self) -> str:
        return {"self": "本人", "household": "同一世帯", "proxy": "代理人", "third_party": "第三者"}[self.value]


class OptionType(StrEnum):
    BOOL = "bool"
    CHOICE = "choice"
    TEXT = "text"


@dataclass(frozen=True)
class CertificateOption:
    id: str
    label: str
    type: OptionType = OptionType.BOOL
    choices: tuple[str, ...] = ()
    required: bool = False
    restricted_to_household: bool = False  # 個人番号・住民票コード: only 本人 / 同一世帯


@dataclass(frozen=True)
class CertificateKind:
    id: str
    group: str
    name: str
    fee: int
    section: str
    section_label: str
    requesters: frozenset[RequesterType]
    options: tuple[CertificateOption, ...] = ()
    reveals_address: bool = True
    note: str = ""

    def option(self, option_id: str) -> CertificateOption | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Catalogue:
    kinds: Mapping[str, CertificateKind]
    sections: Mapping[str, str]

    def get(self, kind_id: str) -> CertificateKind:
        try:
            return self.kinds[kind_id]
        except KeyError:
            raise InputError(f"証明書の種類「{kind_id}」は登録されていません。") from None

    def groups(self) -> dict[str, list[CertificateKind]]:
        out: dict[str, list[CertificateKind]] = {}
        for k in self.kinds.values():
            out.setdefault(k.group, []).append(k)
        return out


class CatalogueError(InputError):
    """The certificate catalogue file is malformed."""


_KIND_KEYS = {"id", "group", "name", "fee", "section", "requesters", "options", "reveals_address", "note"}
_OPTION_KEYS = {"label", "type", "choices", "required", "restricted_to_household"}


def load_catalogue(text: str, *, fees: Mapping[str, int] | None = None) -> Catalogue:
    """Parse and strictly validate the catalogue YAML; ``fees`` overrides per-copy fees (city settings)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError("証明書の種類の定義を読めません（YAMLの書式誤り）。", detail=str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("kinds"), list):
        raise CatalogueError("証明書の種類の定義に kinds がありません。")
    unknown = set(data) - {"version", "sections", "options", "kinds"}
    if unknown:
        raise CatalogueError(f"証明書の種類の定義に不明なキー {', '.join(sorted(unknown))} があります。")
    sections: dict[str, str] = dict(data.get("sections") or {})
    options: dict[str, CertificateOption] = {}
    for oid, o in (data.get("options") or {}).items():
        bad = set(o) - _OPTION_KEYS
        if bad:
            raise CatalogueError(f"オプション {oid}: 不明なキー {', '.join(sorted(bad))}")
        options[oid] = CertificateOption(oid, o["label"], OptionType(o.get("type", "bool")),
                                         tuple(o.get("choices") or ()), bool(o.get("required", False)),
                                         bool(o.get("restricted_to_household", False)))
    kinds: dict[str, CertificateKind] = {}
    for i, k in enumerate(data["kinds"]):
        where = f"kinds[{i}] {k.get('id', '?') if isinstance(k, dict) else ''}"
        if not isinstance(k, dict):
            raise CatalogueError(f"{where}: 形式が正しくありません。")
        bad = set(k) - _KIND_KEYS
        if bad:
            raise CatalogueError(f"{where}: 不明なキー {', '.join(sorted(bad))}")
        missing = {"id", "group", "name", "fee", "section", "requesters"} - set(k)
        if missing:
            raise CatalogueError(f"{where}: {', '.join(sorted(missing))} がありません。")
        if k["id"] in kinds:
            raise CatalogueError(f"{where}: id が重複しています。")
        if k["section"] not in sections:
            raise CatalogueError(f"{where}: 担当窓口 {k['section']} が sections にありません。")
        opts = []
        for oid in k.get("options") or []:
            if oid not in options:
                raise CatalogueError(f"{where}: オプション {oid} が options にありません。")
            opts.append(options[oid])
        try:
            requesters = frozenset(RequesterType(r) for r in k["requesters"])
        except ValueError as exc:
            raise CatalogueError(f"{where}: 請求者の種別が正しくありません（{exc}）。") from None
        fee = int((fees or {}).get(k["id"], k["fee"]))
        if fee < 0:
            raise CatalogueError(f"{where}: 手数料が負の値です。")
        kinds[k["id"]] = CertificateKind(k["id"], str(k["group"]), str(k["name"]), fee, k["section"],
                                         sections[k["section"]], requesters, tuple(opts),
                                         bool(k.get("reveals_address", True)), str(k.get("note", "")))
    return Catalogue(kinds, sections)


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """A person whose certificate is asked for, as far as the check needs to know."""

    atena_no: str
    name: str
    household_no: str = ""
    restricted: bool = False


@dataclass
class RequestLine:
    kind_id: str
    copies: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    subjects: tuple[str, ...] = ()  # 宛名番号 of the persons on the certificate


@dataclass
class CertificateRequest:
    lines: list[RequestLine]
    requester_type: RequesterType
    requester_name: str = ""
    requester_atena_no: str | None = None  # None: not a resident of the city / not identified
    requester_household_no: str = ""
    purpose: str = ""
    submit_to: str = ""
    identity_checked: bool = False
    letter_of_attorney: bool = False  # 委任状
    third_party_reason: str = ""      # 疎明 (why a third party may have it)


@dataclass(frozen=True)
class PricedLine:
    kind: CertificateKind
    copies: int
    options: Mapping[str, Any]
    subjects: tuple[str, ...]

    @property
    def amount(self) -> int:
        return self.kind.fee * self.copies

    def option_texts(self) -> list[str]:
        out = []
        for o in self.kind.options:
            v = self.options.get(o.id)
            if v in (None, "", False):
                continue
            out.append(o.label if v is True else f"{o.label}：{v}")
        return out


@dataclass
class RequestCheck:
    lines: list[PricedLine]
    errors: list[str] = field(default_factory=list)
    refused: bool = False
    refusal: list[str] = field(default_factory=list)  # for the audit log: which line, which person

    @property
    def ok(self) -> bool:
        return not self.errors and not self.refused

    @property
    def fee_total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def copies_total(self) -> int:
        return sum(line.copies for line in self.lines)


MAX_COPIES = 20


def check_request(request: CertificateRequest, catalogue: Catalogue,
                  subjects: Mapping[str, Subject]) -> RequestCheck:
    """Every problem with a request (Japanese), its fee total, and whether 支援措置 stops it."""
    errors: list[str] = []
    priced: list[PricedLine] = []
    refusal: list[str] = []
    rt = request.requester_type
    if not request.lines:
        errors.append("請求する証明書を選んでください。")
    if not request.identity_checked:
        errors.append("窓口に来た方の本人確認をしてください。")
    if not request.purpose.strip():
        errors.append("使用目的を入力してください。")
    if rt is RequesterType.PROXY and not request.letter_of_attorney:
        errors.append("代理人による請求には委任状が必要です。")
    if rt is RequesterType.THIRD_PARTY and not request.third_party_reason.strip():
        errors.append("第三者請求では、請求の理由（疎明資料の内容）を入力してください。")
    for line in request.lines:
        try:
            kind = catalogue.get(line.kind_id)
        except InputError as exc:
            errors.append(exc.message)
            continue
        name = kind.name
        if not isinstance(line.copies, int) or not 1 <= line.copies <= MAX_COPIES:
            errors.append(f"「{name}」の通数は1から{MAX_COPIES}の間で入力してください。")
        if rt not in kind.requesters:
            allowed = "・".join(r.label for r in RequesterType if r in kind.requesters)
            errors.append(f"「{name}」は{rt.label}からの請求を受け付けできません（請求できる方: {allowed}）。")
        for oid, value in line.options.items():
            opt = kind.option(oid)
            if opt is None:
                errors.append(f"「{name}」に「{oid}」という指定はありません。")
                continue
            if opt.type is OptionType.CHOICE and value not in opt.choices and value not in (None, ""):
                errors.append(f"「{name}」の{opt.label}は {'/'.join(opt.choices)} から選んでください。")
            if opt.restricted_to_household and value and rt not in (RequesterType.SELF, RequesterType.HOUSEHOLD):
                errors.append(f"「{name}」の{opt.label}は、本人または同一世帯の方の請求に限ります。")
        for opt in kind.options:
            if opt.required and line.options.get(opt.id) in (None, ""):
                errors.append(f"「{name}」の{opt.label}を入力してください。")
        persons = [subjects.get(a) for a in line.subjects]
        for a, p in zip(line.subjects, persons, strict=True):
            if p is None:
                errors.append(f"「{name}」の対象者（宛名番号 {a}）が見つかりません。")
        if rt is RequesterType.HOUSEHOLD:
            for p in persons:
                if p and request.requester_household_no and p.household_no != request.requester_household_no:
                    errors.append(f"「{name}」: {p.name} さんは請求者と同一世帯ではありません。")
        if kind.reveals_address:
            for p in persons:
                if p and p.restricted and not may_receive_address(p.atena_no, request.requester_atena_no):
                    refusal.append(f"{kind.id}: 宛名番号 {p.atena_no}")
        priced.append(PricedLine(kind, line.copies if isinstance(line.copies, int) else 0,
                                 dict(line.options), tuple(line.subjects)))
    check = RequestCheck(priced, errors)
    if refusal:
        check.refused = True
        check.refusal = refusal
        check.errors.insert(0, ISSUE_REFUSED_TEXT)
    return check


def fee_total(lines: Sequence[PricedLine]) -> int:
    return sum(line.amount for line in lines)
