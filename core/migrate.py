"""Run the operational schema's Alembic migrations against a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from core.db import driver_url

# Dagster's own storage keeps its Alembic state in `alembic_version`; ours must not collide.
VERSION_TABLE = "hotel_alembic_version"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", driver_url(database_url, "psycopg").replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_heads(database_url: str) -> set[str]:
    import sqlalchemy as sa

    from core.db import engine_for

    with engine_for(database_url).connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return set()
        return {row[0] for row in conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))}
