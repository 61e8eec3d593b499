"""The feed contracts on their own: each row expectation names its reason, and the feed-level rules
(bad-row share, row count against the last good run, failed calls) decide pass or fail."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.inventory.contracts import judge_feed, validate_rows

START = dt.date(2031, 5, 1)
END = START + dt.timedelta(days=3)


def _row(**overrides) -> dict:
    row = {"supplier_hotel_id": "h1", "room_code": "std", "board": "RO", "rate_plan": "BAR", "stay_date": START,
           "net_amount": "100.00", "currency": "CNY", "net_sign": 1, "allotment": 3,
           "stay_ordinal": START.toordinal()}
    row.update(overrides)
    return row


def test_each_expectation_flags_its_rows_with_a_reason():
    late = START + dt.timedelta(days=5)
    frame = pd.DataFrame([
        _row(),
        _row(net_sign=-1, net_amount="-5.00"),
        _row(net_sign=0, net_amount="0.00"),
        _row(currency="XYZ"),
        _row(allotment=-1),
        _row(stay_date=late, stay_ordinal=late.toordinal()),
        _row(room_code=None),
    ])
    verdicts = validate_rows(frame, START, END)
    assert 0 not in verdicts.bad
    assert verdicts.bad[1] == ["price not positive"] and verdicts.bad[2] == ["price not positive"]
    assert verdicts.bad[3] == ["unknown currency"]
    assert verdicts.bad[4] == ["negative allotment"]
    assert verdicts.bad[5] == ["stay date outside the sync window"]
    assert verdicts.bad[6] == ["missing field room_code"]
    assert verdicts.counts["price not positive"] == 2


def test_feed_level_rules():
    assert judge_feed(1000, 10, 0.05, previous_rows=1000).passed
    share = judge_feed(1000, 60, 0.05, previous_rows=1000)
    assert not share.passed and "bad row share 6.0% above 5.0%" in share.reasons[0]
    shrunk = judge_feed(400, 0, 0.05, previous_rows=1000)
    assert not shrunk.passed and "row count 400 outside" in shrunk.reasons[0]
    grown = judge_feed(2500, 0, 0.05, previous_rows=1000)
    assert not grown.passed
    assert judge_feed(2500, 0, 0.05, previous_rows=None).passed  # first run: no bound yet
    assert not judge_feed(0, 0, 0.05, previous_rows=None).passed
    incomplete = judge_feed(900, 0, 0.05, previous_rows=1000, errors=2)
    assert not incomplete.passed and "2 failed supplier call(s)" in incomplete.reasons[0]
