"""Start-up of the counter app: fonts, crash handling, demo bootstrap, login, main window."""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLibraryInfo, QLocale, QObject, QThread, QTranslator, Signal, Slot
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog

from madoguchi.config import AppConfig, load_config
from madoguchi.errors import KnownError
from madoguchi.resources import resource_path

UI_FAMILY = "BIZ UDGothic"
FALLBACK_FAMILY = "HanaMinB"  # CJK Extension B and later (𠮷, 𡈽), which BIZ UD lacks
log = logging.getLogger("madoguchi")


def load_fonts(app: QApplication, font_dir: Path | None = None) -> list[str]:
    """Register every shipped *.ttf and make BIZ UDゴシック the UI font (HanaMinB as fallback)."""
    families: list[str] = []
    for ttf in sorted((font_dir or resource_path("fonts")).glob("*.ttf")):
        fid = QFontDatabase.addApplicationFont(str(ttf))
        if fid >= 0:
            families.extend(QFontDatabase.applicationFontFamilies(fid))
    if UI_FAMILY in families:
        font = QFont(UI_FAMILY, 11)
        fallbacks = [FALLBACK_FAMILY] if FALLBACK_FAMILY in families else []
        font.setFamilies([UI_FAMILY, *fallbacks])
        app.setFont(font)
    return families


def install_translations(app: QApplication) -> QTranslator | None:
    """Qt's own texts (standard buttons, context menus) in Japanese."""
    tr = QTranslator(app)
    if tr.load(QLocale(QLocale.Language.Japanese), "qtbase", "_",
               QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(tr)
        return tr
    return None


def log_dir(config: AppConfig) -> Path:
    d = config.data_dir / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def install_excepthook(directory: Path) -> None:
    """Unexpected errors: written to a log file and shown in a crash dialog, never a silent exit."""

    def hook(exc_type, exc, tb) -> None:  # noqa: ANN001
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        path = directory / f"crash-{datetime.now():%Y%m%d-%H%M%S}.log"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError:
            path = Path("（保存できませんでした）")
        log.error("unhandled exception\n%s", text)
        if isinstance(exc, KnownError):
            QMessageBox.warning(None, "窓口業務支援システム", exc.message)
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "予期しないエラー",
                          "予期しないエラーが起きました。入力済みの対応は自動保存されています。\n"
                          f"記録ファイル: {path}\n情報システム担当へ、このファイルを添えて連絡してください。")
        box.setDetailedText(text)
        box.exec()

    sys.excepthook = hook


class _DemoWorker(QObject):
    progress = Signal(str, int, int)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config

    def run(self) -> None:
        from madoguchi.services import demo
        try:
            db = demo.bootstrap(self.config, lambda label, n, total: self.progress.emit(label, n, total or 0))
        except KnownError as exc:
            self.failed.emit(exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - reported to the user, and logged
            log.exception("demo bootstrap failed")
            self.failed.emit(f"デモ用データベースを準備できませんでした（{exc}）。")
            return
        self.done.emit(db)


class _DemoBridge(QObject):
    def __init__(self, dialog: QProgressDialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.result: dict = {}

    @Slot(str, int, int)
    def on_progress(self, label: str, n: int, total: int) -> None:
        self.dialog.setLabelText(label)
        self.dialog.setMaximum(total)
        self.dialog.setValue(min(n, total) if total else 0)

    @Slot(object)
    def on_done(self, db: object) -> None:
        self.result["db"] = db
        self.dialog.accept()

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.result["error"] = message
        self.dialog.accept()


def prepare_demo(config: AppConfig):  # noqa: ANN201
    """Create/seed the demo database off the UI thread, with a progress dialog. Returns the Database."""
    from madoguchi.services import demo
    from madoguchi.store.db import Database
    if (config.data_dir / "demo.sqlite3").exists():
        db = Database.connect(config.demo_database_url)
        try:
            if demo.is_seeded(db):
                from madoguchi.store import migrate
                migrate.upgrade(db.engine)
                return db
        except Exception:  # noqa: BLE001 - an unreadable or half-made file is rebuilt below
            pass
        db.dispose()
    dialog = QProgressDialog("デモ用の架空の住民データを準備しています（初回のみ）…", "", 0, 0)
    dialog.setWindowTitle("デモの準備")
    dialog.setCancelButton(None)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)  # only the worker ends the dialog
    dialog.setAutoReset(False)
    thread = QThread()
    worker = _DemoWorker(config)
    worker.moveToThread(thread)
    bridge = _DemoBridge(dialog)  # lives in the UI thread: the worker's signals arrive queued
    worker.progress.connect(bridge.on_progress)
    worker.done.connect(bridge.on_done)
    worker.failed.connect(bridge.on_failed)
    thread.started.connect(worker.run)
    thread.start()
    dialog.exec()
    thread.quit()
    thread.wait()
    result = bridge.result
    if "error" in result:
        raise KnownError(result["error"])
    return result["db"]


def main(argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("madoguchi")
    app.setApplicationDisplayName("窓口業務支援システム")
    load_fonts(app)
    install_translations(app)
    try:
        config = load_config()
    except KnownError as exc:
        QMessageBox.critical(None, "設定エラー", exc.message)
        return 2
    directory = log_dir(config)
    logging.basicConfig(filename=directory / "madoguchi.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_excepthook(directory)

    from madoguchi.gui.login_dialog import LoginDialog
    from madoguchi.gui.main_window import MainWindow

    demo_db = None
    if config.demo:
        try:
            demo_db = prepare_demo(config)
        except KnownError as exc:
            QMessageBox.critical(None, "デモの準備", exc.message)
            return 2
    login = LoginDialog(config, demo_db)
    if login.exec() != LoginDialog.DialogCode.Accepted or login.db is None or login.actor is None:
        return 1
    window = MainWindow(login.db, login.actor, config)
    window.show()
    code = app.exec()
    login.db.dispose()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
