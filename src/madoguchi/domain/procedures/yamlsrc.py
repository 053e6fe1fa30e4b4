"""YAML text → Python values that remember their line, so every problem names file and line.

Mappings become `Marked` dicts (line of the mapping and of each key); duplicate keys are errors
(PyYAML would silently keep the last one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import yaml


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding of the definition check, located by file and line (1-based; 0 = whole file)."""

    file: str
    line: int
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        label = "エラー" if self.severity is Severity.ERROR else "警告"
        return f"{where}: {label}: {self.message}"


class CatalogueError(Exception):
    """The procedure definitions are invalid; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Marked(dict):
    """A mapping from YAML with `line` (its own) and `key_lines` (line of each key)."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list):
    line: int = 0
    item_lines: list


class DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"キー「{key}」が重複しています。")
        self.line = line


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Marked:
    loader.flatten_mapping(node)
    out = Marked()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise DuplicateKey(key, key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_marked(text: str, file: str) -> tuple[object, list[Problem]]:
    """Parse one YAML document; syntax errors come back as problems, never as exceptions."""
    try:
        return yaml.load(text, Loader=_Loader), []  # noqa: S506 - SafeLoader subclass
    except DuplicateKey as exc:
        return None, [Problem(file, exc.line, str(exc))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        return None, [Problem(file, line, f"YAMLの書式が正しくありません: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 0, f"YAMLの書式が正しくありません: {exc}")]
