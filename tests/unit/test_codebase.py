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


def test_lock_pins_every_dependency_on_linux_and_windows():
    """The counter PCs and the MSI build run Windows: keyring there needs pywin32-ctypes, PyInstaller
    pefile. What a pinned package requires on either platform must be pinned too."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pinned = {canonicalize_name(Requirement(ln).name) for ln in lines if ln.strip() and not ln.startswith("#")}
    base = {"python_version": "3.11", "python_full_version": "3.11.9", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "extra": ""}
    platforms = ({"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
                 {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"})
    missing = []
    for name in sorted(pinned):
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:  # pinned for Windows only
            continue
        for spec in requires:
            req = Requirement(spec)
            if canonicalize_name(req.name) in pinned:
                continue
            if any(req.marker is None or req.marker.evaluate({**base, **p}) for p in platforms):
                missing.append(f"{name} → {spec}")
    assert missing == []
