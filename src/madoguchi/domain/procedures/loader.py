"""Strict loading of procedure definitions (YAML text → Catalogue), with every problem located.

Input is the text of each file (name → text): reading the folder is the caller's job, so this
module stays free of I/O. `check_sources` returns all problems; `parse_catalogue` raises
`CatalogueError` if any of them is an error.

File layout: each file may hold `group` (a label), `procedures`, `questions`, `parameters`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from .cel import CelSyntaxError, check_expression, compile_cel, evaluate
from .facts import HOUSEHOLD, MEMBER, MOVE, PARAMS_DOC, AttrType
from .model import (
    QUESTION_KINDS,
    SCOPES,
    Catalogue,
    Guidance,
    Parameter,
    Procedure,
    Question,
    Rule,
    TestCase,
)
from .spec import SpecError, answers_from_spec, move_from_spec
from .testing import run_case
from .yamlsrc import CatalogueError, Marked, MarkedList, Problem, Severity, load_marked

_TOP = {"group", "procedures", "questions", "parameters", "scenarios"}
_PROC_KEYS = {"id", "name", "department", "counter", "category", "scope", "applies", "questions",
              "guidance", "documents", "resident_text", "resident_text_en", "deadline", "forms",
              "valid_from", "valid_to", "manual_only", "tests"}
_PROC_REQUIRED = {"id", "name", "department", "counter", "category", "scope", "guidance",
                  "documents", "resident_text", "forms", "tests"}
_RULE_KEYS = {"when", "reason"}
_GUIDANCE_KEYS = {"explain", "collect", "mistakes", "legal_basis"}
_QUESTION_KEYS = {"id", "text", "kind", "about", "show_when", "choices", "help"}
_PARAM_KEYS = {"id", "label", "values"}
_TEST_KEYS = {"name", "move", "answers", "listed"}
_SCENARIO_KEYS = {"name", "move", "answers", "expect"}
_PROC_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class _Ctx:
    file: str
    problems: list[Problem] = field(default_factory=list)

    def err(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message, Severity.WARNING))


def _keys(ctx: _Ctx, m: object, allowed: set[str], required: set[str], what: str, line: int) -> bool:
    if not isinstance(m, Marked):
        ctx.err(line, f"{what} は「キー: 値」の形で書いてください。")
        return False
    for k in m:
        if k not in allowed:
            ctx.err(m.line_of(k), f"{what} に未知のキー「{k}」があります（使えるのは "
                                  f"{', '.join(sorted(allowed))}）。")
    for k in sorted(required - set(m)):
        ctx.err(m.line, f"{what} に必須のキー「{k}」がありません。")
    return True


def _text(ctx: _Ctx, m: Marked, key: str, what: str, *, required: bool = True) -> str:
    v = m.get(key)
    if v is None:
        if required and key in m:
            ctx.err(m.line_of(key), f"{what} の「{key}」が空です。")
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        ctx.err(m.line_of(key), f"{what} の「{key}」は文字列で書いてください。")
        return ""
    return v.strip()


def _texts(ctx: _Ctx, m: Marked, key: str, what: str) -> tuple[str, ...]:
    """A string or a list of strings."""
    v = m.get(key)
    if v is None:
        return ()
    if isinstance(v, str):
        return (v.strip(),)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return tuple(x.strip() for x in v)
    ctx.err(m.line_of(key), f"{what} の「{key}」は文字列か文字列の一覧で書いてください。")
    return ()


def _date(ctx: _Ctx, m: Marked, key: str, what: str) -> date | None:
    v = m.get(key)
    if v is None:
        return None
    if isinstance(v, date):
        return v
    ctx.err(m.line_of(key), f"{what} の「{key}」は YYYY-MM-DD の日付で書いてください。")
    return None


def _items(ctx: _Ctx, m: Marked, key: str, what: str) -> list[tuple[object, int]]:
    v = m.get(key)
    if v is None:
        return []
    if not isinstance(v, MarkedList):
        ctx.err(m.line_of(key), f"{what} の「{key}」は一覧（- で始まる行）で書いてください。")
        return []
    return list(zip(v, v.item_lines, strict=True))


@dataclass
class _Raw:
    """First pass: everything parsed per file, before cross-file checks."""

    procedures: list[tuple[_Ctx, Marked]] = field(default_factory=list)
    questions: list[tuple[_Ctx, Marked]] = field(default_factory=list)
    parameters: list[tuple[_Ctx, Marked]] = field(default_factory=list)
    scenarios: list[tuple[_Ctx, Marked]] = field(default_factory=list)


def _scalar_type(v: object) -> str:
    return "bool" if isinstance(v, bool) else "int" if isinstance(v, int) else "string"


def _q_type(q: Question) -> AttrType:
    kind = {"yes_no": "bool", "number": "int"}.get(q.kind, "string")
    return AttrType(kind, q.text, values=frozenset(q.choices) if q.kind == "choice" else None,
                    nullable=True)


def _roots(scope: str, questions: Iterable[Question], params: AttrType,
           member_questions: Iterable[Question] | None = None) -> dict[str, AttrType]:
    """Variables a condition may read. Household conditions of procedures also get
    `member_answers`: per moving member of the household, the answers plus `member` facts."""
    q = AttrType("struct", "質問への回答（未回答は null）", fields={x.id: _q_type(x) for x in questions})
    roots = {"move": MOVE, "household": HOUSEHOLD, "q": q, "params": params}
    if scope == "member":
        roots["member"] = MEMBER
    elif member_questions is not None:
        fields = {x.id: _q_type(x) for x in member_questions} | {"member": MEMBER}
        roots["member_answers"] = AttrType("list", "異動する世帯員ごとの回答と属性",
                                           elem=AttrType("struct", fields=fields))
    return roots


def _check_cel(ctx: _Ctx, source: object, line: int, roots: dict[str, AttrType], what: str,  # noqa: ANN202
               known: frozenset[str] = frozenset()):
    """Check and compile one expression; returns (Compiled | None, answers used)."""
    if not isinstance(source, str) or not source.strip():
        ctx.err(line, f"{what} の条件式が空か、文字列ではありません。")
        return None, set()
    findings, usage = check_expression(source, roots, known)
    for f in findings:
        ctx.err(line + f.line - 1, f"{what}: {f.message}")
    if findings:
        return None, usage.answers
    try:
        compiled, _ = compile_cel(source)
    except CelSyntaxError as exc:  # pragma: no cover - check_expression saw it first
        ctx.err(line, f"{what}: {exc}")
        return None, usage.answers
    return compiled, usage.answers


def _check_template(ctx: _Ctx, template: str, line: int, roots: dict[str, AttrType], what: str) -> None:
    for m in _PLACEHOLDER.finditer(template):
        path = m.group(1)
        t: AttrType | None = roots.get(path.split(".")[0])
        for part in path.split(".")[1:]:
            t = t.fields.get(part) if t is not None and t.kind == "struct" else None
        if t is None or t.kind in ("struct", "list") or "." not in path:
            ctx.err(line, f"{what} の理由文の「{{{path}}}」は使えません（例: {{member.name}}、{{member.legal_age}}）。")


def _constant_false(compiled) -> bool:  # noqa: ANN001
    """True if the expression is false without reading any fact (it can never hold)."""
    try:
        return evaluate(compiled, {}, "") is False
    except Exception:  # noqa: BLE001 - it reads facts: not constant
        return False


def check_sources(sources: Mapping[str, str], known_forms: set[str] | None = None, *,
                  run_tests: bool = True) -> tuple[Catalogue | None, list[Problem]]:
    """Validate all files (and run their test cases). `known_forms` None skips the form-id check.

    Never raises for bad data: every problem comes back located by file and line.
    """
    raw = _Raw()
    problems: list[Problem] = []
    for name, text in sources.items():
        ctx = _Ctx(name)
        doc, errs = load_marked(text, name)
        problems.extend(errs)
        if errs:
            continue
        if doc is None:
            ctx.warn(0, "ファイルが空です。")
        elif _keys(ctx, doc, _TOP, set(), "ファイル", 1):
            for key, bucket in (("procedures", raw.procedures), ("questions", raw.questions),
                                ("parameters", raw.parameters), ("scenarios", raw.scenarios)):
                for item, line in _items(ctx, doc, key, "ファイル"):
                    if isinstance(item, Marked):
                        bucket.append((ctx, item))
                    else:
                        ctx.err(line, f"{key} の各項目は「キー: 値」の形で書いてください。")
        problems.extend(ctx.problems)
        ctx.problems = problems  # later passes append to the shared list

    parameters = _parameters(raw)
    params_t = AttrType("struct", PARAMS_DOC, fields={
        p.id: AttrType(_scalar_type(p.values[0][1]) if p.values else "any", p.label)
        for p in parameters.values()})
    questions, used = _questions(raw, params_t)
    procedures, used_by_procedures = _procedures(raw, questions, params_t, known_forms)
    used |= used_by_procedures

    for q in questions.values():
        if q.id not in used:
            problems.append(Problem(q.file, q.line, f"質問「{q.id}」はどの手続きにも使われていません"
                                                    "（条件・questions のどちらにもありません）。",
                                    Severity.WARNING))
    catalogue = Catalogue(procedures, questions, parameters, _scenarios(raw, procedures))
    if run_tests and not any(p.severity is Severity.ERROR for p in problems):
        problems.extend(_run_and_cover(catalogue))
    return catalogue, problems


def _parameters(raw: _Raw) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for ctx, m in raw.parameters:
        if not _keys(ctx, m, _PARAM_KEYS, _PARAM_KEYS, "パラメータ", m.line):
            continue
        pid = _text(ctx, m, "id", "パラメータ")
        values = []
        for item, line in _items(ctx, m, "values", f"パラメータ {pid}"):
            if not isinstance(item, Marked) or set(item) != {"from", "value"} or not isinstance(
                    item.get("from"), date):
                ctx.err(line, f"パラメータ {pid} の値は「from: 日付, value: 値」で書いてください。")
                continue
            values.append((item["from"], item["value"]))
        if not values:
            ctx.err(m.line, f"パラメータ {pid} に値がありません。")
        elif len({_scalar_type(v) for _, v in values}) > 1:
            ctx.err(m.line, f"パラメータ {pid} の値の型がそろっていません。")
        if pid in out:
            ctx.err(m.line_of("id"), f"パラメータ「{pid}」が重複しています。")
        out[pid] = Parameter(pid, _text(ctx, m, "label", "パラメータ"), tuple(sorted(values, key=lambda x: x[0])))
    return out


def _questions(raw: _Raw, params_t: AttrType) -> tuple[dict[str, Question], set[str]]:
    """Questions in order (household ones first) and the question ids their show_when read."""
    out: dict[str, Question] = {}
    read: set[str] = set()
    known = frozenset(str(m.get("id")) for _, m in raw.questions)
    # household questions first: member questions may read them, never the reverse
    ordered = sorted(raw.questions, key=lambda cm: cm[1].get("about") != "household")
    for ctx, m in ordered:
        if not _keys(ctx, m, _QUESTION_KEYS, {"id", "text", "kind", "about"}, "質問", m.line):
            continue
        qid = _text(ctx, m, "id", "質問")
        what = f"質問 {qid}"
        if qid and (not _QUESTION_ID.match(qid) or qid == "member"):
            ctx.err(m.line_of("id"), f"{what}: ID は英小文字・数字・_ で書いてください。")
        if qid in out:
            ctx.err(m.line_of("id"), f"質問「{qid}」が重複しています（{out[qid].file} {out[qid].line}行目）。")
            continue
        kind, about = m.get("kind"), m.get("about")
        if kind not in QUESTION_KINDS:
            ctx.err(m.line_of("kind"), f"{what}: kind は {', '.join(QUESTION_KINDS)} のどれかです。")
        if about not in SCOPES:
            ctx.err(m.line_of("about"), f"{what}: about は household か member です。")
            continue
        choices = _texts(ctx, m, "choices", what)
        if kind == "choice" and len(choices) < 2:
            ctx.err(m.line_of("choices") if "choices" in m else m.line, f"{what}: 選択肢（choices）を2つ以上書いてください。")
        if kind != "choice" and choices:
            ctx.err(m.line_of("choices"), f"{what}: choices は kind: choice のときだけ書けます。")
        earlier = [q for q in out.values() if q.about == "household" or about == "member"]
        compiled = None
        if "show_when" in m:
            compiled, answers = _check_cel(ctx, m["show_when"], m.line_of("show_when"),
                                           _roots(about, earlier, params_t), f"{what} の show_when", known)
            read |= answers
            if compiled is not None and _constant_false(compiled):
                ctx.err(m.line_of("show_when"), f"{what}: show_when が常に偽のため、この質問は表示されることがありません。")
        q = Question(qid, _text(ctx, m, "text", what), str(kind), str(about), compiled, choices,
                     _text(ctx, m, "help", what, required=False), ctx.file, m.line)
        out[qid] = q
    return out, read


def _procedures(raw: _Raw, questions: dict[str, Question], params_t: AttrType,
                known_forms: set[str] | None) -> tuple[dict[str, Procedure], set[str]]:
    out: dict[str, Procedure] = {}
    used: set[str] = set()
    hq = [q for q in questions.values() if q.about == "household"]
    for ctx, m in raw.procedures:
        if not _keys(ctx, m, _PROC_KEYS, _PROC_REQUIRED, "手続き", m.line):
            continue
        pid = _text(ctx, m, "id", "手続き")
        what = f"手続き {pid}"
        if pid and not _PROC_ID.match(pid):
            ctx.err(m.line_of("id"), f"{what}: ID は「分類.名前」（英小文字・数字・_）で書いてください。")
        if pid in out:
            ctx.err(m.line_of("id"), f"手続き「{pid}」が重複しています（{out[pid].file} {out[pid].line}行目）。")
            continue
        scope = m.get("scope")
        if scope not in SCOPES:
            ctx.err(m.line_of("scope"), f"{what}: scope は household（世帯ごと）か member（人ごと）です。")
            continue
        scope_qs = hq if scope == "household" else list(questions.values())
        roots = _roots(scope, scope_qs, params_t, [q for q in questions.values() if q.about == "member"])
        manual = m.get("manual_only", False)
        if not isinstance(manual, bool):
            ctx.err(m.line_of("manual_only"), f"{what}: manual_only は true か false です。")
            manual = False
        rules = []
        referenced: set[str] = set()
        for item, line in _items(ctx, m, "applies", what):
            if not _keys(ctx, item, _RULE_KEYS, _RULE_KEYS, f"{what} の applies", line):
                continue
            compiled, answers = _check_cel(ctx, item["when"], item.line_of("when"), roots, what,
                                           frozenset(questions))
            used |= answers
            referenced |= answers
            reason = item.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                ctx.err(item.line_of("reason"), f"{what}: 理由文（reason）を日本語で書いてください。")
                continue
            _check_template(ctx, reason, item.line_of("reason"), roots, what)
            if compiled is not None:
                rules.append(Rule(compiled, reason.strip(), item.line_of("when")))
        if not manual and "applies" not in m:
            ctx.err(m.line, f"{what}: applies（該当条件）がありません。個別受付のみなら manual_only: true にしてください。")
        if manual and m.get("applies"):
            ctx.err(m.line_of("applies"), f"{what}: manual_only の手続きに applies は書けません。")
        declared = _texts(ctx, m, "questions", what)
        for qid in declared:
            if qid not in questions:
                ctx.err(m.line_of("questions"), f"{what}: 質問「{qid}」は定義されていません（questions.yaml）。")
            elif scope == "household" and questions[qid].about == "member":
                ctx.err(m.line_of("questions"), f"{what}: 世帯ごとの手続きに世帯員の質問「{qid}」は使えません。")
        used |= set(declared)
        forms = _texts(ctx, m, "forms", what)
        if not forms:
            ctx.err(m.line_of("forms") if "forms" in m else m.line,
                    f"{what}: 印刷する帳票（forms）を1つ以上書いてください（なければ generic）。")
        if known_forms is not None:
            for f in forms:
                if f not in known_forms:
                    ctx.err(m.line_of("forms"), f"{what}: 帳票「{f}」はありません（forms/templates にある帳票: "
                                                f"{', '.join(sorted(known_forms))}）。")
        guidance = Guidance()
        g = m.get("guidance")
        if _keys(ctx, g, _GUIDANCE_KEYS, {"explain"}, f"{what} の guidance", m.line_of("guidance")):
            guidance = Guidance(*(_texts(ctx, g, k, f"{what} の guidance")
                                  for k in ("explain", "collect", "mistakes", "legal_basis")))
        valid_from, valid_to = _date(ctx, m, "valid_from", what), _date(ctx, m, "valid_to", what)
        if valid_from and valid_to and valid_to < valid_from:
            ctx.err(m.line_of("valid_to"), f"{what}: valid_to が valid_from より前です。")
        tests = _tests(ctx, m, pid, manual)
        out[pid] = Procedure(
            id=pid, name=_text(ctx, m, "name", what), department=_text(ctx, m, "department", what),
            counter=_text(ctx, m, "counter", what), category=_text(ctx, m, "category", what),
            scope=scope, rules=tuple(rules),
            questions=declared + tuple(sorted(referenced - set(declared))), guidance=guidance,
            documents=_texts(ctx, m, "documents", what),
            resident_text=_text(ctx, m, "resident_text", what),
            resident_text_en=_text(ctx, m, "resident_text_en", what, required=False),
            deadline=_text(ctx, m, "deadline", what, required=False), forms=forms,
            valid_from=valid_from, valid_to=valid_to, manual_only=manual, tests=tests,
            file=ctx.file, line=m.line)
    return out, used


def _tests(ctx: _Ctx, m: Marked, pid: str, manual: bool) -> tuple[TestCase, ...]:
    out = []
    for item, line in _items(ctx, m, "tests", f"手続き {pid}"):
        if not _keys(ctx, item, _TEST_KEYS, {"name", "move", "listed"}, f"手続き {pid} のテスト", line):
            continue
        name = _text(ctx, item, "name", f"手続き {pid} のテスト")
        try:
            move_from_spec(item["move"])
            answers_from_spec(item.get("answers"))
        except SpecError as exc:
            ctx.err(item.line_of("move"), f"手続き {pid} のテスト「{name}」: {exc}")
            continue
        listed = item.get("listed")
        if not isinstance(listed, list):
            ctx.err(item.line_of("listed"), f"手続き {pid} のテスト「{name}」: listed は対象（世帯員・世帯のキー）の一覧です。"
                                            "該当しない場合は [] と書きます。")
            continue
        out.append(TestCase(name, pid, item["move"], item.get("answers") or {},
                            tuple(str(x) for x in listed), ctx.file, line))
    if not manual and (not any(t.listed for t in out) or not any(not t.listed for t in out)):
        ctx.err(m.line_of("tests") if "tests" in m else m.line,
                f"手続き {pid}: 該当するテストと該当しないテストを少なくとも1つずつ書いてください。")
    if manual and not out:
        ctx.err(m.line, f"手続き {pid}: 自動で挙がらないことを確かめるテストを1つ書いてください。")
    return tuple(out)


def _scenarios(raw: _Raw, procedures: dict[str, Procedure]) -> tuple[TestCase, ...]:
    out = []
    for ctx, m in raw.scenarios:
        if not _keys(ctx, m, _SCENARIO_KEYS, _SCENARIO_KEYS - {"answers"}, "シナリオ", m.line):
            continue
        name = _text(ctx, m, "name", "シナリオ")
        try:
            move_from_spec(m["move"])
            answers_from_spec(m.get("answers"))
        except SpecError as exc:
            ctx.err(m.line_of("move"), f"シナリオ「{name}」: {exc}")
            continue
        expect = m.get("expect")
        if not isinstance(expect, dict) or not all(isinstance(v, list) for v in expect.values()):
            ctx.err(m.line_of("expect"), f"シナリオ「{name}」: expect は {{対象キー: [手続きID, …]}} で書いてください。")
            continue
        for ids in expect.values():
            for pid in ids:
                if pid not in procedures:
                    ctx.err(m.line_of("expect"), f"シナリオ「{name}」: 手続き「{pid}」は定義されていません。")
        out.append(TestCase(name, None, m["move"], m.get("answers") or {}, (), ctx.file, m.line,
                            {str(k): tuple(str(x) for x in v) for k, v in expect.items()}))
    return tuple(out)


def _run_and_cover(catalogue: Catalogue) -> list[Problem]:
    """Run every YAML test case; warn about questions no case ever shows."""

    problems: list[Problem] = []
    shown: set[str] = set()
    for case in catalogue.all_tests():
        failure, seen = run_case(case, catalogue)
        shown |= seen
        if failure:
            problems.append(Problem(case.file, case.line, failure))
    for q in catalogue.questions.values():
        if q.id not in shown:
            problems.append(Problem(q.file, q.line, f"質問「{q.id}」はどのテストケースでも表示されません"
                                                    "（show_when を確認し、表示されるテストを追加してください）。",
                                    Severity.WARNING))
    return problems


def parse_catalogue(sources: Mapping[str, str], known_forms: set[str] | None = None) -> Catalogue:
    """Load for use: errors raise CatalogueError; warnings are ignored here (see check)."""
    catalogue, problems = check_sources(sources, known_forms, run_tests=False)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or catalogue is None:
        raise CatalogueError(errors)
    return catalogue
