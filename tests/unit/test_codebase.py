"""The layering of architecture.md and basic static checks, enforced on every run."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "madoguchi"

# layer → module prefixes it must never import
FORBIDDEN = {
    "domain": ("PySide6", "sqlalchemy", "psycopg", "madoguchi.store", "madoguchi.services", "madoguchi.gui",
               "madoguchi.printing", "madoguchi.cli", "madoguchi.sync", "reportlab", "os", "pathlib"),
    "store": ("PySide6", "madoguchi.services", "madoguchi.gui", "madoguchi.cli"),
    "services": ("PySide6", "madoguchi.gui", "madoguchi.cli"),
    "printing": ("PySide6", "madoguchi.gui", "madoguchi.cli", "madoguchi.store"),
    "sync": ("PySide6", "madoguchi.gui"),
    "cli": ("PySide6", "madoguchi.gui"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join([*base, mod] if mod else base)
            out.append((node.lineno, mod))
    return out


def test_layers_import_only_what_they_may():
    problems = []
    for layer, banned in FORBIDDEN.items():
        for path in (SRC / layer).rglob("*.py"):
            for line, mod in _imports(path):
                if any(mod == b or mod.startswith(b + ".") for b in banned):
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert problems == []


def test_ruff_finds_no_errors():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is pinned in requirements.lock"
    proc = subprocess.run([ruff, "check", "--select", "F,E9", "--output-format", "concise", "src", "tests",
                           "bench", "tools"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
