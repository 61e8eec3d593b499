"""Weekly partner statements as a Dagster asset after the settlement reconciliation, with its checks.

One partition per settlement cycle (the same partitions). The asset is thin: `core.billing.statements`
builds and stores the statements and reads them back for the checks, evaluated in the same run for the
same partition (as `settlement_reconciliation` does its journal check).
"""

import datetime as dt

import dagster as dg

from assets.settlement import settlement_partitions, settlement_reconciliation
from core.settings import get_settings
from pipelines.resources import PostgresResource

GROUP = "billing"
ASSET = "partner_statements"


@dg.asset(
    name=ASSET,
    group_name=GROUP,
    partitions_def=settlement_partitions,
    deps=[settlement_reconciliation],
    kinds={"postgres"},
    description="Each partner's statement for the cycle: bookings (sub-agents under their parent, shown apart),"
                " totals per currency, opening balance, documents issued, payments received, closing balance.",
    check_specs=[
        dg.AssetCheckSpec("statements_match_orders", asset=ASSET, blocking=True,
                          description="Each statement's totals are the sum of its lines, and its lines are exactly"
                                      " the cycle's orders of that partner's tree with the amounts they give now."),
        dg.AssetCheckSpec("billing_journal_balances", asset=ASSET,
                          description="The billing journal (invoices, credit notes, payments) balances in every"
                                      " currency."),
    ],
)
def partner_statements(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from core.billing.statements import verify_cycle, write_statements
    from core.billing.store import journal_balance
    from core.settlement.cycles import cycle_starting

    settings = get_settings()
    engine = postgres.engine()
    cycle = cycle_starting(dt.date.fromisoformat(context.partition_key), settings.settle_cycle_days)
    outcome = write_statements(engine, cycle, settings, run_id=context.run_id)
    meta = outcome.metadata()
    problems = verify_cycle(engine, cycle)
    with engine.connect() as conn:
        unbalanced = {c: f"debit {d} credit {cr}" for c, (d, cr) in journal_balance(conn).items() if d != cr}
    return dg.MaterializeResult(
        metadata={"cycle": meta["cycle"], "statements": meta["statements"], "lines": meta["lines"],
                  "actions": dg.MetadataValue.json(meta["actions"]),
                  "totals_by_currency": dg.MetadataValue.json(meta["totals_by_currency"])},
        check_results=[
            dg.AssetCheckResult(
                check_name="statements_match_orders", passed=not any(problems.values()),
                metadata={**{name: len(items) for name, items in problems.items()},
                          "examples": dg.MetadataValue.json({k: v[:10] for k, v in problems.items() if v})}),
            dg.AssetCheckResult(check_name="billing_journal_balances", passed=not unbalanced,
                                metadata={"unbalanced": dg.MetadataValue.json(unbalanced)}),
        ],
    )


partner_statements_job = dg.define_asset_job(
    "partner_statements_job", selection=dg.AssetSelection.assets(partner_statements),
    partitions_def=settlement_partitions, description="Build one cycle's partner statements (after reconciliation).",
)

@dg.asset_sensor(asset_key=settlement_reconciliation.key, job=partner_statements_job,
                 default_status=dg.DefaultSensorStatus.RUNNING)
def statements_after_reconciliation(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """Each materialization of a settlement cycle (scheduled, rerun, backfilled, or a finance upload that ran
    through Dagster) requests that cycle's partner statements: invoiced ones are kept, the others rebuilt."""
    partition = asset_event.dagster_event.partition if asset_event.dagster_event else None
    if partition is None:
        return dg.SkipReason("the materialization names no cycle")
    return dg.RunRequest(run_key=f"statements-{partition}-{asset_event.run_id}-{asset_event.timestamp}",
                         partition_key=partition,
                         tags={"settlement/cycle": partition, "billing/trigger": "reconciliation"})


JOBS = [partner_statements_job]
SCHEDULES: list = []
SENSORS = [statements_after_reconciliation]
