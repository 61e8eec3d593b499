"""The supplier sync: content and inventory, each supplier on its own, none able to stop the others.

Per supplier the inventory window is fetched in batches of hotels (several in flight), every
batch is checked against the data contract, bad rows are quarantined with their reason, and the
good rows are upserted in one transaction per batch. The feed as a whole then passes or fails its
contract; only a passing feed may update the hot cache (see `core/inventory/cache.py`).

A re-sync asks each supplier only for what changed since the last good run's first answer (the supplier's
HTTP `Date`; else our clock less `DELTA_MARGIN`), over the nights that run covered; nights new to the window
are fetched whole. A supplier that offers no delta feed answers whole, and the run is then judged as a full
one; a delta run skips the row-count bounds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import pandas as pd

from core.inventory import store
from core.inventory.contracts import FeedVerdict, judge_feed, validate_rows
from core.logs import log
from core.suppliers.config import INVENTORY_BATCH_HOTELS
from core.suppliers.models import InvalidRecord, NightlyRate, SupplierAdapter, SupplierError, SupplierHotel

logger = logging.getLogger("inventory")
DELTA_MARGIN = dt.timedelta(minutes=1)
MIN_WRITE_ROWS = 20_000
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass
class SupplierSyncResult:
    code: str
    feed: str
    status: str = "ok"  # ok | partial | failed | contract_failed
    rows_fetched: int = 0
    rows_upserted: int = 0
    rows_quarantined: int = 0
    availability_upserted: int = 0
    room_types_upserted: int = 0
    holds_absorbed: int = 0
    orders_flagged: int = 0
    delta_answers: int = 0  # supplier answers that held only what changed since the last good run
    latency_ms: float = 0.0
    write_ms: float = 0.0
    errors: list[str] = field(default_factory=list)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    verdict: FeedVerdict | None = None
    sync_run_id: int | None = None
    archived: dict = field(default_factory=dict)  # what the raw-feed archive kept of this sync

    def metadata(self) -> dict:
        return {"status": self.status, "rows_fetched": self.rows_fetched, "rows_upserted": self.rows_upserted,
                "rows_quarantined": self.rows_quarantined, "latency_ms": round(self.latency_ms, 1),
                "write_ms": round(self.write_ms, 1), "availability_upserted": self.availability_upserted,
                "holds_absorbed": self.holds_absorbed, "orders_flagged": self.orders_flagged,
                "delta_answers": self.delta_answers,
                "errors": len(self.errors), "first_errors": self.errors[:5],
                "quarantine_reasons": self.quarantine_reasons,
                "contract": self.verdict.as_json() if self.verdict else None, "archived": self.archived}

    @property
    def rows_skipped(self) -> int:
        """Rows fetched that needed no write: good, and equal to what is stored."""
        return max(0, self.rows_fetched - self.rows_upserted - self.rows_quarantined)

    def plottable(self) -> dict[str, int | float]:
        """The figures the asset catalog plots over runs, named per supplier."""
        return {f"rows_written_{self.code}": self.rows_upserted, f"rows_skipped_{self.code}": self.rows_skipped,
                f"rows_quarantined_{self.code}": self.rows_quarantined,
                f"latency_ms_{self.code}": round(float(self.latency_ms), 1)}

    @property
    def cache_ok(self) -> bool:
        return self.status == "ok"


def _count_reason(result: SupplierSyncResult, reason: str) -> None:
    result.quarantine_reasons[reason] = result.quarantine_reasons.get(reason, 0) + 1


# ------------------------------------------------------------------ content


async def sync_content(database_url: str, adapter: SupplierAdapter, run_id: str | None = None) -> SupplierSyncResult:
    result = SupplierSyncResult(adapter.code, "content")
    started_at, start = dt.datetime.now(dt.UTC), time.monotonic()
    hotels: list[SupplierHotel] = []
    invalid: list[InvalidRecord] = []
    try:
        async for item in adapter.content():
            result.rows_fetched += 1
            if isinstance(item, InvalidRecord):
                invalid.append(item)
                continue
            problem = store.check_hotel(item)
            if problem:
                invalid.append(InvalidRecord(adapter.code, "content", {"supplier_hotel_id": item.supplier_hotel_id,
                                                                       "name": item.name, "raw": item.raw}, problem))
            else:
                hotels.append(item)
    except SupplierError as error:
        result.errors.append(str(error))
    result.latency_ms = (time.monotonic() - start) * 1000
    for record in invalid:
        _count_reason(result, record.reason)

    def write() -> None:
        with store.connect(database_url) as conn:
            result.rows_upserted = store.upsert_supplier_hotels(conn, adapter.code, hotels)
            result.rows_quarantined = store.quarantine(conn, invalid, run_id)
            if result.errors:
                result.status = "partial" if hotels else "failed"
            result.sync_run_id = store.record_run(
                conn, run_id=run_id, code=adapter.code, feed="content", started_at=started_at, status=result.status,
                rows_fetched=result.rows_fetched, rows_upserted=result.rows_upserted,
                rows_quarantined=result.rows_quarantined, latency_ms=result.latency_ms, errors=result.errors,
                contract={"quarantine_reasons": result.quarantine_reasons})

    await asyncio.to_thread(write)
    log(logger, logging.INFO, "content sync finished", supplier=adapter.code, **result.metadata())
    return result


# ------------------------------------------------------------------ inventory


@dataclass
class _Batch:
    rates: list[NightlyRate]
    invalid: list[InvalidRecord]
    error: str | None
    fetched_at: dt.datetime  # when its first request was sent: the supplier's counts include bookings before it


def _frame(rates: list[NightlyRate]) -> pd.DataFrame:
    return pd.DataFrame({
        "supplier_hotel_id": [r.supplier_hotel_id for r in rates],
        "room_code": [r.room_code for r in rates],
        "board": [r.board for r in rates],
        "rate_plan": [r.rate_plan for r in rates],
        "stay_date": [r.stay_date for r in rates],
        "net_amount": [r.net.amount for r in rates],
        "currency": [r.net.currency for r in rates],
        "net_sign": [int(r.net.amount.compare(0)) for r in rates],
        "allotment": [r.allotment for r in rates],
        "stay_ordinal": [r.stay_date.toordinal() for r in rates],
    })


def fetch_spans(base: store.DeltaBase | None, window: tuple[dt.date, dt.date]
                ) -> list[tuple[dt.date, dt.date, dt.datetime | None]]:
    """What to ask for each batch: the nights the last good run covered as the changes since it started (a
    supplier without a delta feed answers them whole, which is as correct), the nights it did not cover whole."""
    start, end = window
    if base is None or not base.window_start <= start < base.window_end:
        return [(start, end, None)]
    covered_end = min(end, base.window_end)
    return [(start, covered_end, base.changed_since)] + ([(covered_end, end, None)] if end > covered_end else [])


def screen(rates: list[NightlyRate], hotel_ids: dict[str, int], window: tuple[dt.date, dt.date]
           ) -> tuple[list[NightlyRate], list[InvalidRecord]]:
    """Split a batch into rows that may be stored and quarantine records (unknown hotel, duplicate,
    or failing a contract expectation)."""
    invalid: list[InvalidRecord] = []
    known: list[NightlyRate] = []
    seen: set[tuple] = set()
    for rate in rates:
        if rate.supplier_hotel_id not in hotel_ids:
            invalid.append(InvalidRecord(rate.supplier_code, "inventory", store.rate_record(rate),
                                         "unknown supplier hotel (its content is not synced)"))
            continue
        key = (rate.supplier_hotel_id, rate.room_code, rate.stay_date, rate.board, rate.rate_plan)
        if key in seen:
            invalid.append(InvalidRecord(rate.supplier_code, "inventory", store.rate_record(rate), "duplicate offer"))
            continue
        seen.add(key)
        known.append(rate)
    verdicts = validate_rows(_frame(known), *window)
    if not verdicts.bad:
        return known, invalid
    good = []
    for index, rate in enumerate(known):
        reasons = verdicts.bad.get(index)
        if reasons:
            invalid.append(InvalidRecord(rate.supplier_code, "inventory", store.rate_record(rate), "; ".join(reasons)))
        else:
            good.append(rate)
    return good, invalid


async def sync_inventory(database_url: str, adapter: SupplierAdapter, window_start: dt.date, days: int, *,
                         run_id: str | None = None, batch_hotels: int = INVENTORY_BATCH_HOTELS,
                         parallel_batches: int = 3, max_bad_share: float = 0.05, delta: bool = True
                         ) -> SupplierSyncResult:
    """Rates and availability for [window_start, window_start + days) for every hotel of one supplier.

    `delta`: ask a supplier with a delta feed only for what changed since the last good run (the nights that run
    covered); False fetches everything."""
    code = adapter.code
    result = SupplierSyncResult(code, "inventory")
    window = (window_start, window_start + dt.timedelta(days=days))
    started_at, start = dt.datetime.now(dt.UTC), time.monotonic()
    conn = await asyncio.to_thread(lambda: store.connect(database_url, bulk=True))
    try:
        # Scheduled runs may overlap when one is slow: one inventory sync per supplier at a time.
        locked = await asyncio.to_thread(lambda: conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", (f"inventory-sync:{code}",)).fetchone()[0])
        if not locked:
            result.status = "failed"
            result.errors.append(f"another inventory sync of supplier {code} is running")
            log(logger, logging.WARNING, "inventory sync skipped", supplier=code, reason=result.errors[0])
            return result
        hotel_ids = await asyncio.to_thread(store.supplier_hotel_ids, conn, code)
        previous = await asyncio.to_thread(store.previous_good_rows, conn, code, "inventory")
        spans = fetch_spans(await asyncio.to_thread(store.delta_base, conn, code) if delta else None, window)
        http = getattr(adapter, "http", None)
        if http is not None:
            http.earliest_date = None
        whole = [(window[0], window[1], None)]
        # Hotels with no rate stored in the window yet (new in the content) have no past to ask changes of.
        fresh = (await asyncio.to_thread(store.hotels_without_rates, conn, code, *window)
                 if spans[0][2] is not None else set())
        batches = [(group[i:i + batch_hotels], group_spans)
                   for group, group_spans in ((sorted(set(hotel_ids) - fresh), spans), (sorted(fresh), whole))
                   for i in range(0, len(group), batch_hotels)]
        gate = asyncio.Semaphore(parallel_batches)
        write_lock = asyncio.Lock()
        fetch_ms = 0.0

        async def fetch(batch: list[str], batch_spans: list) -> _Batch:
            nonlocal fetch_ms
            rates: list[NightlyRate] = []
            invalid: list[InvalidRecord] = []
            error = None
            fetched_at, began = dt.datetime.now(dt.UTC), time.monotonic()
            try:
                for first, end, changed_since in batch_spans:
                    async for item in adapter.availability(batch, first, end, changed_since=changed_since):
                        (invalid if isinstance(item, InvalidRecord) else rates).append(item)
            except SupplierError as failure:
                error = str(failure)
            fetch_ms += (time.monotonic() - began) * 1000
            return _Batch(rates, invalid, error, fetched_at)

        def process(batch: _Batch) -> None:
            good, rejected = screen(batch.rates, hotel_ids, window)
            rejected = batch.invalid + rejected
            counts = store.write_inventory(conn, good, hotel_ids, batch.fetched_at)
            result.rows_quarantined += store.quarantine(conn, rejected, run_id)
            result.rows_upserted += counts.rates
            result.availability_upserted += counts.availability
            result.room_types_upserted += counts.room_types
            result.holds_absorbed += counts.holds_absorbed
            result.orders_flagged += counts.orders_flagged
            for record in rejected:
                _count_reason(result, record.reason.split("; ")[0])

        # Small batches (a delta feed's changes) are written together: each check and write has a fixed cost.
        held_back = _Batch([], [], None, LATEST)

        async def write(batch: _Batch) -> None:
            began = time.monotonic()
            await asyncio.to_thread(process, batch)
            result.write_ms += (time.monotonic() - began) * 1000

        async def run(batch_ids: list[str], batch_spans: list) -> None:
            nonlocal held_back
            # The gate covers fetch and write, so at most `parallel_batches` batches (and what is held back, below
            # MIN_WRITE_ROWS) are held in memory.
            async with gate:
                batch = await fetch(batch_ids, batch_spans)
                result.rows_fetched += len(batch.rates) + len(batch.invalid)
                if batch.error:
                    result.errors.append(batch.error)
                async with write_lock:
                    if len(batch.rates) + len(batch.invalid) >= MIN_WRITE_ROWS:
                        await write(batch)
                        return
                    held_back.rates.extend(batch.rates)
                    held_back.invalid.extend(batch.invalid)
                    held_back.fetched_at = min(held_back.fetched_at, batch.fetched_at)  # absorbs no more than each
                    if len(held_back.rates) + len(held_back.invalid) >= MIN_WRITE_ROWS:
                        batch, held_back = held_back, _Batch([], [], None, LATEST)
                        await write(batch)

        if not hotel_ids:
            result.errors.append("no hotels: the supplier's content has not been synced")
        await asyncio.gather(*(run(batch, batch_spans) for batch, batch_spans in batches))
        if held_back.rates or held_back.invalid:
            await write(held_back)
        result.latency_ms = (time.monotonic() - start) * 1000
        result.delta_answers = delta_answers = getattr(adapter, "delta_answers", 0)
        result.verdict = judge_feed(result.rows_fetched, result.rows_quarantined, max_bad_share, previous,
                                    errors=len(result.errors), counts=result.quarantine_reasons,
                                    delta=delta_answers > 0)
        if result.errors:
            result.status = "partial" if result.rows_upserted or result.rows_fetched else "failed"
        elif not result.verdict.passed:
            result.status = "contract_failed"
        contract = result.verdict.as_json() | {
            "fetch_ms": round(fetch_ms, 1), "delta_answers": delta_answers,
            "changed_since": spans[0][2].isoformat() if spans[0][2] else None,
            # The next run asks for changes since this one's first answer, by the supplier's clock (HTTP Date);
            # without one, since a little before this run began by ours.
            "next_changed_since": (getattr(http, "earliest_date", None) or started_at - DELTA_MARGIN).isoformat()}
        result.sync_run_id = await asyncio.to_thread(
            lambda: store.record_run(conn, run_id=run_id, code=code, feed="inventory", started_at=started_at,
                                     status=result.status, rows_fetched=result.rows_fetched,
                                     rows_upserted=result.rows_upserted, rows_quarantined=result.rows_quarantined,
                                     latency_ms=result.latency_ms, errors=result.errors, contract=contract,
                                     window=window))
    finally:
        await asyncio.to_thread(conn.close)
    level = logging.INFO if result.status == "ok" else logging.WARNING
    log(logger, level, "inventory sync finished", supplier=code, **result.metadata())
    return result


async def sync_suppliers(adapters: list[SupplierAdapter], feed: str, database_url: str, *, run_id: str | None = None,
                         window_start: dt.date | None = None, days: int = 30,
                         batch_hotels: int = INVENTORY_BATCH_HOTELS, parallel_batches: int = 3,
                         max_bad_share: float = 0.05, delta: bool = True) -> dict[str, SupplierSyncResult]:
    """Sync every supplier concurrently; one supplier's failure never stops the others."""

    async def one(adapter: SupplierAdapter) -> SupplierSyncResult:
        try:
            if feed == "content":
                return await sync_content(database_url, adapter, run_id)
            return await sync_inventory(database_url, adapter, window_start or dt.date.today(), days, run_id=run_id,
                                        batch_hotels=batch_hotels, parallel_batches=parallel_batches,
                                        max_bad_share=max_bad_share, delta=delta)
        except Exception as error:  # a bug or a dead database for one supplier must not sink the others
            log(logger, logging.ERROR, "supplier sync crashed", supplier=adapter.code, feed=feed, error=repr(error))
            return SupplierSyncResult(adapter.code, feed, status="failed", errors=[repr(error)])
        finally:
            close = getattr(adapter, "aclose", None)
            if close is not None:
                await close()

    results = await asyncio.gather(*(one(adapter) for adapter in adapters))
    return {result.code: result for result in results}
