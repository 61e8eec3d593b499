"""`hotelctl bench sync`: the inventory sync end to end, and its PostgreSQL write path against a raw
COPY of the same rows, measured in the same run, in a scratch database that is dropped afterwards.

After the first load it times the syncs that run every few minutes, against the first load's time: a re-sync
over unchanged inventory, and one after each supplier moved the price of 5 % of its rates
(`POST /_admin/reprice` on the simulators). Target: that re-sync writes at most 10 % of the rows and takes
under 30 % of the first load's time.

The simulators run as child processes (as in `hotelctl up`), so they use the second core.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from bench import bench_app
from cli.common import console, endpoints_or_exit, settings_or_exit, step
from core.suppliers.config import INVENTORY_BATCH_HOTELS

TARGET_HOTELS, TARGET_DAYS, TARGET_SUPPLIERS, BUDGET_S = 10_000, 30, 3, 300
RESYNC_CHANGED_SHARE, RESYNC_MAX_WRITTEN, RESYNC_MAX_TIME = 0.05, 0.10, 0.30


def _own_credentials(codes: list[str]) -> dict[str, str]:
    """Each simulator's own API key and signing secret, as a real supplier's (outside development the platform
    refuses the built-in ones): set in this process's environment, which the simulators, the sync processes and
    the adapters read. Returns the API keys."""
    from core.suppliers.config import supplier_settings

    keys = {}
    for code in codes:
        keys[code] = os.environ[f"SUPPLIER_{code}_API_KEY"] = secrets.token_urlsafe(24)
        os.environ[f"SUPPLIER_{code}_SECRET"] = secrets.token_urlsafe(32)
    supplier_settings.cache_clear()
    return keys


def _start_children(codes: list[str], seed: int, hotels: int, workdir: Path) -> tuple[dict[str, str], list]:
    processes, urls = [], {}
    for code in codes:
        port_file = workdir / f"{code}.port"
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "suppliers.launch", "--code", code, "--seed", str(seed), "--hotels", str(hotels),
             "--port-file", str(port_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for code, process in zip(codes, processes, strict=True):
        port_file = workdir / f"{code}.port"
        deadline = time.monotonic() + 300
        while not port_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"simulator {code} did not start")
            time.sleep(0.1)
        urls[code] = f"http://127.0.0.1:{port_file.read_text().strip()}"
    return urls, processes


def _reprice(urls: dict[str, str], keys: dict[str, str], share: float, start: dt.date, days: int, salt: str) -> int:
    """Each simulator moves the price of a seeded share of its rates in the window; returns how many moved."""
    import httpx

    moved = 0
    for code, url in urls.items():
        response = httpx.post(f"{url}/_admin/reprice", headers={"X-Admin-Key": keys[code]}, timeout=600,
                              json={"share": share, "pct": 5, "salt": salt, "from": start.isoformat(),
                                    "to": (start + dt.timedelta(days=days)).isoformat()})
        response.raise_for_status()
        moved += response.json()["rates_repriced"]
    return moved


def _timed_sync(run, label: str, first_rows: int, first_s: float) -> tuple[int, float]:
    """One re-sync: rows written (rates + availability) and skipped, and its time against the first load's."""
    started = time.perf_counter()
    results = run()
    seconds = time.perf_counter() - started
    fetched = sum(r.rows_fetched for r in results.values())
    written = sum(r.rows_upserted + r.availability_upserted for r in results.values())
    statuses = ",".join(f"{code}:{r.status}" for code, r in sorted(results.items()))
    typer.echo(f"{label}: {written} rows written, {first_rows - written} of the window's {first_rows} rows skipped "
               f"({fetched} rows fetched), {seconds:.2f}s = {seconds / first_s:.1%} of the first load's "
               f"{first_s:.2f}s [{statuses}]")
    return written, seconds


def _cpu_seconds(processes: list) -> float:
    """User + system CPU time of child processes, from /proc (Linux)."""
    total = 0.0
    for process in processes:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


