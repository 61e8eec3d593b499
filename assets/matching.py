"""Hotel matching: supplier hotels onto the master catalog (asset `hotel_mappings`)."""

import dagster as dg

from pipelines.resources import PostgresResource


@dg.asset(
    group_name="matching",
    deps=[dg.AssetKey("supplier_hotels")],
    kinds={"postgres"},
    description="Every supplier hotel mapped onto a master hotel (auto), queued for review, or proposed as new. "
                "Incremental: only new or changed supplier hotels are matched; human decisions are kept.",
)
def hotel_mappings(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from core.matching.config import load_matcher_config
    from core.matching.store import run_matching
    from core.settings import get_settings

    engine = postgres.engine()
    settings = get_settings()
    config = load_matcher_config(engine, env=settings.hotel_env, algorithm=settings.matching_algorithm)
    summary = run_matching(engine, config)
    context.log.info(f"matched {summary.matched} supplier hotels: {summary.per_decision}")
    metadata: dict[str, object] = {
        "matched": summary.matched,
        "auto": summary.per_decision.get("auto", 0),
        "review": summary.per_decision.get("review", 0),
        "new": summary.per_decision.get("new", 0),
        "proposed_master_hotels": summary.proposed_hotels,
        "kept_human_decisions": summary.skipped_human,
        "per_supplier": dg.MetadataValue.json(summary.per_supplier),
        "algorithm": config.algorithm,
        "ai_boost": config.ai_boost,
        "thresholds": dg.MetadataValue.json(config.thresholds),
    }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=hotel_mappings, description="Every supplier hotel has a mapping.")
def every_supplier_hotel_mapped(postgres: PostgresResource) -> dg.AssetCheckResult:
    import sqlalchemy as sa

    with postgres.engine().connect() as conn:
        missing = conn.execute(sa.text(
            "SELECT count(*) FROM supplier_hotels s LEFT JOIN hotel_mappings m ON m.supplier_hotel = s.id"
            " WHERE m.id IS NULL")).scalar_one()
    return dg.AssetCheckResult(passed=missing == 0, metadata={"unmapped": int(missing)})


@dg.asset(
    group_name="matching",
    deps=[hotel_mappings, dg.AssetKey("supplier_inventory")],
    kinds={"postgres"},
    description="Every supplier room of a sold hotel with its room class, bed type and room group (the rooms of "
                "one hotel that are the same product across suppliers), score and auto/review. Incremental: only "
                "hotels whose rooms changed are regrouped; an operator's decision is kept.",
)
def room_mappings(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from core.rooms.store import run_room_mapping

    summary = run_room_mapping(postgres.engine())
    context.log.info(f"room mappings: {summary.hotels_regrouped} hotels regrouped, {summary.per_decision}")
    metadata = summary.metadata()
    metadata["per_class"] = dg.MetadataValue.json(metadata["per_class"])
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=room_mappings, description="Every room of a sold hotel has a room mapping.")
def every_sold_room_mapped(postgres: PostgresResource) -> dg.AssetCheckResult:
    import sqlalchemy as sa

    from core.rooms.store import unmapped_rooms

    with postgres.engine().connect() as conn:
        missing = unmapped_rooms(conn)
        pending = conn.execute(sa.text(
            "SELECT count(*) FROM room_mappings WHERE status = 'pending_review'")).scalar_one()
    return dg.AssetCheckResult(passed=missing == 0, metadata={"unmapped": missing, "pending_review": int(pending)})


MAIN_JOB = "platform_main_job"  # materialises the matching group in the same run as the content sync

hotel_matching_job = dg.define_asset_job(
    "hotel_matching_job", selection=[hotel_mappings],
    description="Hotel matching on its own: run by `match_after_content_sync` after every supplier content sync.")


@dg.asset_sensor(asset_key=dg.AssetKey("supplier_hotels"), job=hotel_matching_job, name="match_after_content_sync",
                 minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
                 description="Matches supplier hotels onto the catalog after every supplier content sync, so a new "
                             "supplier hotel is mapped (and, after the next inventory sync, quoted) without waiting "
                             "for the main job.")
def match_after_content_sync(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    run = context.instance.get_run_by_id(asset_event.run_id)
    if run is not None and (run.job_name == MAIN_JOB or dg.AssetKey("hotel_mappings") in (run.asset_selection or ())):
        return dg.SkipReason(f"run {asset_event.run_id} matches hotels itself")
    return dg.RunRequest(run_key=f"content-sync-{asset_event.run_id}",
                         tags={"triggered_by": "supplier_hotels", "content_sync_run": asset_event.run_id})


JOBS: list = [hotel_matching_job]
SCHEDULES: list = []
SENSORS: list = [match_after_content_sync]
