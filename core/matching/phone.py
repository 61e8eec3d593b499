"""Phone numbers reduced to the national significant number, whatever the writing.

`+86 21 1234 5678`, `0086-21-12345678`, `(021) 1234-5678` and `86 21 12345678` for a Chinese hotel all
become `2112345678`. `phonenumbers` (libphonenumber's metadata) parses them with the hotel's country as the
default region: every country's international and trunk prefixes (`0`, Russia's `8`, Hungary's `06` …),
Italy's leading zero; a leading `00` is read as `+` whatever the country's own exit code. What it cannot
parse keeps its digits (equality then falls back on the suffix).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_NON_DIGIT = re.compile(r"\D+")
_EXTENSION = re.compile(r"(?:ext\.?|x|#|转|分机)\s*\d+\s*$", re.IGNORECASE)


@lru_cache(maxsize=65_536)  # a catalog repeats few numbers, but matching reads each side more than once
def national_number(phone: str | None, country: str | None) -> str:
    """Digits of the national significant number; '' when there are too few digits to mean anything."""
    if not phone:
        return ""
    text = _EXTENSION.sub("", phone.strip())
    if _NON_DIGIT.sub("", text).startswith("00"):  # "00" dials abroad from most countries, not only from the
        text = "+" + _NON_DIGIT.sub("", text)[2:]  # hotel's (Thailand's is 001): the writer meant "+"
    try:
        parsed = phonenumbers.parse(text, (country or "").upper() or None)
    except phonenumbers.NumberParseException:
        digits = _NON_DIGIT.sub("", text)
    else:
        digits = "0" * (parsed.number_of_leading_zeros or 1) * bool(parsed.italian_leading_zero)
        digits += str(parsed.national_number or "")
    return digits if len(digits) >= 6 else ""


def same_phone(a: str, b: str) -> bool:
    """Normalised numbers agree (on their last 8 digits when one still carries a prefix)."""
    if not a or not b:
        return False
    if a == b:
        return True
    n = min(len(a), len(b), 8)
    return n >= 7 and a[-n:] == b[-n:]
