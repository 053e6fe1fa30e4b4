"""Guard against the PySide6 6.12.0 regression that drops a reference to None per void Qt call."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_qt_calls_keep_none_alive(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("住民票")
        label.hide()
    assert sys.getrefcount(None) >= before - 50
