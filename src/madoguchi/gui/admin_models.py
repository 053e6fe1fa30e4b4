"""Qt table models of the admin tab (管理), fed by services/admin.py results."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor

from madoguchi.gui.table_model import Index, ListTableModel
from madoguchi.services.admin import (
    DUPLEX_LABELS,
    JST,
    AuditEntry,
    ImportIssueInfo,
    ImportRunInfo,
    PermissionMatrix,
    TerminalInfo,
)
from madoguchi.services.staff import StaffInfo
from madoguchi.store.security import GROUPS

MUTED = QColor("#6b6b6b")
WARN = QColor("#b00020")
CHOICES_ROLE = Qt.ItemDataRole.UserRole + 10  # [(label, value)] offered by the editor of a cell
VALUE_ROLE = Qt.ItemDataRole.UserRole + 11    # the stored value behind a label
_GROUP_NAMES = {g.code: g.name for g in GROUPS}
_GROUP_ORDER = {g.code: i for i, g in enumerate(GROUPS)}

TRAY_LABELS = {"": "（プリンタの既定）", "Auto": "自動選択", "Upper": "上段", "OnlyOne": "上段", "Lower": "下段",
               "Middle": "中段", "Manual": "手差し", "Cassette": "カセット", "LargeCapacity": "大容量トレイ",
               "Envelope": "封筒", "EnvelopeManual": "封筒（手差し）"}


def local_time(ts: datetime | None) -> str:
    return f"{ts.astimezone(JST):%Y-%m-%d %H:%M:%S}" if ts else ""




class StaffModel(ListTableModel):
    HEADERS = ("職員ID", "氏名", "グループ", "状態")

    def staff(self, row: int) -> StaffInfo:
        return self._rows[row]

    def row_of(self, login: str) -> int:
        return next((i for i, s in enumerate(self._rows) if s.login == login), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not self._valid(index):
            return None
        s: StaffInfo = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (s.login, s.display_name, "・".join(_GROUP_NAMES.get(g, g) for g in
                                         sorted(s.groups, key=lambda g: (_GROUP_ORDER.get(g, 99), g))) or "（なし）",
                    "利用停止" if s.disabled else "利用中")[col]
        if role == Qt.ItemDataRole.ForegroundRole and s.disabled:
            return QBrush(MUTED)
        return None


class PermissionMatrixModel(QAbstractTableModel):
    """Rows: permissions; columns: groups; a check box per cell. A toggle is reported by a signal,
    the view saves it and reloads (or reverts when the save is refused)."""

    toggled = Signal(str, str, bool)  # group code, permission, granted

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._m = PermissionMatrix((), (), frozenset())
        self._granted: set[tuple[str, str]] = set()
        self.editable = False

    def set_matrix(self, matrix: PermissionMatrix, *, editable: bool) -> None:
        self.beginResetModel()
        self._m = matrix
        self._granted = set(matrix.granted)
        self.editable = editable
        self.endResetModel()

    def cell(self, index: Index) -> tuple[str, str]:
        return self._m.groups[index.column()].code, self._m.permissions[index.row()]

    def index_of(self, group_code: str, permission: str) -> QModelIndex:
        col = next(i for i, g in enumerate(self._m.groups) if g.code == group_code)
        return self.index(self._m.permissions.index(permission), col)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._m.permissions)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._m.groups)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._m.groups):
            g = self._m.groups[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return g.name
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{g.code}: {g.description}"
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self._m.permissions):
            p = self._m.permissions[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return self._m.label(p)
            if role == Qt.ItemDataRole.ToolTipRole:
                return p
        return None

    def _valid(self, index: Index) -> bool:
        return (index.isValid() and 0 <= index.row() < len(self._m.permissions)
                and 0 <= index.column() < len(self._m.groups))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not self._valid(index):
            return None
        if role == Qt.ItemDataRole.CheckStateRole:
            on = self.cell(index) in self._granted
            return Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.AccessibleTextRole:
            g, p = self.cell(index)
            return f"{_GROUP_NAMES.get(g, g)} {self._m.label(p)} {'あり' if self.cell(index) in self._granted else 'なし'}"
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not self._valid(index):
            return Qt.ItemFlag.NoItemFlags
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return f | Qt.ItemFlag.ItemIsUserCheckable if self.editable else f

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not self._valid(index) or role != Qt.ItemDataRole.CheckStateRole or not self.editable:
            return False
        on = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
        cell = self.cell(index)
        if (cell in self._granted) == on:
            return True
        (self._granted.add if on else self._granted.discard)(cell)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.toggled.emit(cell[0], cell[1], on)
        return True


class TerminalsModel(ListTableModel):
    HEADERS = ("端末名", "窓口番号", "帳票別の印刷設定", "説明")

    def terminal(self, row: int) -> TerminalInfo:
        return self._rows[row]

    def row_of(self, name: str) -> int:
        return next((i for i, t in enumerate(self._rows) if t.name == name), -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not self._valid(index) or role != Qt.ItemDataRole.DisplayRole:
            return None
        t: TerminalInfo = self._rows[index.row()]
        forms = len((t.print_settings or {}).get("forms") or {})
        return (t.name, t.counter_no, f"{forms} 件" if forms else "既定のみ", t.description)[index.column()]


class PrintMappingModel(ListTableModel):
    """One terminal's printer mapping: the default row, then one row per form kind.

    A form row without its own entry follows the default; editing any of its cells gives it one
    (starting from the default's values). Shape: gui.printing.PrintSettings.to_mapping().
    """

    HEADERS = ("帳票", "プリンタ", "給紙トレイ", "両面印刷", "部数")
    FOLLOW = "__follow_default__"
    PC_DEFAULT = ""

    def __init__(self, form_kinds: list[tuple[str, str]], printers: list[str], trays: tuple[str, ...],
                 parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._kinds = [("", "既定（下記以外のすべての帳票）"), *form_kinds]
        self._rows = self._kinds  # one row per form kind; the base class counts and validates them
        self._printers = list(printers)
        self._trays = [t for t in ("", *trays) if t in TRAY_LABELS]
        self._default: dict[str, Any] = {}
        self._forms: dict[str, dict[str, Any]] = {}

    def set_settings(self, settings: dict[str, Any] | None) -> None:
        self.beginResetModel()
        settings = settings or {}
        self._default = copy.deepcopy(dict(settings.get("default") or {}))
        self._forms = copy.deepcopy({k: dict(v) for k, v in (settings.get("forms") or {}).items()})
        self.endResetModel()

    def settings(self) -> dict[str, Any]:
        return {"default": copy.deepcopy(self._default), "forms": copy.deepcopy(self._forms)}

    def kind(self, row: int) -> str:
        return self._kinds[row][0]

    def _entry(self, row: int) -> dict[str, Any] | None:
        return self._default if row == 0 else self._forms.get(self._kinds[row][0])

    def choices(self, row: int, col: int) -> list[tuple[str, Any]]:
        if col == 1:
            out = [] if row == 0 else [("（既定と同じ）", self.FOLLOW)]
            out.append(("（このPCの通常使うプリンタ）", self.PC_DEFAULT))
            entry = self._entry(row) or {}
            names = list(self._printers)
            if entry.get("printer") and entry["printer"] not in names:
                names.append(entry["printer"])  # a printer of another PC stays selectable
            return out + [(n, n) for n in names]
        if col == 2:
            return [(TRAY_LABELS[t], t) for t in self._trays]
        if col == 3:
            return [(label, code) for code, label in DUPLEX_LABELS.items()]
        return []

    def _value(self, row: int, col: int) -> Any:
        entry = self._entry(row)
        if entry is None:
            return self.FOLLOW if col == 1 else None
        key = ("", "printer", "tray", "duplex", "copies")[col]
        return entry.get(key, {"printer": "", "tray": "", "duplex": "none", "copies": 1}[key])

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not self._valid(index):
            return None
        row, col = index.row(), index.column()
        if col == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return self._kinds[row][1]
            if role == Qt.ItemDataRole.ToolTipRole:
                return self._kinds[row][0] or "default"
            return None
        value = self._value(row, col)
        if role == VALUE_ROLE:
            return value
        if role == CHOICES_ROLE:
            return self.choices(row, col)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if value is None:
                return ""
            if col == 4:
                return int(value) if role == Qt.ItemDataRole.EditRole else f"{value} 部"
            labels = dict((v, label) for label, v in self.choices(row, col))
            return labels.get(value, str(value))
        if role == Qt.ItemDataRole.ForegroundRole and self._entry(row) is None:
            return QBrush(MUTED)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not self._valid(index):
            return Qt.ItemFlag.NoItemFlags
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return f if index.column() == 0 else f | Qt.ItemFlag.ItemIsEditable

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not self._valid(index) or index.column() == 0 or role not in (Qt.ItemDataRole.EditRole, VALUE_ROLE):
            return False
        row, col = index.row(), index.column()
        kind = self._kinds[row][0]
        if col == 1 and value == self.FOLLOW:
            if row == 0:
                return False
            self._forms.pop(kind, None)
        else:
            if col == 4:
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    return False
                if not 1 <= value <= 99:
                    return False
            elif not isinstance(value, str):
                return False
            if row and kind not in self._forms:
                self._forms[kind] = copy.deepcopy(self._default)
            entry = self._entry(row)
            key = ("", "printer", "tray", "duplex", "copies")[col]
            entry[key] = value
        self.dataChanged.emit(self.index(row, 1), self.index(row, len(self.HEADERS) - 1))
        return True


class ImportRunsModel(ListTableModel):
    HEADERS = ("開始", "終了", "実行者", "結果", "件数", "読込", "保留", "データ識別子", "メッセージ")

    def run(self, row: int) -> ImportRunInfo:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not self._valid(index):
            return None
        r: ImportRunInfo = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (local_time(r.started_at), local_time(r.finished_at), r.actor, r.outcome_label,
                    f"{r.rows:,}", f"{r.loaded:,}", f"{r.quarantined:,}", r.export_id,
                    r.message.splitlines()[0] if r.message else "")[index.column()]
        if role == Qt.ItemDataRole.ForegroundRole:
            if r.outcome == "failed" or (index.column() == 6 and r.quarantined):
                return QBrush(WARN)
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 8:
            return r.message
        if role == Qt.ItemDataRole.TextAlignmentRole and 4 <= index.column() <= 6:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ImportIssuesModel(ListTableModel):
    HEADERS = ("ファイル", "行", "項目", "理由", "元の行")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not self._valid(index):
            return None
        i: ImportIssueInfo = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (i.file, str(i.line), i.column, i.reason, i.raw if len(i.raw) <= 60 else i.raw[:59] + "…")[
                index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 4:
            return i.raw
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class AuditModel(ListTableModel):
    HEADERS = ("日時", "職員", "端末", "操作", "対象", "対象ID", "詳細")

    def entry(self, row: int) -> AuditEntry:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not self._valid(index):
            return None
        e: AuditEntry = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (local_time(e.occurred_at), e.actor, e.terminal, e.action_label, e.object_type, e.object_id,
                    e.detail if len(e.detail) <= 80 else e.detail[:79] + "…")[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 3:
            return e.action
        return None
