"""Warehouse DDL and fact loads: schema applies idempotently, a reloaded day leaves exactly one copy."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from warehouse_fixtures import postgres_truth

from core.db import plain_url
from warehouse import schema
from warehouse.client import DATABASE, warehouse_client
from warehouse.loaders import FACTS, load_fact, stream_batches
from warehouse.schema import DdlFile, apply_schema, ddl_files

pytest_plugins = ["warehouse_fixtures"]


def test_schema_applies_once_and_reapplies_as_a_no_op(migrated):
    with warehouse_client(migrated.clickhouse_url) as client:
        apply_schema(client)
        assert apply_schema(client) == []  # second time: nothing to do
        versions = client.query(f"SELECT version FROM {DATABASE}.schema_versions ORDER BY version").result_rows
        assert [row[0] for row in versions] == [ddl.version for ddl in ddl_files()]
        tables = {row[0] for row in client.query(
            "SELECT name FROM system.tables WHERE database = %(db)s", parameters={"db": DATABASE}).result_rows}
        assert {fact.table for fact in FACTS.values()} <= tables
        money = client.query(
            "SELECT table, name, type FROM system.columns WHERE database = %(db)s AND table LIKE 'fact_%%' AND"
            " (name LIKE '%%amount%%' OR name LIKE '%%markup%%' OR name = 'difference')",
            parameters={"db": DATABASE}).result_rows
        assert money and all("Decimal(18, 4)" in kind for _, _, kind in money), money


def test_a_new_ddl_file_is_applied_though_the_schema_was_at_its_version(migrated, tmp_path, monkeypatch):
    """The no-DDL fast path (schema already at its version) must not hide a file added since."""
    probe = tmp_path / "9999_probe.sql"
    probe.write_text(f"CREATE TABLE IF NOT EXISTS {DATABASE}.schema_probe (x UInt8) ENGINE = MergeTree ORDER BY x;")
    with warehouse_client(migrated.clickhouse_url) as client:
        apply_schema(client)
        monkeypatch.setattr(schema, "ddl_files", lambda: [*ddl_files(), DdlFile("9999", probe)])
        try:
            assert apply_schema(client) == ["9999"]
            assert client.query(f"EXISTS TABLE {DATABASE}.schema_probe").result_rows[0][0] == 1
            assert apply_schema(client) == []
        finally:
            client.command(f"DROP TABLE IF EXISTS {DATABASE}.schema_probe SYNC")
            client.command(f"ALTER TABLE {DATABASE}.schema_versions DELETE WHERE version = '9999'",
                           settings={"mutations_sync": 1})


def test_ddl_file_names_are_checked(tmp_path):
    (tmp_path / "0001_ok.sql").write_text("SELECT 1")
    (tmp_path / "latest.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="latest.sql"):
        ddl_files(tmp_path)


def test_reloading_a_day_leaves_exactly_one_copy(migrated, seeded_month):
    with psycopg.connect(plain_url(migrated.database_url)) as conn:
        day = conn.execute("SELECT (created_at AT TIME ZONE 'UTC')::date AS day FROM orders WHERE our_reference"
                           " LIKE 'WH-%%' GROUP BY day ORDER BY count(*) DESC, day LIMIT 1").fetchone()[0]
    truth = postgres_truth(migrated.database_url, day, day + timedelta(days=1))
    fact = FACTS["orders"]
    with warehouse_client(migrated.clickhouse_url) as client:
        apply_schema(client)
        results = [load_fact(client, migrated.database_url, fact, day, day + timedelta(days=1), batch_rows=batch)
                   for batch in (3, 50_000, 2)]
        rows = client.query(f"SELECT count(), uniqExact(order_id), sumIf(sell_amount, status = 'CONFIRMED'),"
                            f" min(day), max(day) FROM {fact.qualified} WHERE day = %(day)s",
                            parameters={"day": day}).result_rows[0]
    assert truth["orders"] > 2 and results[0].batches > 1  # streamed in several batches
    assert [result.rows for result in results] == [truth["orders"]] * 3
    assert rows[0] == rows[1] == truth["orders"]
    assert rows[2] == truth["gmv"] and rows[3] == rows[4] == day


def test_batches_are_bounded_and_typed(migrated, seeded_month):
    batches = list(stream_batches(migrated.database_url, FACTS["orders"], seeded_month.start, seeded_month.end,
                                  batch_rows=25))
    assert len(batches) > 2 and max(batch.num_rows for batch in batches) == 25
    assert str(batches[0].schema.field("sell_amount").type) == "decimal128(18, 4)"


def test_a_day_emptied_at_the_source_is_emptied_in_the_warehouse(migrated, seeded_month):
    day = date(2026, 3, 1)
    with psycopg.connect(plain_url(migrated.database_url)) as conn:
        order = conn.execute(
            "INSERT INTO orders (partner_id, status, our_reference, supplier_code, hotel_id, check_in, check_out,"
            " net_amount, net_currency, sell_amount, sell_currency, created_at)"
            " SELECT partner_id, 'CONFIRMED', 'WH-EMPTY-1', supplier_code, hotel_id, check_in, check_out,"
            " net_amount, net_currency, sell_amount, sell_currency, '2026-03-01T10:00:00Z' FROM orders"
            " WHERE our_reference LIKE 'WH-%%' LIMIT 1 RETURNING id").fetchone()[0]
    fact = FACTS["orders"]
    with warehouse_client(migrated.clickhouse_url) as client:
        load_fact(client, migrated.database_url, fact, day, day + timedelta(days=1))
        before = client.query(f"SELECT count() FROM {fact.qualified} WHERE day = %(day)s",
                              parameters={"day": day}).result_rows[0][0]
    with psycopg.connect(plain_url(migrated.database_url)) as conn:
        conn.execute("DELETE FROM orders WHERE id = %s", (order,))
    with warehouse_client(migrated.clickhouse_url) as client:
        result = load_fact(client, migrated.database_url, fact, day, day + timedelta(days=1))
        after = client.query(f"SELECT count() FROM {fact.qualified} WHERE day = %(day)s",
                             parameters={"day": day}).result_rows[0][0]
    assert (before, after) == (1, 0) and result.days_emptied == 1
