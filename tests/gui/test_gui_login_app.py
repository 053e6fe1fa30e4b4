"""Login dialog messages (demo, unreachable server, schema versions, real SCRAM passwords) and app start-up."""

from __future__ import annotations

import socket
import sys

import pgtools
import pytest
from conftest import shot
from PySide6.QtWidgets import QDialogButtonBox
from residents_seed import make_actor
from sqlalchemy import text

from madoguchi.config import AppConfig, ServerProfile
from madoguchi.gui import app as gui_app
from madoguchi.gui.login_dialog import LoginDialog
from madoguchi.gui.main_window import MainWindow
from madoguchi.services import staff
from madoguchi.store import migrate
from madoguchi.store.db import Database, SessionInfo

WRONG = "職員IDまたはパスワードが違います"


def _login(dlg: LoginDialog, login: str, password: str) -> bool:
    dlg.login.setText(login)
    dlg.password.setText(password)
    return dlg.try_login()


def test_demo_login_errors_and_success(qtbot, fonts, seeded, clerk, demo_config, screens):
    dlg = LoginDialog(demo_config, seeded)
    qtbot.addWidget(dlg)
    assert dlg.buttons.button(QDialogButtonBox.StandardButton.Cancel).text() == "キャンセル"
    assert not _login(dlg, "", "x") and dlg.error.text() == "職員IDを入力してください。"
    assert not _login(dlg, "clerk_gui", "wrong") and WRONG in dlg.error.text()
    assert dlg.password.text() == "" and dlg.retry_button.isHidden()
    dlg.show()
    shot(dlg, screens, "login_error")
    staff.set_disabled(seeded, SessionInfo("admin"), "clerk_gui", True)
    assert not _login(dlg, "clerk_gui", "pw-clerk_gui-secret") and "利用停止" in dlg.error.text()
    staff.set_disabled(seeded, SessionInfo("admin"), "clerk_gui", False)
    with qtbot.waitSignal(dlg.accepted):
        assert _login(dlg, "clerk_gui", "pw-clerk_gui-secret")
    assert dlg.actor.login == "clerk_gui" and dlg.db is seeded


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_offers_retry(qtbot, tmp_path):
    cfg = AppConfig(profile=ServerProfile(host="127.0.0.1", port=_closed_port(), database="madoguchi",
                                          sslmode="disable"), data_dir=tmp_path)
    dlg = LoginDialog(cfg)
    qtbot.addWidget(dlg)
    assert not _login(dlg, "someone", "pw")
    assert "接続できません" in dlg.error.text() and "再試行" in dlg.error.text()
    assert not dlg.retry_button.isHidden()
    dlg.retry_button.click()
    assert not dlg.retry_button.isHidden() and dlg.result() == 0


@pytest.mark.parametrize("state, message", [("empty", "初期化されていません"), ("old", "古いです"),
                                            ("new", "新しいです")])
def test_schema_version_messages(qtbot, tmp_path, state, message):
    name = pgtools.create_database()
    try:
        db = Database.connect(pgtools.url_for(name))
        if state == "old":
            migrate.upgrade(db.engine, "0002")
        elif state == "new":
            migrate.upgrade(db.engine)
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        db.dispose()
        cfg = AppConfig(profile=ServerProfile(host=pgtools.LOCAL_HOST, port=pgtools.LOCAL_PORT, database=name,
                                              sslmode="disable"), data_dir=tmp_path)
        dlg = LoginDialog(cfg)
        qtbot.addWidget(dlg)
        assert not _login(dlg, pgtools.LOCAL_USER, "any")
        assert message in dlg.error.text() and dlg.retry_button.isHidden()
    finally:
        pgtools.drop_database(name)


def test_real_password_check_on_scram_server(qtbot, scram_cluster, tmp_path):
    name = scram_cluster.create_database()
    base = Database.connect(scram_cluster.url(name))
    migrate.upgrade(base.engine)
    staff.add_staff(base, SessionInfo("postgres"), "yamada_t", "山田 太郎", "correct-horse-9", ["clerk"])
    cfg = AppConfig(profile=ServerProfile(host="127.0.0.1", port=scram_cluster.port, database=name,
                                          sslmode="disable"), data_dir=tmp_path, terminal="窓口PC-01")
    dlg = LoginDialog(cfg)
    qtbot.addWidget(dlg)
    assert not _login(dlg, "yamada_t", "wrong-password") and WRONG in dlg.error.text()
    assert not _login(dlg, "nobody_x", "whatever") and WRONG in dlg.error.text()
    staff.set_disabled(base, SessionInfo("postgres"), "yamada_t", True)
    assert not _login(dlg, "yamada_t", "correct-horse-9") and "利用停止" in dlg.error.text()
    staff.set_disabled(base, SessionInfo("postgres"), "yamada_t", False)
    assert _login(dlg, "yamada_t", "correct-horse-9")
    assert dlg.actor.display_name == "山田 太郎" and "clerk" in dlg.actor.groups
    dlg.db.dispose()
    base.dispose()


