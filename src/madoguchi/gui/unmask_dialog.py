"""支援措置対象者の住所表示: a permitted role states a reason; the reason goes to the audit log."""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget)

from madoguchi.domain.people import Address
from madoguchi.errors import KnownError
from madoguchi.services import residents
from madoguchi.services.context import Actor
from madoguchi.store.db import Database


class UnmaskDialog(QDialog):
    def __init__(self, db: Database, actor: Actor, atena_no: str, name: str, case_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("支援措置対象者の住所表示")
        self.db, self.actor, self.atena_no, self.case_id = db, actor, atena_no, case_id
        self.address: Address | None = None
        warn = QLabel(f"<b>{name}</b> さんは支援措置の対象です。住所を表示する理由を入力してください。<br>"
                      "表示した職員・日時・理由は操作ログに記録されます。")
        warn.setWordWrap(True)
        self.reason = QPlainTextEdit()
        self.reason.setObjectName("reason")
        self.reason.setPlaceholderText("例: 本人が来庁し、住所の確認を申し出たため")
        self.reason.setFixedHeight(80)
        self.result_label = QLabel("")
        self.result_label.setObjectName("unmaskResult")
        self.result_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setText("閉じる")
        self.show_button = self.buttons.addButton("住所を表示", QDialogButtonBox.ButtonRole.ActionRole)
        self.show_button.clicked.connect(self.unmask)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(warn)
        layout.addWidget(QLabel("理由（必須）"))
        layout.addWidget(self.reason)
        layout.addWidget(self.result_label)
        layout.addWidget(self.buttons)
        self.resize(620, 300)

    def unmask(self) -> None:
        try:
            self.address = residents.unmask_address(self.db, self.actor, self.atena_no,
                                                    self.reason.toPlainText(), self.case_id)
        except KnownError as exc:
            self.result_label.setStyleSheet("color: #b00020;")
            self.result_label.setText(exc.message)
            return
        self.result_label.setStyleSheet("font-size: 13pt;")
        self.result_label.setText(f"{self.address.postal_display()}　{self.address.line()}")
        self.reason.setReadOnly(True)
        self.show_button.setEnabled(False)
