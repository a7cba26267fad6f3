"""Alembic migrations for Reactor's schema (``reactor db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from reactor.storage.engines import normalise_url

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration built in code, so no alembic.ini has to be found on disk."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # ConfigParser would treat % in a password as interpolation.
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database schema back down to ``revision`` (tests of the migrations use it)."""
    command.downgrade(alembic_config(database_url), revision)
