"""Run the test suite one area per pytest process, each on a fresh database.

An area is the word after `test_` in a file name (test_inventory_sync.py → inventory). Each
area's session fixtures create their own database, so no area sees another's rows. Extra
arguments go to every pytest run (e.g. `-m embedded`). Each area lists its skips with their reasons; the run
ends with one `N passed, N failed` line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
AREA_TIMEOUT_S = 1800


def areas() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for path in sorted(TESTS.glob("test_*.py")):
        groups[path.stem.split("_")[1]].append(str(path))
    return groups


def _pytest(args: list[str], area: str) -> int:
    """One area's pytest run; past AREA_TIMEOUT_S (per-test timeouts did not end it) its whole process group
    (servers it started included) is killed and the area counts as failed."""
    process = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-rs", *args], start_new_session=True)
    try:
        return process.wait(timeout=AREA_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"\n{area}: still running after {AREA_TIMEOUT_S} s, stopped", flush=True)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return -1
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def main(extra: list[str]) -> int:
    totals = defaultdict(int)
    failed_areas = []
    with tempfile.TemporaryDirectory() as tmp:
        for area, files in areas().items():
            report = Path(tmp) / f"{area}.xml"
            print(f"\n=== {area}: {len(files)} file(s)", flush=True)
            code = _pytest([f"--junitxml={report}", *extra, *files], area)
            if code not in (0, 5):  # 5: nothing selected in this area (e.g. -m embedded)
                failed_areas.append(area)
            if report.exists():
                suite = ET.parse(report).getroot().find("testsuite")
                for key in ("tests", "failures", "errors", "skipped"):
                    totals[key] += int(suite.get(key, 0))
    passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    failed = totals["failures"] + totals["errors"]
    if failed_areas:
        print(f"\nareas with failures: {', '.join(failed_areas)}")
    if totals["tests"] == 0:
        print("no test ran")
        return 1
    print(f"\n{passed} passed, {failed} failed, {totals['skipped']} skipped")
    return 1 if failed_areas or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
