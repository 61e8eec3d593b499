"""`hotelctl bench api` runs end to end at a tiny size and prints every figure (no timing asserted here)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner


@pytest.mark.slow
def test_bench_api_tiny(settings, monkeypatch):
    from cli.main import app

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HOTEL_DATA_DIR", str(settings.hotel_data_dir))
    result = CliRunner().invoke(app, ["bench", "api", "--seconds", "1", "--orders", "3", "--hotels", "40",
                                      "--rate", "20", "--min-offers", "5", "--connections", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    for figure in ("bare FastAPI constant (baseline)", "POST /v1/quotes", "quote throughput / bare throughput",
                   "quote p99 at 20 req/s", "order p99 minus simulator time", "saturation rounds, req/s"):
        assert figure in out, figure
    assert "POST /v1/orders ×3" in out  # all three orders confirmed
