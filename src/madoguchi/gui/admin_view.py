"""管理: the admin tab — 職員 · 権限 · 端末 · 取込履歴 · 操作ログ, each shown only with its permission.

Every action goes through services/admin.py (which checks the permission again and writes the
audit event); every refusal or bad input is a Japanese message box, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import shiboken6

from PySide6.QtCore import QDate, QModelIndex, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDateEdit, QDialog, QDialogButtonBox,
                               QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QMessageBox, QPlainTextEdit, QPushButton, QSpinBox, QSplitter, QStyledItemDelegate,
                               QTableView, QTabWidget, QVBoxLayout, QWidget)

from madoguchi.domain.jst import japan_date
from madoguchi.errors import InputError, KnownError
from madoguchi.gui.admin_models import (CHOICES_ROLE, VALUE_ROLE, AuditModel, ImportIssuesModel, ImportRunsModel,
                                        PermissionMatrixModel, PrintMappingModel, StaffModel, TerminalsModel)
from madoguchi.services import admin
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.security import GROUPS

TITLE = "管理"


def message(parent: QWidget, text: str, *, error: bool = True) -> QMessageBox:
    """A window-modal box that does not block the event loop (and that tests can read and close)."""
    box = QMessageBox(QMessageBox.Icon.Warning if error else QMessageBox.Icon.Information, TITLE, text,
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("adminError" if error else "adminInfo")
    box.open()
    return box


def ask(parent: QWidget, text: str, on_yes: Callable[[], None]) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Question, TITLE, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName("adminQuestion")
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.finished.connect(lambda r: on_yes() if r == QMessageBox.StandardButton.Yes else None)
    box.open()
    return box


def _table(model) -> QTableView:  # noqa: ANN001
    t = QTableView()
    t.setModel(model)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setTabKeyNavigation(False)
    t.verticalHeader().hide()
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t



def _submit_buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    """OK (named for the action, default so Enter submits from any field) and キャンセル."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setDefault(True)
    buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("キャンセル")
    buttons.accepted.connect(dialog.submit)
    buttons.rejected.connect(dialog.reject)
    return buttons

class _Page(QWidget):
    """A sub-tab; loads its data the first time it is shown."""

    def __init__(self, db: Database, actor: Actor) -> None:
        super().__init__()
        self.db, self.actor = db, actor
        self.loaded = False
        self.last_box: QMessageBox | None = None

    def ensure_loaded(self) -> None:
        if not self.loaded:
            self.loaded = True
            self.refresh()

    def refresh(self) -> None:  # pragma: no cover - every page overrides
        pass

    def keep(self, box: QMessageBox) -> None:
        """Remember the latest box (tests read it); the one before it is no longer needed."""
        old = self.last_box
        if old is not None and old is not box and shiboken6.isValid(old) and not old.isVisible():
            old.deleteLater()
        self.last_box = box

    def run(self, fn: Callable[[], object], parent: QWidget | None = None) -> bool:
        """Call a service; a KnownError becomes a message box. True when it succeeded."""
        try:
            fn()
        except KnownError as exc:
            self.keep(message(parent or self, exc.message))
            return False
        return True


# --- 職員 ---------------------------------------------------------------------------------------------------


class GroupChecks(QWidget):
    def __init__(self, checked: tuple[str, ...] = ()) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.boxes: dict[str, QCheckBox] = {}
        for g in GROUPS:
            box = QCheckBox(f"{g.name}　— {g.description}")
            box.setObjectName(f"group_{g.code}")
            box.setChecked(g.code in checked)
            self.boxes[g.code] = box
            layout.addWidget(box)

    def selected(self) -> list[str]:
        return [code for code, box in self.boxes.items() if box.isChecked()]


