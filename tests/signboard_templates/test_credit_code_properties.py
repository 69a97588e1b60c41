"""Property tests of the unified social credit code check (GB 32100-2015)."""

from __future__ import annotations

import os

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from signboard_templates import credit_code
from signboard_templates.credit_code import ALPHABET

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 500)), deadline=None, derandomize=True)
_char = st.sampled_from(ALPHABET)
_digit = st.sampled_from("0123456789")


@st.composite
def valid_codes(draw) -> str:
    first17 = (draw(_char) + draw(_char) + "".join(draw(_digit) for _ in range(6))
               + "".join(draw(_char) for _ in range(9)))
    return first17 + credit_code.check_character(first17)


@FUZZ
@given(valid_codes())
def test_every_well_formed_code_is_valid_spaced_or_lower_case(code):
    assert credit_code.is_valid(code)
    assert credit_code.is_valid(" ".join([code[:6], code[6:12].lower(), code[12:]]))


@FUZZ
@given(valid_codes(), st.integers(min_value=0, max_value=17), _char)
def test_any_single_changed_character_is_caught(code, position, replacement):
    assume(code[position] != replacement)
    assert not credit_code.is_valid(code[:position] + replacement + code[position + 1:])


@FUZZ
@given(valid_codes(), st.integers(min_value=0, max_value=15))
def test_any_swap_of_neighbours_is_caught(code, position):
    assume(code[position] != code[position + 1])
    assert not credit_code.is_valid(code[:position] + code[position + 1] + code[position] + code[position + 2:])


@FUZZ
@given(st.text(max_size=40))
def test_any_text_gets_an_answer_never_an_exception(text):
    problem = credit_code.problem(text)
    assert problem is None or isinstance(problem, str)
    assert credit_code.normalise(credit_code.normalise(text)) == credit_code.normalise(text)
