"""dbt_like_sql: loading errors name the file, lineage follows the SQL, asset checks catch bad rollups."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.warehouse import MODEL_GROUP, _check_results
from pipelines.definitions import defs
from warehouse.client import warehouse_client
from warehouse.loaders import FACTS
from warehouse.sql_models import ModelError, load_models, materialize

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
        assert {check.name for check in node.check_keys} >= {f"{column}_not_negative"
                                                             for column in model.not_negative}
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
        broken = {result.check_name: result.passed for result in _check_results(client, model, day, end)}
        assert broken["room_nights_not_negative"] is False and broken["reconciles_with_inputs"] is False
        assert broken["orders_not_negative"] is True
        materialize(client, model, day, end)  # rebuilding the day replaces it whole
        assert all(result.passed for result in _check_results(client, model, day, end))
        assert client.query("SELECT count() FROM hotel_analytics.daily_sales WHERE partner_id = 'x'"
                            ).result_rows[0][0] == 0