class StaffDialog(QDialog):
    """新しい職員: ID, 氏名, 初期パスワード (twice), groups."""

    def __init__(self, page: StaffPage) -> None:
        super().__init__(page)
        self.page = page
        self.setWindowTitle("職員の登録")
        self.login = QLineEdit()
        self.login.setObjectName("newLogin")
        self.login.setPlaceholderText("半角英小文字・数字・_（例: tanaka_h）")
        self.name = QLineEdit()
        self.name.setObjectName("newName")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setObjectName("newPassword")
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm.setObjectName("newConfirm")
        self.groups = GroupChecks()
        buttons = _submit_buttons(self, "登録")
        form = QFormLayout(self)
        form.addRow("職員ID(&I)", self.login)
        form.addRow("氏名(&N)", self.name)
        form.addRow("初期パスワード(&P)", self.password)
        form.addRow("パスワード（確認）", self.confirm)
        box = QGroupBox("グループ")
        QVBoxLayout(box).addWidget(self.groups)
        form.addRow(box)
        form.addRow(buttons)
        self.login.setFocus()

    def submit(self) -> None:
        if self.password.text() != self.confirm.text():
            self.page.keep(message(self, "確認用のパスワードが一致しません。もう一度入力してください。"))
            return
        login = self.login.text().strip()
        if self.page.run(lambda: admin.add_staff(self.page.db, self.page.actor, login, self.name.text(),
                                                 self.password.text(), self.groups.selected()), self):
            self.accept()
            self.page.refresh(select=login)


class GroupsDialog(QDialog):
    def __init__(self, page: StaffPage, login: str, name: str, groups: tuple[str, ...]) -> None:
        super().__init__(page)
        self.page, self.login = page, login
        self.setWindowTitle(f"グループの変更 — {name}（{login}）")
        self.groups = GroupChecks(groups)
        buttons = _submit_buttons(self, "変更")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("この職員が属するグループを選んでください。"))
        layout.addWidget(self.groups)
        layout.addWidget(buttons)
        next(iter(self.groups.boxes.values())).setFocus()

    def submit(self) -> None:
        if self.page.run(lambda: admin.set_groups(self.page.db, self.page.actor, self.login,
                                                  self.groups.selected()), self):
            self.accept()
            self.page.refresh(select=self.login)


class PasswordDialog(QDialog):
    def __init__(self, page: StaffPage, login: str, name: str) -> None:
        super().__init__(page)
        self.page, self.login = page, login
        self.setWindowTitle(f"パスワードの再設定 — {name}（{login}）")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        buttons = _submit_buttons(self, "再設定")
        form = QFormLayout(self)
        form.addRow(QLabel("新しいパスワードを本人に伝え、初回ログイン後に変更してもらってください。"))
        form.addRow("新しいパスワード(&P)", self.password)
        form.addRow("パスワード（確認）", self.confirm)
        form.addRow(buttons)
        self.password.setFocus()

    def submit(self) -> None:
        if self.page.run(lambda: admin.reset_password(self.page.db, self.page.actor, self.login,
                                                      self.password.text(), self.confirm.text()), self):
            self.accept()
            self.page.keep(message(self.page, f"{self.login} のパスワードを再設定しました。", error=False))


