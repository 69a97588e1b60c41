"""The unified social credit code (统一社会信用代码) of GB 32100-2015.

Eighteen characters from a 31-character alphabet (digits and capitals without I, O, Z, S, V):
the registration authority (1), the kind of organisation (1), the administrative division (6
digits), the organisation's own code (9), and a check character over the first seventeen,
with weights 3^i mod 31 and check = 31 - (sum mod 31), where 31 means 0.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {char: value for value, char in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
LENGTH = 18


def normalise(code: str) -> str:
    return "".join(code.split()).upper()


def check_character(first17: str) -> str:
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, in plain Chinese; None when it is."""
    code = normalise(code)
    if len(code) != LENGTH:
        return f"统一社会信用代码应为 {LENGTH} 位，当前为 {len(code)} 位。"
    wrong = sorted({char for char in code if char not in _VALUE})
    if wrong:
        return f"统一社会信用代码含有不允许的字符：{'、'.join(wrong)}（不使用 I、O、Z、S、V）。"
    if not code[2:8].isdigit():
        return "统一社会信用代码第 3–8 位应为行政区划码（数字）。"
    if check_character(code[:17]) != code[17]:
        return "统一社会信用代码校验位不正确，请核对营业执照。"
    return None


def is_valid(code: str) -> bool:
    return problem(code) is None
