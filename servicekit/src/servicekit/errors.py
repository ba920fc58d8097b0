"""Which failures are the infrastructure's (wait and retry, never dead-letter) and which are the message's.

PostgreSQL says which by its SQLSTATE, so errors are classified by SQLSTATE class rather than by a list of
exception types: a new or rare fault of the database (disk full, out of memory, a read-only standby after a
failover, an internal error) pauses the consumer instead of dead-lettering every good record it meets. What is
left to the message is what the message can cause: bad data (22), broken constraints (23), a statement the data
makes invalid (42), a raised business error (P0001), and the like.
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy import exc as sa_exc

INFRASTRUCTURE_CLASSES = frozenset(
    {
        "08",  # connection exception
        "40",  # transaction rollback: serialization failure, deadlock
        "53",  # insufficient resources: disk full, out of memory, too many connections
        "57",  # operator intervention: admin shutdown, cancelled query, cannot connect now
        "58",  # system error: I/O
        "XX",  # internal error, data corrupted
    }
)
INFRASTRUCTURE_STATES = frozenset(
    {
        "25006",  # read-only SQL transaction: a standby, or the primary demoted after a failover
        "25P03",  # idle-in-transaction session timeout: the session was ended under us
        "55P03",  # lock not available
        "55006",  # object in use
    }
)


def infrastructure_sqlstate(sqlstate: str) -> bool:
    """True for a SQLSTATE that says the database, not the statement's data, is at fault."""
    return sqlstate[:2] in INFRASTRUCTURE_CLASSES or sqlstate in INFRASTRUCTURE_STATES


def _infrastructure(error: BaseException) -> bool:
    if isinstance(error, (ConnectionError, OSError, TimeoutError, KafkaError)):
        return True
    # asyncpg's client-side errors (connection closed, operation in progress) have no SQLSTATE; its DataError,
    # an argument that cannot be encoded, is also a ValueError and the message's own fault.
    if isinstance(error, asyncpg.InterfaceError) and not isinstance(error, ValueError):
        return True
    if isinstance(error, (asyncpg.exceptions.InternalClientError, sa_exc.TimeoutError)):  # TimeoutError: the pool's
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    # asyncpg's errors and SQLAlchemy's wrappers of them both carry it (`sqlstate`; psycopg-style `pgcode`).
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return isinstance(sqlstate, str) and infrastructure_sqlstate(sqlstate)


def is_transient(error: BaseException) -> bool:
    """True when retrying the same message later can succeed: the database or broker, not the message.

    Follows the chain of causes (SQLAlchemy's wrapper, the driver's error, what it was raised from): any
    infrastructure fault in it makes the whole failure the infrastructure's."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _infrastructure(current):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.orig is not None and id(current.orig) not in seen:
            current = current.orig
            continue
        current = current.__cause__ or current.__context__
    return False
