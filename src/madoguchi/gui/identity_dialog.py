"""本人確認: documents shown, what the visitor states, differences from the 宛名 highlighted."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QRadioButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from madoguchi.domain import identity as rules
from madoguchi.domain import wareki
from madoguchi.domain.people import Person
from madoguchi.errors import KnownError
from madoguchi.services import identity
from madoguchi.services.context import Actor
from madoguchi.store.db import Database

OK_COLOR = QColor("#1b5e20")
NG_COLOR = QColor("#b00020")
NG_BG = QColor("#fde0e0")


class IdentityDialog(QDialog):
    """Check the visitor (or a proxy) against `person`; `recorded` holds the saved check."""

    def __init__(self, db: Database, actor: Actor, person: Person | None, case_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db, self.actor, self.person, self.case_id = db, actor, person, case_id
        self.recorded: list[identity.RecordedCheck] = []
        who = f"{person.name}（{wareki.format_wareki(person.birth_date)}生）" if person else "（宛名未選択）"
        self.setWindowTitle(f"本人確認 — {who}")

        self.subject_visitor = QRadioButton("本人")
        self.subject_proxy = QRadioButton("代理人")
        self.subject_visitor.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.subject_visitor)
        group.addButton(self.subject_proxy)
        self.subject_proxy.toggled.connect(self.update_preview)
        subject_row = QHBoxLayout()
        subject_row.addWidget(QLabel("確認する人:"))
        subject_row.addWidget(self.subject_visitor)
        subject_row.addWidget(self.subject_proxy)
        subject_row.addStretch(1)

        self.doc_boxes: dict[str, QCheckBox] = {}
        docs = QHBoxLayout()
        for title, items in (("1点で可（写真付き・官公署発行）", rules.ONE_DOCUMENT),
                             ("2点必要（写真なし等）", rules.TWO_DOCUMENTS)):
            box = QGroupBox(title)
            grid = QGridLayout(box)
            for i, doc in enumerate(items):
                cb = QCheckBox(doc.label)
                cb.setObjectName(f"doc_{doc.code}")
                cb.toggled.connect(self.update_preview)
                self.doc_boxes[doc.code] = cb
                grid.addWidget(cb, i // 2, i % 2)
            docs.addWidget(box)

        self.name = QLineEdit()
        self.kana = QLineEdit()
        self.birth = QLineEdit()
        self.birth.setPlaceholderText("S55.12.26 / 1980-12-26")
        self.address = QLineEdit()
        self.note = QLineEdit()
        self.note.setPlaceholderText("委任状の有無など")
        form = QFormLayout()
        form.addRow("氏名", self.name)
        form.addRow("フリガナ", self.kana)
        form.addRow("生年月日", self.birth)
        form.addRow("住所", self.address)
        form.addRow("メモ", self.note)
        for w in (self.name, self.kana, self.birth, self.address):
            w.textChanged.connect(self.update_preview)

        self.sufficiency_label = QLabel("")
        self.sufficiency_label.setObjectName("sufficiency")
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["項目", "申出", "宛名", "照合"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(150)
        self.outcome_label = QLabel("")
        self.outcome_label.setObjectName("outcome")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setText("閉じる")
        self.record_button = self.buttons.addButton("記録する", QDialogButtonBox.ButtonRole.ActionRole)
        self.record_button.clicked.connect(self.record)
        self.buttons.rejected.connect(self.reject)

        self.target = QLabel(f"宛名: {who}" + (f"　宛名番号 {person.atena_no}" if person else ""))
        self.target.setObjectName("identityTarget")
        self.target.setStyleSheet("font-size: 13pt; font-weight: bold;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.target)
        layout.addLayout(subject_row)
        layout.addLayout(docs)
        layout.addWidget(QLabel("申出内容（来庁者が述べた内容・書類の記載）"))
        layout.addLayout(form)
        layout.addWidget(self.sufficiency_label)
        layout.addWidget(self.table)
        layout.addWidget(self.outcome_label)
        layout.addWidget(self.buttons)
        self.resize(860, 640)
        self.update_preview()

    # --- state -------------------------------------------------------------------------------------------

    def documents(self) -> list[str]:
        return [code for code, cb in self.doc_boxes.items() if cb.isChecked()]

    def stated(self) -> dict:
        out: dict = {"name": self.name.text().strip(), "name_kana": self.kana.text().strip(),
                     "address": self.address.text().strip()}
        text = self.birth.text().strip()
        if text:
            try:
                out["birth_date"] = wareki.parse_date(text)
            except wareki.DateParseError:
                out["birth_date"] = text  # compared as "not matching"; the label says why
        return {k: v for k, v in out.items() if v}

    def _compared_atena(self) -> str | None:
        return None if self.subject_proxy.isChecked() or self.person is None else self.person.atena_no

    def update_preview(self) -> None:
        try:
            prev = identity.preview(self.db, self.actor, self._compared_atena(), self.documents(), self.stated())
        except KnownError as exc:
            self.sufficiency_label.setText(exc.message)
            return
        suff = prev.sufficiency
        self.sufficiency_label.setText(("✔ " if suff.ok else "✖ ") + suff.message)
        self.sufficiency_label.setStyleSheet(f"color: {(OK_COLOR if suff.ok else NG_COLOR).name()};")
        self.table.setRowCount(len(prev.comparisons))
        for row, c in enumerate(prev.comparisons):
            cells = (c.label, c.stated, c.recorded or "（記録なし・非表示）", "一致" if c.match else "相違")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if not c.match:
                    item.setBackground(QBrush(NG_BG))
                    if col == 3:
                        item.setForeground(QBrush(NG_COLOR))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.outcome_label.setText(f"判定: {rules.OUTCOME_LABELS[prev.outcome]}")
        self.preview_outcome = prev.outcome

    def record(self) -> None:
        subject = "proxy" if self.subject_proxy.isChecked() else "visitor"
        stated = self.stated()
        if subject == "proxy" and self.person is not None:
            stated["for_atena_no"] = self.person.atena_no
        try:
            chk = identity.record_identity_check(
                self.db, self.actor, atena_no=self._compared_atena(), documents=self.documents(),
                stated=stated, subject=subject, case_id=self.case_id, note=self.note.text().strip())
        except KnownError as exc:
            self.outcome_label.setText(exc.message)
            self.outcome_label.setStyleSheet(f"color: {NG_COLOR.name()};")
            return
        self.recorded.append(chk)
        label = "本人" if subject == "visitor" else "代理人"
        self.outcome_label.setText(f"{label}の本人確認を記録しました（{rules.OUTCOME_LABELS[chk.outcome]}）。")
        self.outcome_label.setStyleSheet("")
