"""Masking personal data in public text: phone numbers, identity card numbers, licence plates (property tests)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.privacy import ID_CARD_NUMBER, LICENCE_PLATE, PHONE_NUMBER, mask_personal_data

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
DIGITS = "0123456789"
# Text around the personal data: Chinese and punctuation, no Latin letters or digits to run on into it.
SURROUNDINGS = st.text(alphabet="路口有垃圾请处理谢谢，。！ 的车在停了天", max_size=12)


def digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=count, max_size=count)


@st.composite
def mobile_numbers(draw: st.DrawFn) -> str:
    number = "1" + draw(st.sampled_from("3456789")) + draw(digits(9))
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "86-"]))
    spaced = draw(st.sampled_from(["{0}{1}{2}", "{0} {1} {2}", "{0}-{1}-{2}"]))
    return prefix + spaced.format(number[:3], number[3:7], number[7:])


@st.composite
def id_card_numbers(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from("123456789")) + draw(digits(5))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31)))
    sequence = draw(digits(3))
    if draw(st.booleans()):
        return area + born.strftime("%y%m%d") + sequence  # the first generation's 15 digits
    return area + born.strftime("%Y%m%d") + sequence + draw(st.sampled_from(DIGITS + "Xx"))


@st.composite
def licence_plates(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(PROVINCES)) + draw(st.sampled_from(PLATE_CHARACTERS[:24]))
    separator = draw(st.sampled_from(["", "·", " ", "-"]))
    kind = draw(st.sampled_from(["ordinary", "new_energy_small", "new_energy_large", "suffixed"]))
    if kind == "ordinary":
        number = draw(st.text(alphabet=PLATE_CHARACTERS, min_size=5, max_size=5))
    elif kind == "new_energy_small":
        number = draw(st.sampled_from("DF")) + draw(st.sampled_from(PLATE_CHARACTERS)) + draw(digits(4))
    elif kind == "new_energy_large":
        number = draw(digits(5)) + draw(st.sampled_from("DF"))
    else:
        number = draw(st.text(alphabet=PLATE_CHARACTERS, min_size=4, max_size=4)) + draw(st.sampled_from("使领警学挂"))
    plate = head + separator + number
    return plate.lower() if draw(st.booleans()) else plate


PERSONAL_DATA = st.one_of(mobile_numbers(), id_card_numbers(), licence_plates())


@settings(max_examples=300, deadline=None)
@given(before=SURROUNDINGS, secret=PERSONAL_DATA, after=SURROUNDINGS)
def test_personal_data_inside_text_is_masked_and_the_rest_kept(before, secret, after):
    masked = mask_personal_data(before + secret + after)
    assert secret not in masked
    assert masked.startswith(before) and masked.endswith(after)
    assert masked[len(before):len(masked) - len(after)] in {"［手机号］", "［身份证号］", "［车牌号］"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(SURROUNDINGS, PERSONAL_DATA), max_size=6))
def test_masking_twice_changes_nothing_more(parts):
    once = mask_personal_data("，".join(parts))
    assert mask_personal_data(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",), blacklist_characters="ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                                          "abcdefghijklmnopqrstuvwxyz")))
def test_text_without_digits_or_latin_letters_is_left_as_it_is(text):
    assert mask_personal_data(text) == text


@settings(max_examples=200, deadline=None)
@given(id_card_numbers())
def test_identity_numbers_are_never_half_read_as_phone_numbers(number):
    """An 18-digit number holds 11-digit runs that look like mobile numbers: it is masked whole, once."""
    assert mask_personal_data(number) == "［身份证号］"
    assert not PHONE_NUMBER.search(number)


@pytest.mark.parametrize("text", [
    "订单号 12345678901234567890",  # too long to be any of them
    "鲁B123456",  # six digits: no plate
    "1234567",  # a landline-length number
    "2026年12月6日",
    "370202191313011234",  # month 13: no identity number
])
def test_look_alikes_are_not_masked(text):
    assert mask_personal_data(text) == text


@pytest.mark.parametrize(("text", "pattern"), [
    ("鲁B12345", LICENCE_PLATE), ("鲁B·D12345", LICENCE_PLATE), ("鲁BD12345", LICENCE_PLATE),
    ("鲁B12345F", LICENCE_PLATE), ("鲁B1234警", LICENCE_PLATE), ("京A1234使", LICENCE_PLATE),
    ("沪A1234领", LICENCE_PLATE), ("鲁B1234学", LICENCE_PLATE), ("37020219900101123X", ID_CARD_NUMBER),
    ("370202900101123", ID_CARD_NUMBER), ("+86 139-1234-5678", PHONE_NUMBER),
])
def test_the_forms_residents_write(text, pattern):
    assert pattern.fullmatch(text)
    assert text not in mask_personal_data(f"车辆{text}停在路口")
