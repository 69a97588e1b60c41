"""GB 32100 unified social credit codes: the check character over the first seventeen."""

from __future__ import annotations

import pytest

from signboard_templates import credit_code

REAL_CODES = ["91440300708461136T", "91330100716105852F", "91110108551385082Q", "91370200163562681G",
              "91350100M000100Y43"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code):
    assert credit_code.is_valid(code)


def test_lower_case_and_spaces_are_normalised():
    assert credit_code.is_valid(" 91350100m000100y43 ")


@pytest.mark.parametrize("code, reason", [
    ("91370200163562681H", "校验位不正确"),
    ("91370200163562618G", "校验位不正确"),
    ("9137020016356268", "应为 18 位"),
    ("91370200I63562681G", "不允许的字符：I"),
    ("913702A0163562681G", "行政区划码"),
    ("", "应为 18 位"),
])
def test_invalid_codes_say_why(code, reason):
    assert reason in credit_code.problem(code)


def test_every_single_character_change_is_caught():
    code = REAL_CODES[0]
    for position in range(17):
        for replacement in credit_code.ALPHABET:
            if replacement != code[position] and (position not in range(2, 8) or replacement.isdigit()):
                changed = code[:position] + replacement + code[position + 1:]
                assert not credit_code.is_valid(changed), changed
