"""The raw-feed archive: a live sync against the simulated suppliers (real HTTP) keeps every answer and the rows
parsed from them as Parquet; its numbers land in the asset catalog's metadata; `hotelctl sql` answers over the
archive; and a day replayed from the archive, with the suppliers stopped, writes exactly the rows the live sync
wrote."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.archive.store import FeedArchive
from core.db import engine_for
from core.migrate import upgrade
from core.suppliers.breaker import reset_breakers
from core.suppliers.registry import register_supplier
from pipelines.resources import LocalFeedArchive, PostgresResource
from suppliers.launch import DEV_KEYS, start_simulator_threads

pytest_plugins = ["tests.supplier_fixtures"]

DAYS = 3
REPO = Path(__file__).resolve().parents[1]
CODES = ("A", "B", "C")


@pytest.fixture(scope="module")
def own_suppliers(world):
    """Simulators of this module's own (the same world as the session's), so that stopping them leaves the other
    modules' suppliers running."""
    running = start_simulator_threads(world)
    yield running
    for simulator in running.values():
        simulator.stop()
    reset_breakers()


@pytest.fixture
def own_database(new_database, own_suppliers, settings):
    """A database of this test's own, migrated, with the simulators registered: the live sync is the first."""
    url = new_database("hotel_archive")
    upgrade(url)
    engine = engine_for(url)
    for code, simulator in own_suppliers.items():
        register_supplier(engine, code, simulator.base_url, DEV_KEYS[code],
                          settings.encryption_secret.get_secret_value())
    reset_breakers()
    yield url, engine
    engine.dispose()


def _written(engine, window: tuple[dt.date, dt.date]) -> dict[str, list[tuple]]:
    """What a sync wrote for the window: every rate and availability row, by supplier, hotel and room."""
    bounds = {"start": window[0], "end": window[1]}
    with engine.connect() as conn:
        rates = conn.execute(sa.text(
            "SELECT sh.supplier_code, sh.supplier_hotel_id, rt.room_code, rt.name, r.stay_date, r.board, r.rate_plan, "
            "r.rate_key, r.net_amount, r.currency, r.refundable, r.cancellation_policy::text FROM rates r "
            "JOIN room_types rt ON rt.id = r.room_type_id JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel "
            "WHERE r.stay_date >= :start AND r.stay_date < :end ORDER BY 1, 2, 3, 5, 6, 7"), bounds).fetchall()
        availability = conn.execute(sa.text(
            "SELECT sh.supplier_code, sh.supplier_hotel_id, rt.room_code, a.stay_date, a.allotment FROM availability a "
            "JOIN room_types rt ON rt.id = a.room_type_id JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel "
            "WHERE a.stay_date >= :start AND a.stay_date < :end ORDER BY 1, 2, 3, 4"), bounds).fetchall()
    return {"rates": [tuple(row) for row in rates], "availability": [tuple(row) for row in availability]}


def _quarantined(engine, run_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(sa.text(
            "SELECT supplier_code, reason, record::text FROM supplier_quarantine WHERE run_id = :run AND "
            "feed = 'inventory'"), {"run": run_id}).fetchall())


def _wipe(engine, window: tuple[dt.date, dt.date]) -> None:
    with engine.begin() as conn:
        for table in ("rates", "availability"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE stay_date >= :start AND stay_date < :end"),
                         {"start": window[0], "end": window[1]})


