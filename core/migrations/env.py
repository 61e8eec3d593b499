"""Alembic environment: the URL comes from the caller (core.migrate), never from a file."""

from alembic import context
from sqlalchemy import create_engine, pool

from core.migrate import VERSION_TABLE

url = context.config.get_main_option("sqlalchemy.url")
connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, version_table=VERSION_TABLE, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
