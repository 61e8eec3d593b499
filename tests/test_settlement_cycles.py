"""Settlement cycles in PostgreSQL: classes, totals, journal, reruns, revisions; the Dagster asset and schedule."""

from __future__ import annotations

import datetime as dt
import getpass
from decimal import Decimal

import dagster as dg
import pytest
import sqlalchemy as sa

from core import audit
from core.config import set_flag
from core.settlement import review
from core.settlement.cycles import cycle_containing, cycle_starting, last_closed_cycle
from core.settlement.store import run_cycle, statement_for_cycle, store_upload
from tests.settlement_fixtures import (
    STANDARD_ORDERS,
    STANDARD_PARTNERS,
    past_cycle,
    seed_cycle,
    standard_statement,
)


def _run(engine, seeded, settings, run_id="test"):
    frame, source = statement_for_cycle(engine, settings, seeded.supplier, seeded.cycle)
    return run_cycle(engine, seeded.supplier, seeded.cycle, frame, source, run_id=run_id)


@pytest.fixture
def standard(engine):
    seeded = seed_cycle(engine, past_cycle(), STANDARD_ORDERS, STANDARD_PARTNERS)
    store_upload(engine, seeded.supplier, seeded.cycle, standard_statement(seeded), "week.csv", "fin-test")
    return seeded


def _table_counts(engine, cycle_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE cycle_id = :id"),
                                    {"id": cycle_id}).scalar_one()
                for table in ("settlement_lines", "settlement_discrepancies", "journal_entries")}


def test_cycle_windows_start_monday_in_the_platform_time_zone():
    assert cycle_containing(dt.date(2026, 11, 26)).start == dt.date(2026, 11, 23)  # a Thursday -> its Monday
    assert cycle_containing(dt.date(2026, 11, 23)).end == dt.date(2026, 11, 30)
    # Sunday 17:30 UTC is already Monday 01:30 in Shanghai: the week that just ended is closed.
    sunday_evening_utc = dt.datetime(2026, 11, 29, 17, 30, tzinfo=dt.UTC)
    assert last_closed_cycle(sunday_evening_utc, "Asia/Shanghai").start == dt.date(2026, 11, 23)
    assert last_closed_cycle(sunday_evening_utc, "UTC").start == dt.date(2026, 11, 16)
    with pytest.raises(ValueError, match="does not start"):
        cycle_starting(dt.date(2026, 11, 25))
    assert cycle_containing(dt.date(2026, 11, 26), days=14).start in (dt.date(2026, 11, 16), dt.date(2026, 11, 23))


def test_cycle_classes_totals_and_balanced_journal(engine, settings, standard):
    outcome = _run(engine, standard, settings)
    assert outcome.action == "created" and outcome.revision == 1
    counts = outcome.counts
    assert (counts["matched"], counts["amount_mismatch"], counts["missing_in_statement"],
            counts["missing_in_platform"], counts["duplicate_in_statement"]) == (4, 1, 1, 1, 1)
    assert counts["pairs"] == 5 and counts["discrepancies"] == 4 and counts["orders"] == 6
    totals = outcome.totals
    assert totals["payable"] == {"EUR": "40.00", "USD": "445.00"}
    receivable = {(r["partner_name"].split()[0], r["currency"]): Decimal(r["amount"]) for r in totals["receivable"]}
    # Alpha (10 %): 130 -> 117.00, 99.99 -> 89.99 (89.991 rounded), its cancellation fee 18 (no commission).
    # Beta (2.5 %): 250 -> 243.75, 60 -> 58.50; 330 CNY -> 321.75 CNY.
    assert receivable == {("Alpha", "USD"): Decimal("224.99"), ("Beta", "USD"): Decimal("302.25"),
                          ("Beta", "CNY"): Decimal("321.75")}
    # USD: 17 + 43.75 + 9.99 + 8.50 + (18 - 15); CNY: 321.75 less 40 EUR at 7.80.
    assert totals["margin"] == {"USD": "82.24", "CNY": "9.75"}
    assert outcome.balanced and set(outcome.balance) == {"USD", "EUR", "CNY"}
    assert outcome.balance["USD"] == (Decimal("527.24"), Decimal("527.24"))
    assert totals["statement_source"].startswith("upload #") and totals["statement_source"].endswith("by fin-test")

    rows = review.list_discrepancies(engine, outcome.cycle_id)
    by_class = {row["class"]: row for row in rows}
    assert by_class["amount_mismatch"]["supplier_ref"] == standard.refs["amt"]
    assert by_class["amount_mismatch"]["difference"] == "5.00"
    assert by_class["missing_in_statement"]["order_id"] == standard.order_ids["gone"]
    assert by_class["missing_in_platform"]["statement_amount"] == "12.50"
    assert by_class["duplicate_in_statement"]["supplier_ref"] == standard.refs["ok1"]
    assert [row["supplier_ref"] for row in review.list_discrepancies(engine, outcome.cycle_id,
                                                                        min_amount=Decimal("13"))] == \
        [standard.refs["gone"], standard.refs["ok1"]]


