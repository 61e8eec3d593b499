"""`hotelctl bench warehouse` at a tiny size: it runs end to end and prints the times and the ratios."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg

from core.db import plain_url

REPO = Path(__file__).resolve().parents[1]


def _env(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    """The session's engines and a data folder of the test's own (unset, the command would start embedded
    engines under the checkout's var/, and the scratch-database checks below would look at another server)."""
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "HOTEL_DATA_DIR": str(data_dir)}


def test_bench_warehouse_prints_pipeline_and_bare_times_and_their_ratio(database_url, redis_url, tmp_path):
    result = subprocess.run([sys.executable, "-m", "cli.main", "bench", "warehouse", "--orders", "20000", "--days", "3",
                             "--repeat", "1"], cwd=REPO, env=_env(database_url, redis_url, tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "orders: 20,000 over 3 days" in result.stdout
    # Dagster's runs recorded as the platform records them, every asset check of the models run and passed
    checks = int(re.search(r"(\d+) checks, platform instance\)", result.stdout).group(1))
    assert checks >= 12 and f"checks passed: {checks}/{checks}" in result.stdout
    with psycopg.connect(plain_url(database_url)) as conn:  # in a scratch database, dropped afterwards
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'bench_dagster_%'").fetchone()[0] == 0
    bare = float(re.search(r"bare SQL on the engine:\s+([\d.]+)s", result.stdout).group(1))
    plain = float(re.search(r"bare SQL into unpartitioned tables:\s+([\d.]+)s", result.stdout).group(1))
    pipeline = float(re.search(r"project path .*?:\s+([\d.]+)s", result.stdout).group(1))
    ratio, plain_ratio = map(float, re.search(r"ratio project/bare: ([\d.]+)x .*? unpartitioned tables: ([\d.]+)x",
                                              result.stdout).groups())
    assert bare > 0 and plain > 0 and pipeline > 0
    assert abs(ratio - pipeline / bare) < 0.05 * ratio + 0.01
    assert abs(plain_ratio - pipeline / plain) < 0.05 * plain_ratio + 0.01
    rounds = re.search(r"ratio in each round: ([\d.]+)x \(median ([\d.]+)x\)", result.stdout).groups()
    assert rounds[0] == rounds[1] and abs(float(rounds[0]) - ratio) < 0.01  # one round: its ratio is the ratio
    passed, total = re.search(r"checks passed: (\d+)/(\d+)", result.stdout).groups()
    assert int(total) > 0 and passed == total


def _scratch_databases(database_url: str, prefix: str) -> set[str]:
    with psycopg.connect(plain_url(database_url)) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                               (f"{prefix}%",))}


def test_bench_backfill_prints_the_time_and_peak_memory_of_a_long_backfill_beside_one_days(database_url, redis_url,
                                                                                          tmp_path):
    before = _scratch_databases(database_url, "bench_backfill_")
    result = subprocess.run([sys.executable, "-m", "cli.main", "bench", "backfill", "--days", "3", "--scale", "2"],
                            cwd=REPO, env=_env(database_url, redis_url, tmp_path), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = re.findall(r"backfill of +(\d+) day\(s\): (\d+) run\(s\), +[\d.]+s, ([\d,]+) orders loaded, "
                       r"(\d+) day\(s\) of rollups, peak memory (\d+) MB", result.stdout)
    (one_day, one_run, one_orders, one_built, one_peak), (days, runs, orders, built, peak) = lines
    assert (one_day, one_run, one_built, days, runs, built) == ("1", "1", "1", "3", "1", "3")  # 3 days: one run
    assert re.search(r"time per day: [\d.]+s over 3 days, [\d.]+s for one day; a year at this pace: [\d.]+ min",
                     result.stdout), result.stdout
    assert 0 < int(one_orders.replace(",", "")) < int(orders.replace(",", ""))  # each reads the seeded history
    ratio = float(re.search(r"peak memory, 3 days over one day: ([\d.]+)x", result.stdout).group(1))
    assert abs(ratio - int(peak) / int(one_peak)) < 0.01 + 0.01 * ratio
    assert _scratch_databases(database_url, "bench_backfill_") <= before  # both of its scratch databases dropped