def _supplier_calls(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM supplier_calls")).scalar()


def _latest(instance: dg.DagsterInstance, asset: str) -> dict:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    assert records, asset
    return records[0].asset_materialization.metadata


def test_a_day_replayed_from_the_archive_writes_what_its_live_sync_wrote(own_suppliers, own_database, redis_url,
                                                                         new_database, tmp_path, monkeypatch, request):
    from assets import inventory

    database_url, engine = own_database

    folder = tmp_path / "archive"
    resources = {"postgres": PostgresResource(database_url=database_url), "archive": LocalFeedArchive(path=str(folder))}
    checks = [inventory.inventory_feed_contracts]
    instance = dg.DagsterInstance.ephemeral()
    live = dg.materialize(
        [inventory.supplier_hotels, inventory.supplier_inventory, *checks], instance=instance, resources=resources,
        run_config={"ops": {"supplier_inventory": {"config": {"days": DAYS, "batch_hotels": 7, "delta": False}}}})
    assert live.success
    today = dt.date.today()
    window = (today, today + dt.timedelta(days=DAYS))

    # The asset catalog's numbers: read back from the instance's materialization events.
    synced = _latest(instance, "supplier_inventory")
    per_supplier = synced["per_supplier"].value
    assert {code: figures["status"] for code, figures in per_supplier.items()} == dict.fromkeys(CODES, "ok")
    for code in CODES:
        figures = per_supplier[code]
        assert isinstance(synced[f"rows_written_{code}"], dg.IntMetadataValue)
        assert synced[f"rows_written_{code}"].value == figures["rows_upserted"]
        assert synced[f"rows_quarantined_{code}"].value == figures["rows_quarantined"]
        assert synced[f"rows_skipped_{code}"].value == (figures["rows_fetched"] - figures["rows_upserted"]
                                                        - figures["rows_quarantined"])
        assert isinstance(synced[f"latency_ms_{code}"], dg.FloatMetadataValue)
        assert synced[f"latency_ms_{code}"].value == figures["latency_ms"] > 0
    assert synced["rows_written"].value == sum(f["rows_upserted"] for f in per_supplier.values()) > 0
    assert synced["rows_quarantined"].value == sum(f["rows_quarantined"] for f in per_supplier.values())
    assert isinstance(synced["latency_ms_max"], dg.FloatMetadataValue)

    # The archive: every answer (raw payload, with the run's id) and the parsed rates, by supplier and day.
    archive = FeedArchive(folder)
    assert archive.suppliers() == list(CODES)
    responses = archive.read("responses", day=None).to_pylist()
    inventory_answers = [row for row in responses if row["feed"] == "inventory"]
    assert {row["run_id"] for row in inventory_answers} == {live.run_id}
    assert {row["supplier"] for row in responses if row["feed"] == "content"} == set(CODES)
    assert all(row["day"] == today and row["body"] and row["status"] == 200 for row in inventory_answers)
    assert b"MessagePassword" not in b"".join(row["request"].encode() for row in responses)  # B's key is not kept
    for code in CODES:
        assert archive.files("responses", code, today) and archive.files("rates", code, today)
    written = _written(engine, window)
    assert written["rates"] and written["availability"]

    # `hotelctl sql` over the archive: the parsed rates per supplier equal what the live sync fetched and kept.
    monkeypatch.setenv("ARCHIVE_DIR", str(folder))
    monkeypatch.setenv("CLICKHOUSE_URL", f"chdb://{tmp_path / 'clickhouse'}")
    # The test's own engines and data folder: unset, the command would start embedded ones under the checkout's var/.
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "HOTEL_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    from core.settings import reset_settings_cache

    reset_settings_cache()
    request.addfinalizer(reset_settings_cache)  # later tests read their own environment, not this one
    from cli.main import app

    answer = CliRunner().invoke(app, ["sql", "--csv", "SELECT supplier, count(*) AS rates, count(DISTINCT run_id) "
                                      "AS runs FROM raw_rates GROUP BY supplier ORDER BY supplier"])
    assert answer.exit_code == 0, answer.output
    rows = list(csv.reader(io.StringIO(answer.stdout)))
    assert rows[0] == ["supplier", "rates", "runs"]
    stored = {code: sum(1 for row in written["rates"] if row[0] == code) for code in CODES}
    quarantined = {code: per_supplier[code]["rows_quarantined"] for code in CODES}
    parsed = {row[0]: int(row[1]) for row in rows[1:]}
    assert set(parsed) == set(CODES)
    assert all(stored[code] <= parsed[code] <= stored[code] + quarantined[code] for code in CODES), (parsed, stored)
    assert all(row[2] == "1" for row in rows[1:])
    table = CliRunner().invoke(app, ["sql", "SELECT count(*) AS answers FROM raw_responses WHERE feed = 'inventory'"])
    assert table.exit_code == 0 and str(len(inventory_answers)) in table.stdout, table.output
    facts = CliRunner().invoke(app, ["sql", "--csv", "SELECT count(*) AS orders FROM fact_orders"])  # the warehouse
    assert facts.exit_code == 0 and facts.stdout.splitlines() == ["orders", "0"], facts.output
    assert (folder / "warehouse" / "fact_orders.parquet").is_file()
    bad = CliRunner().invoke(app, ["sql", "SELECT nothing FROM nowhere"])
    assert bad.exit_code == 2 and "raw_rates" in bad.output  # the error names the views there are

    # Replay with the suppliers stopped: no answer can come from them.
    before = _quarantined(engine, live.run_id)
    calls_before = _supplier_calls(engine)
    _wipe(engine, window)
    assert _written(engine, window) == {"rates": [], "availability": []}
    for simulator in own_suppliers.values():
        simulator.stop()
        with pytest.raises(httpx.TransportError):
            httpx.get(simulator.base_url, timeout=2)
    replayed = dg.materialize(
        [inventory.supplier_inventory, *checks], instance=instance, resources=resources,
        run_config={"ops": {"supplier_inventory": {"config": {"from_archive": today.isoformat()}}}})
    assert replayed.success
    again = _latest(instance, "supplier_inventory")
    assert {code: f["status"] for code, f in again["per_supplier"].value.items()} == dict.fromkeys(CODES, "ok")
    assert again["from_archive"].value == today.isoformat()
    assert _written(engine, window) == written
    assert _quarantined(engine, replayed.run_id) == before
    assert {e.check_name: e.passed for e in replayed.get_asset_check_evaluations()} == {
        f"inventory_contract_{code}": True for code in CODES}
    assert _supplier_calls(engine) == calls_before  # a replay calls no supplier, and logs no call

    # The same replay through `hotelctl backfill supplier_inventory --from-archive`, recorded in the run history.
    _wipe(engine, window)
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "HOTEL_ENGINE_MODES")}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, ARCHIVE_DIR=str(folder), HOTEL_DATA_DIR=str(tmp_path),
               CLICKHOUSE_URL=f"chdb://{tmp_path / 'clickhouse'}", DAGSTER_DATABASE_URL=new_database("hotel_dagster"))
    command = [sys.executable, "-m", "cli.main", "backfill", "supplier_inventory", "--from-archive"]
    cli = subprocess.run([*command, today.isoformat()], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "after supplier_hotels and hotel_mappings" in cli.stderr
    assert _written(engine, window) == written
    nothing = subprocess.run([*command, (today - dt.timedelta(days=400)).isoformat()], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert nothing.returncode == 1 and "no archived inventory answers" in nothing.stderr


def test_the_archive_keeps_archive_retention_days(tmp_path):
    from assets.archive import raw_feed_archive

    archive = FeedArchive(tmp_path)
    today = dt.datetime.now(dt.UTC).date()
    ages = (0, 29, 30, 31, 90)
    for age in ages:
        day = today - dt.timedelta(days=age)
        archive.write("responses", "A", day, "inventory", f"run-{age}", [{
            "run_id": f"run-{age}", "supplier": "A", "day": day, "feed": "inventory", "seq": 0, "status": 200,
            "body": b"{}", "bytes": 2, "request_key": "k"}])
    result = dg.materialize([raw_feed_archive], resources={
        "archive": LocalFeedArchive(path=str(tmp_path), retention_days=30)})
    metadata = result.asset_materializations_for_node("raw_feed_archive")[0].metadata
    assert metadata["days_dropped"].value == 2 and metadata["days_kept"].value == 3 and metadata["files"].value == 3
    kept = {row["run_id"] for row in archive.read("responses").to_pylist()}
    assert kept == {"run-0", "run-29", "run-30"}
