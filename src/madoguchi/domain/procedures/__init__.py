"""The procedure engine (手続き定義): definitions as data, CEL conditions, listing, selection.

    catalogue = procedure_catalogue.catalogue()
    listed = list_procedures(move, answers, catalogue)
    selection = merge_selection(previous_selection, listed)
"""

from .cel import ConditionError
from .facts import HOUSEHOLD, MEMBER, MOVE, build_facts
from .listing import (
    Answers,
    Evaluation,
    Listed,
    VisibleQuestion,
    evaluate_move,
    list_procedures,
    visible_questions,
)
from .loader import check_sources, parse_catalogue
from .model import Catalogue, Guidance, Parameter, Procedure, Question, Rule, TestCase
from .selection import (
    active,
    SelectedItem,
    Selection,
    add_manual,
    merge_selection,
    remove_item,
    restore_item,
)
from .spec import answers_from_spec, move_from_spec
from .testing import run_case
from .yamlsrc import CatalogueError, Problem, Severity

__all__ = [
    "HOUSEHOLD", "MEMBER", "MOVE", "Answers", "Catalogue", "CatalogueError", "ConditionError",
    "Evaluation", "Guidance", "Listed", "Parameter", "Problem", "Procedure", "Question", "Rule",
    "SelectedItem", "Selection", "Severity", "TestCase", "VisibleQuestion", "active", "add_manual",
    "answers_from_spec", "build_facts", "check_sources", "evaluate_move", "list_procedures",
    "merge_selection", "move_from_spec", "parse_catalogue", "remove_item", "restore_item",
    "run_case", "visible_questions",
]
