"""世帯: every member with 続柄, 生年月日 (和暦), 年齢, 性別 and the qualification columns the staff
member chose (saved per user). 「除票の人も表示」 (saved per user, default off) also lists the
household's removed persons (転出・死亡 …), grey, with what became of them and when; the service
audits and masks them like the members."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QMenu, QPushButton,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from madoguchi.domain import wareki
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
        self.household_no = ""
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
        self.table.setTabKeyNavigation(False)  # rows are picked with ↑↓; Tab goes on to the buttons
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
        self.show_removed = QCheckBox("除票の人も表示(&J)")
        self.show_removed.setObjectName("showRemoved")
        self.show_removed.setToolTip("転出・死亡などで住民でなくなった世帯員も灰色で表示します（職員ごとに保存）")
        self.show_removed.setChecked(residents.show_removed(db, actor))
        self.show_removed.toggled.connect(self._show_removed_toggled)
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
        tools.addWidget(self.show_removed)
        tools.addStretch(1)
        tools.addWidget(self.columns_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(head)
        layout.addLayout(tools)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        # Tab: the list first (it has the focus after loading), then the tools in reading order.
        for a, b in ((self.table, self.identity_button), (self.identity_button, self.case_button),
                     (self.case_button, self.show_removed), (self.show_removed, self.columns_button),
                     (self.columns_button, self.unmask_button)):
            QWidget.setTabOrder(a, b)

    def load(self, household_no: str, atena_no: str = "") -> None:
        self.household_no = household_no
        try:
            self.view = residents.household(self.db, self.actor, household_no,
                                            include_removed=self.show_removed.isChecked())
        except KnownError as exc:
            self.title.setText(exc.message)
            return
        v = self.view
        head = v.household.head
        self.title.setText(f"世帯番号 {v.household_no}　世帯主 {head.name if head else '（なし）'}"
                           f"　{len(v.members)}人" + (f"（ほかに除票 {len(v.removed)}人）" if v.removed else ""))
        self.address.setText(f"住所: {v.address_text}")
        self.address.setStyleSheet("color: #b00020; font-weight: bold;" if v.masked else "")
        self.unmask_button.setVisible(v.masked and self.actor.can("support_measure.unmask"))
        shown = v.shown
        self.model.set_members(shown, v.today)
        row = next((i for i, m in enumerate(shown) if m.atena_no == atena_no), 0)
        if shown:
            self.table.selectRow(row)
            self.show_detail(row)
        self.table.setFocus()

    def _show_removed_toggled(self, on: bool) -> None:
        """Saved for this staff member; the open household is read again (and so audited)."""
        residents.save_show_removed(self.db, self.actor, on)
        if self.household_no:
            member = self.selected_member()
            self.load(self.household_no, member.atena_no if member else "")

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
        if not p.is_current and p.removed_on:
            parts.append(f"消除日 {wareki.format_wareki(p.removed_on)}")
        if not p.is_current and p.removal_reason and p.removal_reason != p.status.label:
            parts.append(f"消除事由 {p.removal_reason}")  # e.g. 職権消除, 国外転出: more than the status says
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
        selected = self.selected_member()
        person = selected if selected is not None and selected.restricted else \
            next((m for m in self.view.shown if m.restricted), None)
        if person is None:
            return None
        dialog = UnmaskDialog(self.db, self.actor, person.atena_no, person.name, self.case_id, self)
        dialog.open()
        return dialog