def test_client_certificate_login_and_its_messages(qtbot, terminal_config, tls_cluster, tls_db, memory_keyring,
                                                   screens, fonts):
    """PC07 with a client certificate: a missing passphrase is IT's job (no retry, the password stays)."""
    from tlstools import PASSPHRASE, TERMINAL

    from madoguchi.config import load_config
    from madoguchi.secret_store import SERVICE
    name, login, password = tls_db
    cfg = load_config(terminal_config(port=tls_cluster.port, database=name))
    dlg = LoginDialog(cfg)
    qtbot.addWidget(dlg)
    assert not _login(dlg, login, password)
    assert "保存されていません" in dlg.error.text() and "secret set client-key" in dlg.error.text()
    assert dlg.retry_button.isHidden() and dlg.password.text() == password
    dlg.show()
    shot(dlg, screens, "login_client_key_missing")
    memory_keyring.set_password(SERVICE, f"client-key:{TERMINAL}", PASSPHRASE)
    with qtbot.waitSignal(dlg.accepted):
        assert dlg.try_login()
    assert dlg.actor.login == login and dlg.actor.terminal == TERMINAL
    dlg.db.dispose()


def test_fonts_and_translations_load(qapp, fonts):
    assert "BIZ UDGothic" in fonts and "HanaMinB" in fonts
    assert qapp.font().family() == "BIZ UDGothic"
    assert gui_app.install_translations(qapp) is not None


def test_excepthook_writes_log(tmp_path, qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(gui_app.QMessageBox, "exec", lambda self: shown.append(self.text()) or 0)
    old = sys.excepthook
    try:
        gui_app.install_excepthook(tmp_path)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = old
    logs = list(tmp_path.glob("crash-*.log"))
    assert len(logs) == 1 and "RuntimeError: boom" in logs[0].read_text(encoding="utf-8")
    assert "予期しないエラー" in shown[0] and str(logs[0]) in shown[0]


def test_training_banner(qtbot, seeded, tmp_path):
    _db, trainee = make_actor(seeded, "trainee", ["clerk"])
    cfg = AppConfig(data_dir=tmp_path, training=True)
    win = MainWindow(seeded, trainee, cfg)
    qtbot.addWidget(win)
    assert win.banner.text().startswith("研修モード") and not win.banner.isHidden()
    win.close()


def test_prepare_demo_off_the_ui_thread(qtbot, tmp_path):
    cfg = AppConfig(data_dir=tmp_path, demo_residents=300)
    db = gui_app.prepare_demo(cfg)
    try:
        dlg = LoginDialog(cfg, db)
        qtbot.addWidget(dlg)
        assert _login(dlg, "demo", "demo") and dlg.actor.demo
    finally:
        db.dispose()
    again = gui_app.prepare_demo(cfg)   # second start: no dialog, same file
    again.dispose()


def test_main_demo_start_to_main_window(qtbot, qapp, tmp_path, monkeypatch, screens):
    """The console script's path: no server in the config → demo database, login, main window."""
    import logging

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    cfg = tmp_path / "config.toml"
    cfg.write_text('demo_residents = 300\n[terminal]\nname = "窓口PC-05"\ncounter_no = "5"\n', encoding="utf-8")
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(cfg))
    monkeypatch.setenv("MADOGUCHI_DATA_DIR", str(tmp_path / "data"))
    seen: dict = {}

    def drive() -> None:
        for w in QApplication.topLevelWidgets():
            if isinstance(w, LoginDialog) and w.isVisible() and "login" not in seen:
                seen["login"] = True
                w.login.setText("demo")
                w.password.setText("demo")
                w.try_login()
            elif isinstance(w, MainWindow) and w.isVisible():
                seen["banner"] = w.banner.text()
                seen["status"] = w.terminal_label.text()
                seen["import"] = w.import_label.text()
                shot(w, screens, "main_demo")
                w.close()
                return
        QTimer.singleShot(100, drive)

    old_hook, root_handlers = sys.excepthook, list(logging.getLogger().handlers)
    QTimer.singleShot(100, drive)
    try:
        assert gui_app.main([]) == 0
    finally:
        sys.excepthook = old_hook
        for h in logging.getLogger().handlers:
            if h not in root_handlers:
                logging.getLogger().removeHandler(h)
                h.close()
    assert seen["banner"].startswith("デモ")
    assert seen["status"] == "端末: 窓口PC-05　窓口番号: 5"
    assert seen["import"].startswith("基幹系データ:") and "未取込" not in seen["import"]
