"""The three steps the Dagster assets run (kept here so the assets stay thin and tests can call them):
content sync, inventory sync, hot cache refresh."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

import redis

from core.archive.recorder import FeedRecorder
from core.archive.store import FeedArchive
from core.collector import collector_paused
from core.inventory import store
from core.inventory.cache import CacheCounts, refresh_supplier
from core.inventory.sync import SupplierSyncResult, sync_suppliers
from core.logs import log
from core.settings import Settings
from core.suppliers.config import INVENTORY_BATCH_HOTELS
from core.suppliers.registry import adapter_for, enabled_suppliers, flush_calls

logger = logging.getLogger("inventory")

def _codes(database_url: str, only: list[str] | None) -> list[str]:
    from core.db import engine_for

    codes = enabled_suppliers(engine_for(database_url))
    return [code for code in codes if not only or code in only]


def _adapters(settings: Settings, database_url: str, only: list[str] | None, base_urls: dict[str, str] | None):
    # The registry and the call log must use the database the caller named (a Dagster resource, a test).
    settings = settings.model_copy(update={"database_url": database_url})
    return [adapter_for(code, settings, (base_urls or {}).get(code)) for code in _codes(database_url, only)]


def _recorders(adapters: list, feed: str, archive: FeedArchive | None, **sync: object) -> dict[str, FeedRecorder]:
    """A recorder on each adapter when the sync is archived."""
    recorders = {}
    for adapter in adapters if archive is not None else []:
        recorders[adapter.code] = FeedRecorder(adapter.code, feed, **sync)
        recorders[adapter.code].tap(adapter)
    return recorders


def _archive(results: dict[str, SupplierSyncResult], recorders: dict[str, FeedRecorder],
             archive: FeedArchive | None, run_id: str | None) -> None:
    """Each supplier's answers and parsed rows into the archive; a failed write is logged, the sync stands."""
    for code, recorder in recorders.items():
        result = results.get(code)
        try:
            written = recorder.write(archive, run_id, result.sync_run_id if result else None)
        except Exception as error:
            log(logger, logging.WARNING, "raw-feed archive write failed", supplier=code, error=repr(error))
            if result:
                result.archived = {"error": repr(error)}
            continue
        if result:
            result.archived = written.metadata()


def run_content_sync(settings: Settings, database_url: str, run_id: str | None = None,
                     only: list[str] | None = None, base_urls: dict[str, str] | None = None,
                     archive: FeedArchive | None = None) -> dict[str, SupplierSyncResult]:
    """Every enabled supplier's hotel content; `archive`: keep every answer and parsed hotel there."""
    adapters = _adapters(settings, database_url, only, base_urls)
    recorders = _recorders(adapters, "content", archive)
    try:
        results = asyncio.run(sync_suppliers(adapters, "content", database_url, run_id=run_id))
    finally:
        flush_calls(settings.model_copy(update={"database_url": database_url}))
    _archive(results, recorders, archive, run_id)
    return results


def run_inventory_sync(settings: Settings, database_url: str, *, run_id: str | None = None, days: int = 30,
                       start: dt.date | None = None, batch_hotels: int = INVENTORY_BATCH_HOTELS,
                       parallel_batches: int = 3,
                       max_bad_share: float = 0.05, only: list[str] | None = None,
                       base_urls: dict[str, str] | None = None, processes: bool = False, delta: bool = True,
                       archive: FeedArchive | None = None) -> dict[str, SupplierSyncResult]:
    """Sync every enabled supplier; `processes`: each supplier in its own process (both cores, no
    shared GIL; each process pays its own imports, so it pays off for large syncs only); `delta`: ask suppliers
    with a delta feed for what changed since the last good run only; `archive`: keep every answer and parsed rate
    there."""
    if processes:
        return _inventory_in_processes(settings, database_url, run_id=run_id, days=days, start=start,
                                       batch_hotels=batch_hotels, parallel_batches=parallel_batches,
                                       max_bad_share=max_bad_share, only=only, base_urls=base_urls, delta=delta,
                                       archive=archive)
    adapters = _adapters(settings, database_url, only, base_urls)
    window_start = start or dt.date.today()
    recorders = _recorders(adapters, "inventory", archive, batch_hotels=batch_hotels,
                           window=(window_start, window_start + dt.timedelta(days=days)))
    try:
        with collector_paused():
            results = asyncio.run(sync_suppliers(
                adapters, "inventory", database_url, run_id=run_id, window_start=window_start,
                days=days, batch_hotels=batch_hotels, parallel_batches=parallel_batches,
                max_bad_share=max_bad_share, delta=delta))
    finally:
        flush_calls(settings.model_copy(update={"database_url": database_url}))
    _archive(results, recorders, archive, run_id)
    return results


def _inventory_in_processes(settings: Settings, database_url: str, **options) -> dict[str, SupplierSyncResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    only = options.pop("only")
    codes = _codes(database_url, only)
    if not codes:
        return {}
    # spawn, not fork: the caller (a Dagster step, the API) may run threads that hold locks.
    with ProcessPoolExecutor(max_workers=len(codes), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {code: pool.submit(run_inventory_sync, settings, database_url, only=[code], **options)
                   for code in codes}
        results: dict[str, SupplierSyncResult] = {}
        for code, future in futures.items():
            try:
                results.update(future.result())
            except Exception as error:  # a crashed worker fails its supplier only
                results[code] = SupplierSyncResult(code, "inventory", status="failed", errors=[repr(error)])
    return results


@dataclass
class CacheRefresh:
    updated: dict[str, CacheCounts] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)  # supplier → why its previous data keeps serving

    def metadata(self) -> dict:
        return {
            "suppliers_updated": sorted(self.updated),
            "suppliers_blocked": self.blocked,
            "products": sum(c.products for c in self.updated.values()),
            "nights_written": sum(c.nights for c in self.updated.values()),
            "rates_cached": sum(c.rates for c in self.updated.values()),
            "per_supplier": {code: vars(c) for code, c in self.updated.items()},
        }


def refresh_hot_cache(database_url: str, client: redis.Redis, only: list[str] | None = None) -> CacheRefresh:
    """Rewrite the hot cache for every supplier whose latest inventory run passed its contract;
    the others are left alone, so their previous good data keeps serving."""
    refresh = CacheRefresh()
    with store.connect(database_url) as conn:
        latest = store.latest_runs(conn, "inventory")
        updated_runs: list[int] = []
        for code in _codes(database_url, only):
            run = latest.get(code)
            if run is None:
                refresh.blocked[code] = "no inventory run yet"
                continue
            if run.status != "ok":
                reasons = run.contract.get("reasons") or run.errors[:3]
                refresh.blocked[code] = f"latest inventory run {run.status}: {'; '.join(map(str, reasons))}"
                continue
            refresh.updated[code] = refresh_supplier(conn, client, code, run.window_start, run.window_end)
            updated_runs.append(run.id)
        store.mark_cache_updated(conn, updated_runs)
    return refresh

