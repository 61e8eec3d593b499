"""The code location: every asset, check, job, schedule and sensor of the platform.

Each domain module under `assets/` may export `JOBS`, `SCHEDULES` and `SENSORS` lists beside its
assets and checks; they are collected here.
"""

import dagster as dg

from assets import archive, billing, events, fx, inventory, matching, orders, platform, retention, settlement, warehouse
from core.settings import get_settings
from pipelines.resources import resources_for

ASSET_MODULES = [platform, warehouse, matching, settlement, billing, events, inventory, retention, fx, orders, archive]

# What `hotelctl up` / `hotelctl run` materialise on a fresh start, upstream first.
MAIN_JOB_GROUPS = ["platform", "inventory", "matching"]

main_job = dg.define_asset_job(
    "platform_main_job",
    selection=dg.AssetSelection.groups(*MAIN_JOB_GROUPS),
    description="The platform's main job: everything an embedded start-up materialises.",
)


def _collect(attribute: str) -> list:
    return [item for module in ASSET_MODULES for item in getattr(module, attribute, [])]


defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules(ASSET_MODULES), *_collect("ASSET_SPECS")],  # specs: external assets
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[main_job, *_collect("JOBS")],
    schedules=_collect("SCHEDULES"),
    sensors=_collect("SENSORS"),
    resources=resources_for(get_settings()),
)