class StaffPage(_Page):
    def __init__(self, db: Database, actor: Actor) -> None:
        super().__init__(db, actor)
        self.model = StaffModel(self)
        self.table = _table(self.model)
        self.table.setObjectName("staffTable")
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())
        self.dialog: QDialog | None = None
        self.add_button = QPushButton("職員を追加 (Ins)")
        self.add_button.setToolTip("F5 で一覧を読み直します")
        self.groups_button = QPushButton("グループ変更 (&G)")
        self.toggle_button = QPushButton("利用停止 (&D)")
        self.password_button = QPushButton("パスワード再設定 (&R)")
        self.add_button.clicked.connect(self.open_add)
        self.groups_button.clicked.connect(self.open_groups)
        self.toggle_button.clicked.connect(self.toggle_disabled)
        self.password_button.clicked.connect(self.open_password)
        QShortcut(QKeySequence(Qt.Key.Key_Insert), self, activated=self.open_add,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.groups_button, self.toggle_button, self.password_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    def refresh(self, select: str | None = None) -> None:
        keep = select or (self.current().login if self.current() else None)
        rows: list = []
        if not self.run(lambda: rows.extend(admin.list_staff(self.db, self.actor))):
            return
        self.model.set_rows(rows)
        row = self.model.row_of(keep) if keep else -1
        if self.model.rowCount():
            self.table.selectRow(max(row, 0))
        self._update_buttons()

    def current(self):  # noqa: ANN201
        row = self.table.currentIndex().row()
        return self.model.staff(row) if 0 <= row < self.model.rowCount() else None

    def _update_buttons(self) -> None:
        s = self.current()
        for b in (self.groups_button, self.toggle_button, self.password_button):
            b.setEnabled(s is not None)
        self.toggle_button.setText("利用再開 (&D)" if s and s.disabled else "利用停止 (&D)")

    def _open(self, dialog: QDialog) -> QDialog:
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: self.table.setFocus())
        dialog.open()
        return dialog

    def open_add(self) -> QDialog:
        return self._open(StaffDialog(self))

    def open_groups(self) -> QDialog | None:
        s = self.current()
        return self._open(GroupsDialog(self, s.login, s.display_name, s.groups)) if s else None

    def open_password(self) -> QDialog | None:
        s = self.current()
        return self._open(PasswordDialog(self, s.login, s.display_name)) if s else None

    def toggle_disabled(self) -> None:
        s = self.current()
        if s is None:
            return
        login, disable = s.login, not s.disabled

        def apply() -> None:
            if self.run(lambda: admin.set_disabled(self.db, self.actor, login, disable)):
                self.refresh(select=login)

        if disable:
            self.keep(ask(self, f"{s.display_name}（{login}）を利用停止にしますか？\n"
                               "停止するとこの職員はログインできなくなります。", apply))
        else:
            apply()


# --- 権限 ---------------------------------------------------------------------------------------------------


