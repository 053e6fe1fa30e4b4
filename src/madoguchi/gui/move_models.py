"""Qt models of the move entry grid: an editor holding the Move and one table model per side.

`MoveEditor` owns the domain Move, applies the pure editing operations of `domain.moves` and
re-validates after each one; `HouseholdSideModel` shows the households of one side (before or
after) as a flat table: a header row per household followed by its members. Both are usable
and tested without any window.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QAbstractTableModel, QByteArray, QMimeData, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont

from madoguchi.domain import moves as ops
from madoguchi.domain.age import age
from madoguchi.domain.moves import (Finding, HouseholdChangeKind, HouseholdState, Level, Move, MoveMember,
                                    MoveType, validate)
from madoguchi.domain.people import MASKED_ADDRESS_TEXT, Address
from madoguchi.domain.wareki import format_wareki

MEMBER_MIME = "application/x-madoguchi-member"

MemberKeyRole = Qt.ItemDataRole.UserRole + 1
HouseholdKeyRole = Qt.ItemDataRole.UserRole + 2
IsHeaderRole = Qt.ItemDataRole.UserRole + 3
LevelRole = Qt.ItemDataRole.UserRole + 4

ERROR_BG = QColor("#f8d0d0")
WARNING_BG = QColor("#fff1c2")
HEADER_BG = QColor("#e3ebf5")
STAYING_FG = QColor("#707070")

COL_NAME, COL_REL, COL_BIRTH, COL_STATE = range(4)
HEADERS = ("氏名", "続柄", "生年月日（年齢）", "異動")


def household_title(h: HouseholdState, side: str, restricted: bool = False) -> str:
    label = "新しい世帯" if h.key.startswith("new-") else f"世帯 {h.key}"
    if h.key.startswith("new-"):
        label = f"新しい世帯（{h.key[4:]}）"
    if h.address is not None:
        addr = h.address.line(with_prefecture=False)
    elif restricted and side == "before":
        addr = MASKED_ADDRESS_TEXT  # hidden by the database for this login (支援措置)
    elif side == "after":
        addr = "住所未選択（Enter で住所を選ぶ）"
    else:
        addr = "住所なし"
    if not h.placements:
        return f"{label} ─ （世帯員なし）"
    return f"{label} ─ {addr}"


class MoveEditor(QObject):
    """The Move being entered; every change re-validates and emits `changed(kind)`.

    kind is "structure" (save at once) or "text" (the caller may debounce the save).
    """

    changed = Signal(str)

    def __init__(self, move: Move, today: date, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._move = move
        self.today = today
        self.findings: list[Finding] = validate(move, today)

    @property
    def move(self) -> Move:
        return self._move

    def _done(self, kind: str = "structure") -> None:
        self.findings = validate(self._move, self.today)
        self.changed.emit(kind)

    def replace(self, move: Move) -> None:
        """Load another state (after reloading from the server); not an edit."""
        self._move = move
        self.findings = validate(move, self.today)
        self.changed.emit("reload")

    # --- header fields -----------------------------------------------------------------------

    def set_move_type(self, move_type: MoveType, change_kind: HouseholdChangeKind | None = None) -> None:
        was_out = self._move.move_type.is_out
        self._move.move_type = move_type
        self._move.change_kind = change_kind if move_type is MoveType.HOUSEHOLD_CHANGE else None
        moving = [m.key for m in self._move.moving_members()]
        if move_type.is_out and not was_out:
            for key in moving:  # those leaving the city have no household here afterwards
                ops.unplace(self._move, key)
        elif was_out and not move_type.is_out:
            for key in moving:
                if self._move.household_after_of(key) is None:
                    src = self._move.household_before_of(key)
                    keep = src.key if src and any(h.key == src.key for h in self._move.after) else None
                    ops.place(self._move, key, keep)
        self._done()

    def set_dates(self, *, move_date: date | None | bool = False, notified_on: date | None | bool = False,
                  planned_date: date | None | bool = False) -> None:
        # False = leave unchanged (None is a real value: cleared)
        if move_date is not False:
            self._move.move_date = move_date  # type: ignore[assignment]
        if notified_on is not False:
            self._move.notified_on = notified_on  # type: ignore[assignment]
        if planned_date is not False:
            self._move.planned_date = planned_date  # type: ignore[assignment]
        self._done("text")

    def set_from_address(self, a: Address | None) -> None:
        self._move.from_address = a
        self._done()

    def set_to_address(self, a: Address | None) -> None:
        self._move.to_address = a
        self._done()

    # --- households --------------------------------------------------------------------------

    def start_after(self) -> None:
        ops.start_after_from_before(self._move)
        self._done()

    def place(self, member_key: str, target_key: str | None, index: int | None = None) -> str:
        key = ops.place(self._move, member_key, target_key, index=index)
        self._done()
        return key

    def unplace(self, member_key: str) -> None:
        ops.unplace(self._move, member_key)
        self._done()

    def step(self, member_key: str, delta: int) -> str:
        """Ctrl+→ / Ctrl+←: to the next/previous household on the after side."""
        keys = [h.key for h in self._move.after]
        current = self._move.household_after_of(member_key)
        if current is None:
            source = self._move.household_before_of(member_key)
            same = source.key if source and source.key in keys else None
            target = same or (keys[0] if keys else None)
            return self.place(member_key, target)
        i = keys.index(current.key) + delta
        if i < 0 or i >= len(keys):
            return current.key  # at the edge: stay (a new household is Ctrl+N)
        return self.place(member_key, keys[i])

    def set_relationship(self, household_key: str, member_key: str, relationship: str) -> None:
        ops.set_relationship(self._move, household_key, member_key, relationship)
        self._done()

    def set_head(self, household_key: str, member_key: str) -> None:
        ops.set_head(self._move, household_key, member_key)
        self._done()

    def set_address(self, household_key: str, address: Address | None) -> None:
        ops.set_household_address(self._move, household_key, address)
        self._done()

    def set_moving(self, member_key: str, moving: bool) -> None:
        ops.set_moving(self._move, member_key, moving)
        if not moving and self._move.move_type.is_out:
            src = self._move.household_before_of(member_key)
            if self._move.household_after_of(member_key) is None and src is not None:
                ops.place(self._move, member_key, src.key if any(h.key == src.key for h in self._move.after)
                          else None)
        if moving and self._move.move_type.is_out:
            ops.unplace(self._move, member_key)
        self._done()

    def add_households(self, members: dict[str, MoveMember], before: list[HouseholdState]) -> None:
        """Bring more households into the move (e.g. the partner's household)."""
        for k, m in members.items():
            self._move.members.setdefault(k, m)
        known = {h.key for h in self._move.before}
        for h in before:
            if h.key not in known:
                self._move.before.append(h)
                if not any(a.key == h.key for a in self._move.after):
                    self._move.after.append(HouseholdState(h.key, [ops.Placement(p.member_key, p.relationship,
                                                                                 p.is_head)
                                                                   for p in h.placements], h.address))
        self._done()

    def add_newcomer(self, member: MoveMember, household_key: str | None = None) -> str:
        key = ops.add_member(self._move, member, household_key)
        self._done()
        return key

    def remove_newcomer(self, member_key: str) -> None:
        ops.remove_member(self._move, member_key)
        self._done()

    def new_member_key(self) -> str:
        return ops.new_member_key(self._move)

    # --- findings ----------------------------------------------------------------------------

    def findings_for(self, household: str, member: str) -> list[Finding]:
        return [f for f in self.findings if (f.household == household and f.member == member)
                or (member and not f.household and f.member == member)]


class HouseholdSideModel(QAbstractTableModel):
    """One side of the grid. Rows: a header per household, then its members."""

    def __init__(self, editor: MoveEditor, side: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if side not in ("before", "after"):
            raise ValueError(side)
        self.editor = editor
        self.side = side
        self._rows: list[tuple[int, int]] = []
        self._rebuild()
        editor.changed.connect(self._on_changed)

    # --- structure ---------------------------------------------------------------------------

    def households(self) -> list[HouseholdState]:
        return self.editor.move.before if self.side == "before" else self.editor.move.after

    def _rebuild(self) -> None:
        rows: list[tuple[int, int]] = []
        for hi, h in enumerate(self.households()):
            rows.append((hi, -1))
            rows.extend((hi, pi) for pi in range(len(h.placements)))
        self._rows = rows

    def _on_changed(self, _kind: str) -> None:
        self.beginResetModel()
        self._rebuild()
        self.endResetModel()

    def header_rows(self) -> list[int]:
        return [r for r, (_hi, pi) in enumerate(self._rows) if pi < 0]

    def row_of(self, member_key: str) -> int:
        for r, (hi, pi) in enumerate(self._rows):
            if pi >= 0 and self.households()[hi].placements[pi].member_key == member_key:
                return r
        return -1

    def row_of_household(self, key: str) -> int:
        for r, (hi, pi) in enumerate(self._rows):
            if pi < 0 and self.households()[hi].key == key:
                return r
        return -1

    def household_at(self, row: int) -> HouseholdState | None:
        if 0 <= row < len(self._rows):
            return self.households()[self._rows[row][0]]
        return None

    def member_at(self, row: int) -> str | None:
        if 0 <= row < len(self._rows):
            hi, pi = self._rows[row]
            if pi >= 0:
                return self.households()[hi].placements[pi].member_key
        return None

    # --- Qt API ------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(HEADERS):
            if section == COL_STATE and self.side == "before":
                return "異動する"
            return HEADERS[section]
        return None

    def _findings(self, row: int, col: int) -> list[Finding]:
        hi, pi = self._rows[row]
        h = self.households()[hi]
        if pi < 0:
            if self.side == "before":
                return []
            return [f for f in self.editor.findings if f.household == h.key and not f.member]
        key = h.placements[pi].member_key
        if self.side == "after":
            found = [f for f in self.editor.findings if f.household == h.key and f.member == key]
            if col != COL_REL:
                found = [f for f in found if f.field != "relationship"]
            return found
        return [f for f in self.editor.findings if f.member == key and not f.household]

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row, col = index.row(), index.column()
        hi, pi = self._rows[row]
        h = self.households()[hi]
        if role == HouseholdKeyRole:
            return h.key
        if role == IsHeaderRole:
            return pi < 0
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ToolTipRole, LevelRole):
            found = self._findings(row, col)
            if role == Qt.ItemDataRole.ToolTipRole:
                if found:
                    return "\n".join(f.message for f in found)
                if pi < 0 and self.side == "after":
                    return "Enter または F4 で住所を選びます"
                return None
            level = "error" if any(f.level is Level.ERROR for f in found) else ("warning" if found else "")
            if role == LevelRole:
                return level
            if level == "error":
                return QBrush(ERROR_BG)
            if level == "warning":
                return QBrush(WARNING_BG)
            return QBrush(HEADER_BG) if pi < 0 else None
        if pi < 0:
            if role == Qt.ItemDataRole.DisplayRole and col == COL_NAME:
                members = self.editor.move.members
                restricted = any(members[p.member_key].restricted for p in h.placements if p.member_key in members)
                return household_title(h, self.side, restricted)
            if role == Qt.ItemDataRole.FontRole:
                f = QFont()
                f.setBold(True)
                return f
            return None
        p = h.placements[pi]
        m = self.editor.move.members.get(p.member_key)
        if role == MemberKeyRole:
            return p.member_key
        if m is None:
            return p.member_key if role == Qt.ItemDataRole.DisplayRole and col == COL_NAME else None
        on = self.editor.move.move_date or self.editor.today
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_NAME:
                return ("★ " if p.is_head else "　 ") + m.name
            if col == COL_REL:
                return p.relationship or "（未入力）"
            if col == COL_BIRTH:
                return f"{format_wareki(m.birth_date)}（{age(m.birth_date, on)}歳）"
            if col == COL_STATE:
                if self.side == "before":
                    return "異動" if m.moving else "残る"
                if not m.atena_no:
                    return "転入"
                src = self.editor.move.household_before_of(p.member_key)
                return "異動" if m.moving or (src and src.key != h.key) else "残る"
        if role == Qt.ItemDataRole.EditRole and col == COL_REL:
            return p.relationship
        if role == Qt.ItemDataRole.CheckStateRole and col == COL_STATE and self.side == "before":
            return Qt.CheckState.Checked if m.moving else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ForegroundRole and not m.moving and self.side == "before":
            return QBrush(STAYING_FG)
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled if self.side == "after" else Qt.ItemFlag.NoItemFlags
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        hi, pi = self._rows[index.row()]
        if self.side == "after":
            f |= Qt.ItemFlag.ItemIsDropEnabled
        if pi < 0:
            return f
        f |= Qt.ItemFlag.ItemIsDragEnabled
        if self.side == "after" and index.column() == COL_REL:
            f |= Qt.ItemFlag.ItemIsEditable
        if self.side == "before" and index.column() == COL_STATE:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def setData(self, index: QModelIndex, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid():
            return False
        hi, pi = self._rows[index.row()]
        if pi < 0:
            return False
        h = self.households()[hi]
        key = h.placements[pi].member_key
        if self.side == "after" and index.column() == COL_REL and role == Qt.ItemDataRole.EditRole:
            # Deferred: the change resets the model, which must not happen while the view is
            # still committing and closing the cell editor.
            hk, text = h.key, str(value or "")
            QTimer.singleShot(0, self, lambda: self.editor.set_relationship(hk, key, text))
            return True
        if self.side == "before" and index.column() == COL_STATE and role == Qt.ItemDataRole.CheckStateRole:
            checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value, 2, True)
            self.editor.set_moving(key, bool(checked))
            return True
        return False

    # --- drag & drop -------------------------------------------------------------------------

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MEMBER_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802
        keys = []
        for ix in indexes:
            k = self.member_at(ix.row())
            if k and k not in keys:
                keys.append(k)
        md = QMimeData()
        md.setData(MEMBER_MIME, QByteArray("\n".join(keys).encode("utf-8")))
        return md

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.MoveAction

    def canDropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,  # noqa: N802
                        parent: QModelIndex) -> bool:
        return self.side == "after" and data.hasFormat(MEMBER_MIME)

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,  # noqa: N802
                     parent: QModelIndex) -> bool:
        """Dropped on a household (header or member row) → join it; on empty space → new household."""
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        keys = [k for k in bytes(data.data(MEMBER_MIME).data()).decode("utf-8").split("\n") if k]
        target_row = parent.row() if parent.isValid() else row
        h = self.household_at(target_row) if target_row >= 0 else None
        target = h.key if h is not None else None
        for k in keys:
            target = self.editor.place(k, target)
        return True
