"""CEL (Common Expression Language, via cel-python) for conditions: compile, check, evaluate.

The checker walks the parse tree and resolves every `a.b.c` path against the declared facts
(`facts.MEMBER` …); unknown attributes, unknown variables and literals that can never match
(`move.type == "move_inn"`, a choice that does not exist) are reported. Evaluation never turns
an error into false: it raises `ConditionError`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel

from madoguchi.errors import KnownError

from .facts import AttrType

@functools.cache
def environment() -> celpy.Environment:
    """The one CEL environment, made on first use (celpy raises the recursion limit when made)."""
    return celpy.Environment()

# Functions and macros CEL offers that a condition may use.
_METHODS_ON_LIST = {"exists", "all", "exists_one", "filter", "map"}
_FUNCTIONS = {"size", "int", "string", "bool", "has", "startsWith", "endsWith", "contains", "matches"}


class ConditionError(KnownError):
    """A condition could not be evaluated: a defect in the definitions, never 'false'."""


class CelSyntaxError(Exception):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class Compiled:
    """A compiled condition. A top-level `a && b && c` is kept as separate programs evaluated in
    order, stopping at the first false: most conditions start with a cheap guard (`move.is_in`),
    and the interpreter does not short-circuit by itself. An error in a conjunct evaluated before
    a false one is raised (CEL would absorb it): stricter, never silently false."""

    source: str
    program: celpy.Runner
    # (program, cache key): the key is set for parts that read only `move`/`params`, whose value
    # is the same for every household and member of one listing
    parts: tuple[tuple[celpy.Runner, str | None], ...] = ()


_MOVE_WIDE = {"move", "params"}


def _cache_key(part: lark.Tree) -> str | None:
    names = {str(t.children[0]) for t in part.iter_subtrees() if t.data == "ident"}
    return str(part) if names and names <= _MOVE_WIDE else None


def _conjuncts(node: lark.Tree) -> list[lark.Tree]:
    while node.data in ("expr", "conditionalor") and len(node.children) == 1:
        node = node.children[0]
    if node.data == "conditionaland" and len(node.children) == 2:
        return _conjuncts(node.children[0]) + [node.children[1]]
    return [node]


def compile_cel(source: str) -> tuple[Compiled, lark.Tree]:
    """Compile; a syntax error raises CelSyntaxError with the line inside the expression."""
    try:
        tree = environment().compile(source)
    except celpy.CELParseError as exc:
        raise CelSyntaxError(_syntax_message(exc), getattr(exc, "line", None) or 1,
                             getattr(exc, "column", None) or 0) from None
    whole = environment().program(tree)
    parts = _conjuncts(tree)
    runners = tuple((environment().program(p), _cache_key(p)) for p in parts) if len(parts) > 1 else (
        (whole, _cache_key(tree)),)
    return Compiled(source, whole, runners), tree


def to_cel(value: object) -> celtypes.Value:
    return json_to_cel(value)


def evaluate(compiled: Compiled, activation: dict, where: str, cache: dict | None = None) -> bool:
    """Evaluate to a bool or raise ConditionError naming `where` (procedure/question and line).

    `cache` (one dict per listing) keeps the value of parts that read only `move` and `params`.
    """
    for program, key in compiled.parts or ((compiled.program, None),):
        if key is not None and cache is not None:
            value = cache.get(key)
            if value is None:
                value = cache[key] = _run(compiled, program, activation, where)
        else:
            value = _run(compiled, program, activation, where)
        if not value:
            return False
    return True


def _run(compiled: Compiled, program: celpy.Runner, activation: dict, where: str) -> bool:
    try:
        result = program.evaluate(activation)
    except celpy.CELEvalError as exc:
        raise ConditionError(_eval_message(where, compiled.source, exc)) from None
    except Exception as exc:  # noqa: BLE001 - celpy leaks Python errors; report them all the same
        raise ConditionError(_eval_message(where, compiled.source, exc)) from None
    if isinstance(result, celpy.CELEvalError):
        raise ConditionError(_eval_message(where, compiled.source, result))
    if not isinstance(result, celtypes.BoolType):
        raise ConditionError(f"{where}: 条件式「{compiled.source}」の結果が真偽値ではありません"
                             f"（{type(result).__name__}）。手続き定義を修正してください。")
    return bool(result)


def _eval_message(where: str, source: str, exc: BaseException) -> str:
    # celpy errors carry (message, python exception type, its args): show the most concrete part
    args = exc.args
    detail: object = args[0] if args else exc
    if len(args) >= 3 and args[2]:
        inner = args[2] if isinstance(args[2], tuple) else (args[2],)
        detail = f"{args[0]}: {', '.join(str(a) for a in inner)}"
    return (f"{where}: 条件式「{source}」を評価できませんでした（{detail}）。"
            "この手続きが正しく判定できないため、管理者に連絡して手続き定義を修正してください。")


# --- static check -------------------------------------------------------------------------------

@dataclass
class Finding:
    message: str
    line: int  # line inside the expression (1-based)


@dataclass
class Usage:
    """What an expression reads: attribute paths and answer ids (for dependency checks)."""

    paths: set[str]
    answers: set[str]


_LITERAL_KIND = {"STRING_LIT": "string", "MLSTRING_LIT": "string", "INT_LIT": "int",
                 "UINT_LIT": "int", "FLOAT_LIT": "double", "BOOL_LIT": "bool", "NULL_LIT": "null",
                 "BYTES_LIT": "bytes"}


def _literal(node: lark.Tree) -> tuple[str, object] | None:
    """If node is (wrapped) literal, its kind and value; list literals give ('list', [...])."""
    while isinstance(node, lark.Tree) and node.data in (
            "expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
            "unary", "member", "primary", "literal", "paren_expr") and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, lark.Token) and node.type in _LITERAL_KIND:
        text = str(node)
        if node.type in ("STRING_LIT", "MLSTRING_LIT"):
            try:
                return "string", _unquote(text)
            except ValueError:
                return "string", text
        return _LITERAL_KIND[node.type], text
    if isinstance(node, lark.Tree) and node.data == "list_lit":
        items = []
        for ex in (node.children[0].children if node.children and node.children[0] is not None else []):
            lit = _literal(ex)
            if lit is None:
                return None
            items.append(lit)
        return "list", items
    return None


def _unquote(text: str) -> str:
    for q in ('"""', "'''", '"', "'"):
        if text.startswith(q) and text.endswith(q) and len(text) >= 2 * len(q):
            return text[len(q):-len(q)]
    raise ValueError(text)


