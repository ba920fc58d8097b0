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

from .db import create_engine
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
    """For a service's first migration: the outbox and inbox tables as they were first declared (later plumbing
    migrations, e.g. `add_reliability_columns`, bring them to what `servicekit.db.plumbing_tables` declares now;
    the migration test compares the result with it)."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("message_key", sa.LargeBinary(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), primary_key=True),
        sa.Column("message_key", sa.Text(), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("inbox_handled_at", "inbox", ["handled_at"])


def drop_plumbing_tables() -> None:
    from alembic import op

    op.drop_table("outbox")
    op.drop_index("inbox_handled_at", table_name="inbox")
    op.drop_table("inbox")


def add_reliability_columns() -> None:
    """The second plumbing migration (issue 18): outbox rows count their failed attempts and can be quarantined;
    inbox rows keep a fingerprint of what was claimed, so a reused message id with other content is seen."""
    import sqlalchemy as sa
    from alembic import op

    op.add_column("outbox", sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("outbox", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("outbox", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "outbox_quarantined",
        "outbox",
        ["topic", "message_key", "id"],
        postgresql_where=sa.text("quarantined_at IS NOT NULL"),
    )
    op.add_column("inbox", sa.Column("fingerprint", sa.LargeBinary(), nullable=True))


def drop_reliability_columns() -> None:
    from alembic import op

    op.drop_column("inbox", "fingerprint")
    op.drop_index("outbox_quarantined", table_name="outbox")
    for column in ("quarantined_at", "last_error", "attempts"):
        op.drop_column("outbox", column)


def add_outbox_correlation() -> None:
    """The third plumbing migration (issue 19): an outbox row keeps its message's correlation id, which the relay
    sends as the record's `correlation_id` header, as the AsyncAPI documents say."""
    import sqlalchemy as sa
    from alembic import op

    op.add_column("outbox", sa.Column("correlation_id", sa.Text(), nullable=True))


def drop_outbox_correlation() -> None:
    from alembic import op

    op.drop_column("outbox", "correlation_id")
