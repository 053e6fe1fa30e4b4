"""Fixtures for the importer tests; the export helpers live in kikan_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from kikan_fixtures import write_export


@pytest.fixture
def export_dir(tmp_path) -> Path:
    return write_export(tmp_path / "export")
