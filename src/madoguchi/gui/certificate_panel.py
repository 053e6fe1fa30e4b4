"""「証明書」 tab of the case workspace: certificate requests by keyboard (F11, F13).

Type in the search box (name, kana or group: 「じゅうみんひょう」「住民票」「こせき」), ↓ to walk the
matches, Enter adds the kind as a line. Per line: the person (a member of the household), the
copies and the kind's options (check boxes / choices / text, as the catalogue says). The request
as a whole: requester type, 委任状, 使用目的・提出先. The fee total is always visible. Ctrl+Enter
registers the request; lines stopped for 支援措置 show 「交付制限対象です（担当者確認）」 in a red
banner and are not stored. 「交付請求書を印刷」 renders the form, records it as a case output and
shows it for printing (the terminal's printer setting for ``koufu_seikyu``, on a print worker thread
so the counter screen stays responsive) or saving as PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QProgressBar, QPushButton, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from madoguchi.domain.certificates import MAX_COPIES, CertificateKind, OptionType, RequesterType, Subject
from madoguchi.domain.masking import ISSUE_REFUSED_TEXT
from madoguchi.errors import KnownError, PrintFailed
from madoguchi.gui.printing import (CANCELLED_TEXT, PrinterSetting, PrintItem, PrintJob, PrintSettings, PrintThread,
                                    PrintWorker, available_printers, save_pdf)
from madoguchi.services.cases import CaseInfo
from madoguchi.services.certificates import (FORM_KIND, CertificateService, LineInput, RecordedForm, Requester,
                                             RequestRefused, record_request_form)

COL_KIND, COL_SUBJECT, COL_COPIES, COL_OPTIONS, COL_FEE = range(5)
BANNER_STYLE = "background: #fde2e1; color: #8a1c1c; padding: 6px; border: 1px solid #e0a0a0"
REFUSAL_STYLE = ("background: #b71c1c; color: white; font-weight: bold; padding: 8px; "
                 "border: 2px solid #7f0000")


@dataclass
class DraftLine:
    kind: CertificateKind
    subject: str | None
    copies: int = 1
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def amount(self) -> int:
        return self.kind.fee * self.copies

    def option_text(self) -> str:
        out = []
        for o in self.kind.options:
            v = self.options.get(o.id)
            if v in (None, "", False):
                continue
            out.append(o.label if v is True else f"{o.label}：{v}")
        return "、".join(out)


def yen(n: int) -> str:
    return f"{n:,}円"


class CertificatePanel(QWidget):
    """Draft request on top, stored requests below. `saved` fires with the newer CaseInfo."""

    saved = Signal(object)  # CaseInfo

    def __init__(self, service: CertificateService, case_id: int, *, host: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.case_id = case_id
        self.host = host
        self.case: CaseInfo | None = host.case if host is not None else None
        self.catalogue = service.catalogue()
        self.candidates: list[Subject] = []
        self.lines: list[DraftLine] = []
        self.last_form: RecordedForm | None = None
        self.preview: RequestFormDialog | None = None
        # How the form is shown; tests and other hosts may replace it.
        self.show_form: Callable[[RecordedForm], None] = self._show_form

        # --- search
        self.search = QLineEdit()
        self.search.setObjectName("cert_search")
        self.search.setPlaceholderText("証明書の種類を検索（例: じゅうみんひょう、住民票、こせき、税）→ Enter で追加")
        self.matches = QListWidget()
        self.matches.setObjectName("cert_matches")
        pick = QGroupBox("証明書の種類（60種類）")
        pl = QVBoxLayout(pick)
        pl.addWidget(self.search)
        pl.addWidget(self.matches, 1)

        # --- lines
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("cert_lines")
        self.table.setHorizontalHeaderLabels(["証明書", "対象者", "通数", "指定", "手数料"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(COL_KIND, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(COL_SUBJECT, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(COL_COPIES, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(COL_OPTIONS, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(COL_FEE, QHeaderView.ResizeMode.ResizeToContents)
        self.remove_button = QPushButton("行を削除(Del)")
        self.options_box = QGroupBox("指定（選んだ行）")
        self.options_form = QFormLayout(self.options_box)
        self.option_widgets: dict[str, QWidget] = {}

        # --- the request
        req = QGroupBox("請求者・使用目的")
        rf = QFormLayout(req)
        self.requester_type = QComboBox()
        self.requester_type.setObjectName("cert_requester_type")
        for rt in RequesterType:
            self.requester_type.addItem(rt.label, rt.value)
        self.requester_person = QComboBox()
        self.requester_person.setObjectName("cert_requester_person")
        self.requester_name = QLineEdit()
        self.requester_name.setPlaceholderText("代理人・第三者の氏名")
        self.letter = QCheckBox("委任状あり")
        self.letter.setObjectName("cert_letter")
        self.third_reason = QLineEdit()
        self.third_reason.setPlaceholderText("第三者請求の理由（疎明資料の内容）")
        self.purpose = QLineEdit()
        self.purpose.setObjectName("cert_purpose")
        self.purpose.setPlaceholderText("例: 勤務先へ提出、年金の手続き")
        self.submit_to = QLineEdit()
        self.submit_to.setPlaceholderText("例: 勤務先、北海道銀行")
        self.identity_label = QLabel("")
        self.identity_label.setObjectName("cert_identity")
        self.identity_label.setWordWrap(True)
        rf.addRow("請求者の種別(&Q)", self.requester_type)
        rf.addRow("請求者（住民）", self.requester_person)
        rf.addRow("氏名（代理人等）", self.requester_name)
        rf.addRow("", self.letter)
        rf.addRow("理由（第三者）", self.third_reason)
        rf.addRow("使用目的(&M)", self.purpose)
        rf.addRow("提出先", self.submit_to)
        rf.addRow("本人確認", self.identity_label)

        # --- total, banners, buttons
        self.total = QLabel("")
        self.total.setObjectName("cert_total")
        f = QFont(self.total.font())
        f.setPointSizeF(f.pointSizeF() * 1.5)
        f.setBold(True)
        self.total.setFont(f)
        self.total.setMinimumWidth(self.total.fontMetrics().horizontalAdvance("合計 99件 999通　99,999円") + 8)
        self.total.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.refusal = QLabel("")
        self.refusal.setObjectName("cert_refusal")
        self.refusal.setWordWrap(True)
        self.refusal.setStyleSheet(REFUSAL_STYLE)
        self.refusal.hide()
        self.banner = QLabel("")
        self.banner.setObjectName("cert_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.hide()
        self.status = QLabel("")
        self.status.setObjectName("cert_status")
        self.status.setWordWrap(True)
        self.submit_button = QPushButton("請求を登録(&T)")
        self.submit_button.setToolTip("今回の請求を登録します（Ctrl+Enter）")
        self.submit_button.setObjectName("cert_submit")
        self.print_button = QPushButton("交付請求書を印刷(&K)")
        self.print_button.setObjectName("cert_print")

        # --- stored
        self.stored = QTreeWidget()
        self.stored.setObjectName("cert_stored")
        self.stored.setHeaderLabels(["請求", "証明書", "対象者", "通数", "手数料", "請求者", "状態"])
        self.stored.setRootIsDecorated(False)
        sh = self.stored.header()
        sh.setStretchLastSection(False)
        for c in range(7):
            sh.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch if c == 1
                                    else QHeaderView.ResizeMode.ResizeToContents)
        self.stored_total = QLabel("")
        self.cancel_button = QPushButton("選んだ請求を取消")

        # --- layout
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(pick, 2)
        ll.addWidget(req, 3)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("今回の請求"))
        head.addStretch(1)
        head.addWidget(self.total)
        rl.addLayout(head)
        rl.addWidget(self.table, 3)
        row = QHBoxLayout()
        row.addWidget(self.remove_button)
        row.addStretch(1)
        row.addWidget(self.submit_button)
        row.addWidget(self.print_button)
        rl.addLayout(row)
        rl.addWidget(self.options_box, 2)
        rl.addWidget(self.refusal)
        rl.addWidget(self.banner)
        rl.addWidget(self.status)
        rl.addWidget(QLabel("受け付けた請求"))
        rl.addWidget(self.stored, 2)
        srow = QHBoxLayout()
        srow.addWidget(self.stored_total, 1)
        srow.addWidget(self.cancel_button)
        rl.addLayout(srow)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([380, 760])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

        # --- wiring
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self.add_current_match)
        self.search.installEventFilter(self)
        self.matches.itemActivated.connect(lambda _i: self.add_current_match())
        self.table.currentCellChanged.connect(lambda r, _c, _pr, _pc: self._show_options(r))
        self.table.installEventFilter(self)
        self.remove_button.clicked.connect(self.remove_current_line)
        self.requester_type.currentIndexChanged.connect(lambda _i: self._requester_changed())
        self.requester_person.currentIndexChanged.connect(lambda _i: self._show_identity())
        self.submit_button.clicked.connect(self.submit)
        self.print_button.clicked.connect(self.print_form)
        self.cancel_button.clicked.connect(self.cancel_selected)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(self.submit)
        find = QShortcut(QKeySequence("Ctrl+F"), self)
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.activated.connect(self.search.setFocus)

        self._filter("")
        self.reload()

    # --- data -------------------------------------------------------------------------------------

    def _version(self) -> int:
        if self.host is not None:
            return self.host.case.version
        if self.case is None:
            from madoguchi.services.cases import CaseService
            self.case = CaseService(self.service.db, self.service.actor).get_case(self.case_id)
        return self.case.version

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().showEvent(event)
        if getattr(self, "_shown", False):
            self.reload()  # an identity check or household may have been recorded meanwhile
        self._shown = True

    def reload(self) -> None:
        """Candidates (household), identity checks and the stored lines from the server."""
        try:
            self.candidates = self.service.candidates(self.case_id)
            self.checks = self.service.identity_checks(self.case_id)
        except KnownError as exc:
            self._error(exc.message)
            self.candidates, self.checks = [], []
        current = self.requester_person.currentData()
        self.requester_person.blockSignals(True)
        self.requester_person.clear()
        for p in self.candidates:
            self.requester_person.addItem(self._person_text(p), p.atena_no)
        visitor = next((c.atena_no for c in reversed(self.checks)
                        if c.subject == "visitor" and c.result == "ok" and c.atena_no), None)
        want = current or visitor
        i = self.requester_person.findData(want) if want else -1
        self.requester_person.setCurrentIndex(max(i, 0))
        self.requester_person.blockSignals(False)
        self._requester_changed()
        for r, line in enumerate(self.lines):
            self._fill_subject_combo(r, line)
        self.refresh_stored()

    @staticmethod
    def _person_text(p: Subject) -> str:
        return f"{p.name}（{p.atena_no}）" + ("　支援措置" if p.restricted else "")

    def refresh_stored(self) -> None:
        try:
            stored = self.service.list(self.case_id)
        except KnownError as exc:
            self._error(exc.message)
            return
        self.stored.clear()
        for x in stored:
            it = QTreeWidgetItem([str(x.request_no), x.kind_name + (f"（{'、'.join(x.option_texts)}）"
                                                                   if x.option_texts else ""),
                                  x.subject_name, f"{x.copies}通", yen(x.fee), x.requester_label, x.status_label])
            it.setData(0, Qt.ItemDataRole.UserRole, x.id)
            it.setData(1, Qt.ItemDataRole.UserRole, x.request_no)
            if x.status == "cancelled":
                for c in range(7):
                    it.setForeground(c, Qt.GlobalColor.gray)
            self.stored.addTopLevelItem(it)
        active = [x for x in stored if x.status != "cancelled"]
        self.stored_total.setText(f"受付済み {len(active)}件 {sum(x.copies for x in active)}通　"
                                  f"手数料 {yen(sum(x.fee for x in active))}")
        self.print_button.setEnabled(bool(active))

    # --- search and adding --------------------------------------------------------------------------

    def _filter(self, text: str) -> None:
        self.matches.clear()
        for k in self.service.search(text):
            it = QListWidgetItem(f"{k.name}　［{k.group}］　{yen(k.fee)}")
            it.setData(Qt.ItemDataRole.UserRole, k.id)
            self.matches.addItem(it)
        if self.matches.count():
            self.matches.setCurrentRow(0)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if obj is self.search and key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.matches.count():
                step = 1 if key == Qt.Key.Key_Down else -1
                row = min(max(self.matches.currentRow() + step, 0), self.matches.count() - 1)
                self.matches.setCurrentRow(row)
                return True
            if obj is self.table and key == Qt.Key.Key_Delete:
                self.remove_current_line()
                return True
        return super().eventFilter(obj, event)

    def add_current_match(self) -> None:
        it = self.matches.currentItem()
        if it is None:
            self.status.setText("該当する証明書がありません。別の言葉で検索してください。")
            return
        self.add_line(it.data(Qt.ItemDataRole.UserRole))
        self.search.clear()
        self.search.setFocus()

    def _default_subject(self) -> str | None:
        rt = RequesterType(self.requester_type.currentData())
        if rt in (RequesterType.SELF, RequesterType.HOUSEHOLD) and self.requester_person.currentData():
            return self.requester_person.currentData()
        if self.case and self.case.subject_atena_no:
            return self.case.subject_atena_no
        return self.candidates[0].atena_no if self.candidates else None

    def add_line(self, kind_id: str, subject: str | None = None, copies: int = 1) -> DraftLine:
        kind = self.catalogue.get(kind_id)
        line = DraftLine(kind, subject or self._default_subject(), copies)
        self.lines.append(line)
        r = self.table.rowCount()
        self.table.insertRow(r)
        item = QTableWidgetItem(kind.name)
        item.setToolTip(f"{kind.group}・{kind.section_label}" + (f"\n{kind.note}" if kind.note else ""))
        self.table.setItem(r, COL_KIND, item)
        self._fill_subject_combo(r, line)
        spin = QSpinBox()
        spin.setRange(1, MAX_COPIES)
        spin.setValue(copies)
        spin.setSuffix(" 通")
        spin.valueChanged.connect(lambda v, ln=line: self._copies_changed(ln, v))
        self.table.setCellWidget(r, COL_COPIES, spin)
        self.table.setItem(r, COL_OPTIONS, QTableWidgetItem(""))
        fee = QTableWidgetItem(yen(line.amount))
        fee.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(r, COL_FEE, fee)
        self.table.setCurrentCell(r, COL_KIND)
        self._update_total()
        self.refusal.hide()
        self.banner.hide()
        self.status.setText(f"「{kind.name}」を追加しました。通数は「通数」欄、指定は下の欄で変えられます。")
        return line

    def _fill_subject_combo(self, r: int, line: DraftLine) -> None:
        # Household members to pick from; any other person by typing their 宛名番号.
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.lineEdit().setPlaceholderText("宛名番号")
        for p in self.candidates:
            combo.addItem(self._person_text(p), p.atena_no)
        if line.subject and combo.findData(line.subject) < 0:
            combo.addItem(f"宛名番号 {line.subject}", line.subject)
        combo.setCurrentIndex(max(combo.findData(line.subject), 0))
        line.subject = combo.currentData()

        def changed(text: str, ln: DraftLine = line, c: QComboBox = combo) -> None:
            i = c.findText(text)
            ln.subject = c.itemData(i) if i >= 0 else (text.strip() or None)

        combo.currentTextChanged.connect(changed)
        self.table.setCellWidget(r, COL_SUBJECT, combo)

    def subject_combo(self, row: int) -> QComboBox:
        return self.table.cellWidget(row, COL_SUBJECT)

    def _row_of(self, line: DraftLine) -> int:
        return next(i for i, x in enumerate(self.lines) if x is line)

    def _copies_changed(self, line: DraftLine, value: int) -> None:
        line.copies = value
        self.table.item(self._row_of(line), COL_FEE).setText(yen(line.amount))
        self._update_total()

    def set_copies(self, row: int, copies: int) -> None:
        self.table.cellWidget(row, COL_COPIES).setValue(copies)

    def remove_current_line(self) -> None:
        r = self.table.currentRow()
        if r < 0 or r >= len(self.lines):
            return
        del self.lines[r]
        self.table.removeRow(r)
        self._show_options(self.table.currentRow())
        self._update_total()

    def _update_total(self) -> None:
        n = len(self.lines)
        copies = sum(x.copies for x in self.lines)
        self.total.setText(f"合計 {n}件 {copies}通　{yen(sum(x.amount for x in self.lines))}")

    # --- options of the current line -------------------------------------------------------------------

    def _show_options(self, r: int) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.option_widgets = {}
        if r < 0 or r >= len(self.lines):
            self.options_box.setTitle("指定（選んだ行）")
            return
        line = self.lines[r]
        self.options_box.setTitle(f"指定：{line.kind.name}")
        if not line.kind.options:
            self.options_form.addRow(QLabel("この証明書に指定する項目はありません。"))
        for o in line.kind.options:
            label = o.label + ("（必須）" if o.required else "") + ("　※本人・同一世帯のみ"
                                                                  if o.restricted_to_household else "")
            w: QWidget
            if o.type is OptionType.BOOL:
                w = QCheckBox(label)
                w.setChecked(bool(line.options.get(o.id)))
                w.toggled.connect(lambda v, ln=line, oid=o.id: self._set_option(ln, oid, v))
                self.options_form.addRow(w)
            elif o.type is OptionType.CHOICE:
                w = QComboBox()
                w.addItem("（指定なし）", "")
                for c in o.choices:
                    w.addItem(c, c)
                w.setCurrentIndex(max(w.findData(line.options.get(o.id, "")), 0))
                w.currentIndexChanged.connect(lambda _i, ln=line, oid=o.id, c=w: self._set_option(ln, oid,
                                                                                                   c.currentData()))
                self.options_form.addRow(label, w)
            else:
                w = QLineEdit(str(line.options.get(o.id, "")))
                w.textChanged.connect(lambda v, ln=line, oid=o.id: self._set_option(ln, oid, v.strip()))
                self.options_form.addRow(label, w)
            self.option_widgets[o.id] = w
        if line.kind.note:
            self.options_form.addRow(QLabel(f"※{line.kind.note}"))

    def _set_option(self, line: DraftLine, option_id: str, value: Any) -> None:
        self.banner.hide()  # the last attempt's problems may be fixed now; the next attempt says
        if value in (None, "", False):
            line.options.pop(option_id, None)
        else:
            line.options[option_id] = value
        self.table.item(self._row_of(line), COL_OPTIONS).setText(line.option_text())

    # --- requester ------------------------------------------------------------------------------------

    def _requester_changed(self) -> None:
        rt = RequesterType(self.requester_type.currentData())
        resident = rt in (RequesterType.SELF, RequesterType.HOUSEHOLD)
        self.requester_person.setEnabled(resident)
        self.requester_name.setEnabled(not resident)
        self.letter.setEnabled(rt is RequesterType.PROXY)
        self.third_reason.setEnabled(rt is RequesterType.THIRD_PARTY)
        self._show_identity()

    def _show_identity(self) -> None:
        rt = RequesterType(self.requester_type.currentData())
        ok = [c for c in getattr(self, "checks", []) if c.result == "ok"]
        if rt is RequesterType.PROXY:
            done = any(c.subject == "proxy" for c in ok)
            text = "代理人の本人確認：済み" if done else "代理人の本人確認がまだです（「本人確認」で代理人を記録）"
        elif rt is RequesterType.THIRD_PARTY:
            done = bool(ok)
            text = "本人確認：済み" if done else "窓口に来た方の本人確認がまだです"
        else:
            who = self.requester_person.currentData()
            done = any(c.subject == "visitor" and c.atena_no == who for c in ok)
            text = "本人確認：済み" if done else "この方の本人確認がまだです（「本人確認」タブで記録）"
        self.identity_label.setText(text)
        self.identity_label.setStyleSheet("" if done else "color: #8a1c1c")

    def requester(self) -> Requester:
        rt = RequesterType(self.requester_type.currentData())
        resident = rt in (RequesterType.SELF, RequesterType.HOUSEHOLD)
        atena = self.requester_person.currentData() if resident else None
        name = self.requester_name.text().strip()
        if resident and not name:
            name = next((p.name for p in self.candidates if p.atena_no == atena), "")
        return Requester(rt, name=name, atena_no=atena,
                         letter_of_attorney=rt is RequesterType.PROXY and self.letter.isChecked(),
                         third_party_reason=self.third_reason.text().strip() if rt is RequesterType.THIRD_PARTY
                         else "", submit_to=self.submit_to.text().strip())

    def set_requester_type(self, rt: RequesterType) -> None:
        self.requester_type.setCurrentIndex(self.requester_type.findData(rt.value))

    # --- writing ------------------------------------------------------------------------------------

    def _error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def _adopt(self, info: CaseInfo | None) -> None:
        if info is None:
            return
        self.case = info
        self.saved.emit(info)

    def submit(self) -> bool:
        """Register the drafted request. Stopped lines stay on screen, marked; stored ones leave."""
        if not self.lines:
            self._error("請求する証明書を選んでください（上の検索欄に入力して Enter）。")
            return False
        if self.host is not None and not self.host.flush():
            self._error("対応の他の入力を保存できませんでした。上の案内に従ってから、もう一度登録してください。")
            return False
        self.banner.hide()
        self.refusal.hide()
        lines = [LineInput(x.kind.id, x.subject, x.copies, dict(x.options)) for x in self.lines]
        try:
            res = self.service.request(self.case_id, self._version(), lines, self.requester(),
                                       self.purpose.text().strip())
        except RequestRefused as exc:
            self._show_refusal(exc.refused)
            self.status.setText("請求は登録されていません。")
            return False
        except KnownError as exc:
            text = exc.message
            if text.startswith(ISSUE_REFUSED_TEXT):
                self.refusal.setText(ISSUE_REFUSED_TEXT)
                self.refusal.show()
                text = text[len(ISSUE_REFUSED_TEXT):].strip()
            self._error("請求を登録できませんでした:\n" + text)
            return False
        self._adopt(res.case)
        refused_keys = {(r.kind_id, r.subject_atena_no) for r in res.refused}
        keep = [x for x in self.lines if (x.kind.id, x.subject) in refused_keys]
        self._clear_lines()
        for x in keep:
            self.add_line(x.kind.id, x.subject, x.copies).options.update(x.options)
        if res.refused:
            self._show_refusal(res.refused)
        self.status.setText(f"請求{res.request_no}を登録しました: {len(res.lines)}件 "
                            f"{sum(x.copies for x in res.lines)}通　手数料 {yen(res.fee_total)}")
        self.refresh_stored()
        return True

    def _show_refusal(self, refused: list) -> None:
        who = "、".join(f"{r.kind_name}（{r.subject_name}）" for r in refused)
        self.refusal.setText(f"{ISSUE_REFUSED_TEXT}\n登録していない請求: {who}\n"
                             "交付は担当者の確認が済むまでできません。請求者に住所は伝えないでください。")
        self.refusal.show()

    def _clear_lines(self) -> None:
        self.lines.clear()
        self.table.setRowCount(0)
        self._show_options(-1)
        self._update_total()

    def cancel_selected(self) -> None:
        it = self.stored.currentItem()
        if it is None:
            self._error("取消す請求を「受け付けた請求」から選んでください。")
            return
        try:
            info = self.service.cancel_line(self.case_id, self._version(), int(it.data(0, Qt.ItemDataRole.UserRole)))
        except KnownError as exc:
            self._error(exc.message)
            return
        self._adopt(info)
        self.banner.hide()
        self.refresh_stored()

    # --- printing --------------------------------------------------------------------------------------

    def print_form(self) -> RecordedForm | None:
        """Render the 交付請求書 of the selected request (default: the latest), record it, show it."""
        it = self.stored.currentItem()
        no = it.data(1, Qt.ItemDataRole.UserRole) if it is not None else None
        try:
            form = record_request_form(self.service, self.case_id, self._version(), no)
        except KnownError as exc:
            if exc.message == ISSUE_REFUSED_TEXT:
                self.refusal.setText(ISSUE_REFUSED_TEXT)
                self.refusal.show()
            else:
                self._error(exc.message)
            return None
        self._adopt(form.case)
        self.last_form = form
        self.show_form(form)
        return form

    def _show_form(self, form: RecordedForm) -> None:
        self.preview = RequestFormDialog(self, form)
        self.preview.open()


class RequestFormDialog(QDialog):
    """The rendered 交付請求書: look at it, then 印刷 (the terminal's printer) or PDFとして保存.

    Printing runs on a ``PrintWorker`` thread, as in 「出力・印刷」: the dialog shows the progress and
    only 「中止」 (or Esc) works meanwhile; when the worker has finished, the result is recorded once
    (印刷済み / 印刷失敗) and `printed` fires. A failed or cancelled print can be started again.
    """

    printed = Signal(bool)  # a print ended and was recorded: True printed, False failed or cancelled

    def __init__(self, panel: CertificatePanel, form: RecordedForm) -> None:
        super().__init__(panel)
        from PySide6.QtPdf import QPdfDocument
        from PySide6.QtPdfWidgets import QPdfView

        self.panel, self.form = panel, form
        self.output_file: Path | None = None  # print through QPrinter into this PDF file (tests, no printer)
        self.setting: PrinterSetting | None = None  # None: the terminal's setting for koufu_seikyu
        self._print: PrintThread | None = None
        self._outcome: tuple[bool, str] | None = None  # (printed, message) as the worker reported it
        self._printer_name = ""
        self.setWindowTitle(form.title)
        self.resize(720, 900)
        self.doc = QPdfDocument(self)
        self._data = QByteArray(form.pdf)
        self._buf = QBuffer(self._data, self)
        self._buf.open(QBuffer.OpenModeFlag.ReadOnly)
        self.doc.load(self._buf)
        view = QPdfView(self)
        view.setDocument(self.doc)
        view.setZoomMode(QPdfView.ZoomMode.FitInView)
        self.message = QLabel("")
        self.message.setObjectName("cert_print_message")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m ページ")
        self.progress.hide()
        self.cancel_button = QPushButton("中止")
        self.cancel_button.setToolTip("印刷を中止します（Esc）。次のページからは印刷されません。")
        self.cancel_button.hide()
        self.print_button = QPushButton("印刷(&P)")
        self.save_button = QPushButton("PDFとして保存(&S)")
        self.close_button = QPushButton("閉じる")
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addStretch(0)
        row.addWidget(self.save_button)
        row.addWidget(self.print_button)
        row.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(view, 1)
        lay.addWidget(self.message)
        lay.addLayout(row)
        self.print_button.clicked.connect(self.print_)
        self.save_button.clicked.connect(lambda: self.save())
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        self.print_button.setDefault(True)  # Enter prints, from the page view too
        QWidget.setTabOrder(self.cancel_button, self.save_button)
        QWidget.setTabOrder(self.save_button, self.print_button)
        QWidget.setTabOrder(self.print_button, self.close_button)

    @property
    def printing(self) -> bool:
        return self._print is not None

    def _outputs(self):  # noqa: ANN202
        from madoguchi.services.outputs import OutputService
        return OutputService(self.panel.service.db, self.panel.service.actor)

    def _setting(self) -> PrinterSetting:
        from madoguchi.services.admin import print_settings_for
        try:
            db, actor = self.panel.service.db, self.panel.service.actor
            return PrintSettings.from_mapping(print_settings_for(db, actor.terminal)).for_form(FORM_KIND)
        except (KnownError, ValueError):
            return PrintSettings().default

    def _mark(self, ok: bool, message: str = "", printer: str = "") -> str:
        """Record the print state on the case; returns what went wrong in doing so ("" when recorded)."""
        out = self._outputs()
        try:
            v = self.panel._version()  # noqa: SLF001 - the panel knows the case version
            info = (out.mark_printed(self.panel.case_id, v, [self.form.output_id], printer=printer) if ok
                    else out.mark_failed(self.panel.case_id, v, [self.form.output_id], message))
            self.panel._adopt(info)  # noqa: SLF001
        except KnownError as exc:
            return f"印刷の記録を保存できませんでした: {exc.message}"
        return ""

    def _set_printing(self, on: bool) -> None:
        for b in (self.print_button, self.save_button, self.close_button):
            b.setEnabled(not on)
        self.cancel_button.setEnabled(on)
        self.cancel_button.setVisible(on)
        self.progress.setVisible(on)
        (self.cancel_button if on else self.print_button).setFocus()

    def print_(self) -> bool:
        """Start printing on the worker thread (False if it cannot start); `printed` tells how it ended."""
        if self.printing:
            return False
        if self.output_file is None and not available_printers():
            self.message.setText("このパソコンに使えるプリンタがありません。「PDFとして保存」で保存してください。")
            return False
        setting = self.setting or self._setting()
        self._printer_name = "PDFファイル" if self.output_file is not None else setting.printer
        self._outcome = None
        worker = PrintWorker([PrintJob(setting, [PrintItem(FORM_KIND, self.form.pdf, self.form.title)])],
                             [self.output_file])
        run = PrintThread(worker)
        queued = Qt.ConnectionType.QueuedConnection
        worker.page_printed.connect(self._page_printed, queued)
        worker.job_done.connect(self._job_done, queued)
        worker.job_failed.connect(self._job_failed, queued)
        worker.cancelled.connect(self._job_cancelled, queued)
        worker.finished.connect(self._print_finished, queued)
        self._print = run
        self.progress.setRange(0, max(self.doc.pageCount(), 1))
        self.progress.setValue(0)
        self.message.setText("印刷しています…（中止は Esc）")
        self._set_printing(True)
        run.start()
        return True

    def cancel(self) -> None:
        """「中止」: the worker stops before its next page; a half-written PDF file is removed."""
        if self._print is not None:
            self._print.cancel()
            self.cancel_button.setEnabled(False)
            self.message.setText("印刷を中止しています…")

    def reject(self) -> None:
        # Esc and 閉じる while printing mean 「中止」: the dialog stays until the result is recorded.
        if self.printing:
            self.cancel()
            return
        super().reject()

    # Slots below run on the UI thread (queued from the print worker).

    def _page_printed(self, _n: int, page: int) -> None:
        self.progress.setValue(page)

    def _job_done(self, _n: int, _pages: int) -> None:
        self._outcome = (True, "")

    def _job_failed(self, _n: int, message: str) -> None:
        self._outcome = (False, message)

    def _job_cancelled(self, _n: int) -> None:
        self._outcome = (False, CANCELLED_TEXT)

    def _print_finished(self) -> None:
        if self._print is not None:
            self._print.join()
        self._print = None
        ok, message = self._outcome or (False, "印刷できませんでした。もう一度印刷してください。")
        self._set_printing(False)
        problem = self._mark(ok, message, printer=self._printer_name)
        text = "印刷しました。" if ok else f"{message}\nもう一度「印刷」を押すと印刷し直せます。"
        self.message.setText(text + (f"\n{problem}" if problem else ""))
        self.printed.emit(ok)

    def save(self, path: str | None = None) -> bool:
        if self.printing:
            return False
        if path is None:
            name = f"{self.panel.case.case_no if self.panel.case else 'case'}_交付請求書.pdf"
            path, _ = QFileDialog.getSaveFileName(self, "PDFとして保存", str(Path.home() / name), "PDF (*.pdf)")
        if not path:
            return False
        try:
            save_pdf(self.form.pdf, Path(path))
        except PrintFailed as exc:
            self.message.setText(exc.message)
            return False
        problem = self._mark(True, printer=f"PDF保存 {Path(path).name}")
        self.message.setText(f"保存しました: {path}" + (f"\n{problem}" if problem else ""))
        return True


def attach(view: QWidget) -> CertificatePanel | None:
    """Put the panel into a CaseView as the tab 「証明書」 (only for staff with the right)."""
    from madoguchi.gui.case_view import CaseView

    assert isinstance(view, CaseView)  # noqa: S101
    actor = view.service.actor
    if not actor.can("certificate.issue"):
        return None
    panel = CertificatePanel(CertificateService(view.service.db, actor), view.case.id, host=view)
    panel.saved.connect(view.adopt)
    view.tabs.addTab(panel, "証明書(&C)")
    return panel
