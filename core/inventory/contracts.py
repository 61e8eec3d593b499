"""Data contracts on supplier feeds, with great-expectations.

Row-level expectations (price positive, currency known, stay date inside the sync window,
allotment non-negative, required fields present) find the rows to quarantine; feed-level rules
(share of bad rows, row count within bounds of the last good run) decide whether the feed as a
whole passes, i.e. whether it may update the hot cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass, field

import pandas as pd

logger = logging.getLogger("inventory")

KNOWN_CURRENCIES = ("CNY", "USD", "EUR", "JPY", "HKD", "SGD", "THB", "GBP", "AED", "KRW", "AUD")
REQUIRED = ("supplier_hotel_id", "room_code", "board", "rate_plan", "stay_date", "net_amount", "currency")
ROW_COUNT_BOUNDS = (0.5, 2.0)  # fetched rows vs the last good run: below half or above double fails

_context_lock = threading.Lock()
_context = None
_validate_lock = threading.Lock()


@dataclass
class RowVerdicts:
    """Indexes of bad rows with their reasons, and per-expectation counts."""

    bad: dict[int, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, index: int, reason: str) -> None:
        self.bad.setdefault(index, []).append(reason)


@dataclass(frozen=True)
class FeedVerdict:
    passed: bool
    rows_fetched: int
    rows_bad: int
    bad_share: float
    reasons: tuple[str, ...]
    expectation_counts: dict[str, int]
    previous_rows: int | None

    def as_json(self) -> dict:
        return {"passed": self.passed, "rows_fetched": self.rows_fetched, "rows_bad": self.rows_bad,
                "bad_share": round(self.bad_share, 4), "reasons": list(self.reasons),
                "expectations": self.expectation_counts, "previous_rows": self.previous_rows}


def _gx():
    """One ephemeral great-expectations context per process (creating one costs ~0.1 s)."""
    global _context
    with _context_lock:
        if _context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig
            from great_expectations.execution_engine import pandas_execution_engine

            # Each batch is fingerprinted (a hash of every cell) only to name it in results we never
            # keep; that hash cost ~15 % of a sync's checks. Frames at or above this size are not hashed.
            pandas_execution_engine.HASH_THRESHOLD = 0

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            source = context.data_sources.add_pandas("supplier_feeds")
            source.add_dataframe_asset("nightly_rates").add_batch_definition_whole_dataframe("batch")
            _context = context
        return _context


def _suite(window_start: dt.date, window_end: dt.date):
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"nightly_rates_{window_start:%Y%m%d}_{window_end:%Y%m%d}")
    for column in REQUIRED:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column="net_sign", min_value=1))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="currency",
                                                                       value_set=list(KNOWN_CURRENCIES)))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column="allotment", min_value=0))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(
        column="stay_ordinal", min_value=window_start.toordinal(), max_value=window_end.toordinal() - 1))
    return suite


REASONS = {
    "expect_column_values_to_not_be_null": "missing field {column}",
    "expect_column_values_to_be_in_set": "unknown currency",
    "expect_column_values_to_be_between:net_sign": "price not positive",
    "expect_column_values_to_be_between:allotment": "negative allotment",
    "expect_column_values_to_be_between:stay_ordinal": "stay date outside the sync window",
}


def validate_rows(frame: pd.DataFrame, window_start: dt.date, window_end: dt.date) -> RowVerdicts:
    """Run the row expectations over a feed batch; returns the bad row indexes with reasons.

    `frame` has the REQUIRED columns plus `net_sign` (-1, 0, 1: the Decimal amount's sign, so no
    float ever stands in for money), `allotment` and `stay_ordinal`.
    """
    verdicts = RowVerdicts()
    if frame.empty:
        return verdicts
    with _validate_lock:  # one great-expectations context, not known to be thread-safe
        return _validate(frame, window_start, window_end, verdicts)


def _validate(frame: pd.DataFrame, window_start: dt.date, window_end: dt.date, verdicts: RowVerdicts
              ) -> RowVerdicts:
    context = _gx()
    batch_definition = (context.data_sources.get("supplier_feeds").get_asset("nightly_rates")
                        .get_batch_definition("batch"))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(_suite(window_start, window_end), result_format={"result_format": "COMPLETE"})
    for outcome in result.results:
        kind = outcome.expectation_config.type
        column = outcome.expectation_config.kwargs.get("column")
        template = REASONS.get(f"{kind}:{column}") or REASONS.get(kind) or kind
        reason = template.format(column=column)
        indexes = outcome.result.get("unexpected_index_list") or []
        if indexes:
            verdicts.counts[reason] = verdicts.counts.get(reason, 0) + len(indexes)
        for index in indexes:
            verdicts.add(int(index), reason)
    return verdicts


def judge_feed(rows_fetched: int, rows_bad: int, max_bad_share: float, previous_rows: int | None,
               errors: int = 0, counts: dict[str, int] | None = None, delta: bool = False) -> FeedVerdict:
    """The feed-level contract: bad-row share, row count against the last good run, and call errors.

    `delta`: the supplier sent only what changed, so no row count (not even zero) says anything."""
    reasons: list[str] = []
    share = rows_bad / rows_fetched if rows_fetched else 0.0
    if rows_fetched == 0 and not delta:
        reasons.append("no rows fetched")
    if share > max_bad_share:
        reasons.append(f"bad row share {share:.1%} above {max_bad_share:.1%}")
    if previous_rows and not delta:
        low, high = ROW_COUNT_BOUNDS
        if not low * previous_rows <= rows_fetched <= high * previous_rows:
            reasons.append(f"row count {rows_fetched} outside [{low:g}x, {high:g}x] of the last good run "
                           f"({previous_rows})")
    if errors:
        reasons.append(f"{errors} failed supplier call(s): the feed is incomplete")
    return FeedVerdict(not reasons, rows_fetched, rows_bad, share, tuple(reasons), dict(counts or {}), previous_rows)
