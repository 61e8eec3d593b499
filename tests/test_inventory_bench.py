"""`hotelctl bench sync` at a tiny size: it runs end to end and prints its figures and the ratio."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_sync_prints_rows_per_second_and_the_ratio(database_url, redis_url, data_dir):
    # No supplier credentials set, as on a data engineer's machine: the bench gives its simulators their own.
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUPPLIER_")}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, HOTEL_DATA_DIR=str(data_dir))
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "bench", "sync", "--hotels", "20", "--days", "2", "--sample-rows", "1000",
         "--rounds", "1"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"inventory sync: \d+ rate rows \(2 days\) in [\d.]+s = [\d,]+ rows/s", out), out
    assert re.search(r"write path .*= [\d,]+ rows/s", out) and re.search(r"raw COPY .*= [\d,]+ rows/s", out), out
    assert re.search(r"ratio write path / raw COPY: \d+\.\d\d", out), out
    assert "projection for 10,000 hotels x 30 days x 3 suppliers" in out
    assert re.search(r"re-sync, \d+ rates repriced: \d+ rows written", out), out
    for code in "ABC":
        assert re.search(rf"  {code}: ok, [1-9]\d* rows fetched", out), out
