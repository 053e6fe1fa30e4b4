"""pytest plugin for the procedure definitions' YAML test cases (OpenFisca YamlFile/YamlItem style).

A `*.yamlcases` file names a folder of definitions; it is collected as one item that checks the
definitions (schema, CEL, questions, forms) and one item per YAML test case. A failing case
reports its file, line and name — no Python traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from madoguchi.domain.procedures import CatalogueError, Severity, check_sources, parse_catalogue, run_case
from madoguchi.services.procedure_catalogue import known_form_ids, read_sources

ROOT = Path(__file__).resolve().parents[2]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".yamlcases":
        return CatalogueFile.from_parent(parent, path=file_path)
    return None


class YamlFailure(Exception):
    """A failure whose message is the whole report."""


class CatalogueFile(pytest.File):
    def collect(self):  # noqa: ANN201
        lines = [x.strip() for x in self.path.read_text(encoding="utf-8").splitlines()
                 if x.strip() and not x.startswith("#")]
        directory = (self.path.parent / lines[0]).resolve()
        sources = read_sources(directory)
        forms = known_form_ids(ROOT / "forms" / "templates")
        yield CheckItem.from_parent(self, name="定義の検査", sources=sources, forms=forms)
        try:
            catalogue = parse_catalogue(sources, None)
        except CatalogueError:
            return  # the check item reports the problems
        for case in catalogue.all_tests():
            yield CaseItem.from_parent(self, name=f"{case.procedure_id or case.file}: {case.name}",
                                       case=case, catalogue=catalogue, directory=directory)


class CheckItem(pytest.Item):
    def __init__(self, *, sources: dict[str, str], forms: set[str] | None, **kw) -> None:  # noqa: ANN003
        super().__init__(**kw)
        self.sources = sources
        self.forms = forms

    def runtest(self) -> None:
        _, problems = check_sources(self.sources, self.forms, run_tests=False)
        errors = [str(p) for p in problems if p.severity is Severity.ERROR]
        if errors:
            raise YamlFailure("\n".join(errors))

    def repr_failure(self, excinfo, style=None):  # noqa: ANN001, ANN201
        if isinstance(excinfo.value, YamlFailure):
            return f"手続き定義に誤りがあります:\n{excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):  # noqa: ANN201
        return self.path, 0, "手続き定義の検査"


class CaseItem(pytest.Item):
    def __init__(self, *, case, catalogue, directory: Path, **kw) -> None:  # noqa: ANN001, ANN003
        super().__init__(**kw)
        self.case = case
        self.catalogue = catalogue
        self.directory = directory

    def runtest(self) -> None:
        failure, _ = run_case(self.case, self.catalogue)
        if failure:
            raise YamlFailure(failure)

    def repr_failure(self, excinfo, style=None):  # noqa: ANN001, ANN201
        if isinstance(excinfo.value, YamlFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):  # noqa: ANN201
        return self.directory / self.case.file, self.case.line - 1, f"{self.case.file}: {self.case.name}"
