"""The case workspace (F15, F16, F17): visitor, move entry, memos, progress and timeline.

There is no save button. Every edit calls the case service at once (typing is debounced by
`DEBOUNCE_MS`). A failed save never loses the edit: it stays on screen, a banner says why in
Japanese, and the clerk can take the case over (「引き継ぐ」) and re-apply it, or reload. A lost
connection is retried automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QPlainTextEdit, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget)
from sqlalchemy.exc import DBAPIError, OperationalError

from madoguchi.domain.moves import Move, MoveType, start_after_from_before, unplace
from madoguchi.domain.people import Address
from madoguchi.errors import ConnectionFailed, KnownError, StaleWrite
from madoguchi.gui.address_picker import AddressPicker
from madoguchi.gui.move_grid import MoveGrid
from madoguchi.gui.move_models import MoveEditor
from madoguchi.services.addresses import CityAddressBook, PostalBook
from madoguchi.services.cases import STATUS_LABELS, CaseInfo, CaseService, household_states, local_time_text

DEBOUNCE_MS = 400
RETRY_MS = 5000
OFFLINE_TEXT = ("サーバに接続できません。入力した内容は画面に残っています。接続が戻ると自動で保存します"
                "（{seconds}秒ごとに再試行）。")
VISITOR_RELATIONS = ("本人", "同一世帯員", "代理人", "その他")


class CaseView(QWidget):
    """One open case. `saved` fires after every successful write; `case_changed` on new data."""

    saved = Signal(object)         # CaseInfo
    case_changed = Signal(object)  # CaseInfo

    def __init__(self, service: CaseService, case_id: int, *, city: CityAddressBook, postal: PostalBook,
                 today: date | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.city = city
        self.postal = postal
        self.today = today or date.today()
        self.case: CaseInfo = service.get_case(case_id)
        self.editor: MoveEditor | None = None
        self.grid: MoveGrid | None = None
        self._dirty: dict[str, Callable[[], CaseInfo]] = {}
        self._blocked = False  # a StaleWrite waits for the clerk's decision

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self.flush)

        # --- top bar
        self.title = QLabel()
        self.title.setObjectName("case_title")
        self.status_combo = QComboBox()
        for code, label in STATUS_LABELS.items():
            self.status_combo.addItem(label, code)
        self.holder = QLabel()
        self.save_state = QLabel("")
        self.save_state.setObjectName("save_state")
        self.take_over_button = QPushButton("引き継ぐ")
        self.reload_button = QPushButton("最新を読み込む")
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(QLabel("進捗"))
        top.addWidget(self.status_combo)
        top.addWidget(self.holder, 1)
        top.addWidget(self.save_state)
        top.addWidget(self.take_over_button)
        top.addWidget(self.reload_button)

        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fde2e1; color: #8a1c1c; padding: 6px; border: 1px solid #e0a0a0")
        self.banner.hide()

        # --- left: visitor, memos, timeline
        visitor_box = QGroupBox("来庁者")
        form = QFormLayout(visitor_box)
        self.visitor_name = QLineEdit()
        self.visitor_relation = QComboBox()
        self.visitor_relation.addItems(list(VISITOR_RELATIONS))
        self.visitor_phone = QLineEdit()
        self.purpose = QLineEdit()
        self.purpose.setPlaceholderText("例: 転居、住民票")
        form.addRow("用件(&U)", self.purpose)
        form.addRow("氏名(&V)", self.visitor_name)
        form.addRow("本人との関係", self.visitor_relation)
        form.addRow("電話番号", self.visitor_phone)
        memo_box = QGroupBox("メモ")
        mlay = QVBoxLayout(memo_box)
        self.memo_list = QListWidget()
        self.memo_edit = QPlainTextEdit()
        self.memo_edit.setPlaceholderText("対応のメモ（Ctrl+Enter で追加）")
        self.memo_edit.setMaximumHeight(70)
        self.memo_button = QPushButton("メモを追加")
        mlay.addWidget(self.memo_list)
        mlay.addWidget(self.memo_edit)
        mlay.addWidget(self.memo_button)
        timeline_box = QGroupBox("対応履歴")
        tlay = QVBoxLayout(timeline_box)
        self.timeline_list = QListWidget()
        self.timeline_list.setObjectName("timeline")
        self.timeline_list.setWordWrap(True)
        self.memo_list.setWordWrap(True)
        tlay.addWidget(self.timeline_list)
        left = QWidget()
        llay = QVBoxLayout(left)
        llay.setContentsMargins(0, 0, 0, 0)
        llay.addWidget(visitor_box)
        llay.addWidget(memo_box, 1)
        llay.addWidget(timeline_box, 1)

        # --- right: the move
        self.move_box = QGroupBox("住民異動")
        self.move_lay = QVBoxLayout(self.move_box)
        self.start_panel = QWidget()
        sp = QHBoxLayout(self.start_panel)
        self.start_type = QComboBox()
        for t in MoveType:
            self.start_type.addItem(t.label, t.value)
        self.start_atena = QLineEdit()
        self.start_atena.setPlaceholderText("異動する人の宛名番号（転入はなし）")
        self.start_button = QPushButton("異動入力を始める")
        self.start_error = QLabel("")
        sp.addWidget(QLabel("異動の種類"))
        sp.addWidget(self.start_type)
        sp.addWidget(self.start_atena, 1)
        sp.addWidget(self.start_button)
        self.move_lay.addWidget(self.start_panel)
        self.move_lay.addWidget(self.start_error)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        self.tabs = QTabWidget()  # 住民異動 | 手続き
        self.tabs.addTab(self.move_box, "住民異動")
        splitter.addWidget(self.tabs)
        splitter.setSizes([330, 950])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.banner)
        lay.addWidget(splitter, 1)

        # --- wiring
        self.purpose.textEdited.connect(lambda _t: self._purpose_edited())
        self.visitor_name.textEdited.connect(lambda _t: self._visitor_edited())
        self.visitor_phone.textEdited.connect(lambda _t: self._visitor_edited())
        self.visitor_relation.activated.connect(lambda _i: self._visitor_edited(at_once=True))
        self.memo_button.clicked.connect(self.add_memo)
        memo_key = QShortcut(QKeySequence("Ctrl+Return"), self.memo_edit)
        memo_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        memo_key.activated.connect(self.add_memo)
        self.status_combo.activated.connect(lambda _i: self.change_status())
        self.take_over_button.clicked.connect(self.take_over)
        self.reload_button.clicked.connect(self.reload)
        self.start_button.clicked.connect(self.start_move)
        self.start_atena.returnPressed.connect(self.start_move)

        self._load_move()
        self._show_case()
        self._show_visitor()
        self._refresh_lists()
        from madoguchi.gui.procedure_panel import attach
        self.procedure_panel = attach(self)
        from madoguchi.gui.certificate_panel import attach as attach_certificates
        self.certificate_panel = attach_certificates(self)  # None without 「証明書の交付請求」
        from madoguchi.gui.output_preview import attach as attach_outputs
        self.output_panel = attach_outputs(self)

    # --- display -------------------------------------------------------------------------------

    def _show_case(self) -> None:
        c = self.case
        self.title.setText(f"受付番号 {c.case_no}　{c.purpose}")
        with QSignalBlocker(self.status_combo):
            self.status_combo.setCurrentIndex(self.status_combo.findData(c.status))
        mine = c.held_by(self.service.actor)
        self.holder.setText(f"担当: {c.holder_text}" + ("" if mine else "　※この端末は担当ではありません"))
        self.take_over_button.setVisible(not mine)
        self.case_changed.emit(c)

    def _show_visitor(self) -> None:
        self.purpose.setText(self.case.purpose)
        v = self.case.visitor
        self.visitor_name.setText(v.get("name", ""))
        self.visitor_phone.setText(v.get("phone", ""))
        i = self.visitor_relation.findText(v.get("relation", "本人"))
        self.visitor_relation.setCurrentIndex(max(i, 0))

    def _refresh_lists(self) -> None:
        try:
            memos = self.service.memos(self.case.id)
            events = self.service.timeline(self.case.id)
        except (OperationalError, DBAPIError, ConnectionFailed):
            return
        self.memo_list.clear()
        for at, login, text in memos:
            self.memo_list.addItem(f"{local_time_text(at)} {login}: {text}")
        self.timeline_list.clear()
        for e in events:
            self.timeline_list.addItem(f"{local_time_text(e.at)}　{e.display_name}（{e.terminal}）"
                                       f"　[{e.kind_label}] {e.summary}")
        self.timeline_list.scrollToBottom()

    def _load_move(self) -> None:
        rec = self.service.get_move(self.case.id)
        if rec is None:
            if self.case.subject_atena_no and not self.start_atena.text():
                self.start_atena.setText(self.case.subject_atena_no)  # opened from the household screen
                # A resident of the city cannot move in: start from the commonest move of residents.
                self.start_type.setCurrentIndex(self.start_type.findData(MoveType.MOVE_WITHIN.value))
            self.start_panel.show()
            return
        self._set_move(rec.move)

    def _set_move(self, move: Move) -> None:
        if self.editor is None:
            self.editor = MoveEditor(move, self.today, self)
            self.grid = MoveGrid(self.editor, choose_address=self.choose_address,
                                 add_household=self.add_household_prompt)
            self.grid.edited.connect(self._move_edited)
            self.move_lay.addWidget(self.grid, 1)
            self.grid.show()  # now, not at the next event loop turn: keys typed at once must reach it
        else:
            self.editor.replace(move)
        self.start_panel.hide()
        self.start_error.hide()

    def choose_address(self, kind: str, current: Address | None) -> Address | None:
        mode = {"household": "city", "from": "outside", "to": "outside", "abroad": "abroad"}.get(kind, "any")
        title = {"household": "異動後の住所", "from": "転入元の住所", "to": "転出先の住所",
                 "abroad": "国・地域"}.get(kind, "住所")
        dlg = AddressPicker(self.city, self.postal, mode=mode, title=title, parent=self)
        if dlg.exec():
            return dlg.address()
        return None

    def add_household_prompt(self) -> None:
        """Bring in another household by 宛名番号 (e.g. the partner's)."""
        from PySide6.QtWidgets import QInputDialog
        text, ok = QInputDialog.getText(self, "関係する世帯を追加", "世帯員の宛名番号:")
        if ok and text.strip():
            self.add_household(text.strip())

    def add_household(self, atena_no: str) -> None:
        if self.editor is None:
            return
        try:
            members, before = household_states(self.service.db, [atena_no])
        except KnownError as exc:
            self._show_banner(exc.message)
            return
        for m in members.values():
            m.moving = False
        self.editor.add_households(members, before)

    # --- starting a move -----------------------------------------------------------------------

    def start_move(self) -> None:
        t = MoveType(self.start_type.currentData())
        atena = self.start_atena.text().strip()
        move = Move(t, notified_on=self.today)
        if atena:
            try:
                members, before = household_states(self.service.db, [atena])
            except KnownError as exc:
                self.start_error.setText(exc.message)
                self.start_error.show()
                return
            move.members, move.before = members, before
            start_after_from_before(move)
            if t.is_out:
                for key in [m.key for m in move.moving_members()]:
                    unplace(move, key)  # the others stay in their household
        elif not t.is_in:
            self.start_error.setText("宛名番号を入力してください（転入以外は異動する人の宛名が必要です）。")
            self.start_error.show()
            return
        self._set_move(move)
        self._move_edited("structure")

    # --- auto-save -----------------------------------------------------------------------------

    def _move_edited(self, kind: str) -> None:
        editor = self.editor
        assert editor is not None  # noqa: S101 - only connected once the grid exists
        self._dirty["move"] = lambda: self.service.save_move(self.case.id, self.case.version, editor.move,
                                                             self.today)[0]
        self._schedule(0 if kind == "structure" else DEBOUNCE_MS)

    def _visitor_edited(self, *, at_once: bool = False) -> None:
        visitor = dict(self.case.visitor)
        visitor.update({"name": self.visitor_name.text(), "relation": self.visitor_relation.currentText(),
                        "phone": self.visitor_phone.text()})
        self._dirty["visitor"] = lambda: self.service.set_visitor(self.case.id, self.case.version, visitor)
        self._schedule(0 if at_once else DEBOUNCE_MS)

    def _purpose_edited(self) -> None:
        text = self.purpose.text()
        self._dirty["purpose"] = lambda: self.service.set_purpose(self.case.id, self.case.version, text)
        self._schedule(DEBOUNCE_MS)

    def _schedule(self, ms: int) -> None:
        self.save_state.setText("未保存の入力があります…")
        if self._blocked:
            return  # waiting for 引き継ぐ / 最新を読み込む
        self._timer.start(ms)

    @property
    def has_unsaved(self) -> bool:
        return bool(self._dirty)

    def flush(self) -> bool:
        """Save everything pending now. False when something could not be saved (edit kept)."""
        self._timer.stop()
        for key in list(self._dirty):
            if not self._write(self._dirty[key]):
                return False
            self._dirty.pop(key, None)
        self.save_state.setText(f"保存済み（{local_time_text(self.case.updated_at)}）")
        self._refresh_lists()
        return True

    def _write(self, call: Callable[[], CaseInfo]) -> bool:
        try:
            info = call()
        except StaleWrite as exc:
            self._blocked = True
            try:  # show who holds it now; our edit stays pending
                self.case = self.service.get_case(self.case.id)
                self._show_case()
            except (OperationalError, DBAPIError, KnownError):
                pass
            self._show_banner(exc.message + "\n「引き継ぐ」でこの端末の入力を保存し直すか、「最新を読み込む」で破棄できます。")
            self.save_state.setText("保存できませんでした")
            self.take_over_button.show()
            return False
        except (OperationalError, DBAPIError, ConnectionFailed):
            self._show_banner(OFFLINE_TEXT.format(seconds=RETRY_MS // 1000))
            self.save_state.setText("未保存（接続待ち）")
            self._retry.start(RETRY_MS)
            return False
        except KnownError as exc:
            self._show_banner(exc.message)
            self.save_state.setText("保存できませんでした")
            return False
        self.case = info
        self._hide_banner()
        self._show_case()
        self.saved.emit(info)
        return True

    def _show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def _hide_banner(self) -> None:
        self.banner.hide()
        self.banner.setText("")

    # --- explicit actions ----------------------------------------------------------------------

    def add_memo(self) -> None:
        text = self.memo_edit.toPlainText()
        if not self.flush():
            return
        if self._write(lambda: self.service.add_memo(self.case.id, self.case.version, text)):
            self.memo_edit.clear()  # only once saved: a failed memo stays in the box
            self._refresh_lists()

    def change_status(self) -> None:
        status = self.status_combo.currentData()
        if not self.flush() or not self._write(lambda: self.service.set_status(self.case.id, self.case.version,
                                                                                status)):
            with QSignalBlocker(self.status_combo):
                self.status_combo.setCurrentIndex(self.status_combo.findData(self.case.status))
            return
        self._refresh_lists()

    def take_over(self) -> None:
        """「引き継ぐ」: hold the case on this terminal, then re-apply the edits kept on screen."""
        try:
            self.case = self.service.take_over(self.case.id)
        except (OperationalError, DBAPIError, ConnectionFailed):
            self._show_banner(OFFLINE_TEXT.format(seconds=RETRY_MS // 1000))
            return
        except KnownError as exc:
            self._show_banner(exc.message)
            return
        self._blocked = False
        self._hide_banner()
        self._show_case()
        self.flush()

    def reload(self) -> None:
        """Discard unsaved edits and show what the server has."""
        self._dirty.clear()
        self._blocked = False
        self._timer.stop()
        self.case = self.service.get_case(self.case.id)
        rec = self.service.get_move(self.case.id)
        if rec is not None:
            self._set_move(rec.move)
        self._hide_banner()
        self._show_case()
        self._show_visitor()
        self._refresh_lists()
        self.save_state.setText("最新の内容を表示しています")

    def adopt(self, info: CaseInfo) -> None:
        """Another panel of this workspace saved through its own service: take the newer version."""
        if info.id == self.case.id and info.version > self.case.version:
            self.case = info
            self._show_case()
            self._refresh_lists()

    def on_remote_change(self, version: int) -> None:
        """Another terminal changed this case (NOTIFY): refresh unless we hold unsaved edits."""
        if version <= self.case.version:
            return
        if self._dirty:
            self.case = self.service.get_case(self.case.id)
            self._show_case()
            return
        self.reload()