def test_rerun_replaces_results_keeps_totals_and_resolutions(engine, settings, standard):
    first = _run(engine, standard, settings, run_id="first")
    before = _table_counts(engine, first.cycle_id)
    amount_row = review.list_discrepancies(engine, first.cycle_id, cls="amount_mismatch")[0]
    review.resolve_discrepancy(engine, amount_row["id"], "supplier surcharge agreed by phone", "fin-test")

    second = _run(engine, standard, settings, run_id="second")
    assert second.cycle_id == first.cycle_id and second.revision == 1 and second.action == "replaced"
    assert second.totals == first.totals and second.counts == first.counts
    assert _table_counts(engine, second.cycle_id) == before
    with engine.connect() as conn:
        cycles = conn.execute(sa.text("SELECT count(*), max(run_id) FROM settlement_cycles WHERE supplier_code = :s"),
                              {"s": standard.supplier}).one()
    assert tuple(cycles) == (1, "second")
    kept = review.list_discrepancies(engine, second.cycle_id, cls="amount_mismatch")[0]
    assert kept["status"] == "resolved" and kept["resolution_note"] == "supplier surcharge agreed by phone"
    assert kept["resolved_by"] == "fin-test"


def test_rerun_after_approval_writes_a_new_revision(engine, settings, standard):
    first = _run(engine, standard, settings)
    approved = review.approve_cycle(engine, first.cycle_id, "fin-approver")
    assert approved["status"] == "approved" and approved["approved_by"] == "fin-approver"
    with pytest.raises(review.ReviewError, match="approved"):
        review.approve_cycle(engine, first.cycle_id, "fin-approver")

    second = _run(engine, standard, settings)
    assert second.action == "new_revision" and second.revision == 2 and second.superseded_revision == 1
    assert second.cycle_id != first.cycle_id and second.totals == first.totals
    old = review.get_cycle(engine, first.cycle_id)
    assert old["status"] == "superseded" and old["approved_by"] == "fin-approver"
    assert _table_counts(engine, first.cycle_id) == _table_counts(engine, second.cycle_id)  # the old one is intact
    listed = review.list_cycles(engine, supplier_code=standard.supplier)
    assert [(c["revision"], c["status"]) for c in listed] == [(2, "reconciled")]
    third = _run(engine, standard, settings)
    assert (third.action, third.revision, third.cycle_id) == ("replaced", 2, second.cycle_id)


def test_dagster_asset_materializes_a_cycle_with_metadata_and_checks(engine, settings, migrated, standard):
    from assets.settlement import settlement_reconciliation
    from pipelines.resources import PostgresResource

    result = dg.materialize(
        [settlement_reconciliation], partition_key=standard.cycle.key,
        resources={"postgres": PostgresResource(database_url=migrated.database_url)},
        run_config={"ops": {"settlement_reconciliation": {"config": {"suppliers": [standard.supplier]}}}},
    )
    assert result.success
    materialization = result.asset_materializations_for_node("settlement_reconciliation")[0]
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["count_amount_mismatch"] == 1 and metadata["count_duplicate_in_statement"] == 1
    assert metadata["discrepancies"] == 4 and metadata["pairs"] == 5
    assert Decimal(metadata["totals_by_currency"]["USD"]["payable"]) == Decimal("445")
    assert "revision 1 (created)" in metadata["suppliers"][standard.supplier]
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"journal_balances": True, "statements_fetched": True}

    review.approve_cycle(engine, review.list_cycles(engine, supplier_code=standard.supplier)[0]["id"], "fin")
    again = dg.materialize(
        [settlement_reconciliation], partition_key=standard.cycle.key,
        resources={"postgres": PostgresResource(database_url=migrated.database_url)},
        run_config={"ops": {"settlement_reconciliation": {"config": {"suppliers": [standard.supplier]}}}},
    )
    metadata = {k: v.value for k, v in again.asset_materializations_for_node("settlement_reconciliation")[0]
                .metadata.items()}
    assert metadata["new_revision_for"] == standard.supplier
    assert "revision 1 was approved and is now superseded" in metadata["suppliers"][standard.supplier]


