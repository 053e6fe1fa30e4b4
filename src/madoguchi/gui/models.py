"""Qt item models fed by service results (testable without a window)."""

from __future__ import annotations

from datetime import UTC, date

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from madoguchi.domain import wareki
from madoguchi.domain.people import QUALIFICATION_LABELS, QUALIFICATION_SHORT, SEX_LABEL, Person, ResidentStatus
from madoguchi.gui.table_model import Index, ListTableModel
from madoguchi.services.notices import Notice
from madoguchi.services.residents import ResidentHit

MUTED = QColor("#6b6b6b")
WARN = QColor("#b00020")
RESTRICTED_BG = QColor("#fff3cd")

ATENA_ROLE = Qt.ItemDataRole.UserRole + 1
HOUSEHOLD_ROLE = Qt.ItemDataRole.UserRole + 2


class SearchResultModel(ListTableModel):
    """Search hits: 氏名, フリガナ, 生年月日, 年齢, 性別, 世帯主, 住所, 状態."""

    HEADERS = ("氏名", "フリガナ", "生年月日", "年齢", "性別", "世帯主", "住所", "状態", "宛名番号")

    def set_hits(self, items: list[ResidentHit]) -> None:
        self.set_rows(items)

    def hit(self, row: int) -> ResidentHit:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        h = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            status = h.status_mark or ("要確認" if h.restricted else "")
            return (h.name, h.kana, wareki.format_wareki(h.birth_date) + f"（{h.birth_date.year}）",
                    f"{h.age}歳", SEX_LABEL.get(h.sex, ""), h.householder_name, h.address_text, status,
                    h.atena_no)[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            if h.restricted:
                return h.note
            if col == 2:
                return h.birth_text
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if h.status_mark:
                return QBrush(MUTED)
            if h.restricted and col in (6, 7):
                return QBrush(WARN)
            return None
        if role == Qt.ItemDataRole.BackgroundRole and h.restricted:
            return QBrush(RESTRICTED_BG)
        if role == ATENA_ROLE:
            return h.atena_no
        if role == HOUSEHOLD_ROLE:
            return h.household_no
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def removal_text(p: Person) -> str:
    """What became of a removed person and when: 転出（令和6年3月31日）; "" for a resident."""
    if p.is_current:
        return ""
    return f"{p.status.label}（{wareki.format_wareki(p.removed_on)}）" if p.removed_on else p.status.label


class HouseholdModel(QAbstractTableModel):
    """Members of a household with chosen qualification columns (● = active on `today`).

    Removed persons (除票) are grey; while any is listed, a 「状態」 column after 性別 says what
    became of them and when. The deceased are shown at the age they died at."""

    BASE = ("続柄", "氏名", "フリガナ", "生年月日", "年齢", "性別")
    STATUS = "状態"

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._members: list[Person] = []
        self._kinds: list[str] = []
        self._today = date.today()
        self._status = False

    def set_members(self, members: list[Person], today: date) -> None:
        self.beginResetModel()
        self._members = list(members)
        self._today = today
        self._status = any(not p.is_current for p in self._members)
        self.endResetModel()

    def set_qualification_columns(self, kinds: list[str]) -> None:
        self.beginResetModel()
        self._kinds = list(kinds)
        self.endResetModel()

    @property
    def qualification_columns(self) -> list[str]:
        return list(self._kinds)

    @property
    def status_column(self) -> int:
        """The column of 「状態」, or -1 while only residents are listed."""
        return len(self.BASE) if self._status else -1

    @property
    def _fixed(self) -> int:
        return len(self.BASE) + (1 if self._status else 0)

    def member(self, row: int) -> Person:
        return self._members[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._members)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._fixed + len(self._kinds)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not (0 <= section < self.columnCount()):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if section < len(self.BASE):
                return self.BASE[section]
            if section == self.status_column:
                return self.STATUS
            kind = self._kinds[section - self._fixed]
            return QUALIFICATION_SHORT.get(kind, QUALIFICATION_LABELS.get(kind, kind))
        if role == Qt.ItemDataRole.ToolTipRole:
            if section == self.status_column:
                return "住民でなくなった人（除票）の事由と日"
            if section >= self._fixed:
                return QUALIFICATION_LABELS.get(self._kinds[section - self._fixed])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._members)):
            return None
        p = self._members[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col < len(self.BASE):
                return (p.relationship, p.name, p.name_kana, wareki.format_wareki(p.birth_date),
                        f"{p.age_reached(self._today)}歳", p.sex_label)[col]
            if col == self.status_column:
                return removal_text(p)
            kind = self._kinds[col - self._fixed]
            return "●" if p.has(kind, self._today) else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 3:
                return wareki.format_both(p.birth_date)
            if col == 4 and p.status is ResidentStatus.DECEASED and p.removed_on is not None:
                return "死亡時の年齢"
            if col == self.status_column:
                return wareki.format_both(p.removed_on) if p.removed_on else None
            if col >= self._fixed:
                kind = self._kinds[col - self._fixed]
                q = [x for x in p.qualifications if x.kind == kind and x.active_on(self._today)]
                if q:
                    since = wareki.format_wareki(q[0].start_date) if q[0].start_date else ""
                    return f"{QUALIFICATION_LABELS.get(kind, kind)} {since}〜 {q[0].detail}".strip()
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and (col == 4 or col >= self._fixed):
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.ForegroundRole and not p.is_current:
            return QBrush(MUTED)
        if role == ATENA_ROLE:
            return p.atena_no
        return None


class NoticesModel(ListTableModel):
    HEADERS = ("重要度", "件名", "投稿者", "投稿日時", "状態")

    def set_notices(self, items: list[Notice]) -> None:
        self.set_rows(items)

    def notice(self, row: int) -> Notice:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        n = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            # SQLite hands back naive UTC
            posted = (n.posted_at if n.posted_at.tzinfo else n.posted_at.replace(tzinfo=UTC)).astimezone()
            return (n.priority_label, n.title, n.posted_by_name, f"{posted:%m/%d %H:%M}",
                    "既読" if n.read else "未読")[index.column()]
        if role == Qt.ItemDataRole.FontRole and not n.read:
            f = QFont()
            f.setBold(True)
            return f
        if role == Qt.ItemDataRole.ForegroundRole and n.priority == "high" and index.column() in (0, 1):
            return QBrush(WARN)
        return None
