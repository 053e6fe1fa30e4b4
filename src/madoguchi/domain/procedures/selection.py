"""What the clerk keeps of a listing: manual additions (F4) and removals survive re-listing.

Re-listing after an edit of the move or of an answer goes through `merge_selection`:
- items the rules list now are (re)added with fresh reasons;
- items the clerk added by hand stay, even when the rules no longer list them;
- items the clerk removed (with a reason) stay removed, also when the rules list them again;
- items listed only by the rules that no longer apply disappear.
Items are identified by (procedure id, subject), the subject being the member key for a
per-member procedure and the household key for a per-household one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from madoguchi.errors import InputError

from .listing import Listed


@dataclass(frozen=True)
class SelectedItem:
    procedure_id: str
    subject: str
    household_key: str
    member_key: str | None
    auto: bool  # listed by the rules in the latest listing
    manual: bool  # added by the clerk
    removed: bool = False
    removed_reason: str = ""
    reasons: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.procedure_id, self.subject)


Selection = list[SelectedItem]


def _from_listed(x: Listed) -> SelectedItem:
    return SelectedItem(x.procedure_id, x.subject, x.household_key, x.member_key, auto=True,
                        manual=False, reasons=x.reasons)


def merge_selection(previous: Iterable[SelectedItem], new_listing: Iterable[Listed]) -> Selection:
    """The new selection: listing order first, then the clerk's own items. Pure; inputs unchanged."""
    before = {item.key: item for item in previous}
    out: Selection = []
    seen: set[tuple[str, str]] = set()
    for x in new_listing:
        key = (x.procedure_id, x.subject)
        if key in seen:
            continue
        seen.add(key)
        old = before.get(key)
        out.append(_from_listed(x) if old is None else replace(
            old, auto=True, reasons=x.reasons, household_key=x.household_key, member_key=x.member_key))
    for key, old in before.items():
        if key in seen:
            continue
        if old.manual or old.removed:
            # a removal is remembered so that it still holds if the rules list the item again
            out.append(replace(old, auto=False, reasons=()))
    return out


def active(selection: Iterable[SelectedItem]) -> Selection:
    """The items to carry out and print (not removed)."""
    return [i for i in selection if not i.removed]


def add_manual(selection: Iterable[SelectedItem], procedure_id: str, subject: str,
               household_key: str, member_key: str | None) -> Selection:
    """Add a procedure by hand (個別手続き); re-adding a removed item restores it."""
    out = list(selection)
    for i, item in enumerate(out):
        if item.key == (procedure_id, subject):
            out[i] = replace(item, manual=True, removed=False, removed_reason="")
            return out
    out.append(SelectedItem(procedure_id, subject, household_key, member_key, auto=False, manual=True))
    return out


def remove_item(selection: Iterable[SelectedItem], procedure_id: str, subject: str,
                reason: str) -> Selection:
    """Remove an item. Removing what the rules listed needs a reason; a hand-added one just goes."""
    out = list(selection)
    for i, item in enumerate(out):
        if item.key != (procedure_id, subject):
            continue
        if not item.auto:
            del out[i]
            return out
        if not reason.strip():
            raise InputError("自動で挙がった手続きを外すときは、外す理由を入力してください。")
        out[i] = replace(item, removed=True, removed_reason=reason.strip(), manual=False)
        return out
    raise InputError("外そうとした手続きが一覧にありません。画面を更新してください。")


def restore_item(selection: Iterable[SelectedItem], procedure_id: str, subject: str) -> Selection:
    out = list(selection)
    for i, item in enumerate(out):
        if item.key == (procedure_id, subject):
            out[i] = replace(item, removed=False, removed_reason="")
    return out
