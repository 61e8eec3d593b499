"""The measure behind the SettlementCycleNotReconciled alert, against real PostgreSQL: per enabled supplier,
how long the last closed cycle has waited without a reconciliation (0 once it has one)."""

from __future__ import annotations

import datetime as dt
import secrets
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core.settlement.cycles import last_closed_cycle
from core.settlement.review import unreconciled_seconds
from tests.api_fixtures import ensure_supplier

TZ = "Asia/Shanghai"


def test_a_closed_cycle_waits_from_its_end_until_reconciled(engine):
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    cycle = last_closed_cycle(now, TZ, 7)
    waiting, done, off = (f"W{secrets.token_hex(2)}", f"D{secrets.token_hex(2)}", f"O{secrets.token_hex(2)}")
    with engine.begin() as conn:
        for code in (waiting, done, off):
            ensure_supplier(conn, code)
        conn.execute(sa.text("UPDATE suppliers SET enabled = false WHERE code = :c"), {"c": off})
        conn.execute(sa.text("INSERT INTO settlement_cycles (supplier_code, period_start, period_end)"
                             " VALUES (:c, :s, :e)"), {"c": done, "s": cycle.start, "e": cycle.last_day})
        # An older cycle of the waiting supplier does not count: the last closed one is what is late.
        conn.execute(sa.text("INSERT INTO settlement_cycles (supplier_code, period_start, period_end)"
                             " VALUES (:c, :s, :e)"),
                     {"c": waiting, "s": cycle.start - dt.timedelta(days=7), "e": cycle.start - dt.timedelta(days=1)})
    measured = unreconciled_seconds(engine, now, TZ, 7)
    ended = dt.datetime.combine(cycle.end, dt.time(), ZoneInfo(TZ))
    assert measured[waiting] == (now - ended).total_seconds() > 0
    assert measured[done] == 0
    assert off not in measured
