"""The weekly settlement reconciliation as a Dagster asset, its journal check, job and schedule.

Partitioning: one partition per cycle (weekly, Monday 00:00 in PLATFORM_TIMEZONE, when
SETTLE_CYCLE_DAYS is 7). A run reconciles every enabled supplier for that cycle, each supplier in its
own transaction (so one supplier whose statement cannot be fetched does not block the others; it is
named in the metadata and the `statements_fetched` check fails). Rerunning or backfilling a
partition replaces each supplier's results for that cycle, or adds a revision when it was approved.
"""


import datetime as dt
from collections import Counter
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa
from prometheus_client import Gauge

from core.config import flag_enabled
from core.settings import get_settings
from core.settlement.cycles import ANCHOR, cycle_containing, cycle_starting, cycle_starts, last_closed_cycle
from core.settlement.engine import CLASSES
from pipelines.resources import PostgresResource

AUTO_FLAG = "settlement.auto.reconcile"
FIRST_CYCLE = dt.date(2025, 1, 6)


def _partitions(days: int, timezone: str) -> dg.PartitionsDefinition:
    if days == 7:
        return dg.TimeWindowPartitionsDefinition(cron_schedule="0 0 * * 1", start=FIRST_CYCLE.isoformat(),
                                                 fmt="%Y-%m-%d", timezone=timezone)
    # Cron cannot count every N days: list the cycle starts (anchored on Monday ANCHOR) up to the current one.
    today = dt.datetime.now(dt.UTC).date()
    return dg.StaticPartitionsDefinition(
        [d.isoformat() for d in cycle_starts(max(FIRST_CYCLE, ANCHOR), cycle_containing(today, days).start, days)])


_settings = get_settings()
CYCLE_DAYS = _settings.settle_cycle_days
TIMEZONE = _settings.platform_timezone
settlement_partitions = _partitions(CYCLE_DAYS, TIMEZONE)


class SettlementConfig(dg.Config):
    """Run config: `suppliers` limits a run (a rerun, a backfill) to these codes; empty means every enabled one."""

    suppliers: list[str] = []


def _suppliers(engine, only: list[str]) -> list[str]:
    with engine.connect() as conn:
        codes = [row.code for row in conn.execute(sa.text("SELECT code FROM suppliers WHERE enabled ORDER BY code"))]
    return [code for code in codes if not only or code in only]


@dg.asset(
    group_name="settlement",
    partitions_def=settlement_partitions,
    kinds={"polars", "postgres"},
    check_specs=[
        dg.AssetCheckSpec("journal_balances", asset="settlement_reconciliation",
                          description="Every supplier's journal for the cycle: debits equal credits per currency."),
        dg.AssetCheckSpec("statements_fetched", asset="settlement_reconciliation",
                          description="Every enabled supplier's statement was fetched or uploaded.",
                          blocking=False),
    ],
)
def settlement_reconciliation(context: dg.AssetExecutionContext, config: SettlementConfig,
                              postgres: PostgresResource) -> dg.MaterializeResult:
    """Orders (by check-out in the cycle) against each supplier's statement (finance's upload for the
    cycle when there is one, else the supplier adapter): classes, totals, journal, in settlement_* tables."""
    from core.settlement.store import run_cycle, statement_for_cycle

    settings = get_settings()
    cycle = cycle_starting(dt.date.fromisoformat(context.partition_key), settings.settle_cycle_days)
    engine = postgres.engine()
    counts: Counter = Counter()
    totals: dict[str, dict[str, Decimal]] = {}
    per_supplier: dict[str, str] = {}
    failed: dict[str, str] = {}
    unbalanced: list[str] = []
    new_revisions: list[str] = []
    for code in _suppliers(engine, config.suppliers):
        try:
            statement, source = statement_for_cycle(engine, settings, code, cycle)
        except Exception as error:  # an unreachable supplier is reported, the others still settle
            failed[code] = f"{type(error).__name__}: {error}"[:300]
            context.log.warning(f"supplier {code}: no statement for {cycle.key}: {failed[code]}")
            continue
        outcome = run_cycle(engine, code, cycle, statement, source, run_id=context.run_id)
        counts.update({k: v for k, v in outcome.counts.items() if isinstance(v, int)})
        for key in ("payable", "margin"):
            for currency, amount in outcome.totals[key].items():
                entry = totals.setdefault(currency, {"payable": Decimal(0), "margin": Decimal(0),
                                                     "receivable": Decimal(0)})
                entry[key] += Decimal(amount)
        for receivable in outcome.totals["receivable"]:
            entry = totals.setdefault(receivable["currency"], {"payable": Decimal(0), "margin": Decimal(0),
                                                               "receivable": Decimal(0)})
            entry["receivable"] += Decimal(receivable["amount"])
        note = f"revision {outcome.revision} ({outcome.action}), {outcome.counts['discrepancies']} discrepancies"
        if outcome.action == "new_revision":
            note += f"; revision {outcome.superseded_revision} was approved and is now superseded"
            new_revisions.append(code)
        per_supplier[code] = f"{note}; statement: {source}"
        if not outcome.balanced:
            unbalanced.append(code)
    metadata: dict[str, dg.MetadataValue | str | int] = {
        "cycle": f"{cycle.start.isoformat()} to {cycle.end.isoformat()} (exclusive)",
        **{f"count_{name}": counts.get(name, 0) for name in (*CLASSES, "matched", "not_billed")},
        "pairs": counts.get("pairs", 0),
        "discrepancies": counts.get("discrepancies", 0),
        "suppliers": dg.MetadataValue.json(per_supplier),
        "totals_by_currency": dg.MetadataValue.json(
            {c: {k: str(v) for k, v in t.items()} for c, t in sorted(totals.items())}),
        "new_revision_for": ", ".join(new_revisions) or "none",
    }
    if failed:
        metadata["failed_suppliers"] = dg.MetadataValue.json(failed)
    if not per_supplier and failed:
        raise dg.Failure(description=f"no supplier could be reconciled for {cycle.key}", metadata=metadata)
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(check_name="journal_balances", passed=not unbalanced,
                                metadata={"unbalanced_suppliers": ", ".join(unbalanced) or "none"}),
            dg.AssetCheckResult(check_name="statements_fetched", passed=not failed,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"failed": ", ".join(sorted(failed)) or "none"}),
        ],
    )


