"""支援措置 (support measures): which data are restricted and who may see or print them.

A protected person's whereabouts must not reach anyone but the person and permitted staff
(住民基本台帳事務処理要領 第5-10). Everything that reveals where they live is restricted: their
address, 方書, postal code, the address of their household, their 前住所 and 転出先 (an abuser
may know one and find the other). Unmasking is for a permitted role with a stated reason, and
is logged by the service that asks; this module only decides.

>>> policy = MaskingPolicy(restricted={"A1"})
>>> policy.masks("A1", "address"), policy.masks("A1", "name"), policy.masks("B2", "address")
(True, False, False)
>>> MaskingPolicy(restricted={"A1"}, unmasked={"A1"}).masks("A1", "address")
False
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

PRINT_MASK_TEXT = "（支援措置により非表示）"
SCREEN_MASK_TEXT = "支援措置対象（住所非表示）"
CHECK_NEEDED_TEXT = "確認が必要です（担当者へ）"
ISSUE_REFUSED_TEXT = "交付制限対象です（担当者確認）"

# Fields that reveal whereabouts. Names as used in render contexts and on screens.
RESTRICTED_FIELDS: frozenset[str] = frozenset({
    "address", "address_line", "postal_code", "town_name", "banchi", "katagaki",
    "former_address", "from_address", "to_address", "new_address", "previous_address",
    "household_address", "phone",
})

# The permission a staff role must hold to unmask (the 支援措置担当 group holds it).
UNMASK_PERMISSION = "support_measure.unmask"


def is_restricted_field(name: str) -> bool:
    """True for a field name (or the last part of a dotted path) that reveals whereabouts."""
    return name.rsplit(".", 1)[-1] in RESTRICTED_FIELDS


def may_unmask(permissions: Iterable[str], reason: str) -> bool:
    """Only a permitted role, and only with a stated reason, may unmask."""
    return UNMASK_PERMISSION in set(permissions) and bool(reason.strip())


@dataclass(frozen=True)
class MaskingPolicy:
    """Who is restricted, and for whom restriction has been lifted in this output/session."""

    restricted: frozenset[str] | set[str] = field(default_factory=frozenset)
    unmasked: frozenset[str] | set[str] = field(default_factory=frozenset)

    def hidden(self, atena_no: str | None) -> bool:
        return atena_no is not None and atena_no in self.restricted and atena_no not in self.unmasked

    def masks(self, atena_no: str | None, field_name: str) -> bool:
        return self.hidden(atena_no) and is_restricted_field(field_name)

    def masks_shared(self, atena_nos: Iterable[str | None]) -> bool:
        """A shared address (household, move) is masked if any hidden person lives there."""
        return any(self.hidden(a) for a in atena_nos)


def may_receive_address(protected_atena: str, requester_atena: str | None) -> bool:
    """Whether a certificate revealing a protected person's address may go to this requester.

    Only the person themselves; anyone else (same household included: the abuser may live
    there) needs the responsible staff member's decision first.
    """
    return requester_atena is not None and requester_atena == protected_atena
