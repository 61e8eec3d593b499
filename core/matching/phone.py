"""Phone numbers reduced to the national significant number, whatever the writing.

`+86 21 1234 5678`, `0086-21-12345678`, `(021) 1234-5678` and `86 21 12345678` for a Chinese hotel all
become `2112345678`: digits only, the international prefix (`+`, `00`, `011`) and the country's calling
code removed, then the trunk prefix `0`. The calling code per country comes from `phonenumbers`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_NON_DIGIT = re.compile(r"\D+")
_EXTENSION = re.compile(r"(?:ext\.?|x|#|转|分机)\s*\d+\s*$", re.IGNORECASE)


@lru_cache(maxsize=512)
def calling_code(country: str | None) -> str:
    if not country:
        return ""
    code = phonenumbers.country_code_for_region(country.upper())
    return str(code) if code else ""


def national_number(phone: str | None, country: str | None) -> str:
    """Digits of the national significant number; '' when there are too few digits to mean anything."""
    if not phone:
        return ""
    phone = _EXTENSION.sub("", phone.strip())
    international = phone.lstrip().startswith("+")
    digits = _NON_DIGIT.sub("", phone)
    if digits.startswith("00"):
        digits, international = digits[2:], True
    elif digits.startswith("011") and calling_code(country) == "1":
        digits, international = digits[3:], True
    code = calling_code(country)
    if code and digits.startswith(code) and (international or len(digits) - len(code) >= 9):
        digits = digits[len(code):]
    elif international and not code:
        pass  # unknown country: keep the digits; equality falls back on the suffix
    if digits.startswith("0") and code not in ("39",):  # Italy keeps its leading 0
        digits = digits.lstrip("0")
    return digits if len(digits) >= 6 else ""


def same_phone(a: str, b: str) -> bool:
    """Normalised numbers agree (on their last 8 digits when one still carries a prefix)."""
    if not a or not b:
        return False
    if a == b:
        return True
    n = min(len(a), len(b), 8)
    return n >= 7 and a[-n:] == b[-n:]