def test_schedule_runs_only_with_the_feature_flag(engine, monkeypatch, migrated):
    from assets.settlement import settlement_after_cycle_close

    monkeypatch.setenv("DATABASE_URL", migrated.database_url)
    from core.settings import reset_settings_cache

    reset_settings_cache()
    when = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)
    try:
        set_flag(engine, "settlement.auto.reconcile", enabled=False)
        with dg.instance_for_test() as instance:
            skipped = settlement_after_cycle_close(dg.build_schedule_context(instance=instance,
                                                                             scheduled_execution_time=when))
            assert isinstance(skipped, dg.SkipReason) and "settlement.auto.reconcile" in skipped.skip_message
            set_flag(engine, "settlement.auto.reconcile", enabled=True, rollout_pct=100)
            request = settlement_after_cycle_close(dg.build_schedule_context(instance=instance,
                                                                             scheduled_execution_time=when))
        assert isinstance(request, dg.RunRequest)
        assert request.partition_key == "2026-11-23" and request.run_key == "settlement-2026-11-23"
    finally:
        set_flag(engine, "settlement.auto.reconcile", enabled=False)
        reset_settings_cache()


def _hotelctl(migrated, dagster_database: str, tmp_path) -> tuple[dict, str]:
    """The environment and path of a `hotelctl` on the test's database, with a data dir and Dagster storage of its
    own."""
    import os
    import sys
    from pathlib import Path

    os.chmod(tmp_path, 0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "HOTEL_ENGINE_MODES")}
    env.update(DATABASE_URL=migrated.database_url, REDIS_URL=migrated.redis_url,
               CLICKHOUSE_URL=f"chdb://{tmp_path / 'clickhouse'}", HOTEL_DATA_DIR=str(tmp_path),
               DAGSTER_DATABASE_URL=dagster_database)
    return env, str(Path(sys.executable).parent / "hotelctl")


def test_hotelctl_settle_run_reruns_a_cycle_through_dagster(engine, migrated, standard, dagster_database, tmp_path):
    import subprocess

    env, hotelctl = _hotelctl(migrated, dagster_database, tmp_path)
    day_in_cycle = (standard.cycle.start + dt.timedelta(days=3)).isoformat()
    for expected in ("revision 1 (created)", "revision 1 (replaced)"):
        done = subprocess.run([hotelctl, "settle", "run", "--cycle", day_in_cycle, "--supplier", standard.supplier],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"cycle {standard.cycle.key}: 4 discrepancies" in done.stdout
        assert f"{standard.supplier}: {expected}" in done.stdout
        assert "BetaWarning" not in done.stderr  # Dagster's per-run beta warnings stay off the terminal
    assert len(review.list_cycles(engine, supplier_code=standard.supplier, include_superseded=True)) == 1
    reruns = audit.search(engine, target=f"settlement_period:{standard.cycle.key}", actor=getpass.getuser())
    assert [(e["action"], e["source"], e["after"]["success"], e["after"]["discrepancies"]) for e in reruns] == [
        ("settlement.rerun", "cli", True, 4)] * 2
    bad = subprocess.run([hotelctl, "settle", "run", "--cycle", "someday"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "--cycle" in bad.stderr
    running = subprocess.run([hotelctl, "settle", "run", "--cycle", day_in_cycle, "--to", dt.date.today().isoformat()],
                             env=env, capture_output=True, text=True, timeout=120)
    assert running.returncode == 2 and "--to: the cycle from" in running.stderr and "not closed yet" in running.stderr


def test_hotelctl_run_names_the_partition_of_a_partitioned_job(engine, migrated, standard, dagster_database,
                                                               tmp_path):
    import subprocess

    env, hotelctl = _hotelctl(migrated, dagster_database, tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([hotelctl, "run", *args], env=env, capture_output=True, text=True, timeout=300)

    done = run("settlement_reconciliation_job", "--partition", standard.cycle.key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "job settlement_reconciliation_job succeeded" in done.stderr and "superseded" not in done.stderr
    assert [(cycle["revision"], cycle["period_start"]) for cycle in review.list_cycles(
        engine, supplier_code=standard.supplier)] == [(1, standard.cycle.key)]

    refusals = {
        ("settlement_reconciliation_job",): "settlement_reconciliation_job is partitioned: name one partition with "
                                            "--partition",
        ("settlement_reconciliation_job", "--partition", "2001-01-01"):
            "'2001-01-01' is not a partition of settlement_reconciliation_job: its partitions run from ",
        ("hotel_matching_job", "--partition", standard.cycle.key):
            "hotel_matching_job is not partitioned: run it without --partition",
        ("no_such_job",): "no job named 'no_such_job'; the platform's jobs: archive_job, fx_rates_job, ",
    }
    for args, line in refusals.items():
        refused = run(*args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert line in refused.stderr and "Traceback" not in refused.stderr + refused.stdout
