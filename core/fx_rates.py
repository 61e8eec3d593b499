"""Daily exchange-rate sets: the ECB euro reference XML, one stored set per day, and its checks.

A source publishes rates in the European Central Bank's `eurofxref` format: `Cube time=…` per day,
`Cube currency=… rate=…` per currency, each rate the price of one euro. `load_fx_rates` stores the set
for a day (the newest published on or before it: the ECB publishes none at weekends) as rows
`EUR → currency` in `fx_rates`, keeping every earlier set as history; `core.fx.FxTable` derives the
other pairs through the reference currency. `check_rate_set` is the gate quotes and settlement rely
on: every currency the platform sells in present, and no day-to-day move beyond a bound.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.fx import REFERENCE_CURRENCY

ECB_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
GESMES_NS = "http://www.gesmes.org/xml/2002-08-01"
# The ECB's own addresses; the simulated FX service answers the same paths.
ECB_DAILY_PATH = "/stats/eurofxref/eurofxref-daily.xml"
ECB_HISTORY_PATH = "/stats/eurofxref/eurofxref-hist-90d.xml"


class FxSourceError(ValueError):
    """The source's document is not a usable euro reference rate set."""


@dataclass(frozen=True)
class RateSet:
    as_of: dt.date
    rates: dict[str, Decimal]  # currency → units per one REFERENCE_CURRENCY
    base: str = REFERENCE_CURRENCY


def parse_ecb_xml(text: str | bytes) -> list[RateSet]:
    """Every day's set in an ECB `eurofxref` document, oldest first."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise FxSourceError(f"not XML: {error}") from None
    sets = []
    for day in root.iter(f"{{{ECB_NS}}}Cube"):
        when = day.get("time")
        if when is None:
            continue
        rates = {}
        for cube in day:
            currency, rate = cube.get("currency"), cube.get("rate")
            try:
                value = Decimal(rate or "")
            except InvalidOperation:
                raise FxSourceError(f"{when}: rate {rate!r} of {currency} is not a number") from None
            if not currency or len(currency) != 3 or not value.is_finite() or value <= 0:
                raise FxSourceError(f"{when}: bad rate {rate!r} for currency {currency!r}")
            rates[currency.upper()] = value
        try:
            as_of = dt.date.fromisoformat(when)
        except ValueError:
            raise FxSourceError(f"bad day {when!r}") from None
        sets.append(RateSet(as_of, rates))
    if not sets:
        raise FxSourceError("no rate set in the document")
    return sorted(sets, key=lambda s: s.as_of)


def ecb_xml(sets: list[RateSet]) -> str:
    """Rate sets as an ECB `eurofxref` document (newest first, as the ECB lists them)."""
    days = "".join(
        f"<Cube time='{s.as_of.isoformat()}'>"
        + "".join(f"<Cube currency='{c}' rate='{r}'/>" for c, r in sorted(s.rates.items()))
        + "</Cube>"
        for s in sorted(sets, key=lambda s: s.as_of, reverse=True)
    )
    return (f"<?xml version='1.0' encoding='UTF-8'?><gesmes:Envelope xmlns:gesmes='{GESMES_NS}' xmlns='{ECB_NS}'>"
            "<gesmes:subject>Reference rates</gesmes:subject>"
            "<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>"
            f"<Cube>{days}</Cube></gesmes:Envelope>")


def set_for_day(sets: list[RateSet], day: dt.date) -> RateSet | None:
    """The newest set published on or before `day`."""
    earlier = [s for s in sets if s.as_of <= day]
    return earlier[-1] if earlier else None


@dataclass
class FxCheckResult:
    as_of: dt.date | None
    required: list[str]
    missing: list[str] = field(default_factory=list)
    moves_pct: dict[str, Decimal] = field(default_factory=dict)  # currency → |change| vs the previous set
    too_far: list[str] = field(default_factory=list)
    previous_as_of: dt.date | None = None
    max_move_pct: Decimal = Decimal(0)

    @property
    def passed(self) -> bool:
        return self.as_of is not None and not self.missing and not self.too_far

    def description(self) -> str:
        if self.as_of is None:
            return "no rate set"
        parts = []
        if self.missing:
            parts.append("missing " + ", ".join(self.missing))
        if self.too_far:
            parts.append(f"moved more than {self.max_move_pct} % since {self.previous_as_of}: "
                         + ", ".join(f"{c} {self.moves_pct[c]:.2f} %" for c in self.too_far))
        return "; ".join(parts) or f"every currency present, no move beyond {self.max_move_pct} %"

    def metadata(self) -> dict:
        worst = max(self.moves_pct.values(), default=Decimal(0))
        return {"as_of": self.as_of.isoformat() if self.as_of else "none",
                "previous_as_of": self.previous_as_of.isoformat() if self.previous_as_of else "none",
                "required": ", ".join(self.required), "missing": ", ".join(self.missing) or "none",
                "too_far": ", ".join(self.too_far) or "none", "largest_move_pct": float(round(worst, 4)),
                "max_move_pct": float(self.max_move_pct)}


def _stored_set(conn, as_of: dt.date) -> dict[str, Decimal]:
    rows = conn.execute(sa.text("SELECT quote_currency, rate FROM fx_rates WHERE base_currency = :b AND as_of = :d"),
                        {"b": REFERENCE_CURRENCY, "d": as_of})
    return {row.quote_currency: row.rate for row in rows}


def selling_currencies(engine: Engine, configured: list[str], default_currency: str) -> list[str]:
    """The currencies quotes may need: the configured ones, the default, every partner's credit currency."""
    with engine.connect() as conn:
        credit = conn.execute(sa.text("SELECT DISTINCT credit_currency FROM partners")).scalars().all()
    return sorted({c.strip().upper() for c in (*configured, default_currency, *credit)})


