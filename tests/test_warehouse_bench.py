"""`hotelctl bench warehouse` at a tiny size: it runs end to end and prints the times and the ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import psycopg

from core.db import plain_url

REPO = Path(__file__).resolve().parents[1]


def test_bench_warehouse_prints_pipeline_and_bare_times_and_their_ratio(database_url):
    result = subprocess.run([sys.executable, "-m", "cli.main", "bench", "warehouse", "--orders", "20000", "--days", "3",
                             "--repeat", "1"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "orders: 20,000 over 3 days" in result.stdout
    assert "12 checks, platform instance)" in result.stdout  # Dagster's runs recorded as the platform records them
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
