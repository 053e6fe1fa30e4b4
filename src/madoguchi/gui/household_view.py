"""世帯: every member with 続柄, 生年月日 (和暦), 年齢, 性別 and the qualification columns the staff
member chose (saved per user)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMenu, QPushButton,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from madoguchi.domain.people import QUALIFICATION_LABELS, Person
from madoguchi.errors import KnownError
from madoguchi.gui.identity_dialog import IdentityDialog
from madoguchi.gui.models import HouseholdModel
from madoguchi.gui.unmask_dialog import UnmaskDialog
from madoguchi.services import residents
from madoguchi.services.context import Actor
from madoguchi.store.db import Database


class HouseholdView(QWidget):
    identityRecorded = Signal(object)  # noqa: N815  RecordedCheck
    caseRequested = Signal(str)  # noqa: N815  atena_no of the selected member

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db, self.actor = db, actor
        self.view: residents.HouseholdView | None = None
        self.case_id: int | None = None  # set by the case screen when a case is open
        self.title = QLabel("世帯が選ばれていません。「検索」で住民を探してください。")
        self.title.setObjectName("householdTitle")
        self.title.setStyleSheet("font-size: 14pt; font-weight: bold;")
        self.address = QLabel("")
        self.address.setObjectName("householdAddress")
        self.unmask_button = QPushButton("住所を表示（理由を記録）")
        self.unmask_button.setVisible(False)
        self.unmask_button.clicked.connect(self.unmask)
        self.model = HouseholdModel(self)
        self.model.set_qualification_columns(residents.qualification_columns(db, actor))
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.columns_button = QToolButton()
        self.columns_button.setText("資格の列を選ぶ")
        self.columns_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.columns_menu = QMenu(self)
        self.column_actions: dict[str, QAction] = {}
        for kind, label in QUALIFICATION_LABELS.items():
            act = QAction(label, self.columns_menu)
            act.setCheckable(True)
            act.setChecked(kind in self.model.qualification_columns)
            act.toggled.connect(lambda on, k=kind: self.toggle_column(k, on))
            self.columns_menu.addAction(act)
            self.column_actions[kind] = act
        self.columns_button.setMenu(self.columns_menu)
        self.identity_button = QPushButton("本人確認(&I)")
        self.identity_button.clicked.connect(self.open_identity)
        self.case_button = QPushButton("この人で対応を開始(&C)")
        self.case_button.setToolTip("選んだ人を対象に新しい対応（受付）を開き、異動入力を始められるようにします")
        self.case_button.setVisible(actor.can("case.write"))
        self.case_button.clicked.connect(self.request_case)
        self.detail = QLabel("")
        self.detail.setObjectName("memberDetail")
        self.detail.setWordWrap(True)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.show_detail(cur.row()))

        head = QHBoxLayout()
        head.addWidget(self.address, 1)
        head.addWidget(self.unmask_button)
        tools = QHBoxLayout()
        tools.addWidget(self.identity_button)
        tools.addWidget(self.case_button)
        tools.addStretch(1)
        tools.addWidget(self.columns_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(head)
        layout.addLayout(tools)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)

    def load(self, household_no: str, atena_no: str = "") -> None:
        try:
            self.view = residents.household(self.db, self.actor, household_no)
        except KnownError as exc:
            self.title.setText(exc.message)
            return
        v = self.view
        head = v.household.head
        self.title.setText(f"世帯番号 {v.household_no}　世帯主 {head.name if head else '（なし）'}"
                           f"　{len(v.members)}人")
        self.address.setText(f"住所: {v.address_text}")
        self.address.setStyleSheet("color: #b00020; font-weight: bold;" if v.masked else "")
        self.unmask_button.setVisible(v.masked and self.actor.can("support_measure.unmask"))
        self.model.set_members(v.members, v.today)
        row = next((i for i, m in enumerate(v.members) if m.atena_no == atena_no), 0)
        if v.members:
            self.table.selectRow(row)
            self.show_detail(row)
        self.table.setFocus()

    def request_case(self) -> None:
        member = self.selected_member()
        if member is not None:
            self.caseRequested.emit(member.atena_no)

    def selected_member(self) -> Person | None:
        row = self.table.currentIndex().row()
        return self.model.member(row) if 0 <= row < self.model.rowCount() else None

    def show_detail(self, row: int) -> None:
        if not (0 <= row < self.model.rowCount()):
            self.detail.setText("")
            return
        p = self.model.member(row)
        parts = [f"宛名番号 {p.atena_no}", f"状態 {p.status.label}"]
        if p.has_mynumber_card(self.view.today if self.view else p.birth_date):
            parts.append("マイナンバーカードあり")
        if p.restricted:
            parts.append("支援措置対象（住所は理由を記録して表示）")
        if p.is_foreign:
            parts.append(f"国籍 {p.nationality}　在留資格 {p.residence_status}")
        self.detail.setText("　".join(parts))

    def toggle_column(self, kind: str, on: bool) -> None:
        kinds = [k for k in self.model.qualification_columns if k != kind]
        if on:
            kinds.append(kind)
        self.model.set_qualification_columns(kinds)
        residents.save_qualification_columns(self.db, self.actor, kinds)

    def open_identity(self) -> IdentityDialog:
        dialog = IdentityDialog(self.db, self.actor, self.selected_member(), self.case_id, self)
        dialog.finished.connect(lambda _r: [self.identityRecorded.emit(c) for c in dialog.recorded])
        dialog.open()
        return dialog

    def unmask(self) -> UnmaskDialog | None:
        if self.view is None:
            return None
        person = next((m for m in self.view.members if m.restricted), None)
        if person is None:
            return None
        dialog = UnmaskDialog(self.db, self.actor, person.atena_no, person.name, self.case_id, self)
        dialog.open()
        return dialog
