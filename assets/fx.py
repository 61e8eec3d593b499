"""Exchange rates (group `fx`): one euro reference rate set per day into `fx_rates`, and its gate.

`fx_rates` is partitioned by day (UTC): a partition stores the set the source published on or before
that day (ECB format; `fx` resource), runs every day after the ECB's 16:00 CET publication and on demand
(the UI's Materialize, or a backfill). The blocking check `fx_rates_usable` fails when the set lacks a
currency the platform sells in or moved more than FX_MAX_MOVE_PCT since the previous set; such a set is
not stored (quotes keep the previous one) unless a run sets `accept_moves` for a real market move.
"""

import datetime as dt

import dagster as dg
from pydantic import Field

from core.settings import get_settings
from pipelines.resources import FxProviderResource, PostgresResource

GROUP = "fx"
USABLE = "fx_rates_usable"
FX_PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-09-01", timezone="UTC", end_offset=1)


class FxLoadConfig(dg.Config):
    accept_moves: bool = Field(False, description="Store the set even if a rate moved beyond FX_MAX_MOVE_PCT "
                                                  "(a real market move an operator has confirmed).")


@dg.asset(
    group_name=GROUP, partitions_def=FX_PARTITIONS, kinds={"postgres"},
    description="The day's euro reference exchange rates (EUR → each currency) in fx_rates; history kept, "
                "other pairs cross through EUR.",
    check_specs=[dg.AssetCheckSpec(USABLE, asset="fx_rates", blocking=True,
                                   description="Every currency the platform sells in is present and no rate "
                                               "moved more than FX_MAX_MOVE_PCT since the previous set.")],
)
def fx_rates(context: dg.AssetExecutionContext, config: FxLoadConfig, postgres: PostgresResource,
             fx: FxProviderResource) -> dg.MaterializeResult:
    from core.fx_rates import load_fx_rates, selling_currencies

    settings = get_settings()
    engine = postgres.engine()
    required = selling_currencies(engine, settings.fx_currency_list, settings.default_currency)
    result = load_fx_rates(engine, fx.fetch_xml(), dt.date.fromisoformat(context.partition_key), fx.source_name(),
                           required, settings.fx_max_move_pct, accept_moves=config.accept_moves)
    description = result.check.description()
    if not result.stored:
        context.log.warning(f"rates of {result.as_of} held back: {description}")
    elif result.accepted_moves:
        description = f"accepted by the run's config (accept_moves): {description}"
    return dg.MaterializeResult(
        metadata=result.metadata(),
        # Passes exactly when the set was stored: quotes price from it.
        check_results=[dg.AssetCheckResult(check_name=USABLE, passed=result.stored, description=description,
                                           metadata=result.check.metadata())],
    )


fx_rates_job = dg.define_asset_job("fx_rates_job", selection=dg.AssetSelection.assets(fx_rates),
                                   partitions_def=FX_PARTITIONS, description="Load one day's exchange rates.")

JOBS = [fx_rates_job]
SCHEDULES = [dg.build_schedule_from_partitioned_job(fx_rates_job, hour_of_day=16, minute_of_hour=30,
                                                    default_status=dg.DefaultScheduleStatus.RUNNING)]