def check_rates(engine: Engine, rate_set: RateSet | None, required: list[str], max_move_pct: Decimal) -> FxCheckResult:
    """A set against the rules quotes rely on: every required currency, no move beyond the bound since the
    previous stored set."""
    result = FxCheckResult(rate_set.as_of if rate_set else None, list(required), max_move_pct=max_move_pct)
    current = rate_set.rates if rate_set else {}
    result.missing = [c for c in required if c != REFERENCE_CURRENCY and c not in current]
    if rate_set is None:
        return result
    with engine.connect() as conn:
        result.previous_as_of = conn.execute(
            sa.text("SELECT max(as_of) FROM fx_rates WHERE base_currency = :b AND as_of < :d"),
            {"b": REFERENCE_CURRENCY, "d": rate_set.as_of}).scalar()
        previous = _stored_set(conn, result.previous_as_of) if result.previous_as_of else {}
    for currency, rate in current.items():
        before = previous.get(currency)
        if before:
            result.moves_pct[currency] = abs(rate / before - 1) * 100
    result.too_far = sorted(c for c, move in result.moves_pct.items() if move > max_move_pct)
    return result


@dataclass
class FxLoadResult:
    day: dt.date
    as_of: dt.date
    source: str
    rates: dict[str, Decimal]
    check: FxCheckResult
    rows_written: int = 0
    accepted_moves: bool = False

    @property
    def stored(self) -> bool:
        return self.rows_written > 0

    def metadata(self) -> dict:
        return {"day": self.day.isoformat(), "as_of": self.as_of.isoformat(), "source": self.source,
                "base": REFERENCE_CURRENCY, "currencies": len(self.rates), "rows_written": self.rows_written,
                "stored": self.stored, "accepted_moves": self.accepted_moves,
                "held_back": "" if self.stored else self.check.description(),
                "rates": {currency: str(rate) for currency, rate in sorted(self.rates.items())}}


_UPSERT = sa.text(
    "INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of, source)"
    " VALUES (:base, :quote, :rate, :as_of, :source)"
    " ON CONFLICT (base_currency, quote_currency, as_of) DO UPDATE SET rate = EXCLUDED.rate, source = EXCLUDED.source"
)


def store_rate_set(engine: Engine, rate_set: RateSet, source: str) -> int:
    """Upsert one day's set (a rerun of the day replaces it); one transaction, one notification."""
    rows = [{"base": rate_set.base, "quote": currency, "rate": rate, "as_of": rate_set.as_of, "source": source}
            for currency, rate in rate_set.rates.items() if currency != rate_set.base]
    with engine.begin() as conn:
        conn.execute(_UPSERT, rows)
    return len(rows)


def load_fx_rates(engine: Engine, document: str | bytes, day: dt.date, source: str, required: list[str],
                  max_move_pct: Decimal, accept_moves: bool = False) -> FxLoadResult:
    """Check the set a source document gives for `day`, and store it only if it passes: a set missing a
    required currency never reaches quotes; one that moved too far only when an operator accepts the moves."""
    found = set_for_day(parse_ecb_xml(document), day)
    if found is None:
        raise FxSourceError(f"the source has no rate set on or before {day.isoformat()}")
    check = check_rates(engine, found, required, max_move_pct)
    result = FxLoadResult(day, found.as_of, source, found.rates, check)
    result.accepted_moves = accept_moves and bool(check.too_far)
    if check.passed or (accept_moves and not check.missing):
        result.rows_written = store_rate_set(engine, found, source)
    return result
