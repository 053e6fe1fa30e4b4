"""Procedure definitions as plain objects (what the YAML files say, after validation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .cel import Compiled

SCOPES = ("household", "member")
QUESTION_KINDS = ("yes_no", "choice", "date", "number", "text")


@dataclass(frozen=True)
class Rule:
    """One way a procedure applies: a CEL condition and the Japanese reason shown when it fires."""

    when: Compiled
    reason: str
    line: int


@dataclass(frozen=True)
class Guidance:
    """Staff guidance (F7)."""

    explain: tuple[str, ...] = ()
    collect: tuple[str, ...] = ()
    mistakes: tuple[str, ...] = ()
    legal_basis: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestCase:
    """OpenFisca-style case: a move and answers → the subjects the procedure is listed for.

    A scenario (file-level `scenarios:`) has no procedure id and instead `expect`: for each
    subject, the exact list of procedure ids; subjects not named must get nothing.
    """

    name: str
    procedure_id: str | None
    move: dict
    answers: dict
    listed: tuple[str, ...]
    file: str
    line: int
    expect: dict[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Procedure:
    id: str
    name: str
    department: str
    counter: str
    category: str
    scope: str  # "household" | "member"
    rules: tuple[Rule, ...]
    questions: tuple[str, ...] = ()  # declared, then those its conditions read
    guidance: Guidance = field(default_factory=Guidance)
    documents: tuple[str, ...] = ()
    resident_text: str = ""
    resident_text_en: str = ""
    deadline: str = ""
    forms: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_to: date | None = None
    manual_only: bool = False
    tests: tuple[TestCase, ...] = ()
    file: str = ""
    line: int = 0

    def valid_on(self, on: date) -> bool:
        if self.valid_from and on < self.valid_from:
            return False
        return self.valid_to is None or on <= self.valid_to

    @property
    def where(self) -> str:
        return f"手続き {self.id}（{self.file} {self.line}行目）"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    kind: str
    about: str  # "household" | "member"
    show_when: Compiled | None
    choices: tuple[str, ...] = ()
    help: str = ""
    file: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"質問 {self.id}（{self.file} {self.line}行目）"


@dataclass(frozen=True)
class Parameter:
    """A dated value (OpenFisca parameter): the value in force on the move date is used."""

    id: str
    label: str
    values: tuple[tuple[date, object], ...]  # (valid from, value), ascending

    def value_on(self, on: date) -> object:
        current = None
        for start, value in self.values:
            if start <= on:
                current = value
        return current


@dataclass
class Catalogue:
    """All procedure definitions, questions and parameters, in file order."""

    procedures: dict[str, Procedure]
    questions: dict[str, Question]
    parameters: dict[str, Parameter]
    scenarios: tuple[TestCase, ...] = ()

    def all_tests(self) -> list[TestCase]:
        return [t for p in self.procedures.values() for t in p.tests] + list(self.scenarios)

    def params_on(self, on: date) -> dict[str, object]:
        return {p.id: p.value_on(on) for p in self.parameters.values()}

    def get(self, procedure_id: str) -> Procedure:
        return self.procedures[procedure_id]

    def decided_by(self, question_id: str) -> tuple[str, ...]:
        """Ids of the procedures that depend on a question (shown next to it on screen)."""
        return tuple(p.id for p in self.procedures.values() if question_id in p.questions)
