"""The unit of work against the real database: all of it commits, or none of it does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.settings import LedgerSettings
from ledgerline_cli.stack import Stack, _secrets
from ledgerline_contracts import topics
from ledgerline_contracts.messages import CommandResult
from servicekit.db import PostgresUnitOfWork, create_engine, prune_inbox

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(infra: Stack) -> AsyncIterator[AsyncEngine]:
    settings = LedgerSettings(
        db_name=infra.db_name("ledger"),
        db_pool_size=2,
        db_password=_secrets(infra.state)["LEDGERLINE_PG_LEDGER_PASSWORD"],
    )
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


def result() -> CommandResult:
    return CommandResult(command_id=uuid.uuid4(), command_type="t", client_id="c", service="s", accepted=True)


async def count(engine: AsyncEngine, sql: str, **params: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql), params)).scalar_one())


async def test_a_failed_unit_of_work_leaves_nothing_behind(engine: AsyncEngine) -> None:
    consumer = f"uow-test-{uuid.uuid4().hex[:8]}"
    message = result()
    with pytest.raises(RuntimeError):
        async with PostgresUnitOfWork(engine) as uow:
            # Driver-level statements first, the way every handler starts: they must not commit on their own.
            assert await uow.claim(consumer, ["k1", "k2"]) == {"k1", "k2"}
            uow.publish("nowhere", message, key="k")
            raise RuntimeError("the handler fails after its first statements")
    assert await count(engine, "SELECT count(*) FROM inbox WHERE consumer = :c", c=consumer) == 0
    assert await count(engine, "SELECT count(*) FROM outbox WHERE payload = :p", p=message.to_bytes()) == 0


async def test_a_successful_unit_of_work_commits_inbox_and_outbox_together(engine: AsyncEngine) -> None:
    consumer = f"uow-test-{uuid.uuid4().hex[:8]}"
    message = result()
    committed: list[bool] = []
    async with PostgresUnitOfWork(engine) as uow:
        await uow.claim(consumer, ["k1"])
        uow.publish("uow-test-topic", message, key="k")
        uow.after_commit(lambda: committed.append(True))
    assert committed == [True]
    assert await count(engine, "SELECT count(*) FROM inbox WHERE consumer = :c", c=consumer) == 1
    assert await count(engine, "SELECT count(*) FROM outbox WHERE payload = :p", p=message.to_bytes()) == 1
    async with engine.begin() as connection:  # leave no row for a relay to publish
        await connection.execute(text("DELETE FROM outbox WHERE topic = 'uow-test-topic'"))


async def test_claims_see_each_other_only_after_commit(engine: AsyncEngine) -> None:
    consumer = f"uow-test-{uuid.uuid4().hex[:8]}"
    async with PostgresUnitOfWork(engine) as first:
        assert await first.claim(consumer, ["k"]) == {"k"}
    async with PostgresUnitOfWork(engine) as second:
        assert await second.claim(consumer, ["k", "other"]) == {"other"}


async def test_a_released_key_can_be_claimed_again(engine: AsyncEngine) -> None:
    consumer = f"uow-test-{uuid.uuid4().hex[:8]}"
    async with PostgresUnitOfWork(engine) as uow:
        assert await uow.claim(consumer, ["refused", "handled"]) == {"refused", "handled"}
        await uow.release(consumer, ["refused"])  # refused for good: its dead letter may be replayed
    async with PostgresUnitOfWork(engine) as uow:
        assert await uow.claim(consumer, ["refused", "handled"]) == {"refused"}


# --- fingerprints and pruning (issue 18, holes 6 and 7) --------------------------------------------------------------
async def test_a_key_claimed_again_with_other_content_is_a_conflict_across_transactions(engine: AsyncEngine) -> None:
    consumer = f"uow-test-{uuid.uuid4().hex[:8]}"
    first, same, forged, fresh = result(), result(), result(), result()
    same_id = {id(first): "event-1", id(same): "event-1", id(forged): "event-1", id(fresh): "event-2"}
    prints = {id(first): b"A" * 16, id(same): b"A" * 16, id(forged): b"B" * 16, id(fresh): b"C" * 16}
    conflicts: list[CommandResult] = []

    async def unseen(*messages: CommandResult) -> list[CommandResult]:
        async with PostgresUnitOfWork(engine) as uow:
            return await uow.unseen(
                consumer,
                messages,
                key=lambda m: same_id[id(m)],
                fingerprint=lambda m: prints[id(m)],
                on_conflict=conflicts.append,
            )

    assert await unseen(first) == [first]
    assert await unseen(same, forged, fresh) == [fresh]
    assert conflicts == [forged]  # the same content again is a repeat, other content under the same key is not
    assert await unseen(forged) == [] and conflicts == [forged, forged]


async def test_within_one_batch_a_second_copy_with_other_content_is_a_conflict(engine: AsyncEngine) -> None:
    consumer = f"uow-test-{uuid.uuid4().hex[:8]}"
    one, two = result(), result()
    conflicts: list[CommandResult] = []
    async with PostgresUnitOfWork(engine) as uow:
        kept = await uow.unseen(
            consumer,
            [one, two],
            key=lambda m: "k",
            fingerprint=lambda m: bytes([m is one]) * 16,
            on_conflict=conflicts.append,
        )
    assert kept == [one] and conflicts == [two]


async def test_pruning_forgets_keys_past_the_retention_and_keeps_those_within_it(engine: AsyncEngine) -> None:
    consumer = f"uow-test-{uuid.uuid4().hex[:8]}"
    async with PostgresUnitOfWork(engine) as uow:
        assert await uow.claim(consumer, ["old", "recent"]) == {"old", "recent"}
    async with engine.begin() as connection:  # one key handled 31 days ago, one 29 days ago
        await connection.execute(
            text(
                "UPDATE inbox SET handled_at = now() - CASE message_key WHEN 'old' THEN interval '31 days' "
                "ELSE interval '29 days' END WHERE consumer = :c"
            ),
            {"c": consumer},
        )
    assert await prune_inbox(engine, retention_days=30, chunk=1) >= 1  # chunked: loops until nothing is left
    async with PostgresUnitOfWork(engine) as uow:  # a replay within the retention is still a repeat
        assert await uow.claim(consumer, ["old", "recent"]) == {"old"}


def test_an_inbox_retention_not_longer_than_the_longest_topic_retention_is_refused() -> None:
    horizon = topics.replay_horizon_days()
    assert horizon == 28  # the dead letters', the longest
    with pytest.raises(ValueError, match=f"not longer than the {horizon} days a record can come again"):
        LedgerSettings(inbox_retention_days=horizon)
    assert LedgerSettings(inbox_retention_days=horizon + 1).inbox_retention_days == horizon + 1
    assert LedgerSettings().inbox_retention_days == 30