class PermissionsPage(_Page):
    def __init__(self, db: Database, actor: Actor) -> None:
        super().__init__(db, actor)
        self.model = PermissionMatrixModel(self)
        # queued: save and reload after the delegate's setData has returned, not inside it
        self.model.toggled.connect(self.save, Qt.ConnectionType.QueuedConnection)
        self.table = QTableView()
        self.table.setObjectName("permissionTable")
        self.table.setModel(self.model)
        self.table.setTabKeyNavigation(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        editable = actor.can(admin.SETTINGS_ADMIN)
        note = ("チェックを付け外しすると、その場で保存され操作ログに記録されます（スペースキーで切り替え）。"
                if editable else "この表は閲覧のみです（変更には「設定管理」の権限が必要です）。")
        self.note = QLabel(note + "\nデータベースの読み書きの権限はグループごとに固定されており、"
                           "この表はアプリの画面で使える機能を決めます。変更は次回ログインから有効です。")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    def refresh(self) -> None:
        cur = self.table.currentIndex()
        holder: list = []
        if self.run(lambda: holder.append(admin.permission_matrix(self.db, self.actor))):
            self.model.set_matrix(holder[0], editable=self.actor.can(admin.SETTINGS_ADMIN))
            if cur.isValid():
                self.table.setCurrentIndex(self.model.index(cur.row(), cur.column()))

    def save(self, group_code: str, permission: str, granted: bool) -> None:
        self.run(lambda: admin.set_permission(self.db, self.actor, group_code, permission, granted))
        self.refresh()  # shows what is stored, also after a refusal


# --- 端末 ---------------------------------------------------------------------------------------------------


class ChoiceDelegate(QStyledItemDelegate):
    """Combo boxes for cells that offer choices (CHOICES_ROLE); the printer may also be typed in."""

    def createEditor(self, parent, option, index):  # noqa: ANN001, ANN201, N802
        choices = index.data(CHOICES_ROLE)
        if not choices:
            editor = super().createEditor(parent, option, index)
            if isinstance(editor, QSpinBox):
                editor.setRange(1, 99)
            return editor
        combo = QComboBox(parent)
        combo.setEditable(index.column() == 1)
        for label, value in choices:
            combo.addItem(label, value)
        return combo

    def setEditorData(self, editor, index) -> None:  # noqa: ANN001, N802
        if not isinstance(editor, QComboBox):
            super().setEditorData(editor, index)
            return
        i = editor.findData(index.data(VALUE_ROLE))
        if i >= 0:
            editor.setCurrentIndex(i)
        else:
            editor.setEditText(str(index.data(VALUE_ROLE) or ""))

    def setModelData(self, editor, model, index) -> None:  # noqa: ANN001, N802
        if not isinstance(editor, QComboBox):
            super().setModelData(editor, model, index)
            return
        text = editor.currentText().strip()
        i = editor.findText(text)
        model.setData(index, editor.itemData(i) if i >= 0 else text, VALUE_ROLE)


class TerminalsPage(_Page):
    def __init__(self, db: Database, actor: Actor, printers: list[str] | None = None) -> None:
        super().__init__(db, actor)
        from madoguchi.gui.printing import TRAYS, available_printers
        self.printers = available_printers() if printers is None else list(printers)
        self.model = TerminalsModel(self)
        self.table = _table(self.model)
        self.table.setObjectName("terminalTable")
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _p: self.show_terminal(cur.row()))
        self.is_new = True
        self.name = QLineEdit()
        self.name.setObjectName("terminalName")
        self.name.setPlaceholderText("例: 窓口PC-03（各PCの設定ファイルの端末名と同じにします）")
        self.counter_no = QLineEdit()
        self.counter_no.setObjectName("counterNo")
        self.description = QLineEdit()
        self.mapping = PrintMappingModel(admin.form_kinds(), self.printers, TRAYS, self)
        self.mapping_table = QTableView()
        self.mapping_table.setObjectName("printMapping")
        self.mapping_table.setModel(self.mapping)
        self.mapping_table.setItemDelegate(ChoiceDelegate(self.mapping_table))
        self.mapping_table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.mapping_table.setTabKeyNavigation(False)
        self.mapping_table.verticalHeader().hide()
        self.mapping_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.mapping_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        names = "、".join(self.printers) if self.printers else "（見つかりません）"
        self.printer_note = QLabel(f"このPCのプリンタ: {names}　— 他のPCのプリンタ名は直接入力できます。")
        self.printer_note.setWordWrap(True)
        self.new_button = QPushButton("新しい端末 (&N)")
        self.save_button = QPushButton("保存 (Ctrl+S)")
        self.save_button.setObjectName("saveTerminal")
        self.delete_button = QPushButton("削除")
        self.new_button.clicked.connect(self.new_terminal)
        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=self.save,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

        editor = QGroupBox("端末の設定")
        form = QFormLayout(editor)
        form.addRow("端末名(&M)", self.name)
        form.addRow("窓口番号(&C)", self.counter_no)
        form.addRow("説明", self.description)
        form.addRow(QLabel("帳票ごとのプリンタ・給紙トレイ・両面・部数（セルで Enter または F2 で変更）"))
        form.addRow(self.mapping_table)
        form.addRow(self.printer_note)
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addStretch(1)
        row.addWidget(self.delete_button)
        row.addWidget(self.save_button)
        form.addRow(row)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(editor)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([420, 780])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.new_terminal()

    def refresh(self, select: str | None = None) -> None:
        rows: list = []
        if not self.run(lambda: rows.extend(admin.list_terminals(self.db, self.actor))):
            return
        self.model.set_rows(rows)
        row = self.model.row_of(select) if select else -1
        if row >= 0:
            self.table.selectRow(row)
            self.show_terminal(row)

    def new_terminal(self) -> None:
        self.is_new = True
        self.table.setCurrentIndex(QModelIndex())  # picking the same row again must reload it
        self.name.setReadOnly(False)
        for w in (self.name, self.counter_no, self.description):
            w.clear()
        self.mapping.set_settings({})
        self.delete_button.setEnabled(False)
        self.name.setFocus()

    def show_terminal(self, row: int) -> None:
        if not 0 <= row < self.model.rowCount():
            return
        t = self.model.terminal(row)
        self.is_new = False
        self.name.setText(t.name)
        self.name.setReadOnly(True)  # the name is the key each PC's config refers to
        self.counter_no.setText(t.counter_no)
        self.description.setText(t.description)
        self.mapping.set_settings(t.print_settings)
        self.delete_button.setEnabled(True)

    def save(self) -> None:
        info = admin.TerminalInfo(self.name.text(), self.counter_no.text(), self.description.text(),
                                  self.mapping.settings())
        saved: list = []
        if self.run(lambda: saved.append(admin.save_terminal(self.db, self.actor, info, new=self.is_new))):
            self.refresh(select=saved[0].name)
            self.keep(message(self, f"端末「{saved[0].name}」の設定を保存しました。", error=False))

    def delete(self) -> None:
        name = self.name.text().strip()
        if self.is_new or not name:
            return

        def apply() -> None:
            if self.run(lambda: admin.delete_terminal(self.db, self.actor, name)):
                self.refresh()
                self.new_terminal()

        self.keep(ask(self, f"端末「{name}」の設定を削除しますか？", apply))


