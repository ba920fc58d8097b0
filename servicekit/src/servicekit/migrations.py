"""Alembic, the same way for every service: each service keeps its own migrations and its own database.

A service's `migrations/env.py` only says which metadata and settings it has; everything else is here, and
migrations run before the service starts (`ledgerline-<service> migrate`, the prestart step).
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from .db import create_engine, plumbing_tables
from .settings import ServiceSettings


def alembic_config(script_location: str, settings: ServiceSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["settings"] = settings
    return config


def upgrade(script_location: str, settings: ServiceSettings, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, settings), revision)


def revision(script_location: str, settings: ServiceSettings, message: str) -> None:
    command.revision(alembic_config(script_location, settings), message=message, autogenerate=True)


def run_env(metadata: MetaData, settings_type: type[ServiceSettings]) -> None:
    """The body of every service's env.py."""
    settings: ServiceSettings = context.config.attributes.get("settings") or settings_type()
    if context.is_offline_mode():
        context.configure(url=settings.database_url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection, /, **_: Any) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(online())


def create_plumbing_tables() -> None:
    """For a service's first migration: the outbox and inbox tables, exactly as `servicekit.db.plumbing_tables`
    declares them (one declaration; the migration test compares the result with it)."""
    from alembic import op

    for table in plumbing_tables(MetaData()):
        table.create(op.get_bind())


def drop_plumbing_tables() -> None:
    from alembic import op

    op.drop_table("outbox")
    op.drop_index("inbox_handled_at", table_name="inbox")
    op.drop_table("inbox")
