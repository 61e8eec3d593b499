"""dbt_like_sql: loading errors name the file, lineage follows the SQL, asset checks catch bad rollups."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.warehouse import INPUT_TOTALS, MODEL_GROUP, InputTotals, _check_results, _render
from pipelines.definitions import defs
from pipelines.resources import resources_for
from warehouse.client import DATABASE, warehouse_client, warehouse_lock
from warehouse.loaders import FACTS, load_fact, partition_id
from warehouse.sql_models import ModelError, SqlModel, cheapest_first, create_table_sql, load_models, materialize

pytest_plugins = ["warehouse_fixtures"]

HEADER = "-- materialized: table\n-- partition_by: day\n"


def _folder(tmp_path: Path, models: dict[str, str]) -> Path:
    for name, sql in models.items():
        (tmp_path / f"{name}.sql").write_text(HEADER + sql)
    return tmp_path


def test_a_missing_ref_fails_naming_the_file(tmp_path):
    folder = _folder(tmp_path, {"good": "SELECT day FROM {{ source('facts', 'orders') }}",
                                "broken": "SELECT day FROM {{ ref('nowhere') }}"})
    with pytest.raises(ModelError) as error:
        load_models(folder)
    assert str(folder / "broken.sql") in str(error.value) and "nowhere" in str(error.value)


def test_a_cycle_fails_naming_the_files(tmp_path):
    folder = _folder(tmp_path, {"first": "SELECT day FROM {{ ref('second') }}",
                                "second": "SELECT day FROM {{ ref('third') }}",
                                "third": "SELECT day FROM {{ ref('first') }}",
                                "fine": "SELECT day FROM {{ source('facts', 'orders') }}"})
    with pytest.raises(ModelError, match="cycle") as error:
        load_models(folder)
    for name in ("first", "second", "third"):
        assert f"{name}.sql" in str(error.value)
    assert "fine.sql" not in str(error.value)


def test_unknown_sources_and_header_keys_name_the_file(tmp_path):
    first = tmp_path / "a"
    first.mkdir()
    with pytest.raises(ModelError, match=r"odd\.sql.*source\('facts', 'bookings'\)"):
        load_models(_folder(first, {"odd": "SELECT day FROM {{ source('facts', 'bookings') }}"}))
    other = tmp_path / "b"
    other.mkdir()
    (other / "typo.sql").write_text("-- materialised: table\nSELECT 1")
    with pytest.raises(ModelError, match=r"typo\.sql.*materialised"):
        load_models(other)
    for name, header in {"weekly": HEADER + "-- stored_by: week\n", "unbuilt": "-- stored_by: month\n"}.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{name}.sql").write_text(header + "SELECT day FROM {{ source('facts', 'orders') }}")
        with pytest.raises(ModelError, match=rf"{name}\.sql.*stored_by"):
            load_models(folder)


def test_every_model_is_an_asset_with_the_lineage_its_sql_names():
    graph = defs.resolve_asset_graph()
    models = load_models()
    assert {"daily_sales", "quote_conversion", "cancellation_rate", "supplier_performance",
            "price_competitiveness"} <= set(models)
    for name, model in models.items():
        node = graph.get(dg.AssetKey(name))
        expected = {f"fact_{source}" for _, source in model.sources} | set(model.refs)
        assert {key.to_user_string() for key in node.parent_keys} == expected, name
        assert node.group_name == MODEL_GROUP and node.pools == {"warehouse"}
        assert node.partitions_def is not None
        report = node.metadata["report"]
        assert report.url.endswith(f"/reports/{model.config['report']}")
        assert {check.name for check in node.check_keys} == {"reconciles_with_inputs", "not_negative"}, name
    for fact in FACTS.values():
        node = graph.get(dg.AssetKey(fact.table))
        assert node.metadata["report"].url.startswith("http") and node.pools == {"warehouse"}
    assert {key.to_user_string() for key in graph.get(dg.AssetKey("cancellation_rate")).parent_keys} == {"daily_sales"}


def test_checks_catch_negative_room_nights_and_totals_that_do_not_reconcile(migrated, seeded_month,
                                                                           built_warehouse):
    model = load_models()["daily_sales"]
    day = seeded_month.start + timedelta(days=9)
    end = day + timedelta(days=1)
    with warehouse_client(migrated.clickhouse_url) as client:
        assert all(result.passed for result in _check_results(client, model, day, end))
        client.command("INSERT INTO hotel_analytics.daily_sales (day, partner_id, city, supplier_code, currency,"
                       " orders, bookings, room_nights, gmv) VALUES (%(day)s, 'x', 'x', 'x', 'EUR', 1, 1, -3, 10)",
                       parameters={"day": day})
        broken = {result.check_name: result for result in _check_results(client, model, day, end)}
        assert broken["not_negative"].passed is False and broken["reconciles_with_inputs"].passed is False
        negatives = broken["not_negative"].metadata["negative_rows_by_column"].value
        assert negatives == {"orders": 0, "bookings": 0, "room_nights": 1, "gmv": 0}
        materialize(client, model, day, end)  # rebuilding the day replaces it whole
        assert all(result.passed for result in _check_results(client, model, day, end))
        assert client.query("SELECT count() FROM hotel_analytics.daily_sales WHERE partner_id = 'x'"
                            ).result_rows[0][0] == 0


def test_a_run_scans_the_orders_once_for_every_check_and_each_check_still_catches_its_model(
        migrated, seeded_month, built_warehouse, monkeypatch):
    models = load_models()
    day = seeded_month.start + timedelta(days=12)
    end = day + timedelta(days=1)
    orders_facing = ["daily_sales", "cancellation_rate", "supplier_performance"]
    with warehouse_client(migrated.clickhouse_url) as client:
        sent: list[str] = []
        query = client.query

        def counted(sql, *args, **kwargs):
            sent.append(sql)
            return query(sql, *args, **kwargs)

        monkeypatch.setattr(client, "query", counted)
        totals = InputTotals(client, day, end)
        for name in orders_facing:
            assert all(result.passed for result in _check_results(client, models[name], day, end, totals)), name
        assert sum("fact_orders" in sql for sql in sent) == 1  # one scan shared by the three checks

        # Each model is still compared with the orders: a cancellation_rate off by one order fails its own check.
        client.command("INSERT INTO hotel_analytics.cancellation_rate (day, partner_id, city, orders, cancelled)"
                       " VALUES (%(day)s, 'x', 'x', 1, 0)", parameters={"day": day})
        broken = {(name, result.check_name): result.passed for name in orders_facing
                  for result in _check_results(client, models[name], day, end, totals)}
        assert broken[("cancellation_rate", "reconciles_with_inputs")] is False
        assert broken[("daily_sales", "reconciles_with_inputs")] is True
        materialize(client, models["cancellation_rate"], day, end)
        assert all(result.passed for result in _check_results(client, models["cancellation_rate"], day, end))


def test_the_checks_read_order_and_quote_totals_from_the_projection_which_equal_a_full_scan(
        migrated, seeded_month, built_warehouse):
    """The reconciliation's order and quote totals come from the facts' `day_totals` projection (a few rows a
    day) and match the rows, also for a day reloaded since (the staging table and the swap carry it)."""
    start = seeded_month.start
    end = start + timedelta(days=len(built_warehouse["keys"]))
    reloaded = start + timedelta(days=4)
    with warehouse_client(migrated.clickhouse_url) as client:
        for fact in ("orders", "quotes"):
            load_fact(client, migrated.database_url, FACTS[fact], reloaded, reloaded + timedelta(days=1))
            sql = _render(INPUT_TOTALS[fact], start, end)
            plan = "\n".join(row[0] for row in client.query(f"EXPLAIN {sql}").result_rows)
            assert "ReadFromMergeTree (day_totals)" in plan, plan
            answered = client.query(sql).result_rows
            scanned = client.query(f"{sql} SETTINGS optimize_use_projections = 0").result_rows
            assert answered == scanned and answered[0][0], fact
            parts, projected = client.query(
                "SELECT count(), countIf(projections = ['day_totals']) FROM system.parts"
                " WHERE database = 'hotel_analytics' AND table = %(table)s AND active",
                parameters={"table": FACTS[fact].table}).result_rows[0]
            assert parts and projected == parts, (fact, parts, projected)


def _part_names(client, table: str, names: list[str] | None = None, days: list | None = None,
                stored_by: str = "day") -> list[str]:
    """Parts of `table` still on disk (active or replaced), by path (a table exchanged in may reuse a part's
    name): those named, or the active ones holding `days`."""
    where = "path IN %(names)s" if names is not None else "active AND partition_id IN %(days)s"
    return [row[0] for row in client.query(
        f"SELECT path FROM system.parts WHERE database = %(db)s AND table = %(table)s AND {where}",
        parameters={"db": DATABASE, "table": table, "names": names,
                    "days": [partition_id(day, stored_by) for day in days or []]}).result_rows]


def test_the_parts_a_rebuild_replaced_are_removed_early_in_the_next_short_session(
        migrated, seeded_month, built_warehouse):
    """Embedded, a chDB session lives one step or one request, mostly under ClickHouse's default 30-40 s before
    the first cleanup: without the tables' prompt cleanup the replaced parts piled up with every run."""
    start = seeded_month.start + timedelta(days=20)
    end = start + timedelta(days=3)
    days = [start + timedelta(days=n) for n in range(3)]
    tables = {"fact_orders": FACTS["orders"], "daily_sales": load_models()["daily_sales"]}
    stored_by = {"fact_orders": "day", "daily_sales": "month"}
    with warehouse_client(migrated.clickhouse_url) as client:
        replaced = {table: _part_names(client, table, days=days, stored_by=stored_by[table]) for table in tables}
        load_fact(client, migrated.database_url, FACTS["orders"], start, end)
        materialize(client, tables["daily_sales"], start, end)
        assert all(replaced.values()) and not any(
            set(_part_names(client, table, days=days, stored_by=stored_by[table])) & set(names)
            for table, names in replaced.items())
    with warehouse_client(migrated.clickhouse_url) as client:
        for table in tables:
            client.command(f"SYSTEM WAIT LOADING PARTS {DATABASE}.{table}")  # replaced parts load after the open
        deadline = time.monotonic() + 20  # the default first cleanup comes after 30-40 s
        while (left := {table: _part_names(client, table, names) for table, names in replaced.items()}) \
                and any(left.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert not any(left.values()), left


def test_a_model_turned_from_view_into_table_is_rebuilt_as_a_table_with_prompt_cleanup(
        migrated, seeded_month, built_warehouse, tmp_path):
    sql = ("SELECT day, count() AS orders FROM {{ source('facts', 'orders') }} "
           "WHERE {{ partition_filter('day') }} GROUP BY day")
    (tmp_path / "kind_switch.sql").write_text("-- materialized: view\n" + sql)
    day = seeded_month.start + timedelta(days=5)
    with warehouse_client(migrated.clickhouse_url) as client:
        client.command(f"DROP TABLE IF EXISTS {DATABASE}.kind_switch")
        materialize(client, load_models(tmp_path)["kind_switch"])
        (tmp_path / "kind_switch.sql").write_text(HEADER + sql)
        materialize(client, load_models(tmp_path)["kind_switch"], day, day + timedelta(days=1))
        # A table made before the setting gets it at its next build.
        client.command(f"ALTER TABLE {DATABASE}.kind_switch RESET SETTING cleanup_delay_period, "
                       "cleanup_delay_period_random_add")
        materialize(client, load_models(tmp_path)["kind_switch"], day, day + timedelta(days=1))
        engine, settings = client.query("SELECT engine, engine_full FROM system.tables WHERE database = %(db)s"
                                        " AND name = 'kind_switch'", parameters={"db": DATABASE}).result_rows[0]
        built = client.query(f"SELECT day, orders FROM {DATABASE}.kind_switch").result_rows
        expected = client.query(f"SELECT count() FROM {DATABASE}.fact_orders WHERE day = %(day)s",
                                parameters={"day": day}).result_rows[0][0]
        client.command(f"DROP TABLE {DATABASE}.kind_switch")
    assert engine == "MergeTree" and "cleanup_delay_period = 1" in settings
    assert built == [(day, expected)] and expected


def test_a_rebuild_of_every_day_a_table_holds_is_exchanged_whole_and_a_partial_one_replaces_its_days(
        migrated, seeded_month, built_warehouse, tmp_path):
    """Embedded, nothing else can touch the warehouse during a session: a build whose days cover every day the
    table holds swaps the staging table in (no replaced or empty parts left behind); a build of some of the
    days replaces just those, and the other days stay as they were."""
    sql = ("SELECT day, supplier_code, count() AS orders FROM {{ source('facts', 'orders') }} "
           "WHERE {{ partition_filter('day') }} GROUP BY day, supplier_code")
    model = load_models(_folder(tmp_path, {"whole_swap": sql}))["whole_swap"]

    def state(client) -> tuple[str, list[tuple], list[tuple]]:
        uuid = client.query("SELECT uuid FROM system.tables WHERE database = %(db)s AND name = 'whole_swap'",
                            parameters={"db": DATABASE}).result_rows[0][0]
        rows = client.query(f"SELECT day, sum(orders) FROM {model.table} GROUP BY day ORDER BY day").result_rows
        parts = client.query("SELECT partition_id, active, rows FROM system.parts WHERE database = %(db)s"
                             " AND table = 'whole_swap' ORDER BY partition_id, name",
                             parameters={"db": DATABASE}).result_rows
        return str(uuid), rows, parts

    with warehouse_client(migrated.clickhouse_url) as client:
        client.command(f"DROP TABLE IF EXISTS {model.table}")
        days = client.query(f"SELECT day, count() FROM {DATABASE}.fact_orders WHERE day >= %(start)s"
                            " GROUP BY day ORDER BY day LIMIT 4", parameters={"start": seeded_month.start}).result_rows
        expected, (later, _) = days[:3], days[3]
        start, end = expected[0][0], expected[-1][0] + timedelta(days=1)
        materialize(client, model, start, end)
        first = state(client)
        rebuilt = materialize(client, model, start, end)
        again = state(client)
        stored = client.query(f"SELECT count() FROM {model.table}").result_rows[0][0]
        materialize(client, model, later, later + timedelta(days=1))  # a day after them: they must stay
        extended = state(client)
        client.command(f"DROP TABLE {model.table}")
    assert first[1] == again[1] == expected and rebuilt.rows == stored > 0
    assert again[0] != first[0]  # a new table took the old one's name
    assert all(active and rows for _, active, rows in again[2])  # nothing replaced or emptied left behind
    assert [pid for pid, _, _ in again[2]] == [partition_id(day) for day, _ in expected]
    assert extended[0] == again[0] and extended[1] == days


def test_only_the_wanted_checks_run(migrated, seeded_month, built_warehouse):
    model = load_models()["daily_sales"]
    day = seeded_month.start + timedelta(days=3)
    wanted = {dg.AssetCheckKey(dg.AssetKey("daily_sales"), "not_negative")}
    with warehouse_client(migrated.clickhouse_url) as client:
        results = _check_results(client, model, day, day + timedelta(days=1), wanted=wanted)
    assert [result.check_name for result in results] == ["not_negative"]


def test_models_build_smallest_inputs_first_but_always_after_what_they_ref():
    models = list(load_models().values())
    big = {"hotel_analytics.fact_orders": 10_000_000, "hotel_analytics.daily_sales": 150_000}
    order = [model.name for model in cheapest_first(models, big)]
    assert sorted(order) == sorted(model.name for model in models)
    for model in models:
        assert all(order.index(ref) < order.index(model.name) for ref in model.refs), model.name
    # Nothing read by the quote and inventory models yet: they go first; the orders' models last.
    assert order.index("quote_conversion") < order.index("daily_sales")
    assert order.index("supplier_price_wins") < order.index("daily_sales")
    assert order[-1] in ("supplier_performance", "cancellation_rate") and order.index("daily_sales") >= 3
    assert [model.name for model in cheapest_first(models, {})] == [model.name for model in models]  # ties: as given


SOURCE = f"{DATABASE}.by_month_source"


def _fill_source(client, rows: list[tuple]) -> None:
    client.command(f"CREATE TABLE IF NOT EXISTS {SOURCE} (day Date, key String, value Int64) "
                   "ENGINE = MergeTree ORDER BY (day, key)")
    client.command(f"TRUNCATE TABLE {SOURCE}")
    client.insert(SOURCE, rows, column_names=["day", "key", "value"])


def _active_parts(client, table: str) -> dict[str, int]:
    return dict(client.query("SELECT partition_id, count() FROM system.parts WHERE database = %(db)s "
                             "AND table = %(table)s AND active GROUP BY partition_id ORDER BY partition_id",
                             parameters={"db": DATABASE, "table": table}).result_rows)


def test_a_model_stored_by_month_rebuilds_exactly_the_days_given_with_one_part_a_month(migrated, tmp_path):
    """Runs over a day inside a month, over days across a month's end, and over the only day of a month: each
    replaces exactly its days (a day with no rows any more is emptied), the month's other days stay as built,
    and every month is one part after the swap (no OPTIMIZE of the table)."""
    (tmp_path / "by_month.sql").write_text(
        HEADER + "-- stored_by: month\n-- order_by: key\n"
        f"SELECT day, key, value FROM {SOURCE} WHERE {{{{ partition_filter('day') }}}}")
    model = load_models(tmp_path)["by_month"]
    days = [date(2026, 1, 25) + timedelta(days=n) for n in range(12)] + [date(2026, 3, 1)]  # Jan 25..Feb 5, Mar 1
    first = {day: [(day, "a", 1), (day, "b", 2)] for day in days}
    later = {day: [(day, "a", 5), (day, "b", 2)] for day in days if day not in (date(2026, 2, 2), date(2026, 3, 1))}

    def rows(client) -> dict:
        found: dict = {}
        for row in client.query(f"SELECT day, key, value FROM {model.table} ORDER BY day, key").result_rows:
            found.setdefault(row[0], []).append(row)
        return found

    with warehouse_client(migrated.clickhouse_url) as client:
        client.command(f"DROP TABLE IF EXISTS {model.table}")
        _fill_source(client, [row for day_rows in first.values() for row in day_rows])
        materialize(client, model, date(2026, 1, 25), date(2026, 3, 2))
        built, built_parts = rows(client), _active_parts(client, model.name)
        _fill_source(client, [row for day_rows in later.values() for row in day_rows])
        one_day = materialize(client, model, date(2026, 1, 28), date(2026, 1, 29))
        after_day, day_parts = rows(client), _active_parts(client, model.name)
        materialize(client, model, date(2026, 1, 31), date(2026, 2, 3))
        after_boundary, boundary_parts = rows(client), _active_parts(client, model.name)
        materialize(client, model, date(2026, 3, 1), date(2026, 3, 2))
        after_march, march_parts = rows(client), _active_parts(client, model.name)
        client.command(f"DROP TABLE {model.table}")
        client.command(f"DROP TABLE {SOURCE}")
    assert built == first and built_parts == {"202601": 1, "202602": 1, "202603": 1}
    assert one_day.rows == 2
    assert after_day == {**first, date(2026, 1, 28): later[date(2026, 1, 28)]} and day_parts == built_parts
    expected = {**first, **{day: later[day] for day in (date(2026, 1, 28), date(2026, 1, 31), date(2026, 2, 1))}}
    del expected[date(2026, 2, 2)]
    assert after_boundary == expected and boundary_parts == built_parts
    del expected[date(2026, 3, 1)]
    assert after_march == expected and march_parts == {"202601": 1, "202602": 1}


def test_a_rollup_table_in_the_day_layout_is_rebuilt_by_month_keeping_its_rows(migrated, seeded_month,
                                                                             built_warehouse):
    """An installation from before month storage has daily_sales one partition per day: its next run rebuilds
    the table one partition per month with every row, then builds its day as usual."""
    model = load_models()["daily_sales"]
    by_day = SqlModel(model.name, model.path, model.template, {**model.config, "stored_by": "day"})
    start, end = seeded_month.start, seeded_month.start + timedelta(days=len(built_warehouse["keys"]))
    day = start + timedelta(days=14)

    def layout(client) -> tuple[str, dict[str, int]]:
        key = client.query("SELECT partition_key FROM system.tables WHERE database = %(db)s AND name = %(name)s",
                           parameters={"db": DATABASE, "name": model.name}).result_rows[0][0]
        return key, _active_parts(client, model.name)

    with warehouse_client(migrated.clickhouse_url) as client:
        # the built days only: other tests of the area may have built more days of this table
        every_row = (f"SELECT * FROM {model.table} WHERE day >= '{start.isoformat()}' AND day < '{end.isoformat()}'"
                     " ORDER BY ALL")
        before = client.query(every_row).result_rows
        client.command(f"DROP TABLE {model.table} SYNC")
        client.command(create_table_sql(by_day, model.table, model.render()))
        client.command(f"INSERT INTO {model.table} {model.render(start, end)}")
        old_layout = layout(client)
        materialize(client, model, day, day + timedelta(days=1))
        new_layout = layout(client)
        after = client.query(every_row).result_rows
        checks = _check_results(client, model, start, end)
    assert old_layout[0] == "day" and len(old_layout[1]) == len({row[0] for row in before}) > 20  # a part a day
    assert new_layout == ("toYYYYMM(day)", {"202601": 1})
    assert after == before and before
    assert all(result.passed for result in checks)


def test_rollup_steps_on_a_clickhouse_server_run_one_at_a_time(migrated, settings):
    """A server warehouse: a second holder of the warehouse's `rollups` lock waits (here: times out) until the
    first is done; another warehouse's lock is free. Embedded, the chDB path lock already serialises steps."""
    server, other = "http://clickhouse-a:8123", "http://clickhouse-b:8123"
    with warehouse_lock(server, migrated.database_url, "rollups"):
        with pytest.raises(TimeoutError, match="rollups lock"), \
                warehouse_lock(server, migrated.database_url, "rollups", timeout_s=0.2):
            pass
        with warehouse_lock(other, migrated.database_url, "rollups", timeout_s=0.2):
            pass
    with warehouse_lock(server, migrated.database_url, "rollups", timeout_s=0.2):
        pass
    with warehouse_lock(migrated.clickhouse_url, "", "rollups"):
        pass
    with pytest.raises(ValueError, match="no PostgreSQL"), warehouse_lock(server, "", "rollups"):
        pass
    assert resources_for(settings)["warehouse"].lock_database_url  # the pipeline's warehouse can take it
