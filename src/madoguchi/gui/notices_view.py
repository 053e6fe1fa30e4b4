"""お知らせ: the staff notice board. New notices arrive by LISTEN/NOTIFY (PostgreSQL) or polling (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from PySide6.QtCore import QDate, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDateEdit, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QSplitter, QTableView, QVBoxLayout, QWidget)

from madoguchi.errors import KnownError
from madoguchi.gui.models import NoticesModel
from madoguchi.services import notices
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.security import GROUPS

POLL_MS = 30_000


class _ListenThread(QThread):
    """A dedicated psycopg connection doing LISTEN; emits the notice id of every NOTIFY."""

    notified = Signal(str)

    def __init__(self, conninfo: dict, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._conninfo = conninfo
        self._stop = False

    def stop(self) -> None:
        self._stop = True
        self.wait(3000)

    def run(self) -> None:
        import psycopg
        while not self._stop:
            try:
                with psycopg.connect(autocommit=True, connect_timeout=5, **self._conninfo) as conn:
                    conn.execute(f"LISTEN {notices.CHANNEL}")
                    while not self._stop:
                        for n in conn.notifies(timeout=1.0):
                            self.notified.emit(n.payload)
            except psycopg.Error:
                # Server gone for a moment: retry quietly; polling in the view still runs.
                for _ in range(50):
                    if self._stop:
                        return
                    self.msleep(100)


def _conninfo(db: Database) -> dict:
    u = db.engine.url
    info = {"host": u.host, "port": u.port or 5432, "user": u.username, "dbname": u.database}
    if u.password:
        info["password"] = u.password
    info.update({k: v for k, v in u.query.items() if isinstance(v, str)})
    return info


class NoticeWatcher(QObject):
    """Tells the UI when notices may have changed: NOTIFY in PostgreSQL, a timer always."""

    changed = Signal()

    def __init__(self, db: Database, parent: QObject | None = None, *, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.changed)
        self.timer.start(poll_ms)
        self.thread: _ListenThread | None = None
        if db.dialect == "postgresql":
            self.thread = _ListenThread(_conninfo(db), self)
            self.thread.notified.connect(lambda _payload: self.changed.emit())
            self.thread.start()

    def stop(self) -> None:
        self.timer.stop()
        if self.thread is not None:
            self.thread.stop()
            self.thread = None


class NoticesView(QWidget):
    unreadChanged = Signal(int)  # noqa: N815

    def __init__(self, db: Database, actor: Actor, parent: QWidget | None = None, *,
                 poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.db, self.actor = db, actor
        self.model = NoticesModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _p: self.show_notice(cur.row()))
        self.body = QPlainTextEdit()
        self.body.setReadOnly(True)
        self.body.setObjectName("noticeBody")
        self.receipts = QLabel("")
        self.receipts.setWordWrap(True)

        self.new_title = QLineEdit()
        self.new_title.setObjectName("newTitle")
        self.new_body = QPlainTextEdit()
        self.new_body.setFixedHeight(70)
        self.new_priority = QComboBox()
        for code in notices.PRIORITIES:
            self.new_priority.addItem(notices.PRIORITY_LABELS[code], code)
        self.new_priority.setCurrentIndex(1)
        self.new_target = QComboBox()
        self.new_target.addItem("全員", None)
        for g in GROUPS:
            self.new_target.addItem(g.name, g.code)
        self.new_has_expiry = QCheckBox("掲示期限")
        self.new_expiry = QDateEdit(QDate.currentDate().addDays(7))
        self.new_expiry.setCalendarPopup(True)
        self.new_expiry.setDisplayFormat("yyyy-MM-dd")
        self.new_expiry.setEnabled(False)
        self.new_has_expiry.toggled.connect(self.new_expiry.setEnabled)
        self.post_button = QPushButton("投稿する")
        self.post_button.clicked.connect(self.post)
        self.post_message = QLabel("")
        form_box = QGroupBox("お知らせを投稿")
        form = QFormLayout(form_box)
        form.addRow("件名", self.new_title)
        form.addRow("本文", self.new_body)
        row = QHBoxLayout()
        row.addWidget(QLabel("重要度"))
        row.addWidget(self.new_priority)
        row.addWidget(QLabel("宛先"))
        row.addWidget(self.new_target)
        row.addWidget(self.new_has_expiry)
        row.addWidget(self.new_expiry)
        row.addStretch(1)
        row.addWidget(self.post_button)
        form.addRow(row)
        form.addRow(self.post_message)
        form_box.setVisible(actor.can("notice.post"))

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.body, 1)
        rl.addWidget(self.receipts)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(form_box)

        self.watcher = NoticeWatcher(db, self, poll_ms=poll_ms)
        self.watcher.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        current = self.table.currentIndex().row()
        keep = self.model.notice(current).id if 0 <= current < self.model.rowCount() else None
        items = notices.list_notices(self.db, self.actor)
        self.model.set_notices(items)
        if keep is not None:
            for i, n in enumerate(items):
                if n.id == keep:
                    self.table.selectRow(i)
        self.unreadChanged.emit(sum(1 for n in items if not n.read))

    def show_notice(self, row: int) -> None:
        if not (0 <= row < self.model.rowCount()):
            return
        n = self.model.notice(row)
        expiry = ""
        if n.expires_at:
            e = n.expires_at if n.expires_at.tzinfo else n.expires_at.replace(tzinfo=UTC)
            expiry = f"\n掲示期限: {e.astimezone():%Y-%m-%d %H:%M}"
        self.body.setPlainText(f"{n.title}\n投稿: {n.posted_by_name}{expiry}\n\n{n.body}")
        if not n.read:
            notices.mark_read(self.db, self.actor, n.id)
            QTimer.singleShot(0, self.refresh)
        if n.posted_by == self.actor.login or self.actor.can("notice.manage"):
            rec = notices.receipts(self.db, n.id)
            names = "、".join(r.display_name for r in rec) or "まだいません"
            self.receipts.setText(f"既読 {len(rec)}人: {names}")
        else:
            self.receipts.setText("")

    def post(self) -> None:
        expires = None
        if self.new_has_expiry.isChecked():
            d = self.new_expiry.date().toPython()
            expires = datetime.combine(d, time(23, 59)).astimezone(UTC)
        try:
            notices.post(self.db, self.actor, self.new_title.text(), self.new_body.toPlainText(),
                         priority=self.new_priority.currentData(), expires_at=expires,
                         target_group=self.new_target.currentData())
        except KnownError as exc:
            self.post_message.setStyleSheet("color: #b00020;")
            self.post_message.setText(exc.message)
            return
        self.post_message.setStyleSheet("")
        self.post_message.setText("投稿しました。")
        self.new_title.clear()
        self.new_body.clear()
        self.refresh()

    def shutdown(self) -> None:
        self.watcher.stop()
