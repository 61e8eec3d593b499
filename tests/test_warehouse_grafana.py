"""Grafana provisioning: the datasource and every dashboard query run against the real warehouse tables."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from warehouse.client import warehouse_client

pytest_plugins = ["warehouse_fixtures"]
PROVISIONING = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "provisioning"


def _grafana_to_sql(sql: str, partner: str = "__all", city: str = "__all") -> str:
    """What Grafana sends for the seeded month: its time-filter macro and variables substituted."""
    return (sql.replace("$__timeFilter(day)", "day >= toDate('2026-01-01') AND day <= toDate('2026-01-30')")
            .replace("${partner}", partner).replace("${city}", city))


def test_datasource_and_dashboard_provider_are_consistent():
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "clickhouse.yml").read_text())["datasources"]
    clickhouse = next(d for d in datasources if d["type"] == "grafana-clickhouse-datasource")
    assert clickhouse["jsonData"]["defaultDatabase"] == "hotel_analytics"
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "hotel_bi.yml").read_text())["providers"][0]
    assert provider["options"]["path"].endswith("dashboards/hotel_bi")
    dashboard = json.loads((PROVISIONING / "dashboards" / "hotel_bi" / "hotel_bi.json").read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == clickhouse["uid"], panel["title"]


def test_every_panel_query_runs_and_shows_the_seeded_month(migrated, seeded_month, built_warehouse):
    dashboard = json.loads((PROVISIONING / "dashboards" / "hotel_bi" / "hotel_bi.json").read_text())
    with warehouse_client(migrated.clickhouse_url) as client:
        for variable in dashboard["templating"]["list"]:
            assert client.query(variable["query"]).result_rows, variable["name"]
        for panel in dashboard["panels"]:
            rows = client.query(_grafana_to_sql(panel["targets"][0]["rawSql"])).result_rows
            assert rows, panel["title"]
        by_partner = next(p for p in dashboard["panels"] if p["title"] == "Sales by partner")
        one = client.query(_grafana_to_sql(by_partner["targets"][0]["rawSql"],
                                           partner=seeded_month.partner_ids[0])).result_rows
        expected = client.query(
            "SELECT sum(gmv) FROM hotel_analytics.daily_sales WHERE partner_id = %(p)s"
            " AND day BETWEEN '2026-01-01' AND '2026-01-30'", parameters={"p": seeded_month.partner_ids[0]}
        ).result_rows[0][0]
    assert [row[0] for row in one] == [seeded_month.partner_names[0]] and one[0][5] == expected
