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


SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
STRONG = "k" * 32


@pytest.mark.parametrize(
    ("jwt", "encryption", "message"),
    [
        (None, STRONG, "invalid setting JWT_SECRET: unset or a public default"),
        (STRONG, None, "invalid setting ENCRYPTION_SECRET: unset or a public default"),
        ("short-but-not-public", STRONG, "invalid setting JWT_SECRET: shorter than 32 characters"),
        (STRONG, "your_32_char_encryption_secret_key", "invalid setting ENCRYPTION_SECRET: unset or a public"),
    ],
)
def test_against_real_servers_a_missing_public_or_short_secret_stops_start_up(monkeypatch, jwt, encryption,
                                                                               message):
    monkeypatch.setenv("DATABASE_URL", SERVER)
    monkeypatch.delenv("HOTEL_ENV", raising=False)
    for name, value in (("JWT_SECRET", jwt), ("ENCRYPTION_SECRET", encryption)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(message)


def test_a_short_previous_encryption_key_is_refused_too(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", SERVER)
    monkeypatch.delenv("HOTEL_ENV", raising=False)
    monkeypatch.setenv("JWT_SECRET", STRONG)
    monkeypatch.setenv("ENCRYPTION_SECRET", STRONG)
    monkeypatch.setenv("ENCRYPTION_SECRET_PREVIOUS", "old")
    with pytest.raises(SettingsError, match="^invalid setting ENCRYPTION_SECRET_PREVIOUS: shorter than 32"):
        load_settings()


def test_development_secrets_only_in_development(monkeypatch):
    for name in ("JWT_SECRET", "ENCRYPTION_SECRET", "DATABASE_URL", "HOTEL_ENV"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().development  # embedded engines: the development secret is fine
    monkeypatch.setenv("DATABASE_URL", SERVER)
    monkeypatch.setenv("HOTEL_ENV", "dev")
    assert load_settings().development
    monkeypatch.setenv("HOTEL_ENV", "staging")
    with pytest.raises(SettingsError):
        load_settings()
    monkeypatch.setenv("JWT_SECRET", STRONG)
    monkeypatch.setenv("ENCRYPTION_SECRET", "e" * 40)
    assert not load_settings().development


def test_cli_refuses_to_start_against_servers_without_secrets():
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://u:pw@db.internal:5432/x"}
    result = subprocess.run([sys.executable, "-m", "cli.main", "status"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("invalid setting JWT_SECRET:")


def test_no_development_supplier_key_outside_development(monkeypatch):
    from core.suppliers.config import supplier_settings
    from core.suppliers.registry import MissingSupplierKey, credentials

    for name in ("SUPPLIER_B_API_KEY", "SUPPLIER_A_API_KEY", "SUPPLIER_A_SECRET"):
        monkeypatch.delenv(name, raising=False)
    supplier_settings.cache_clear()
    try:
        production = Settings(database_url=SERVER, jwt_secret=STRONG, encryption_secret=STRONG)
        with pytest.raises(MissingSupplierKey, match="set SUPPLIER_B_API_KEY"):
            credentials("B", production)
        monkeypatch.setenv("SUPPLIER_A_API_KEY", "a-real-key")
        supplier_settings.cache_clear()
        with pytest.raises(MissingSupplierKey, match="set SUPPLIER_A_SECRET"):
            credentials("A", production)
        _, key, _ = credentials("B", Settings(database_url=None))  # embedded: the simulator's development key
        assert key == "dev-supplier-b-key"
    finally:
        supplier_settings.cache_clear()


def test_environment_files_with_secrets_are_ignored_by_git():
    repo = __import__("pathlib").Path(__file__).resolve().parents[1]
    paths = ["deploy/.env", "deploy/.env.staging", "deploy/.env.production", ".env"]
    result = subprocess.run(["git", "check-ignore", *paths, "deploy/.env.example"], cwd=repo,
                            capture_output=True, text=True)
    assert result.stdout.split() == paths  # every one ignored, the committed template not