settlement_job = dg.define_asset_job(
    "settlement_reconciliation_job", selection=dg.AssetSelection.assets(settlement_reconciliation),
    partitions_def=settlement_partitions, description="Reconcile one settlement cycle for every enabled supplier.",
)


@dg.schedule(job=settlement_job, cron_schedule="0 1 * * *", execution_timezone=TIMEZONE,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def settlement_after_cycle_close(context: dg.ScheduleEvaluationContext):
    """Daily at 01:00: request the cycle that closed most recently (the run key makes it once per cycle),
    only while the feature flag `settlement.auto.reconcile` is on."""
    from core.db import engine_for
    from core.runtime import resolve

    settings = get_settings()
    engine = engine_for(resolve(settings, start=False).database_url)
    if not flag_enabled(engine, AUTO_FLAG):
        return dg.SkipReason(f"feature flag {AUTO_FLAG} is off: cycles are reconciled on demand only")
    now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    cycle = last_closed_cycle(now, settings.platform_timezone, settings.settle_cycle_days)
    known = settlement_partitions.get_partition_keys(current_time=now, dynamic_partitions_store=context.instance)
    if cycle.key not in known:
        return dg.SkipReason(f"cycle {cycle.key} is not a partition yet")
    return dg.RunRequest(run_key=f"settlement-{cycle.key}", partition_key=cycle.key,
                         tags={"settlement/cycle": cycle.key, "settlement/trigger": "schedule"})


SETTLEMENT_UNRECONCILED = Gauge("settlement_cycle_unreconciled_seconds",
                                "Seconds since the supplier's last closed cycle ended without a reconciliation (0: "
                                "reconciled)", ["supplier"])


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Measures, per supplier, how long the last closed settlement cycle has waited for its "
                       "reconciliation (Prometheus: settlement_cycle_unreconciled_seconds).")
def settlement_reconciliation_metrics(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    from assets.events import ensure_metrics_server
    from core.settlement.review import unreconciled_seconds

    ensure_metrics_server()
    settings = get_settings()
    waiting = unreconciled_seconds(postgres.engine(), dt.datetime.now(dt.UTC), settings.platform_timezone,
                                   settings.settle_cycle_days)
    for supplier, seconds in waiting.items():
        SETTLEMENT_UNRECONCILED.labels(supplier).set(seconds)
    late = sorted(code for code, seconds in waiting.items() if seconds > 0)
    return dg.SkipReason(f"last closed cycle not reconciled for: {', '.join(late) or 'none'}")


JOBS = [settlement_job]
SCHEDULES = [settlement_after_cycle_close]
SENSORS = [settlement_reconciliation_metrics]
