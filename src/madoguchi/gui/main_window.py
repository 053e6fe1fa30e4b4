"""The counter app's main window: 検索 · 世帯 · お知らせ, plus workspaces other screens add (対応 …)."""

from __future__ import annotations

from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from madoguchi.config import AppConfig
from madoguchi.errors import KnownError
from madoguchi.gui.admin_view import AdminView
from madoguchi.gui.household_view import HouseholdView
from madoguchi.gui.identity_view import IdentityView
from madoguchi.gui.notices_view import NoticesView
from madoguchi.gui.search_view import SearchView
from madoguchi.services.context import Actor
from madoguchi.store.db import Database

DEMO_BANNER = "デモ　— 架空の住民データです。実在の人物とは関係ありません。"
TRAINING_BANNER = "研修モード　— 研修用データベースです。印刷物にはすべて「研修」と入ります。"


def import_summary(db: Database) -> str:
    """The importer's status-bar text, when the importer provides it."""
    try:
        from madoguchi.sync.importer import last_import_summary
    except ImportError:
        return ""
    try:
        with db.session() as s:
            return last_import_summary(s)
    except Exception:  # noqa: BLE001 - a status line must never stop the app (e.g. no right to read)
        return ""


class MainWindow(QMainWindow):
    def __init__(self, db: Database, actor: Actor, config: AppConfig, *, notice_poll_ms: int = 30_000) -> None:
        super().__init__()
        self.db, self.actor, self.config = db, actor, config
        self.setWindowTitle("窓口業務支援システム madoguchi")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.search_view = SearchView(db, actor)
        self.household_view = HouseholdView(db, actor)
        self.notices_view = NoticesView(db, actor, poll_ms=notice_poll_ms)
        self.tabs.addTab(self.search_view, "検索 (F2)")
        self.tabs.addTab(self.household_view, "世帯 (F3)")
        self.identity_view = IdentityView(db, actor)
        self.tabs.addTab(self.identity_view, "本人確認 (F4)")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.notices_index = self.tabs.addTab(self.notices_view, "お知らせ")
        self.admin_view = AdminView(db, actor) if AdminView.visible_for(actor) else None
        if self.admin_view is not None:
            self.tabs.addTab(self.admin_view, "管理")  # last, after お知らせ
        self.search_view.householdRequested.connect(self.open_household)
        self.notices_view.unreadChanged.connect(self._unread)
        self._unread(sum(1 for i in range(self.notices_view.model.rowCount())
                         if not self.notices_view.model.notice(i).read))

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        self.banner = QLabel("")
        self.banner.setObjectName("modeBanner")
        text, style = "", ""
        if actor.training or config.training:
            text, style = TRAINING_BANNER, "background: #1565c0; color: white;"
        elif config.demo or actor.demo:
            text, style = DEMO_BANNER, "background: #e65100; color: white;"
        self.banner.setText(text)
        self.banner.setStyleSheet(f"{style} font-weight: bold; font-size: 12pt; padding: 4px;")
        self.banner.setVisible(bool(text))
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.staff_label = QLabel(f"職員: {actor.display_name}（{actor.login}）")
        self.terminal_label = QLabel(f"端末: {actor.terminal or config.terminal}　"
                                     f"窓口番号: {actor.counter_no or config.counter_no}")
        self.import_label = QLabel(import_summary(db))
        self.import_label.setObjectName("importSummary")
        bar = self.statusBar()
        bar.addWidget(self.staff_label)
        bar.addWidget(self.terminal_label)
        bar.addPermanentWidget(self.import_label)

        # F2–F4 jump between the main tabs; inside a workspace (case, move grid) the same keys belong
        # to that screen (F2 続柄, F4 住所), so the window's keys step aside there to stay unambiguous.
        self.tab_keys = [
            QShortcut(QKeySequence("F2"), self, activated=self.focus_search),
            QShortcut(QKeySequence("F3"), self, activated=lambda: self.tabs.setCurrentWidget(self.household_view)),
            QShortcut(QKeySequence("F4"), self, activated=lambda: self.tabs.setCurrentWidget(self.identity_view)),
        ]
        self.case_screens = None
        if actor.can("case.write"):
            from madoguchi.gui.case_list import CaseScreens
            self.case_screens = CaseScreens(self, db, actor)
            self.household_view.caseRequested.connect(self.start_case)
        self.resize(1280, 800)
        self.search_view.setFocus()

    def add_workspace(self, widget: QWidget, title: str) -> int:
        """A place for other screens (the case screen, the move grid …): returns the tab index."""
        index = self.tabs.insertTab(self.notices_index, widget, title)
        self.notices_index = self.tabs.indexOf(self.notices_view)
        return index

    def show_workspace(self, widget: QWidget) -> None:
        self.tabs.setCurrentWidget(widget)

    def start_case(self, atena_no: str) -> None:
        """「この人で対応を開始」: a new case for this resident, shown at once."""
        try:
            self.case_screens.new_case(subject_atena_no=atena_no)
        except KnownError as exc:
            QMessageBox.warning(self, "対応を開始できません", exc.message)

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.search_view)
        self.search_view.entry.setFocus()
        self.search_view.entry.selectAll()

    def open_household(self, household_no: str, atena_no: str = "") -> None:
        self.household_view.load(household_no, atena_no)
        self.tabs.setCurrentWidget(self.household_view)

    def _tab_changed(self, index: int) -> None:
        main_tab = self.tabs.widget(index) in (self.search_view, self.household_view, self.identity_view,
                                               self.notices_view, self.admin_view)
        for key in getattr(self, "tab_keys", []):
            key.setEnabled(main_tab)
        if self.tabs.widget(index) is self.identity_view:
            self.identity_view.set_person(self.household_view.selected_member())

    def _unread(self, count: int) -> None:
        self.tabs.setTabText(self.tabs.indexOf(self.notices_view),
                             f"お知らせ（未読 {count}）" if count else "お知らせ")

    def printing(self) -> list[QWidget]:
        """The screens (「出力・印刷」, a 交付請求書) whose print is still under way."""
        return [w for w in self.findChildren(QWidget)
                if isinstance(getattr(type(w), "printing", None), property) and w.printing]

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.printing():
            # Closing now would lose which forms were printed (印刷済み / 印刷失敗 on the case).
            event.ignore()
            box = self.findChild(QMessageBox, "printing_close_box")  # one box, however often 閉じる is pressed
            if box is None:
                box = QMessageBox(QMessageBox.Icon.Information, "印刷中です",
                                  "印刷が終わるまで閉じられません。印刷が終わってから、もう一度閉じてください。\n"
                                  "止めるときは、その画面の「中止」を押してください。", QMessageBox.StandardButton.Ok, self)
                box.setObjectName("printing_close_box")
            box.open()
            return
        self.notices_view.shutdown()
        super().closeEvent(event)
