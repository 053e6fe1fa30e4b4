"""One way to find shipped files (fonts, forms, icons), in a checkout and in a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def project_root() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[2]


def resource_path(*parts: str) -> Path:
    return project_root().joinpath("resources", *parts)


def forms_path(*parts: str) -> Path:
    return project_root().joinpath("forms", *parts)


def server_sync_path(*parts: str) -> Path:
    return project_root().joinpath("server_sync", *parts)
