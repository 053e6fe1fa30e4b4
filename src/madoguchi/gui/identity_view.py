"""本人確認 tab: the identity check of the person chosen in the household view, embedded in the window."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from madoguchi.domain.people import Person
from madoguchi.gui.identity_dialog import IdentityDialog
from madoguchi.services.context import Actor
from madoguchi.store.db import Database


class IdentityView(QWidget):
    recorded = Signal(object)  # RecordedCheck

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db, self.actor = db, actor
        self.case_id: int | None = None
        self.person: Person | None = None
        self.panel: IdentityDialog | None = None
        self._panel_case_id: int | None = None
        self.placeholder = QLabel("「世帯」で確認する人を選んでから、この画面を開いてください。"
                                  "代理人の確認もここで記録できます。")
        self.placeholder.setWordWrap(True)
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(self.placeholder)
        self.layout_.addStretch(1)

    def set_person(self, person: Person | None) -> None:
        if person is not None and self.person is not None and person.atena_no == self.person.atena_no \
                and self.panel is not None and self._panel_case_id == self.case_id:
            return
        self.person = person
        if self.panel is not None:
            self.layout_.removeWidget(self.panel)
            self.panel.deleteLater()
            self.panel = None
        self.placeholder.setVisible(person is None)
        if person is None:
            return
        panel = IdentityDialog(self.db, self.actor, person, self.case_id, self)
        self._panel_case_id = self.case_id  # a check belongs to the case open when it was made
        panel.setWindowFlags(Qt.WindowType.Widget)  # embedded, not a separate window
        panel.buttons.button(QDialogButtonBox.StandardButton.Close).hide()
        panel.record_button.clicked.connect(lambda: panel.recorded and self.recorded.emit(panel.recorded[-1]))
        self.layout_.insertWidget(0, panel, 1)
        panel.show()  # setWindowFlags hides a widget until shown again
        self.panel = panel
