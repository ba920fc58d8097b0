"""Which failures pause a consumer (the infrastructure's) and which dead-letter a record (the message's), by
SQLSTATE class and connection state, as asyncpg raises them and as SQLAlchemy wraps them."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from asyncpg.exceptions._base import DataError as ArgumentError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection, AsyncAdapt_asyncpg_dbapi

from servicekit.errors import is_transient

INFRASTRUCTURE = [
    "08000",  # connection exception
    "08006",  # connection failure
    "08P01",  # protocol violation
    "25006",  # read-only transaction (a standby after failover)
    "25P03",  # idle-in-transaction session timeout
    "40001",  # serialization failure
    "40P01",  # deadlock
    "53000",  # insufficient resources
    "53100",  # disk full
    "53200",  # out of memory
    "53300",  # too many connections
    "55006",  # object in use
    "55P03",  # lock not available
    "57014",  # query cancelled
    "57P01",  # admin shutdown
    "57P03",  # cannot connect now
    "58000",  # system error
    "58030",  # I/O error
    "XX000",  # internal error
    "XX001",  # data corrupted
]
THE_MESSAGES = [
    "22001",  # string too long
    "22003",  # numeric out of range
    "22P02",  # invalid text representation
    "23502",  # not null
    "23503",  # foreign key
    "23505",  # unique
    "23514",  # check
    "25001",  # active SQL transaction: a statement the code got wrong, not the database's state
    "42703",  # undefined column
    "42P01",  # undefined table
    "42501",  # insufficient privilege
    "P0001",  # raise exception
    "55000",  # object not in prerequisite state
]


def postgres_error(sqlstate: str) -> asyncpg.PostgresError:
    return asyncpg.PostgresError.new({"C": sqlstate, "M": f"error {sqlstate}"})


def wrapped(error: Exception) -> sa_exc.DBAPIError:
    """As SQLAlchemy raises it: its DBAPIError around the adapter's error, raised from asyncpg's."""
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, error)
    except Exception as translated:
        return sa_exc.DBAPIError.instance("SELECT 1", None, translated, dbapi.Error)
    raise AssertionError("not translated")


@pytest.mark.parametrize("sqlstate", INFRASTRUCTURE)
def test_the_databases_own_faults_are_transient(sqlstate: str) -> None:
    assert is_transient(postgres_error(sqlstate))
    assert is_transient(wrapped(postgres_error(sqlstate)))


@pytest.mark.parametrize("sqlstate", THE_MESSAGES)
def test_what_a_message_can_cause_is_not(sqlstate: str) -> None:
    assert not is_transient(postgres_error(sqlstate))
    assert not is_transient(wrapped(postgres_error(sqlstate)))


def test_a_fault_inside_the_chain_of_causes_counts() -> None:
    try:
        try:
            raise postgres_error("53100")
        except asyncpg.PostgresError as disk_full:
            raise RuntimeError("could not save the batch") from disk_full
    except RuntimeError as error:
        assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
        KafkaConnectionError(),
        sa_exc.TimeoutError("QueuePool limit reached"),
    ],
)
def test_a_closed_or_broken_connection_is_transient(error: Exception) -> None:
    assert is_transient(error)


def test_an_invalidated_connection_is_transient() -> None:
    error = sa_exc.DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True)
    assert is_transient(error)


def test_an_argument_that_cannot_be_encoded_is_the_messages_fault() -> None:
    error = ArgumentError("invalid input for query argument $1: 'x' (an integer is required)")
    assert not is_transient(error)
    assert not is_transient(wrapped(error))


@pytest.mark.parametrize("error", [ValueError("bad"), KeyError("missing"), RuntimeError("bug")])
def test_ordinary_errors_are_the_messages(error: Exception) -> None:
    assert not is_transient(error)
