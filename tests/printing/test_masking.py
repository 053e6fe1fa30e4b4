"""支援措置: masking policy (domain) and its effect on render contexts and printed forms."""

from __future__ import annotations

import doctest

import pytest

from madoguchi.domain import masking
from madoguchi.domain.masking import PRINT_MASK_TEXT, MaskingPolicy, is_restricted_field, may_unmask
from madoguchi.printing import samples
from madoguchi.printing.context import build_context
from madoguchi.printing.render import render_form
from printing_pdf import pdf_text  # noqa: F401 - fixtures

ADDRESS = "北海道深川市緑町12番3号"
OLD_ADDRESS = "北海道札幌市中央区北一条西2丁目1番地"


def test_doctests():
    assert doctest.testmod(masking).failed == 0


def test_restricted_fields_are_the_whereabouts():
    for name in ("address", "person.address", "move.former_address", "household.postal_code", "katagaki"):
        assert is_restricted_field(name), name
    for name in ("name", "person.birth_wareki", "household.head_name"):
        assert not is_restricted_field(name), name


def test_unmask_needs_permission_and_reason():
    assert may_unmask({masking.UNMASK_PERMISSION}, "本人からの請求を確認")
    assert not may_unmask({masking.UNMASK_PERMISSION}, "  ")
    assert not may_unmask({"counter.clerk"}, "理由")


def test_shared_address_masked_if_any_hidden_person_lives_there():
    policy = MaskingPolicy(restricted={"A"}, unmasked=set())
    assert policy.masks_shared(["B", "A"])
    assert not MaskingPolicy(restricted={"A"}, unmasked={"A"}).masks_shared(["B", "A"])
    assert not policy.masks_shared(["B", None])


def test_context_masks_every_address_of_a_protected_household():
    ctx = samples.sample_context(restricted=True)
    for key in ("household.address", "household.postal_code", "move.new_address", "move.former_address",
                "move.from_address", "case.notifier_address"):
        assert ctx[key] == PRINT_MASK_TEXT, key
    hanako = next(m for m in ctx["members"] if m["name"] == "𠮷田 花子")
    assert hanako["hidden"] is True
    assert ctx["masked"] is True
    # Names and dates stay: the form is still usable.
    assert ctx["household.head_name"] == "𠮷田 太郎"


def test_person_fields_masked_for_the_protected_person_only():
    hh = samples.sample_household(restricted=True)
    case = samples.sample_case()
    hanako = build_context(case, person=hh.members[1], household=hh)
    assert hanako["person.address"] == PRINT_MASK_TEXT
    assert hanako["person.former_address"] == PRINT_MASK_TEXT
    taro = build_context(case, person=hh.members[0])
    assert taro["person.address"].startswith(ADDRESS)


def test_unmasked_set_reveals_again():
    ctx = samples.sample_context(restricted=True, unmasked=frozenset({"000000102"}))
    assert ctx["household.address"].startswith(ADDRESS)
    assert ctx["masked"] is False


def test_person_already_masked_by_the_store_prints_the_mask_text():
    hh = samples.sample_household(restricted=True)
    hanako = hh.members[1]
    hanako.address = None  # what RLS gives an unpermitted role
    ctx = build_context(samples.sample_case(), person=hanako, unmasked={"000000102"})
    assert ctx["person.address"] == PRINT_MASK_TEXT


@pytest.mark.parametrize("template_id", ["juki_idou", "kokuho_idou", "inkan_touroku", "jidou_teate", "inu"])
def test_printed_form_hides_and_shows_addresses(template_id, pdf_text):
    masked = pdf_text(render_form(template_id, samples.sample_context(restricted=True, person_index=1)))
    assert ADDRESS not in masked and OLD_ADDRESS not in masked and "074-0002" not in masked
    assert PRINT_MASK_TEXT in masked
    unmasked = pdf_text(render_form(template_id, samples.sample_context(
        restricted=True, person_index=1, unmasked=frozenset({"000000102"}))))
    assert ADDRESS in unmasked
    assert PRINT_MASK_TEXT not in unmasked


def test_co_residents_addresses_are_masked_with_the_protected_persons():
    ctx = samples.sample_context(restricted=True, person_index=4)  # キヨ lives with the protected 花子
    assert ctx["person.address"] == PRINT_MASK_TEXT
    assert all(m.get("address", PRINT_MASK_TEXT) == PRINT_MASK_TEXT for m in ctx["members"])
    hh = samples.sample_household(restricted=True)
    rows = build_context(samples.sample_case(), household=hh)["members"]
    assert {r["address"] for r in rows} == {PRINT_MASK_TEXT}
