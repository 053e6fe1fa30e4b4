"""Benchmark: listing procedures for a two-household, eight-person move with every answer given.

Compares the CEL engine (cel-python, interpreted) with the same conditions as plain Python
functions (translated mechanically from the same definitions, evaluated on plain dicts) and
checks that both list exactly the same procedures. Prints numbers; asserts no timing.

    PYTHONPATH=src python bench/bench_procedures.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

import lark

from madoguchi.domain.procedures import build_facts, list_procedures, move_from_spec, parse_catalogue
from madoguchi.domain.procedures.cel import environment
from madoguchi.services.procedure_catalogue import read_sources
from madoguchi.resources import forms_path

MOVE = {
    "type": "move_in",
    "date": date(2025, 4, 1),
    "members": {
        "a": {"birth": date(1960, 4, 2), "name": "深川 太郎", "card": True, "ecert": True},
        "b": {"birth": date(1962, 5, 1), "name": "深川 花子", "card": True},
        "c": {"birth": date(1949, 8, 10), "name": "深川 マツ"},
        "d": {"birth": date(1988, 7, 7), "name": "納内 健", "card": True, "ecert": True},
        "e": {"birth": date(1990, 2, 3), "name": "納内 美咲"},
        "f": {"birth": date(2012, 4, 1), "name": "納内 一郎"},
        "g": {"birth": date(2019, 4, 1), "name": "納内 二郎"},
        "h": {"birth": date(2023, 9, 30), "name": "納内 三郎"},
    },
    "after": [
        {"key": "new-A", "head": "a", "members": ["a", "b", "c"], "relationships": {"b": "妻", "c": "母"}},
        {"key": "new-B", "head": "d", "members": ["d", "e", "f", "g", "h"],
         "relationships": {"e": "妻", "f": "子", "g": "子", "h": "子"}},
    ],
}
ANSWERS = {
    "new-A": {"koseki_todoke": False, "tokurei_tenshutsu": False, "inu_shiiku": True,
              "gentsuki_shoyuu": False, "ninshin": False},
    "new-B": {"koseki_todoke": True, "tokurei_tenshutsu": True, "inu_shiiku": False,
              "gentsuki_shoyuu": True, "ninshin": True, "jidou_teate_koumuin": False,
              "hitorioya": False, "jidou_fuyou_juryou": False, "hoiku_kibou": True},
    "a": {"shakai_hoken": False, "kaigo_nintei": True, "kouki_shougai_nintei": False,
          "inkan_touroku": True, "shougai_techo": False},
    "b": {"shakai_hoken": False, "kaigo_nintei": False, "kouki_shougai_nintei": False,
          "inkan_touroku": False, "shougai_techo": True, "juudo_iryou_q": False},
    "c": {"kaigo_nintei": True, "inkan_touroku": False, "card_shinsei": True, "shougai_techo": False},
    "d": {"koseki_jiken": "婚姻", "shakai_hoken": True, "kousei_nenkin": True, "inkan_touroku": True,
          "shougai_techo": False},
    "e": {"koseki_jiken": "婚姻", "shakai_hoken": True, "kousei_nenkin": False, "inkan_touroku": True,
          "card_shinsei": True, "shougai_techo": False},
    "f": {"koseki_jiken": "なし", "shakai_hoken": True, "card_shinsei": False, "shougai_techo": False},
    "g": {"koseki_jiken": "なし", "shakai_hoken": True, "card_shinsei": True, "shougai_techo": False},
    "h": {"koseki_jiken": "なし", "shakai_hoken": True, "card_shinsei": False, "shougai_techo": False},
}


# --- the same conditions as plain Python ---------------------------------------------------------

_OPS = {"relation_eq": "==", "relation_ne": "!=", "relation_lt": "<", "relation_le": "<=",
        "relation_gt": ">", "relation_ge": ">=", "relation_in": "in", "addition_add": "+",
        "addition_sub": "-", "multiplication_mul": "*", "multiplication_div": "//",
        "multiplication_mod": "%"}


def _py(node: object, bound: set[str]) -> str:
    """CEL parse tree → Python source over plain dicts (the subset the definitions use)."""
    if isinstance(node, lark.Token):
        text = str(node)
        return {"true": "True", "false": "False", "null": "None"}.get(text, text)
    d, ch = node.data, node.children
    if d in ("expr",) and len(ch) == 3:
        return f"({_py(ch[1], bound)} if {_py(ch[0], bound)} else {_py(ch[2], bound)})"
    if d in ("conditionalor", "conditionaland") and len(ch) == 2:
        op = " or " if d == "conditionalor" else " and "
        return f"({_py(ch[0], bound)}{op}{_py(ch[1], bound)})"
    if d in ("relation", "addition", "multiplication") and len(ch) == 2:
        op = ch[0]
        return f"({_py(op.children[0], bound)} {_OPS[op.data]} {_py(ch[1], bound)})"
    if d == "unary" and len(ch) == 2:
        return f"(not {_py(ch[1], bound)})" if ch[0].data == "unary_not" else f"(-{_py(ch[1], bound)})"
    if d == "member_dot":
        return f"{_py(ch[0], bound)}[{str(ch[1])!r}]"
    if d == "member_dot_arg":
        var = str(next(ch[2].children[0].scan_values(lambda t: isinstance(t, lark.Token))))
        body = _py(ch[2].children[1], bound | {var})
        fn = {"exists": "any", "all": "all"}[str(ch[1])]
        return f"{fn}(({body}) for {var} in {_py(ch[0], bound)})"
    if d == "ident":
        name = str(ch[0])
        return name if name in bound else f"R[{name!r}]"
    if d == "ident_arg" and str(ch[0]) == "size":
        return f"len({_py(ch[1].children[0], bound)})"
    if d == "paren_expr":
        return f"({_py(ch[0], bound)})"
    if d == "list_lit":
        return "[" + ", ".join(_py(x, bound) for x in ch[0].children) + "]"
    if len(ch) == 1:
        return _py(ch[0], bound)
    raise NotImplementedError(d)


def python_function(source: str):  # noqa: ANN201
    return eval(f"lambda R: bool({_py(environment().compile(source), set())})")  # noqa: S307 - our own translation


def plain_listing(move, answers, catalogue, fns) -> set[tuple[str, str]]:  # noqa: ANN001
    """The engine's algorithm with Python functions instead of CEL (same facts, same order)."""
    facts = build_facts(move)
    params = catalogue.params_on(facts.on)
    hq = [q for q in catalogue.questions.values() if q.about == "household"]
    mq = [q for q in catalogue.questions.values() if q.about == "member"]
    out = set()
    for hkey, hf in facts.households.items():
        qh = {q.id: None for q in hq}
        roots = {"move": facts.move, "household": hf, "q": qh, "params": params}
        for q in hq:
            if q.show_when is None or fns[q.show_when.source](roots):
                qh[q.id] = answers.get((q.id, hkey))
        members = []
        for mkey, owner in facts.member_household.items():
            mf = facts.members[mkey]
            if owner != hkey or not mf["moving"]:
                continue
            qm = dict(qh) | {q.id: None for q in mq}
            mroots = {"move": facts.move, "household": hf, "member": mf, "q": qm, "params": params}
            for q in mq:
                if q.show_when is None or fns[q.show_when.source](mroots):
                    qm[q.id] = answers.get((q.id, mkey))
            members.append((mkey, mroots))
        roots["member_answers"] = [{**{q.id: r["q"][q.id] for q in mq}, "member": r["member"]}
                                   for _, r in members]
        for proc in catalogue.procedures.values():
            if proc.manual_only:
                continue
            if proc.scope == "household":
                if any(fns[r.when.source](roots) for r in proc.rules):
                    out.add((proc.id, hkey))
            else:
                for mkey, mroots in members:
                    if any(fns[r.when.source](mroots) for r in proc.rules):
                        out.add((proc.id, mkey))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()

    t0 = time.perf_counter()
    catalogue = parse_catalogue(read_sources(forms_path("procedures")))
    load_s = time.perf_counter() - t0
    move = move_from_spec(MOVE)
    answers = {(qid, subject): v for subject, per in ANSWERS.items() for qid, v in per.items()}

    sources = {r.when.source for p in catalogue.procedures.values() for r in p.rules}
    sources |= {q.show_when.source for q in catalogue.questions.values() if q.show_when}
    fns = {s: python_function(s) for s in sources}

    listed = list_procedures(move, answers, catalogue)
    cel_set = {(x.procedure_id, x.subject) for x in listed}
    py_set = plain_listing(move, answers, catalogue, fns)
    if cel_set != py_set:
        raise SystemExit(f"結果が一致しません: CELのみ {cel_set - py_set}, Pythonのみ {py_set - cel_set}")

    def timed(fn) -> tuple[list[float], float]:  # noqa: ANN001
        """Wall-clock time per round, and CPU time per round (less sensitive to a busy machine)."""
        out = []
        cpu0 = time.process_time()
        for _ in range(args.rounds):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out, (time.process_time() - cpu0) / args.rounds * 1000

    cel_t, cel_cpu = timed(lambda: list_procedures(move, answers, catalogue))
    py_t, py_cpu = timed(lambda: plain_listing(move, answers, catalogue, fns))
    cel_ms, py_ms = statistics.median(cel_t) * 1000, statistics.median(py_t) * 1000
    print(f"definitions: {len(catalogue.procedures)} procedures, {len(catalogue.questions)} questions, "
          f"{len(sources)} distinct conditions; load+check {load_s * 1000:.0f} ms")
    print(f"move: 2 households, 8 members, {len(answers)} answers -> {len(listed)} listed items "
          f"(both engines agree)")
    print(f"CEL listing    median {cel_ms:8.2f} ms  (min {min(cel_t) * 1000:.2f}, max {max(cel_t) * 1000:.2f}; "
          f"CPU {cel_cpu:.2f} ms)")
    print(f"plain Python   median {py_ms:8.2f} ms  (min {min(py_t) * 1000:.2f}, max {max(py_t) * 1000:.2f}; "
          f"CPU {py_cpu:.2f} ms)")
    print(f"ratio CEL / Python: {cel_ms / py_ms:.0f}x by median, {cel_ms and min(cel_t) / min(py_t):.0f}x by minimum "
          f"({args.rounds} rounds)")


if __name__ == "__main__":
    main()
