"""The move entry grid (F3, F5): every household before (left) and after (right) on one screen.

Keyboard: Ctrl+→ / Ctrl+← move the selected person to the next/previous household after the
move, Ctrl+1…9 to household N, Ctrl+N into a new household, Ctrl+H makes them 世帯主, F2 edits
the 続柄, Enter or F4 on a household picks its address. Drag & drop works the same way.
Every change goes through `MoveEditor`, which re-validates and tells the case view to save.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QModelIndex, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QSplitter, QStyledItemDelegate, QTableView,
                               QVBoxLayout, QWidget)

from madoguchi.domain.moves import RELATIONSHIPS, Finding, HouseholdChangeKind, Level, MoveMember, MoveType
from madoguchi.domain.people import Address
from madoguchi.domain.wareki import format_wareki, parse_date
from madoguchi.errors import KnownError
from madoguchi.gui.move_models import COL_BIRTH, COL_NAME, COL_REL, COL_STATE, HouseholdSideModel, MoveEditor

# chooser(kind, current) -> Address | None; kind: "household" / "from" / "to" / "abroad"
AddressChooser = Callable[[str, Address | None], Address | None]


class RelationshipDelegate(QStyledItemDelegate):
    """続柄: a list of the usual values; typing another value is allowed (rare relations)."""

    def createEditor(self, parent: QWidget, option, index: QModelIndex) -> QWidget:  # noqa: N802, ANN001
        combo = QComboBox(parent)
        combo.setEditable(True)
        combo.addItems(list(RELATIONSHIPS))
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:  # noqa: N802
        value = index.data(Qt.ItemDataRole.EditRole) or ""
        editor.setCurrentText(value)  # type: ignore[attr-defined]
        editor.lineEdit().selectAll()  # type: ignore[attr-defined]

    def setModelData(self, editor: QWidget, model, index: QModelIndex) -> None:  # noqa: N802, ANN001
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)  # type: ignore[attr-defined]


class SideView(QTableView):
    """A table of one side; Enter on a household row asks for its address."""

    address_requested = Signal(str)
    focused = Signal()

    def __init__(self, model: HouseholdSideModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.side_model = model
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(model.side == "after")
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop if model.side == "after"
                             else QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        for c in (COL_REL, COL_BIRTH, COL_STATE):
            self.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        if model.side == "after":
            self.setItemDelegateForColumn(COL_REL, RelationshipDelegate(self))
        model.modelReset.connect(self._apply_spans)
        self._apply_spans()

    def _apply_spans(self) -> None:
        self.clearSpans()
        for r in self.side_model.header_rows():
            self.setSpan(r, 0, 1, self.side_model.columnCount())

    def selected_member(self) -> str | None:
        ix = self.currentIndex()
        return self.side_model.member_at(ix.row()) if ix.isValid() else None

    def selected_household(self) -> str | None:
        ix = self.currentIndex()
        h = self.side_model.household_at(ix.row()) if ix.isValid() else None
        return h.key if h else None

    def select_member(self, key: str, column: int = COL_NAME) -> None:
        r = self.side_model.row_of(key)
        if r >= 0:
            self.setCurrentIndex(self.side_model.index(r, column))

    def select_household(self, key: str) -> None:
        r = self.side_model.row_of_household(key)
        if r >= 0:
            self.setCurrentIndex(self.side_model.index(r, COL_NAME))

    def focusInEvent(self, event) -> None:  # noqa: N802, ANN001
        super().focusInEvent(event)
        self.focused.emit()

    def keyPressEvent(self, event) -> None:  # noqa: N802, ANN001
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.side_model.side == "after" \
                and self.state() != QAbstractItemView.State.EditingState:
            ix = self.currentIndex()
            if ix.isValid() and self.side_model.member_at(ix.row()) is None:
                h = self.side_model.household_at(ix.row())
                if h is not None:
                    self.address_requested.emit(h.key)
                    return
        super().keyPressEvent(event)


class NewPersonDialog(QDialog):
    """A person arriving from outside the city (no 宛名 yet): the minimum the move needs."""

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("転入者の追加")
        self.key = key
        form = QFormLayout(self)
        self.name = QLineEdit()
        self.kana = QLineEdit()
        self.birth = QLineEdit()
        self.birth.setPlaceholderText("例: S55.12.26 / 1980-12-26")
        self.sex = QComboBox()
        self.sex.addItems(["男", "女"])
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020")
        form.addRow("氏名(&N)", self.name)
        form.addRow("フリガナ(&K)", self.kana)
        form.addRow("生年月日(&B)", self.birth)
        form.addRow("性別(&S)", self.sex)
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.member: MoveMember | None = None

    def _accept(self) -> None:
        if not self.name.text().strip():
            self.error.setText("氏名を入力してください。")
            return
        try:
            born = parse_date(self.birth.text())
        except KnownError as exc:
            self.error.setText(exc.message)
            return
        except ValueError:
            self.error.setText("生年月日を読めません。例: S55.12.26")
            return
        self.member = MoveMember(self.key, self.name.text().strip(), self.kana.text().strip(), born,
                                 "1" if self.sex.currentIndex() == 0 else "2")
        self.accept()


class DateField(QLineEdit):
    """A date typed as 西暦 or 和暦 (R8.11.20, 2026-11-20, 81120 …); shows the 和暦 reading."""

    date_changed = Signal(object)  # date | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("R8.11.25 / 2026-11-25")
        self._value: date | None = None
        self.editingFinished.connect(self._commit)

    def value(self) -> date | None:
        return self._value

    def set_value(self, d: date | None) -> None:
        self._value = d
        with QSignalBlocker(self):
            self.setText(format_wareki(d) if d else "")
        self.setStyleSheet("")
        self.setToolTip("")

    def _commit(self) -> None:
        text = self.text().strip()
        if not text:
            new = None
        else:
            try:
                new = parse_date(text)
            except (KnownError, ValueError) as exc:
                self.setStyleSheet("background: #f8d0d0")
                self.setToolTip(getattr(exc, "message", "日付を読めません。例: R8.11.25"))
                return
        self.set_value(new)
        self.date_changed.emit(new)


class MoveGrid(QWidget):
    """The move entry screen. Emits `edited(kind)` after each change (kind "structure" / "text")."""

    edited = Signal(str)

    def __init__(self, editor: MoveEditor, *, choose_address: AddressChooser,
                 add_household: Callable[[], None] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.choose_address = choose_address
        self.before_model = HouseholdSideModel(editor, "before", self)
        self.after_model = HouseholdSideModel(editor, "after", self)
        self.before_view = SideView(self.before_model)
        self.after_view = SideView(self.after_model)
        self.before_view.setObjectName("before_view")
        self.after_view.setObjectName("after_view")
        self.after_view.address_requested.connect(self.pick_household_address)
        self._last_view = self.after_view
        self.before_view.focused.connect(lambda: setattr(self, "_last_view", self.before_view))
        self.after_view.focused.connect(lambda: setattr(self, "_last_view", self.after_view))

        # header: type and dates
        self.type_combo = QComboBox()
        for t in MoveType:
            self.type_combo.addItem(t.label, t.value)
        self.kind_combo = QComboBox()
        for k in HouseholdChangeKind:
            self.kind_combo.addItem(k.label, k.value)
        self.move_date = DateField()
        self.notified_on = DateField()
        self.planned_date = DateField()
        self.from_button = QPushButton("転入元を選ぶ…")
        self.to_button = QPushButton("転出先を選ぶ…")
        self.from_label = QLabel("")
        self.to_label = QLabel("")
        head = QGridLayout()
        for col, (label, w) in enumerate((("異動の種類(&M)", self.type_combo), ("世帯変更の内容", self.kind_combo),
                                          ("異動日(&D)", self.move_date), ("届出日(&F)", self.notified_on),
                                          ("転出予定日(&Y)", self.planned_date))):
            lab = QLabel(label)
            lab.setBuddy(w)
            head.addWidget(lab, 0, col)
            head.addWidget(w, 1, col)
        self.kind_label = head.itemAtPosition(0, 1).widget()
        self.planned_label = head.itemAtPosition(0, 4).widget()
        head.addWidget(self.from_button, 2, 0)
        head.addWidget(self.from_label, 2, 1, 1, 2)
        head.addWidget(self.to_button, 2, 3)
        head.addWidget(self.to_label, 2, 4)

        # middle: both sides
        before_box = QGroupBox("異動前の世帯")
        QVBoxLayout(before_box).addWidget(self.before_view)
        after_box = QGroupBox("異動後の世帯")
        after_lay = QVBoxLayout(after_box)
        after_lay.addWidget(self.after_view)
        buttons = QHBoxLayout()
        self.btn_prev = QPushButton("← 前の世帯へ (Ctrl+←)")
        self.btn_next = QPushButton("次の世帯へ → (Ctrl+→)")
        self.btn_new = QPushButton("新しい世帯 (Ctrl+N)")
        self.btn_head = QPushButton("世帯主にする (Ctrl+H)")
        self.btn_address = QPushButton("住所を選ぶ (F4)")
        self.btn_newcomer = QPushButton("転入者を追加…")
        self.btn_add_household = QPushButton("関係する世帯を追加…")
        for b in (self.btn_prev, self.btn_next, self.btn_new, self.btn_head, self.btn_address,
                  self.btn_newcomer, self.btn_add_household):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
        self.btn_add_household.setVisible(add_household is not None)
        if add_household is not None:
            self.btn_add_household.clicked.connect(add_household)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(before_box)
        splitter.addWidget(after_box)
        splitter.setSizes([450, 550])

        self.findings_list = QListWidget()
        self.findings_list.setObjectName("findings")
        self.findings_list.setMaximumHeight(110)
        self.findings_list.itemActivated.connect(self._go_to_finding)
        self.findings_list.itemClicked.connect(self._go_to_finding)
        self.summary = QLabel("")

        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(splitter, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.summary)
        lay.addWidget(self.findings_list)

        self.type_combo.currentIndexChanged.connect(self._type_changed)
        self.kind_combo.currentIndexChanged.connect(self._type_changed)
        self.move_date.date_changed.connect(lambda d: editor.set_dates(move_date=d))
        self.notified_on.date_changed.connect(lambda d: editor.set_dates(notified_on=d))
        self.planned_date.date_changed.connect(lambda d: editor.set_dates(planned_date=d))
        self.from_button.clicked.connect(self.pick_from_address)
        self.to_button.clicked.connect(self.pick_to_address)
        self.btn_prev.clicked.connect(lambda: self.step(-1))
        self.btn_next.clicked.connect(lambda: self.step(1))
        self.btn_new.clicked.connect(self.to_new_household)
        self.btn_head.clicked.connect(self.make_head)
        self.btn_address.clicked.connect(lambda: self.pick_household_address(None))
        self.btn_newcomer.clicked.connect(lambda: self.add_newcomer())

        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for seq, fn in (("Ctrl+Right", lambda: self.step(1)), ("Ctrl+Left", lambda: self.step(-1)),
                        ("Ctrl+N", self.to_new_household), ("Ctrl+H", self.make_head),
                        ("F4", lambda: self.pick_household_address(None))):
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(ctx)
            sc.activated.connect(fn)
        for n in range(1, 10):
            sc = QShortcut(QKeySequence(f"Ctrl+{n}"), self)
            sc.setContext(ctx)
            sc.activated.connect(lambda n=n: self.to_household_number(n))

        editor.changed.connect(self._on_changed)
        self._sync_header()
        self._show_findings()

    # --- actions -------------------------------------------------------------------------------

    def _active_view(self) -> SideView:
        return self._last_view

    def _selected(self) -> tuple[SideView, str | None]:
        view = self._active_view()
        return view, view.selected_member()

    def _after_changed_select(self, key: str) -> None:
        self.after_view.select_member(key)
        self.after_view.setFocus()

    def step(self, delta: int) -> None:
        _view, key = self._selected()
        if key is None:
            return
        self.editor.step(key, delta)
        self._after_changed_select(key)

    def to_household_number(self, n: int) -> None:
        _view, key = self._selected()
        if key is None or n > len(self.editor.move.after):
            return
        self.editor.place(key, self.editor.move.after[n - 1].key)
        self._after_changed_select(key)

    def to_new_household(self) -> None:
        _view, key = self._selected()
        if key is None:
            return
        self.editor.place(key, None)
        self._after_changed_select(key)

    def make_head(self) -> None:
        key = self.after_view.selected_member()
        hh = self.after_view.selected_household()
        if key is None or hh is None:
            return
        self.editor.set_head(hh, key)
        self._after_changed_select(key)

    def pick_household_address(self, household_key: str | None) -> None:
        hh = household_key or self.after_view.selected_household()
        if hh is None:
            return
        current = next((h.address for h in self.editor.move.after if h.key == hh), None)
        chosen = self.choose_address("household", current)
        if chosen is not None:
            self.editor.set_address(hh, chosen)
        self.after_view.select_household(hh)
        self.after_view.setFocus()

    def pick_from_address(self) -> None:
        if self.editor.move.move_type is MoveType.ABROAD_IN:
            chosen = self.choose_address("abroad", self.editor.move.from_address)
        else:
            chosen = self.choose_address("from", self.editor.move.from_address)
        if chosen is not None:
            self.editor.set_from_address(chosen)

    def pick_to_address(self) -> None:
        kind = "abroad" if self.editor.move.move_type is MoveType.ABROAD_OUT else "to"
        chosen = self.choose_address(kind, self.editor.move.to_address)
        if chosen is not None:
            self.editor.set_to_address(chosen)

    def add_newcomer(self, member: MoveMember | None = None) -> None:
        if member is None:
            dlg = NewPersonDialog(self.editor.new_member_key(), self)
            if dlg.exec() != QDialog.DialogCode.Accepted or dlg.member is None:
                return
            member = dlg.member
        hh = self.after_view.selected_household()
        self.editor.add_newcomer(member, hh)
        self._after_changed_select(member.key)

    # --- display -------------------------------------------------------------------------------

    def _type_changed(self) -> None:
        t = MoveType(self.type_combo.currentData())
        k = HouseholdChangeKind(self.kind_combo.currentData()) if t is MoveType.HOUSEHOLD_CHANGE else None
        if t is not self.editor.move.move_type or k is not self.editor.move.change_kind:
            self.editor.set_move_type(t, k)

    def _sync_header(self) -> None:
        m = self.editor.move
        with QSignalBlocker(self.type_combo), QSignalBlocker(self.kind_combo):
            self.type_combo.setCurrentIndex(self.type_combo.findData(m.move_type.value))
            if m.change_kind:
                self.kind_combo.setCurrentIndex(self.kind_combo.findData(m.change_kind.value))
        hc = m.move_type is MoveType.HOUSEHOLD_CHANGE
        self.kind_combo.setVisible(hc)
        self.kind_label.setVisible(hc)
        planned = m.move_type.is_out or m.move_type is MoveType.SPECIAL_MOVE_IN
        self.planned_date.setVisible(planned)
        self.planned_label.setVisible(planned)
        for field, value in ((self.move_date, m.move_date), (self.notified_on, m.notified_on),
                             (self.planned_date, m.planned_date)):
            if not field.hasFocus():
                field.set_value(value)
        self.from_button.setVisible(m.move_type.is_in)
        self.from_label.setVisible(m.move_type.is_in)
        self.to_button.setVisible(m.move_type.is_out)
        self.to_label.setVisible(m.move_type.is_out)
        self.from_label.setText(m.from_address.line() if m.from_address else "（未選択）")
        self.to_label.setText(m.to_address.line() if m.to_address else "（未選択）")
        self.btn_newcomer.setVisible(m.move_type.is_in)

    def _on_changed(self, kind: str) -> None:
        self._sync_header()
        self._show_findings()
        if kind != "reload":
            self.edited.emit(kind)

    def _show_findings(self) -> None:
        self.findings_list.clear()
        findings = self.editor.findings
        errors = sum(1 for f in findings if f.level is Level.ERROR)
        warnings = len(findings) - errors
        if not findings:
            self.summary.setText("入力に問題はありません。")
        else:
            self.summary.setText(f"要確認: 誤り・未入力 {errors} 件、警告 {warnings} 件（警告があっても受け付けられます）")
        for f in findings:
            mark = "✖" if f.level is Level.ERROR else "⚠"
            item = QListWidgetItem(f"{mark} {f.message}")
            item.setData(Qt.ItemDataRole.UserRole, f)
            item.setToolTip(f.message)
            self.findings_list.addItem(item)

    def _go_to_finding(self, item: QListWidgetItem) -> None:
        f: Finding = item.data(Qt.ItemDataRole.UserRole)
        if f.member and f.household:
            self.after_view.select_member(f.member, COL_REL if f.field == "relationship" else COL_NAME)
            self.after_view.setFocus()
        elif f.household:
            self.after_view.select_household(f.household)
            self.after_view.setFocus()
        elif f.member:
            self.before_view.select_member(f.member)
            self.before_view.setFocus()
        else:
            target = {"move_date": self.move_date, "notified_on": self.notified_on,
                      "planned_date": self.planned_date, "from_address": self.from_button,
                      "to_address": self.to_button}.get(f.field)
            if target is not None:
                target.setFocus()

