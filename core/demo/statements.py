"""Supplier statements for the demo's closed cycles, as the suppliers send them, with their usual faults.

A statement lists what the supplier bills for the cycle's stays: each confirmed booking charged at its net cost,
each cancellation at the supplier's fee. Real statements disagree with the platform now and then, so some
cycles' statements carry a few of: a charge a little off (a rate the supplier changed), a booking left out, a
guest the supplier reports as a no-show, a booking the platform never made, a line sent twice.
"""

from __future__ import annotations

import csv
import io
import random
from decimal import Decimal

import polars as pl

from core.settlement.csvio import STATEMENT_COLUMNS

UNITS = Decimal(10_000)  # the settlement engine's amounts: integer 1/10 000 units


def statement_csv(orders: pl.DataFrame, rng: random.Random, faulty: bool) -> str:
    """The statement CSV for one supplier's cycle, from the engine's order frame (`store.load_orders`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    # A faulty statement has at least one line left out and one charge off; more at random.
    left_out, repriced = rng.sample(range(orders.height), 2) if faulty and orders.height >= 2 else (-1, -1)
    for index, row in enumerate(orders.iter_rows(named=True)):
        status = "charged" if row["status"] == "confirmed" else row["status"]
        amount = Decimal(row["amount"]) / UNITS
        if faulty:
            draw = 0.05 if index == repriced else rng.random()
            if draw < 0.04 or index == left_out:
                continue  # left out
            if draw < 0.10:
                amount = (amount * Decimal(1 + rng.choice((-1, 1)) * rng.uniform(0.02, 0.08))).quantize(
                    Decimal("0.01"))
            elif draw < 0.13 and status == "charged":
                status = "no_show"
        line = [row["supplier_ref"], row["check_in"].isoformat(), row["check_out"].isoformat(), status,
                f"{amount:.2f}", row["currency"]]
        writer.writerow(line)
        if faulty and rng.random() < 0.01:
            writer.writerow(line)  # sent twice
    if faulty and orders.height:
        for _ in range(rng.randint(1, 2)):  # bookings the platform never made
            sample = orders.row(rng.randrange(orders.height), named=True)
            writer.writerow([f"X{rng.randint(100000, 999999)}", sample["check_in"].isoformat(),
                             sample["check_out"].isoformat(), "charged", f"{rng.randint(300, 2400)}.00",
                             sample["currency"]])
    return out.getvalue()
