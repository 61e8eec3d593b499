"""A code location for the run-monitoring test: the first run of `crash_once_job` holds its pool's slot until its
worker is killed; a re-execution finds the marker that run left and finishes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg


@dg.asset(pool="warehouse")
def crashes_once() -> int:
    marker = Path(os.environ["CRASH_ONCE_MARKER"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(600)
    return 1


defs = dg.Definitions(assets=[crashes_once], jobs=[dg.define_asset_job("crash_once_job", [crashes_once])])
