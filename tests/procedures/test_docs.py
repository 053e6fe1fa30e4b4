"""docs/手続き定義設計.md lists exactly the attributes conditions may use, and every procedure."""

from __future__ import annotations

import re

from madoguchi.domain.procedures import HOUSEHOLD, MEMBER, MOVE, parse_catalogue
from madoguchi.domain.procedures.facts import KINDS
from madoguchi.services.procedure_catalogue import read_sources
from madoguchi.resources import forms_path, project_root

DOC = project_root() / "docs" / "手続き定義設計.md"


def test_attribute_table_matches_the_code():
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `((?:move|member|household)\.[a-z_]+)` \|", text, re.M))
    declared = {f"{root}.{k}" for root, t in (("move", MOVE), ("member", MEMBER), ("household", HOUSEHOLD))
                for k in t.fields}
    assert documented == declared
    kinds = set(re.findall(r"^\| `([a-z_0-9]+)` \| [^|]+ \|$", text, re.M))
    assert set(KINDS) <= kinds


def test_every_procedure_is_listed():
    text = DOC.read_text(encoding="utf-8")
    catalogue = parse_catalogue(read_sources(forms_path("procedures")))
    missing = [pid for pid in catalogue.procedures if f"`{pid}`" not in text]
    assert missing == []
