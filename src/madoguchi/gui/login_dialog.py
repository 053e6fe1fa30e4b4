"""ログイン: staff ID and password (the staff member's own PostgreSQL role; a local hash in demo mode)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout, QWidget)

from madoguchi.config import AppConfig
from madoguchi.errors import AuthError, ConnectionFailed, KnownError
from madoguchi.services import auth
from madoguchi.services.context import Actor
from madoguchi.store.db import Database

DEMO_HINT = "デモ: ID「demo」パスワード「demo」（支援措置担当は shien / shien、管理者は admin / admin）"


class LoginDialog(QDialog):
    """On success `db` and `actor` are set and the dialog is accepted."""

    def __init__(self, config: AppConfig, demo_db: Database | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.demo_db = demo_db
        self.db: Database | None = None
        self.actor: Actor | None = None
        self.last_error: KnownError | None = None
        self.setWindowTitle("ログイン — 窓口業務支援システム")
        title = QLabel("窓口業務支援システム")
        title.setStyleSheet("font-size: 16pt; font-weight: bold;")
        where = ("デモ（この端末の中の架空データ）" if config.demo else
                 f"サーバ {config.profile.host}:{config.profile.port} / {config.profile.database}")
        if config.training:
            where += "　研修モード"
        self.where = QLabel(where)
        self.login = QLineEdit()
        self.login.setObjectName("login")
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("職員ID", self.login)
        form.addRow("パスワード", self.password)
        self.error = QLabel("")
        self.error.setObjectName("loginError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("キャンセル")
        self.ok_button = self.buttons.addButton("ログイン", QDialogButtonBox.ButtonRole.AcceptRole)
        self.retry_button = QPushButton("再試行")
        self.retry_button.setObjectName("retry")
        self.buttons.addButton(self.retry_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.retry_button.setVisible(False)
        self.retry_button.clicked.connect(self.try_login)
        self.ok_button.clicked.connect(self.try_login)
        self.ok_button.setDefault(True)
        self.buttons.rejected.connect(self.reject)
        self.password.returnPressed.connect(self.try_login)
        self.login.returnPressed.connect(self.password.setFocus)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.where)
        layout.addLayout(form)
        if config.demo:
            hint = QLabel(DEMO_HINT)
            hint.setWordWrap(True)
            layout.addWidget(hint)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(540, 260)
        self.login.setFocus()

    def try_login(self) -> bool:
        login = self.login.text().strip()
        password = self.password.text()
        self.error.setText("")
        self.retry_button.setVisible(False)
        if not login:
            self._fail(AuthError("職員IDを入力してください。"))
            return False
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            if self.config.demo:
                if self.demo_db is None:
                    raise ConnectionFailed("デモ用データベースの準備ができていません。アプリを再起動してください。")
                self.actor = auth.login_demo(self.demo_db, login, password, self.config.terminal,
                                             self.config.counter_no, training=self.config.training)
                self.db = self.demo_db
            else:
                self.db, self.actor = auth.login_profile(self.config.profile, login, password, self.config.terminal,
                                                         self.config.counter_no, training=self.config.training)
        except KnownError as exc:
            self._fail(exc)
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.password.clear()
        self.accept()
        return True

    def _fail(self, exc: KnownError) -> None:
        self.last_error = exc
        self.error.setText(exc.message)
        self.retry_button.setVisible(isinstance(exc, ConnectionFailed))
        if isinstance(exc, AuthError):
            self.password.clear()
            self.password.setFocus()
