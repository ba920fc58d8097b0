"""Creates the project's topics explicitly (the local broker runs without auto-creation)."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ledgerline_contracts.topics import Topic, all_topics


async def ensure_topics(
    bootstrap: str, topics: list[Topic] | None = None, timeout: float = 30.0, replication: int = 1
) -> list[str]:
    """Creates missing topics; returns the names it created."""
    wanted = {t.name: t for t in (topics or all_topics())}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for name, t in wanted.items() if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them in between
                await admin.create_topics(
                    [NewTopic(t.name, num_partitions=t.partitions, replication_factor=replication) for t in missing]
                )
        deadline = asyncio.get_running_loop().time() + timeout
        while set(wanted) - set(await admin.list_topics()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topics not created: {sorted(set(wanted) - set(await admin.list_topics()))}")
            await asyncio.sleep(0.2)
        return [t.name for t in missing]
    finally:
        await admin.close()
