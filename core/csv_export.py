"""CSV that people open in a spreadsheet. A text cell a spreadsheet would run as a formula (it starts with `=`, `+`,
`-`, `@`, a tab or a carriage return) is written with a leading apostrophe, as OWASP advises for CSV exports:
supplier references, hotel names, partner names and notes come from outside finance's hands. Numbers, negative
ones included, are written as they are."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER.match(value):
        return "'" + value
    return value


class SafeWriter:
    """`csv.writer` whose rows go through `safe_cell`."""

    def __init__(self, out, **kwargs) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out, **kwargs) -> SafeWriter:
    return SafeWriter(out, **kwargs)
