"""Money: Decimal amounts that always carry their ISO-4217 currency."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MINOR_UNITS = {"JPY": 0, "KRW": 0, "VND": 0, "IDR": 0, "CLP": 0, "BHD": 3, "KWD": 3, "JOD": 3}


def minor_digits(currency: str) -> int:
    """Digits of the currency's minor unit (2 unless ISO 4217 says otherwise)."""
    return MINOR_UNITS.get(currency, 2)


def exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money amount must be Decimal, got {type(self.amount).__name__}")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO-4217 code, got {self.currency!r}")

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        if isinstance(amount, float):
            raise TypeError("floats never touch money; pass a string or Decimal")
        return cls(Decimal(amount), currency.upper())

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise TypeError("floats never touch money")
        return Money(self.amount * factor, self.currency)

    def rounded(self) -> Money:
        """Round to the currency's minor unit, half up: the one documented rounding place."""
        return Money(self.amount.quantize(exponent(self.currency), rounding=ROUND_HALF_UP), self.currency)

    def as_json(self) -> dict[str, str]:
        return {"amount": str(self.rounded().amount), "currency": self.currency}
