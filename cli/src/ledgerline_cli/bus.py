"""Talking to the system over Kafka from outside: publish commands, wait for their results and for events.

Watching starts at the end of each topic *before* anything is published, so nothing that follows is missed.
The CLI and the tests both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ledgerline_contracts import auth
from ledgerline_contracts import topics as catalogue_topics
from ledgerline_contracts.messages import Catalogue, CommandResult, Message, UndecodableMessage
from ledgerline_contracts.topics import Topic

from .kafka_security import OPERATOR, OwnerProducers, client_kwargs

M = TypeVar("M", bound=Message)


class CommandRefused(Exception):
    def __init__(self, result: CommandResult) -> None:
        super().__init__(f"{result.command_type} refused by {result.service}: {result.reason}")
        self.result = result


class Bus:
    issuer: auth.Issuer | None = None
    """Signs the commands' tokens: the local issuer (`ledgerline_cli.tokens`) unless set."""

    def __init__(
        self,
        bootstrap: str,
        watch: Iterable[tuple[Topic, Catalogue]] = (),
        *,
        principal: str = OPERATOR,
        write_as_owner: bool = False,
        state: Path | None = None,
    ) -> None:
        """Connects to Kafka as `principal` (its password from the state directory, or the environment: see
        `kafka_security`). With `write_as_owner` (tests that play every party) each record is written as a
        principal allowed to write its topic instead: a test playing ABC Factoring writes ABC's inbound topic as
        `abc-factoring` (`kafka_security.OwnerProducers`)."""
        self._bootstrap = bootstrap
        self.bootstrap = bootstrap
        self.principal = principal
        self._write_as_owner = write_as_owner
        self._state = state
        self._catalogues: dict[str, Catalogue] = {t.name: c for t, c in watch}
        self._catalogues[catalogue_topics.TOPIC_COMMAND_RESULTS.name] = Catalogue("results", [CommandResult])
        self._seen: dict[str, list[Message]] = defaultdict(list)
        self._results: dict[UUID, CommandResult] = {}
        self._changed = asyncio.Condition()
        self._producer: AIOKafkaProducer | OwnerProducers | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.stop()

    async def start(self) -> None:
        security = client_kwargs(self.principal, self._state)
        if self._write_as_owner:
            self._producer = OwnerProducers(self._bootstrap, self._state, enable_idempotence=True, acks="all")
        else:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap, enable_idempotence=True, acks="all", **security
            )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, **security)
        await self._consumer.start()
        partitions = [
            TopicPartition(name, p)
            for name in self._catalogues
            for p in (self._consumer.partitions_for_topic(name) or await self._partitions(name))
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end positions now, before anything is published
            await self._consumer.position(partition)
        self._reader = asyncio.create_task(self._read())

    async def _partitions(self, name: str) -> set[int]:
        assert self._consumer is not None
        await self._consumer._client.force_metadata_update()
        found = self._consumer.partitions_for_topic(name)
        if not found:
            raise RuntimeError(f"topic {name} does not exist (run `ledgerline topics`)")
        return found

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            if not batches:
                continue
            for partition, records in batches.items():
                catalogue = self._catalogues[partition.topic]
                for record in records:
                    with contextlib.suppress(UndecodableMessage):
                        for item in catalogue.decode_record(record.value):  # a message, or an envelope's items
                            message = item.message
                            if isinstance(message, CommandResult):
                                self._results.setdefault(message.command_id, message)  # the first answer counts
                            elif message is not None:
                                self._seen[partition.topic].append(message)
            async with self._changed:
                self._changed.notify_all()

    # --- sending --------------------------------------------------------------------------------------------------
    async def send(
        self,
        topic: Topic | str,
        message: Message | bytes,
        key: str | bytes | None,
        token: str | auth.FrontEnd | None = auth.AS_FRONT_END,
        headers: Iterable[tuple[str, bytes]] = (),
    ) -> None:
        """Publishes one record, with `headers`. On a topic marked `authenticated` it carries `token` too (by
        default the one the local front end signs for the message; None: no token at all)."""
        assert self._producer is not None
        name = topic.name if isinstance(topic, Topic) else topic
        value = message if isinstance(message, bytes) else message.to_bytes()
        headers = list(headers)
        if isinstance(token, auth.FrontEnd):
            signed = isinstance(topic, Topic) and topic.authenticated and isinstance(message, Message)
            token = auth.front_end_token(self.signer(), message) if signed else None
        if token is not None:
            headers.append(auth.bearer(token))
        await self._producer.send_and_wait(
            name, value, key=key.encode() if isinstance(key, str) else key, headers=headers or None
        )

    def signer(self) -> auth.Issuer:
        if self.issuer is None:
            from .tokens import local_issuer

            self.issuer = local_issuer()
        return self.issuer

    async def command(
        self,
        topic: Topic,
        command: Message,
        *,
        key: str,
        timeout: float = 30.0,
        expect_accepted: bool = True,
        token: str | auth.FrontEnd | None = auth.AS_FRONT_END,
    ) -> CommandResult:
        """Publishes a command and waits for the service's CommandResult."""
        await self.send(topic, command, key, token)
        result = await self.result(command.message_id, timeout)
        if expect_accepted and not result.accepted:
            raise CommandRefused(result)
        return result

    async def result(self, command_id: UUID, timeout: float = 30.0) -> CommandResult:
        async def answered() -> CommandResult:
            async with self._changed:
                while command_id not in self._results:
                    await self._changed.wait()
                return self._results[command_id]

        try:
            return await asyncio.wait_for(answered(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no answer to command {command_id} within {timeout:.0f} s") from None

    # --- watching -------------------------------------------------------------------------------------------------
    def seen(self, topic: Topic, kind: type[M] | None = None, where: Callable[[Any], bool] | None = None) -> list[Any]:
        return [
            m for m in self._seen[topic.name] if (kind is None or isinstance(m, kind)) and (where is None or where(m))
        ]

    async def wait_for(self, topic: Topic, where: Callable[[Any], bool], timeout: float = 30.0) -> Message:
        async def found() -> Message:
            async with self._changed:
                while True:
                    for message in self._seen[topic.name]:
                        if where(message):
                            return message
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            raise TimeoutError(f"nothing matching on {topic.name} within {timeout:.0f} s") from None

    async def wait_count(
        self, topic: Topic, where: Callable[[Any], bool], count: int, timeout: float = 30.0
    ) -> list[Any]:
        async def enough() -> list[Any]:
            async with self._changed:
                while True:
                    matching = [m for m in self._seen[topic.name] if where(m)]
                    if len(matching) >= count:
                        return matching
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            have = len([m for m in self._seen[topic.name] if where(m)])
            raise TimeoutError(f"{have} of {count} matching on {topic.name} within {timeout:.0f} s") from None
