"""Address picker (F12): addresses are chosen, not typed.

市内: 町字 (kana incremental search or postal code) → 番地 → 方書, all from the city's master.
市外: 郵便番号, or 都道府県 → 市区町村 → 町域 from the nationwide postal data; only the rest
(番地・建物) is typed. 国外: the country or region.
Everything works from the keyboard: type to filter, ↑↓ to move, Enter to choose and go on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QGridLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from madoguchi.domain.people import Address
from madoguchi.errors import KnownError
from madoguchi.services.addresses import CityAddressBook, PostalBook, normalise_postal

NO_KATAGAKI = "（方書なし）"


class FilterList(QWidget):
    """A filter line above a list. Typing calls `refill(text)`; ↑↓ move the list; Enter chooses."""

    chosen = Signal(object)

    def __init__(self, title: str, placeholder: str, refill: Callable[[str], list[tuple[str, object]]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._refill = refill
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel(title)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.list = QListWidget()
        self.title.setBuddy(self.edit)
        lay.addWidget(self.title)
        lay.addWidget(self.edit)
        lay.addWidget(self.list)
        self.edit.textChanged.connect(self.refresh)
        self.edit.installEventFilter(self)
        self.list.installEventFilter(self)
        self.list.itemActivated.connect(lambda _item: self.choose())
        self.list.itemDoubleClicked.connect(lambda _item: self.choose())

    def refresh(self) -> None:
        self.list.clear()
        for label, data in self._refill(self.edit.text()):
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, data)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def set_refill(self, refill: Callable[[str], list[tuple[str, object]]]) -> None:
        self._refill = refill
        self.edit.blockSignals(True)
        self.edit.clear()
        self.edit.blockSignals(False)
        self.refresh()

    def select_label(self, label: str) -> None:
        items = self.list.findItems(label, Qt.MatchFlag.MatchExactly)
        if items:
            self.list.setCurrentItem(items[0])
            self.list.scrollToItem(items[0])

    def current_data(self) -> object:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def labels(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def choose(self) -> None:
        data = self.current_data()
        if data is not None:
            self.chosen.emit(data)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            if obj is self.edit and key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 10, Qt.Key.Key_PageUp: -10}[key]
                if self.list.count():
                    row = max(0, min(self.list.count() - 1, self.list.currentRow() + step))
                    self.list.setCurrentRow(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.choose()
                return True
        return super().eventFilter(obj, event)


class AddressPicker(QDialog):
    """Modal picker. `mode`: "city", "outside", "abroad" or "any" (tabs for all three)."""

    def __init__(self, city: CityAddressBook, postal: PostalBook, *, mode: str = "city",
                 title: str = "住所の選択", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.city_book = city
        self.postal = postal
        self._address: Address | None = None
        self._town = None
        self._banchi = None
        self._pref = ""
        self._city_name = ""
        self._outside_town = None

        self.tabs = QTabWidget()
        self.preview = QLabel("住所を選んでください")
        self.preview.setObjectName("preview")
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("決定")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("取消")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs)
        lay.addWidget(self.preview)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

        self.city_tab = self._build_city() if mode in ("city", "any") else None
        self.outside_tab = self._build_outside() if mode in ("outside", "any") else None
        self.abroad_tab = self._build_abroad() if mode in ("abroad", "any") else None
        self.resize(820, 480)

    # --- 市内 ----------------------------------------------------------------------------------

    def _build_city(self) -> QWidget:
        w = QWidget()
        grid = QGridLayout(w)
        self.town_list = FilterList("町字(&T)", "かな・漢字・郵便番号", self._towns)
        self.banchi_list = FilterList("番地(&B)", "番地の先頭を入力", lambda _t: [])
        self.katagaki_list = FilterList("方書(&K)", "建物名・部屋番号", lambda _t: [])
        grid.addWidget(self.town_list, 0, 0)
        grid.addWidget(self.banchi_list, 0, 1)
        grid.addWidget(self.katagaki_list, 0, 2)
        self.town_list.chosen.connect(self._town_chosen)
        self.banchi_list.chosen.connect(self._banchi_chosen)
        self.katagaki_list.chosen.connect(self._katagaki_chosen)
        self.town_list.refresh()
        self.tabs.addTab(w, "市内(&C)")
        return w

    def _towns(self, text: str) -> list[tuple[str, object]]:
        return [(f"{t.name}（{t.kana}）〒{t.postal_code[:3]}-{t.postal_code[3:]}" if t.postal_code else t.name, t)
                for t in self.city_book.search_towns(text)]

    def _town_chosen(self, town: object) -> None:
        self._town = town
        self._banchi = None
        code = town.town_code  # type: ignore[attr-defined]
        self.banchi_list.set_refill(lambda text: [(b.banchi, b) for b in self.city_book.banchi_of(code, text)])
        self.katagaki_list.set_refill(lambda _t: [])
        self._show(f"{town.name}")  # type: ignore[attr-defined]
        self.banchi_list.edit.setFocus()

    def _banchi_chosen(self, banchi: object) -> None:
        self._banchi = banchi
        code, b = banchi.town_code, banchi.banchi  # type: ignore[attr-defined]
        self.katagaki_list.set_refill(
            lambda text: ([] if text else [(NO_KATAGAKI, "")]) + [(k, k) for k in self.city_book.katagaki_of(code, b, text)])
        self._show(f"{self._town.name}{b}")  # type: ignore[union-attr]
        if self.katagaki_list.list.count() <= 1:
            self._katagaki_chosen("")  # no 方書 known at this address: done
        else:
            self.katagaki_list.edit.setFocus()

    def _katagaki_chosen(self, katagaki: object) -> None:
        try:
            self._address = self.city_book.address(self._town.town_code, self._banchi.banchi,  # type: ignore[union-attr]
                                                   str(katagaki or ""))
        except KnownError as exc:
            self.error.setText(exc.message)
            return
        self._accept()

    # --- 市外 ----------------------------------------------------------------------------------

    def _build_outside(self) -> QWidget:
        w = QWidget()
        grid = QGridLayout(w)
        self.postal_edit = QLineEdit()
        self.postal_edit.setPlaceholderText("郵便番号（7桁）")
        plabel = QLabel("郵便番号(&P)")
        plabel.setBuddy(self.postal_edit)
        grid.addWidget(plabel, 0, 0)
        grid.addWidget(self.postal_edit, 0, 1, 1, 2)
        self.pref_list = FilterList("都道府県", "都道府県名", self._prefs)
        self.city_list = FilterList("市区町村", "市区町村名（かな可）", lambda _t: [])
        self.otown_list = FilterList("町域", "町域名（かな可）", lambda _t: [])
        grid.addWidget(self.pref_list, 1, 0)
        grid.addWidget(self.city_list, 1, 1)
        grid.addWidget(self.otown_list, 1, 2)
        self.rest_edit = QLineEdit()
        self.rest_edit.setPlaceholderText("番地・建物名（例: 1-2-3 三茶ハイツ 201）")
        rlabel = QLabel("番地・建物(&R)")
        rlabel.setBuddy(self.rest_edit)
        grid.addWidget(rlabel, 2, 0)
        grid.addWidget(self.rest_edit, 2, 1, 1, 2)
        self.pref_list.chosen.connect(self._pref_chosen)
        self.city_list.chosen.connect(self._city_chosen)
        self.otown_list.chosen.connect(self._otown_chosen)
        self.postal_edit.textChanged.connect(self._postal_typed)
        self.rest_edit.returnPressed.connect(self._accept)
        self.pref_list.refresh()
        self.tabs.addTab(w, "市外(&O)")
        return w

    def _prefs(self, text: str) -> list[tuple[str, object]]:
        return [(p, p) for p in self.postal.prefectures() if not text or text in p]

    def _pref_chosen(self, pref: object) -> None:
        self._pref = str(pref)
        self.city_list.set_refill(lambda text: [(c, c) for c in self.postal.cities(self._pref, text)])
        self._show(self._pref)
        self.city_list.edit.setFocus()

    def _city_chosen(self, city: object) -> None:
        self._city_name = str(city)
        self.otown_list.set_refill(lambda text: [(f"{t.label}　〒{t.postal_code[:3]}-{t.postal_code[3:]}", t)
                                                 for t in self.postal.towns(self._pref, self._city_name, text)])
        self._show(self._pref + self._city_name)
        self.otown_list.edit.setFocus()

    def _otown_chosen(self, town: object) -> None:
        self._outside_town = town
        self._show(f"〒{town.postal_code[:3]}-{town.postal_code[3:]} {town.prefecture}{town.city}{town.town}")  # type: ignore[attr-defined]
        self.rest_edit.setFocus()

    def _postal_typed(self, text: str) -> None:
        digits = normalise_postal(text)
        if len(digits) != 7:
            return
        hits = self.postal.by_postal(digits)
        if not hits:
            self.error.setText(f"郵便番号 {digits[:3]}-{digits[3:]} は見つかりません。都道府県から選んでください。")
            return
        self.error.setText("")
        first = hits[0]
        self._pref, self._city_name = first.prefecture, first.city
        self.pref_list.select_label(self._pref)
        self.city_list.set_refill(lambda t: [(c, c) for c in self.postal.cities(self._pref, t)])
        self.city_list.select_label(self._city_name)
        self.otown_list.set_refill(lambda t: [(f"{h.label}　〒{h.postal_code[:3]}-{h.postal_code[3:]}", h)
                                              for h in hits if not t or t in h.town])
        if len(hits) == 1:
            self._otown_chosen(first)
        else:
            self.otown_list.edit.setFocus()

    # --- 国外 ----------------------------------------------------------------------------------

    def _build_abroad(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        label = QLabel("国・地域(&N)")
        self.country_edit = QLineEdit()
        self.country_edit.setPlaceholderText("例: カナダ")
        label.setBuddy(self.country_edit)
        lay.addWidget(label)
        lay.addWidget(self.country_edit)
        lay.addStretch(1)
        self.country_edit.returnPressed.connect(self._accept)
        self.tabs.addTab(w, "国外(&A)")
        return w

    # --- result --------------------------------------------------------------------------------

    def _show(self, text: str) -> None:
        self.preview.setText(text)
        self.error.setText("")

    def _accept(self) -> None:
        current = self.tabs.currentWidget()
        try:
            if current is self.outside_tab and self.outside_tab is not None:
                t = self._outside_town
                if t is None:
                    self.error.setText("町域を一覧から選んでください。")
                    return
                rest = self.rest_edit.text().strip()
                if not rest:
                    self.error.setText("番地・建物名を入力してください。")
                    self.rest_edit.setFocus()
                    return
                self._address = self.postal.address(t.prefecture, t.city, t.town, rest, t.postal_code)
            elif current is self.abroad_tab and self.abroad_tab is not None:
                country = self.country_edit.text().strip()
                if not country:
                    self.error.setText("国・地域を入力してください。")
                    return
                self._address = Address(prefecture="", city="", abroad_country=country)
            elif self._address is None:
                self.error.setText("町字・番地を一覧から選んでください。")
                return
        except KnownError as exc:
            self.error.setText(exc.message)
            return
        self.accept()

    def address(self) -> Address | None:
        return self._address
