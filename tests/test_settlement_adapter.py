"""A cycle reconciled against supplier A's statement fetched through its adapter over real HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from core.settlement import review
from core.settlement.store import run_cycle, statement_for_cycle
from core.suppliers.registry import register_supplier
from suppliers.launch import DEV_KEYS
from suppliers.simcore import StoredBooking
from tests.settlement_fixtures import past_cycle, seed_cycle

pytest_plugins = ["tests.supplier_fixtures"]


@pytest.mark.usefixtures("clean_faults")
def test_statement_from_the_supplier_adapter(engine, settings, simulators):
    cycle = past_cycle(6)
    simulator = simulators["A"]
    # Point A at this session's simulator (another module may have registered a simulator of its own).
    register_supplier(engine, "A", simulator.base_url, DEV_KEYS["A"], settings.encryption_secret.get_secret_value())
    orders = [{"label": "ok", "partner": "Gamma", "status": "CONFIRMED", "net": "100.00", "sell": "120.00"},
              {"label": "billed", "partner": "Gamma", "status": "CONFIRMED", "net": "80.00", "sell": "96.00"},
              {"label": "gone", "partner": "Gamma", "status": "CONFIRMED", "net": "50.00", "sell": "60.00"}]
    seeded = seed_cycle(engine, cycle, orders, {"Gamma": Decimal("5")}, supplier="A")
    check_out = cycle.start + dt.timedelta(days=2)
    # The supplier's own books: its references in other case, one booking we never recorded.
    for label, total in (("ok", "100.00"), ("billed", "80.00"), ("stray", "33.00")):
        ref = seeded.refs.get(label, f"{seeded.refs['ok']}-STRAY").lower()
        simulator.state.store(StoredBooking(ref, f"OUR-{label}", "H", "R0", "BB", "BAR", check_out - dt.timedelta(2),
                                            check_out, 1, Decimal(total), "USD", True, []))
    adjusted = httpx.post(f"{simulator.base_url}/_admin/bookings/{seeded.refs['billed'].lower()}",
                          json={"statement_amount": "85.50"}, headers={"X-Admin-Key": DEV_KEYS["A"]}, timeout=5)
    assert adjusted.status_code == 200

    frame, source = statement_for_cycle(engine, settings, "A", cycle)
    assert source == "adapter"
    outcome = run_cycle(engine, "A", cycle, frame, source)
    counts = outcome.counts
    assert (counts["matched"], counts["amount_mismatch"], counts["missing_in_statement"],
            counts["missing_in_platform"]) == (1, 1, 1, 1)
    rows = {row["class"]: row for row in review.list_discrepancies(engine, outcome.cycle_id)}
    assert rows["amount_mismatch"]["difference"] == "5.50"
    assert rows["amount_mismatch"]["order_id"] == seeded.order_ids["billed"]
    assert rows["missing_in_statement"]["order_id"] == seeded.order_ids["gone"]
    assert outcome.balanced and outcome.totals["statement_source"] == "adapter"