# --- 取込履歴 ----------------------------------------------------------------------------------------------


class ImportsPage(_Page):
    def __init__(self, db: Database, actor: Actor) -> None:
        super().__init__(db, actor)
        self.model = ImportRunsModel(self)
        self.table = _table(self.model)
        self.table.setObjectName("importTable")
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _p: self._show(cur.row()))
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setMaximumHeight(80)
        self.issues = ImportIssuesModel(self)
        self.issues_table = _table(self.issues)
        self.issues_table.setObjectName("importIssues")
        self.issues_label = QLabel("")
        self.refresh_button = QPushButton("最新の状態に更新 (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        self.summary = QLabel("")
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh_button)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.detail)
        ll.addWidget(self.issues_label)
        ll.addWidget(self.issues_table, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    def refresh(self) -> None:
        rows: list = []
        if not self.run(lambda: rows.extend(admin.recent_import_runs(self.db, self.actor))):
            return
        self.model.set_rows(rows)
        if rows:
            last = rows[0]
            self.summary.setText(f"最新の取込: {self.model.index(0, 0).data()}　{last.outcome_label}")
            self.table.selectRow(0)
        else:
            self.summary.setText("基幹系データの取込はまだありません。")
            self.detail.clear()

    def _show(self, row: int) -> None:
        if not 0 <= row < self.model.rowCount():
            return
        r = self.model.run(row)
        self.detail.setPlainText(f"{r.outcome_label}（{r.kind}・{r.export_id or '識別子なし'}）\n{r.message}")
        found: list = []
        if not self.run(lambda: found.append(admin.import_issues(self.db, self.actor, r.id))):
            found.append(([], 0))
        issues, total = found[0]
        self.issues.set_rows(issues)
        if not total:
            self.issues_label.setText("この取込で除外・保留された行はありません。")
        else:
            more = f"（先頭 {len(issues):,} 件を表示）" if total > len(issues) else ""
            self.issues_label.setText(f"除外・保留された行: {total:,} 件{more}")


# --- 操作ログ ----------------------------------------------------------------------------------------------


class AuditPage(_Page):
    PAGE_SIZE = 100

    def __init__(self, db: Database, actor: Actor) -> None:
        super().__init__(db, actor)
        self.page_no = 0
        self.result: admin.AuditPage | None = None
        self.model = AuditModel(self)
        self.table = _table(self.model)
        self.table.setObjectName("auditTable")
        self.table.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _p: self._show(cur.row()))
        # The service reads these as JST days: a machine set to UTC must not miss this morning.
        today = QDate(japan_date(datetime.now(UTC)))
        self.date_from = QDateEdit(today.addDays(-7))
        self.date_to = QDateEdit(today)
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        self.date_from.setObjectName("auditFrom")
        self.date_to.setObjectName("auditTo")
        self.actor_edit = QLineEdit()
        self.actor_edit.setObjectName("auditActor")
        self.actor_edit.setPlaceholderText("職員ID")
        self.action = QComboBox()
        self.action.setObjectName("auditAction")
        self.action.addItem("すべての操作", "")
        for prefix, label in (("login", "ログイン"), ("person.", "宛名（検索・閲覧・住所表示）"),
                              ("person.unmask", "支援措置対象者の住所表示"), ("case.", "対応"),
                              ("identity.", "本人確認"), ("staff.", "職員・グループ"), ("permission.", "権限"),
                              ("terminal.", "端末"), ("audit.", "操作ログの閲覧・検証・書出し"),
                              ("notice.", "お知らせ"), ("rpa.", "RPA書出し")):
            self.action.addItem(label, prefix)
        self.object_id = QLineEdit()
        self.object_id.setObjectName("auditObject")
        self.object_id.setPlaceholderText("対象ID（宛名番号・対応番号・職員ID など）")
        self.search_button = QPushButton("検索 (Enter)")
        self.search_button.setObjectName("auditSearch")
        self.prev_button = QPushButton("◀ 前へ (PgUp)")
        self.next_button = QPushButton("次へ ▶ (PgDn)")
        self.verify_button = QPushButton("改ざん検証 (&V)")
        self.verify_button.setObjectName("auditVerify")
        self.export_button = QPushButton("CSV出力 (&E)")
        self.export_button.setObjectName("auditExport")
        self.export_button.clicked.connect(self.choose_export_file)
        self.search_button.clicked.connect(lambda: self.search(0))
        self.prev_button.clicked.connect(lambda: self.search(self.page_no - 1))
        self.next_button.clicked.connect(lambda: self.search(self.page_no + 1))
        self.verify_button.clicked.connect(self.verify)
        for w in (self.actor_edit, self.object_id):
            w.returnPressed.connect(lambda: self.search(0))
        QShortcut(QKeySequence(Qt.Key.Key_PageUp), self, activated=self.prev_button.click,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence(Qt.Key.Key_PageDown), self, activated=self.next_button.click,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.range = QLabel("条件を指定して「検索」を押してください。検索した記録も操作ログに残ります。")
        self.range.setObjectName("auditRange")
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setMaximumHeight(120)

        filters = QHBoxLayout()
        filters.addWidget(QLabel("期間(&T)"))
        filters.itemAt(0).widget().setBuddy(self.date_from)
        filters.addWidget(self.date_from)
        filters.addWidget(QLabel("〜"))
        filters.addWidget(self.date_to)
        filters.addWidget(self.actor_edit)
        filters.addWidget(self.action)
        filters.addWidget(self.object_id, 1)
        filters.addWidget(self.search_button)
        nav = QHBoxLayout()
        nav.addWidget(self.range, 1)
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        nav.addSpacing(24)
        nav.addWidget(self.export_button)
        nav.addWidget(self.verify_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(nav)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.detail)
        self._update_nav()

    def refresh(self) -> None:
        pass  # nothing is read until asked: every look at the log is itself recorded

    def query(self, page: int) -> admin.AuditQuery:
        return admin.AuditQuery(self.date_from.date().toPython(), self.date_to.date().toPython(),
                                self.actor_edit.text(), self.action.currentData() or "", self.object_id.text(),
                                page, self.PAGE_SIZE)

    def search(self, page: int = 0) -> None:
        if page < 0 or (page > 0 and self.result is not None and page >= self.result.pages):
            return
        holder: list = []
        if not self.run(lambda: holder.append(admin.search_audit(self.db, self.actor, self.query(page)))):
            return
        self.result = holder[0]
        self.page_no = page
        self.model.set_rows(self.result.entries)
        self.range.setText(self.result.range_text())
        if self.result.entries:
            self.table.selectRow(0)
        else:
            self.detail.clear()
        self._update_nav()

    def _update_nav(self) -> None:
        self.prev_button.setEnabled(self.result is not None and self.page_no > 0)
        self.next_button.setEnabled(self.result is not None and self.page_no + 1 < self.result.pages)

    def _show(self, row: int) -> None:
        if not 0 <= row < self.model.rowCount():
            return
        e = self.model.entry(row)
        try:
            detail = json.dumps(json.loads(e.detail), ensure_ascii=False, indent=1) if e.detail else ""
        except ValueError:
            detail = e.detail
        self.detail.setPlainText(f"#{e.id}　{self.model.index(row, 0).data()}　{e.actor}（{e.terminal or '端末不明'}）\n"
                                 f"{e.action_label}（{e.action}）　{e.object_type} {e.object_id}\n{detail}")

    def choose_export_file(self) -> None:
        q = self.query(0)
        name = f"操作ログ_{q.date_from:%Y%m%d}-{q.date_to:%Y%m%d}.csv"
        path, _filter = QFileDialog.getSaveFileName(self, "操作ログのCSV出力", str(Path.home() / name),
                                                    "CSV (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """All events matching the current conditions, oldest first, with hashes (Excel reads the BOM)."""
        counted: list = []

        def write() -> None:
            try:
                with path.open("w", encoding="utf-8-sig", newline="") as fh:
                    counted.append(admin.export_audit_csv(self.db, self.actor, self.query(0), fh))
            except OSError as exc:
                raise InputError(f"ファイル「{path}」に書き出せませんでした（{exc.strerror}）。"
                                 "保存先を確かめてください。") from exc

        if self.run(write):
            self.keep(message(self, f"操作ログ {counted[0]:,} 件を「{path}」に書き出しました。", error=False))

    def verify(self) -> None:
        holder: list = []
        if self.run(lambda: holder.append(admin.verify_audit(self.db, self.actor))):
            self.keep(message(self, holder[0].message(), error=not holder[0].ok))


# --- the tab --------------------------------------------------------------------------------------------------


class AdminView(QWidget):
    """The 管理 workspace. Create it only when `visible_for(actor)`."""

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, *,
                 printers: list[str] | None = None) -> None:
        super().__init__(parent)
        self.db, self.actor = db, actor
        self.tabs = QTabWidget()
        self.tabs.setObjectName("adminTabs")
        self.staff_page = self.permissions_page = self.terminals_page = None
        self.imports_page = self.audit_page = None
        if actor.can(admin.STAFF_ADMIN):
            self.staff_page = StaffPage(db, actor)
            self.tabs.addTab(self.staff_page, "職員")
        if any(actor.can(p) for p in (admin.SETTINGS_ADMIN, admin.STAFF_ADMIN, admin.AUDIT_READ)):
            self.permissions_page = PermissionsPage(db, actor)
            self.tabs.addTab(self.permissions_page, "権限")
        if actor.can(admin.SETTINGS_ADMIN):
            self.terminals_page = TerminalsPage(db, actor, printers)
            self.tabs.addTab(self.terminals_page, "端末")
        if any(actor.can(p) for p in (admin.SETTINGS_ADMIN, "import.run", admin.AUDIT_READ)):
            self.imports_page = ImportsPage(db, actor)
            self.tabs.addTab(self.imports_page, "取込履歴")
        if actor.can(admin.AUDIT_READ):
            self.audit_page = AuditPage(db, actor)
            self.tabs.addTab(self.audit_page, "操作ログ")
        self.tabs.currentChanged.connect(self._load)
        QShortcut(QKeySequence(Qt.Key.Key_F5), self, activated=self.reload,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        # Ctrl+PgUp / Ctrl+PgDn move between the sub-tabs (QTabWidget's own keys)

    @staticmethod
    def visible_for(actor: Actor) -> bool:
        return admin.can_open(actor)

    def showEvent(self, event) -> None:  # noqa: ANN001, N802
        self._load(self.tabs.currentIndex())
        super().showEvent(event)

    def _load(self, index: int) -> None:
        page = self.tabs.widget(index)
        if isinstance(page, _Page):
            page.ensure_loaded()

    def reload(self) -> None:
        """F5: read the current sub-tab again (the log only repeats a search already made)."""
        page = self.tabs.currentWidget()
        if isinstance(page, AuditPage):
            if page.result is not None:
                page.search(page.page_no)
        elif isinstance(page, _Page):
            page.refresh()

    def show_page(self, page: QWidget) -> None:
        self.tabs.setCurrentWidget(page)
        if isinstance(page, _Page):
            page.ensure_loaded()