async def _sample(settings, codes: list[str], start: dt.date, days: int, rows_wanted: int, database_url: str):
    """Nightly rates of the first hotels of each supplier until `rows_wanted` rows (fetched, not timed)."""
    from core.inventory import store
    from core.suppliers.models import NightlyRate
    from core.suppliers.registry import adapter_for

    per_supplier = max(1, rows_wanted // len(codes))
    sample: dict[str, list[NightlyRate]] = {}
    with store.connect(database_url) as conn:
        ids = {code: sorted(store.supplier_hotel_ids(conn, code)) for code in codes}
    for code in codes:
        adapter = adapter_for(code, settings)
        rates: list[NightlyRate] = []
        for offset in range(0, len(ids[code]), 50):
            async for item in adapter.availability(ids[code][offset:offset + 50], start,
                                                   start + dt.timedelta(days=days)):
                if isinstance(item, NightlyRate) and item.net.amount > 0:
                    rates.append(item)
            if len(rates) >= per_supplier:
                break
        await adapter.aclose()
        sample[code] = rates[:per_supplier]
    return sample


def _write_path_vs_copy(database_url: str, sample: dict, batch_rows: int, rounds: int) -> tuple[int, float, float]:
    """(rows, write-path seconds, raw COPY seconds), medians over `rounds` alternating rounds.

    Both write the same rows into the same, emptied `rates` table (same indexes, constraints, foreign
    key): the write path as the sync runs it (room types, rates, availability, one transaction per
    batch); the baseline as one plain COPY of the rate rows.
    """
    from core.inventory import store

    writes, copies = [], []
    with store.connect(database_url, bulk=True) as conn:
        rows = sum(len(rates) for rates in sample.values())
        for _ in range(rounds):
            conn.execute("TRUNCATE room_types CASCADE")
            started = time.perf_counter()
            for code, rates in sample.items():
                hotel_ids = store.supplier_hotel_ids(conn, code)
                for offset in range(0, len(rates), batch_rows):
                    store.write_inventory(conn, rates[offset:offset + batch_rows], hotel_ids)
            writes.append(time.perf_counter() - started)

            type_ids = {(hotel, room): type_id for hotel, room, type_id in conn.execute(
                "SELECT sh.supplier_code || '|' || sh.supplier_hotel_id, rt.room_code, rt.id FROM room_types rt "
                "JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel")}
            tuples = [(type_ids[(f"{code}|{r.supplier_hotel_id}", r.room_code)], r.stay_date, r.board, r.rate_plan,
                       r.rate_key, r.net.amount, r.net.currency, r.refundable, store._policy_json(r))
                      for code, rates in sample.items() for r in rates]
            conn.execute("TRUNCATE rates, availability, inventory_holds")
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(
                f"COPY rates ({store.RATE_COLUMNS}) FROM STDIN"
            ) as copy:
                for row in tuples:
                    copy.write_row(row)
            copies.append(time.perf_counter() - started)
    return rows, statistics.median(writes), statistics.median(copies)


@bench_app.command("sync")
def bench_sync(
    hotels: int = typer.Option(1000, min=10, help="Master hotels in the simulated world."),
    days: int = typer.Option(30, min=1, max=31, help="Days of inventory to sync."),
    seed: int = typer.Option(7, help="World seed."),
    suppliers: str = typer.Option("A,B,C", help="Supplier codes, comma-separated."),
    sample_rows: int = typer.Option(300_000, min=1000, help="Rows for the write path vs raw COPY comparison."),
    rounds: int = typer.Option(3, min=1, help="Alternating rounds of write path and raw COPY (medians)."),
    batch_hotels: int = typer.Option(INVENTORY_BATCH_HOTELS, min=1, help="Hotels per write transaction."),
    parallel_batches: int = typer.Option(3, min=1, help="Batches in flight per supplier."),
    processes: bool = typer.Option(False, "--processes/--one-process",
                                   help="Sync each supplier in its own process (uses both cores)."),
    keep: bool = typer.Option(False, help="Keep the scratch database (its name is printed)."),
) -> None:
    """Full sync rows/s, write-path rows/s beside a raw COPY of the same rows, and the 10k×30×3 projection."""
    from core.db import engine_for, scratch_database
    from core.inventory.pipeline import run_content_sync, run_inventory_sync
    from core.migrate import upgrade
    from core.suppliers.registry import register_supplier

    codes = [code.strip().upper() for code in suppliers.split(",") if code.strip()]
    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    with scratch_database(endpoints.database_url, "hotel_bench", keep=keep) as scratch:
        with step("Migrating a scratch database"):
            upgrade(scratch)
        if keep:
            console.print(f"scratch database (kept afterwards): {scratch}")
        workdir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
        processes_: list = []
        try:
            with step(f"Starting simulators {','.join(codes)} with a {hotels}-hotel world"):
                keys = _own_credentials(codes)
                urls, processes_ = _start_children(codes, seed, hotels, workdir)
                for code, url in urls.items():
                    register_supplier(engine_for(scratch), code, url, keys[code],
                                      settings.encryption_secret.get_secret_value())
            bench = settings.model_copy(update={"database_url": scratch})
            started = time.perf_counter()
            content = run_content_sync(bench, scratch)
            content_s = time.perf_counter() - started
            supplier_hotels = sum(r.rows_upserted for r in content.values())
            typer.echo(f"content: {supplier_hotels} supplier hotels from {len(codes)} suppliers in {content_s:.1f}s")

            start = dt.date.today()
            started = time.perf_counter()
            sims_cpu = _cpu_seconds(processes_)
            results = run_inventory_sync(bench, scratch, days=days, start=start, batch_hotels=batch_hotels,
                                         parallel_batches=parallel_batches, max_bad_share=1.0, processes=processes)
            sync_s = time.perf_counter() - started
            sims_cpu = _cpu_seconds(processes_) - sims_cpu
            rows = sum(r.rows_upserted for r in results.values())
            for code, r in sorted(results.items()):
                typer.echo(f"  {code}: {r.status}, {r.rows_fetched} rows fetched, {r.rows_upserted} rates and "
                           f"{r.availability_upserted} availability rows upserted, {r.rows_quarantined} quarantined, "
                           f"{r.latency_ms / 1000:.1f}s (checks and writes {r.write_ms / 1000:.1f}s of it)")
            mode = "one process per supplier" if processes else "one process"
            typer.echo(f"inventory sync: {rows} rate rows ({days} days) in {sync_s:.1f}s = {rows / sync_s:,.0f} rows/s "
                       f"end to end (HTTP, parsing, contracts, PostgreSQL; {mode})")
            typer.echo(f"  the simulators themselves used {sims_cpu:.0f} CPU-seconds of this machine's 2 cores "
                       "meanwhile (real suppliers would not)")

            def resync():
                return run_inventory_sync(bench, scratch, days=days, start=start, batch_hotels=batch_hotels,
                                          parallel_batches=parallel_batches, max_bad_share=1.0, processes=processes)

            first_rows = rows + sum(r.availability_upserted for r in results.values())
            _timed_sync(resync, "re-sync, nothing changed", first_rows, sync_s)
            with step(f"Each supplier moves the price of {RESYNC_CHANGED_SHARE:.0%} of its rates"):
                moved = _reprice(urls, keys, RESYNC_CHANGED_SHARE, start, days, salt=str(seed))
            written, changed_s = _timed_sync(resync, f"re-sync, {moved} rates repriced", first_rows, sync_s)
            met = written <= RESYNC_MAX_WRITTEN * first_rows and changed_s < RESYNC_MAX_TIME * sync_s
            typer.echo(f"target for the {RESYNC_CHANGED_SHARE:.0%}-changed re-sync: at most "
                       f"{RESYNC_MAX_WRITTEN:.0%} of the rows written ({written / first_rows:.1%}) in under "
                       f"{RESYNC_MAX_TIME:.0%} of the first load's time ({changed_s / sync_s:.1%}): "
                       f"{'met' if met else 'NOT met'}")

            with step("Fetching the comparison sample"):
                sample = asyncio.run(_sample(bench, codes, start, days, sample_rows, scratch))
            per_batch = max(1, rows // max(1, sum(1 for _ in range(0, supplier_hotels, batch_hotels))))
            sample_n, write_s, copy_s = _write_path_vs_copy(scratch, sample, per_batch, rounds)
            write_rps, copy_rps = sample_n / write_s, sample_n / copy_s
            typer.echo(f"write path (COPY into temp tables + INSERT … ON CONFLICT for room types, rates, "
                       f"availability, {per_batch} rows per transaction): {sample_n} rows in {write_s:.2f}s = "
                       f"{write_rps:,.0f} rows/s")
            typer.echo(f"raw COPY of the same rate rows into the same emptied rates table: {copy_s:.2f}s = "
                       f"{copy_rps:,.0f} rows/s (medians of {rounds} alternating rounds)")
            typer.echo(f"ratio write path / raw COPY: {write_rps / copy_rps:.2f} (target >= 0.50)")

            rows_per_hotel_day = rows / max(1, supplier_hotels * days)
            hotels_per_master = supplier_hotels / hotels / len(codes)
            projected_rows = TARGET_HOTELS * hotels_per_master * TARGET_SUPPLIERS * TARGET_DAYS * rows_per_hotel_day
            projected_s = projected_rows / (rows / sync_s) + content_s * TARGET_HOTELS / hotels
            verdict = "fits" if projected_s < BUDGET_S / 2 else ("fits, tightly" if projected_s < BUDGET_S else
                                                                   "does NOT fit")
            typer.echo(f"projection for {TARGET_HOTELS:,} hotels x {TARGET_DAYS} days x {TARGET_SUPPLIERS} suppliers: "
                       f"{projected_rows:,.0f} rate rows in ~{projected_s:.0f}s at this run's end-to-end rate: "
                       f"{verdict} within the {BUDGET_S}s schedule interval (linear extrapolation from {hotels} "
                       "hotels)")
        finally:
            for process in processes_:
                process.terminate()
            for process in processes_:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
