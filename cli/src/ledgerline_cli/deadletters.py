"""`ledgerline deadletters`: list what consumers could not handle, and replay it after a fix.

Replaying republishes the original bytes, with the original key, to the original topic. Consumers drop
messages they already handled, so replaying twice books nothing twice. Dead letters are read as the operator;
each replayed record is written as a principal the ACLs let write its topic (`kafka_security.OwnerProducers`:
the operator for command topics; a provider's or a service's topic needs that principal's password, which the
local state directory holds and an operator of a real cluster does not, so such records are for their owner to
send again).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys

import orjson
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from ledgerline_contracts import auth
from ledgerline_contracts.access import OPERATOR
from ledgerline_contracts.operations import DEAD_LETTERS, DeadLetter
from ledgerline_contracts.topics import all_topics, consumer_groups, dead_letters

from .kafka_security import OwnerProducers, client_kwargs
from .tokens import local_issuer

console = Console(width=None if sys.stdout.isatty() else 160)


async def read_all(bootstrap: str, groups: list[str]) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs(OPERATOR))
    await consumer.start()
    try:
        partitions = [TopicPartition(dead_letters(g).name, 0) for g in groups]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    letter = DEAD_LETTERS.decode(record.value)
                    assert isinstance(letter, DeadLetter)
                    letters.append(letter)
        return letters
    finally:
        await consumer.stop()


async def replay(bootstrap: str, letters: list[DeadLetter]) -> int:
    producer = OwnerProducers(bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        letters = [m for m in letters if not m.value_truncated]  # cut short: the original cannot be replayed
        signed = {t.name for t in all_topics() if t.authenticated}
        for letter in letters:
            value = base64.b64decode(letter.value_b64) if letter.value_b64 else None
            headers = [("ledgerline-replay-of", f"{letter.consumer_group}/{letter.partition}/{letter.offset}".encode())]
            if letter.topic in signed and value is not None:
                # A dead letter keeps no token: the replay is signed anew, as the front end signs the command.
                headers.append(auth.bearer(auth.front_end_token(local_issuer(), _json(value), operator="replay")))
            await producer.send_and_wait(
                letter.topic,
                value,
                key=base64.b64decode(letter.key_b64) if letter.key_b64 else None,
                headers=headers,
            )
        return len(letters)
    finally:
        await producer.stop()


def _json(value: bytes) -> dict[str, object]:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def register(app: typer.Typer) -> None:
    group_app = typer.Typer(help="Dead letters: list them, replay them after a fix.")
    app.add_typer(group_app, name="deadletters")
    bootstrap = os.environ.get("LEDGERLINE_KAFKA", "127.0.0.1:9092")

    @group_app.command("list")
    def list_letters(
        group: list[str] = typer.Option(None, help="Only these consumer groups."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        letters = asyncio.run(read_all(bootstrap, group or list(consumer_groups())))
        if as_json:
            sys.stdout.write(json.dumps([m.model_dump(mode="json") for m in letters], indent=2) + "\n")
            return
        table = Table("group", "from", "kind", "attempts", "when", "error", title=f"{len(letters)} dead letters")
        for m in letters:
            table.add_row(
                m.consumer_group,
                f"{m.topic}[{m.partition}]@{m.offset}",
                m.error_kind,
                str(m.attempts),
                m.last_failed_at.strftime("%Y-%m-%d %H:%M:%S"),
                m.error[:120],
            )
        console.print(table)

    @group_app.command("replay")
    def replay_letters(
        group: str = typer.Option(..., help="The consumer group whose dead letters to replay."),
        offset: list[int] = typer.Option(None, help="Original offsets to replay (default: all)."),
        kind: str = typer.Option(None, help="Only this kind: undecodable, handler_error, refused."),
    ) -> None:
        letters = [
            m
            for m in asyncio.run(read_all(bootstrap, [group]))
            if (not offset or m.offset in offset) and (kind is None or m.error_kind == kind)
        ]
        sent = asyncio.run(replay(bootstrap, letters))
        console.print(f"replayed {sent} message(s) to their original topics")
