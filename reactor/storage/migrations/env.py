"""Alembic environment: runs migrations online against the configured database."""

from __future__ import annotations

from alembic import context

from reactor.storage.engines import make_engine
from reactor.storage.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is set by reactor.migrations.alembic_config"
engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