class Checker:
    """Resolves every path of one expression against the roots available in its scope."""

    def __init__(self, roots: dict[str, AttrType], known_questions: frozenset[str] = frozenset()) -> None:
        self.roots = roots
        self.known_questions = known_questions
        self.findings: list[Finding] = []
        self.usage = Usage(set(), set())

    def check(self, tree: lark.Tree) -> list[Finding]:
        self._walk(tree, {})
        return self.findings

    def _err(self, node: lark.Tree | lark.Token, message: str) -> None:
        line = getattr(getattr(node, "meta", None), "line", None) or getattr(node, "line", None) or 1
        self.findings.append(Finding(message, line))

    def _walk(self, node: object, bound: dict[str, AttrType]) -> AttrType | None:
        if not isinstance(node, lark.Tree):
            return None
        data = node.data
        if data == "member_dot":
            return self._dot(node, bound)
        if data == "member_dot_arg":
            return self._method(node, bound)
        if data == "ident":
            return self._ident(node, bound)
        if data == "ident_arg":
            name = str(node.children[0])
            if name not in _FUNCTIONS:
                self._err(node, f"関数「{name}」は使えません。")
            for child in node.children[1:]:
                self._walk(child, bound)
            return AttrType("int") if name == "size" else None
        if data == "relation" and len(node.children) == 2 and isinstance(node.children[0], lark.Tree):
            op = node.children[0]
            if op.data in ("relation_eq", "relation_ne", "relation_in"):
                left_t = self._walk(op.children[0], bound)
                right_t = self._walk(node.children[1], bound)
                self._compare(op, op.children[0], left_t, node.children[1], right_t)
                return AttrType("bool")
        if data in ("member", "primary", "paren_expr", "unary", "multiplication", "addition",
                    "expr", "conditionalor", "conditionaland", "relation") and len(node.children) == 1:
            return self._walk(node.children[0], bound)
        for child in node.children:
            self._walk(child, bound)
        return None

    def _ident(self, node: lark.Tree, bound: dict[str, AttrType]) -> AttrType | None:
        name = str(node.children[0])
        if name in bound:
            return bound[name]
        if name in self.roots:
            self.usage.paths.add(name)
            return self.roots[name]
        self._err(node, f"変数「{name}」はありません（使えるのは {', '.join(sorted(self.roots))}）。")
        return None

    def _path(self, node: object) -> str:
        if isinstance(node, lark.Tree):
            if node.data == "member_dot":
                return f"{self._path(node.children[0])}.{node.children[1]}"
            if node.data == "ident":
                return str(node.children[0])
            if len(node.children) == 1:
                return self._path(node.children[0])
        return "…"

    def _dot(self, node: lark.Tree, bound: dict[str, AttrType]) -> AttrType | None:
        base = self._walk(node.children[0], bound)
        name = str(node.children[1])
        if base is None:
            return None
        if base.kind != "struct":
            self._err(node, f"「{self._path(node.children[0])}」には属性「{name}」はありません。")
            return None
        if name not in base.fields:
            path = self._path(node)
            root = path.split(".")[0]
            if root == "q" and name in self.known_questions:
                self._err(node, f"質問「{name}」はここでは使えません（この質問より後に定義された質問か、"
                                "世帯の条件から世帯員ごとの質問を参照しています）。")
            elif root == "q":
                self._err(node, f"質問「{name}」は定義されていません（questions.yaml を確認してください）。")
            else:
                self._err(node, f"未知の属性「{path}」です。docs/手続き定義設計.md の属性一覧を確認してください。")
            return None
        path = self._path(node)
        self.usage.paths.add(path)
        if path.startswith("q."):
            self.usage.answers.add(name)
        return base.fields[name]

    def _method(self, node: lark.Tree, bound: dict[str, AttrType]) -> AttrType | None:
        target, name = node.children[0], str(node.children[1])
        args = node.children[2].children if len(node.children) > 2 and node.children[2] is not None else []
        base = self._walk(target, bound)
        if name in _METHODS_ON_LIST:
            if base is not None and base.kind != "list":
                self._err(node, f"「{self._path(target)}」は一覧ではないため {name} は使えません。")
                base = None
            if len(args) != 2:
                self._err(node, f"{name} には (変数名, 条件) の2つを指定してください。")
                return None
            var = self._path(args[0])
            if var == "…" or "." in var:
                self._err(node, f"{name} の最初の引数は変数名にしてください。")
                return None
            inner = dict(bound)
            inner[var] = base.elem if base is not None and base.elem is not None else AttrType("any")
            self._walk(args[1], inner)
            return AttrType("bool") if name.startswith(("exists", "all")) else AttrType("list")
        if name not in _FUNCTIONS:
            self._err(node, f"関数「{name}」は使えません。")
        for a in args:
            self._walk(a, bound)
        return None

    def _compare(self, op: lark.Tree, lnode: object, lt: AttrType | None, rnode: object,
                 rt: AttrType | None) -> None:
        llit, rlit = _literal(lnode), _literal(rnode)
        if op.data == "relation_in":
            if lt is not None and rlit is not None and rlit[0] == "list":
                for kind, value in rlit[1]:
                    self._lit_ok(op, lnode, lt, kind, value)
            return
        if lt is not None and rlit is not None:
            self._lit_ok(op, lnode, lt, *rlit)
        elif rt is not None and llit is not None:
            self._lit_ok(op, rnode, rt, *llit)

    def _lit_ok(self, op: lark.Tree, node: object, t: AttrType, kind: str, value: object) -> None:
        path = self._path(node)
        if t.kind in ("any", "struct", "list"):
            return
        if kind == "null":
            if not t.nullable:
                self._err(op, f"「{path}」は null になりません。")
            return
        if kind != t.kind:
            self._err(op, f"「{path}」（{_KIND_JA.get(t.kind, t.kind)}）と {_KIND_JA.get(kind, kind)} "
                          f"の値 {value} を比べています。型を合わせてください。")
            return
        if t.values is not None and kind == "string" and value not in t.values:
            allowed = "、".join(f"「{v}」" for v in sorted(t.values) if v)
            self._err(op, f"「{path}」が「{value}」になることはありません（{allowed}のどれか）。")


_KIND_JA = {"bool": "真偽値", "int": "整数", "string": "文字列", "double": "小数", "null": "null",
            "bytes": "バイト列", "list": "一覧"}


def _syntax_message(exc: Exception) -> str:
    col = getattr(exc, "column", None)
    where = f"（{col}文字目付近）" if col else ""
    return f"条件式の構文が正しくありません{where}。括弧・&&・||・引用符の対応を確認してください。"


def check_expression(source: str, roots: dict[str, AttrType],
                     known_questions: frozenset[str] = frozenset()) -> tuple[list[Finding], Usage]:
    """Parse and check; syntax errors are findings too."""
    try:
        tree = environment().compile(source)
    except celpy.CELParseError as exc:
        return [Finding(_syntax_message(exc), getattr(exc, "line", None) or 1)], Usage(set(), set())
    checker = Checker(roots, known_questions)
    checker.check(tree)
    return checker.findings, checker.usage
