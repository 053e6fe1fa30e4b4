"""検索: one entry field, keyboard first — type, Enter searches, arrows move, Enter opens the household."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from madoguchi.errors import KnownError
from madoguchi.gui.models import SearchResultModel
from madoguchi.services import residents
from madoguchi.services.context import Actor
from madoguchi.store.db import Database

HINT = "カナ・氏名・生年月日（S55.12.26 / 5551226 / 1980-12-26）・住所・宛名番号。スペースで区切ると絞り込み"


class SearchView(QWidget):
    """Emits householdRequested(household_no, atena_no) when a hit is opened."""

    householdRequested = Signal(str, str)  # noqa: N815
    searched = Signal(int)

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.actor = actor
        self.entry = QLineEdit()
        self.entry.setObjectName("searchEntry")
        self.entry.setPlaceholderText(HINT)
        self.entry.setClearButtonEnabled(True)
        self.entry.returnPressed.connect(self.run_search)
        self.entry.installEventFilter(self)
        button = QPushButton("検索")
        button.clicked.connect(self.run_search)
        self.message = QLabel("")
        self.message.setObjectName("searchMessage")
        self.model = SearchResultModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda idx: self.open_row(idx.row()))
        self.table.installEventFilter(self)

        top = QHBoxLayout()
        label = QLabel("検索(&S)")
        label.setBuddy(self.entry)
        top.addWidget(label)
        top.addWidget(self.entry, 1)
        top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self.setFocusProxy(self.entry)

    def run_search(self) -> None:
        text = self.entry.text()
        try:
            hits = residents.search(self.db, self.actor, text)
        except KnownError as exc:
            self.model.set_hits([])
            self._say(exc.message, error=True)
            return
        self.model.set_hits(hits)
        if not hits:
            self._say(f"「{text}」に当てはまる住民は見つかりません。", error=False)
        else:
            more = "（50件以上あります。条件を足して絞り込んでください）" if len(hits) >= 50 else ""
            self._say(f"{len(hits)}件{more}　↓で一覧へ、Enterで世帯を開きます", error=False)
            self.table.selectRow(0)
            self.table.setFocus()
        self.searched.emit(len(hits))

    def _say(self, text: str, *, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00020;" if error else "")

    def open_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            hit = self.model.hit(row)
            self.householdRequested.emit(hit.household_no, hit.atena_no)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            if watched is self.entry and key == Qt.Key.Key_Down and self.model.rowCount():
                self.table.setFocus()
                if not self.table.selectionModel().hasSelection():
                    self.table.selectRow(0)
                return True
            if watched is self.table:
                if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                    self.open_row(self.table.currentIndex().row())
                    return True
                if key == Qt.Key.Key_Escape or (key == Qt.Key.Key_Up and self.table.currentIndex().row() <= 0):
                    self.entry.setFocus()
                    self.entry.selectAll()
                    return True
        return super().eventFilter(watched, event)
