"""The invoicing's own schema."""

from sqlalchemy import MetaData

from servicekit.db import plumbing_tables

metadata = MetaData()
outbox, inbox = plumbing_tables(metadata)
