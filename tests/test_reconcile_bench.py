"""`hotelctl bench reconcile` runs at a tiny size and finds exactly the generated share of each class."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cli.main import app


def test_bench_reconcile_tiny():
    if not any(group.name == "bench" for group in app.registered_groups):
        pytest.skip("the shared `hotelctl bench` group is not registered in this checkout")
    result = CliRunner().invoke(app, ["bench", "reconcile", "--orders", "20000", "--repeat", "1"])
    assert result.exit_code == 0, result.output
    assert re.search(r"ratio reconcile / plain join: \d+\.\d\dx", result.stdout)
    classes = re.findall(r"^\s+(\w+)\s+([\d,]+)\s+(\S+)$", result.stdout, re.M)
    assert len(classes) == 7 and all(mark == "ok" for _name, _count, mark in classes)
    assert all(int(count.replace(",", "")) > 0 for _name, count, _mark in classes)
