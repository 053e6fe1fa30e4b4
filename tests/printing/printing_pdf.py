"""PDF text extraction fixtures for printing tests (a module, not conftest.py: other test
directories import their own conftest by name)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.fixture
def pdf_pages():
    """pdf bytes → extracted text per page (line breaks kept)."""
    return _pages


@pytest.fixture
def pdf_text():
    """pdf bytes → all text, with line breaks and spaces removed so runs split by layout still match."""
    def text(pdf: bytes) -> str:
        return "".join(_pages(pdf)).replace("\n", "").replace(" ", "").replace("\u3000", "")
    return text
