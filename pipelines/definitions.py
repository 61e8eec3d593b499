"""The code location: every asset, check, job, schedule and sensor of the platform."""

import dagster as dg

from assets import platform
from core.settings import get_settings
from pipelines.resources import resources_for

ALL_ASSET_MODULES = [platform]

main_job = dg.define_asset_job(
    "platform_main_job",
    selection=dg.AssetSelection.groups("platform"),
    description="The platform's main job: everything an embedded start-up materialises.",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ALL_ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ALL_ASSET_MODULES),
    jobs=[main_job],
    resources=resources_for(get_settings()),
)
