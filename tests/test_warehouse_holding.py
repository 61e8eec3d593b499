"""The API keeps its embedded warehouse open between report requests (`HeldWarehouse`: opening chDB costs more
than a report's queries) and gives the path up at once to another process waiting for it, a pipeline step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from warehouse.client import HeldWarehouse

REPO = Path(__file__).resolve().parents[1]
# A pipeline step in another process: opens the warehouse the usual way and adds a row.
STEP = """
import sys
from warehouse.client import warehouse_client
with warehouse_client(sys.argv[1], lock_timeout_s=float(sys.argv[2])) as client:
    client.command("INSERT INTO t VALUES (%s)" % sys.argv[3])
"""


def _step_in_another_process(url: str, value: int, lock_timeout_s: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", STEP, url, str(lock_timeout_s), str(value)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _values(held: HeldWarehouse) -> list[int]:
    with held.client() as client:
        return [row[0] for row in client.query("SELECT n FROM t ORDER BY n").result_rows]


def test_uses_share_one_session_and_a_waiting_step_gets_the_path(tmp_path):
    url = f"chdb://{tmp_path / 'clickhouse'}"
    held = HeldWarehouse(url, hold_s=600)  # idle for ten minutes would still be held: only the waiter frees it
    try:
        with held.client() as client:
            client.command("CREATE TABLE t (n Int64) ENGINE = MergeTree ORDER BY n")
            client.command("INSERT INTO t VALUES (1)")
        assert _values(held) == [1]
        assert (held.uses, held.opens) == (2, 1)

        step = _step_in_another_process(url, 2, lock_timeout_s=20)
        assert step.returncode == 0, step.stderr
        assert _values(held) == [1, 2]  # opened again after the step: its row is there
        assert held.opens == 2
    finally:
        held.close()


def test_hold_zero_opens_the_warehouse_for_every_use(tmp_path):
    url = f"chdb://{tmp_path / 'clickhouse'}"
    held = HeldWarehouse(url, hold_s=0)
    try:
        with held.client() as client:
            client.command("CREATE TABLE t (n Int64) ENGINE = MergeTree ORDER BY n")
        # Nothing held between uses: a step that will not wait at all gets the path.
        step = _step_in_another_process(url, 5, lock_timeout_s=0)
        assert step.returncode == 0, step.stderr
        assert _values(held) == [5]
        assert (held.uses, held.opens) == (2, 2)
    finally:
        held.close()
