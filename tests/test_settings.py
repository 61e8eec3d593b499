import subprocess
import sys

import pytest

from core.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_deployments(monkeypatch):
    for name in ("RATE_LIMIT_MAX", "DATABASE_URL", "REDIS_URL", "DEFAULT_CURRENCY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.rate_limit_max, settings.rate_limit_window_ms) == (100, 60_000)
    assert settings.concurrency_limit == 20
    assert settings.query_timeout_ms == 10_000
    assert settings.order_expiry_minutes == 30
    assert settings.settle_cycle_days == 7
    assert settings.risk_score_threshold == 80
    assert settings.default_currency == "CNY"
    assert settings.exchange_rate_cache_ttl == 3600
    assert settings.sync_interval_ms == 300_000
    assert (settings.retry_max_attempts, settings.retry_backoff_ms) == (3, 1000)
    assert settings.database_url is None  # embedded


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RATE_LIMIT_MAX", "abc", "RATE_LIMIT_MAX"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL"),
        ("REDIS_URL", "http://x", "REDIS_URL"),
        ("RISK_SCORE_THRESHOLD", "101", "RISK_SCORE_THRESHOLD"),
        ("DEFAULT_CURRENCY", "EURO", "DEFAULT_CURRENCY"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(f"invalid setting {expected}:")
    assert "\n" not in message


def test_cli_start_up_fails_with_one_line_and_no_secret(monkeypatch):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://u:hunter2-secret@db.internal:5432/x",
           "RATE_LIMIT_MAX": "abc", "JWT_SECRET": "top-secret-jwt-value"}
    result = subprocess.run([sys.executable, "-m", "cli.main", "status"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["invalid setting RATE_LIMIT_MAX: Input should be a valid integer, unable to parse string "
                     "as an integer"]
    assert "hunter2" not in result.stderr + result.stdout
    assert "top-secret" not in result.stderr + result.stdout


def test_url_must_name_a_host():
    with pytest.raises(ValueError, match="names no host"):
        Settings(database_url="postgresql:///nohost")
