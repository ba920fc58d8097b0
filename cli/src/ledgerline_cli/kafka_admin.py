"""Creates the project's topics explicitly (the local broker runs without auto-creation), as the admin."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from ledgerline_contracts.access import ADMIN
from ledgerline_contracts.topics import Topic, all_topics

from .kafka_security import client_kwargs


async def ensure_topics(
    bootstrap: str, topics: list[Topic] | None = None, timeout: float = 30.0, replication: int = 1
) -> list[str]:
    """Creates missing topics; returns the names it created.

    With three replicas or more, a write (acks=all) needs two in sync (`min.insync.replicas=2`), set on each topic
    rather than left to the cluster's default, so it holds on a managed cluster too.
    """
    wanted = {t.name: t for t in (topics or all_topics())}
    durability = {"min.insync.replicas": "2"} if replication >= 3 else {}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **client_kwargs(ADMIN)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for name, t in wanted.items() if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them in between
                await admin.create_topics(
                    [
                        NewTopic(
                            t.name,
                            num_partitions=t.partitions,
                            replication_factor=replication,
                            topic_configs={**t.configs, **durability},
                        )
                        for t in missing
                    ]
                )
        deadline = asyncio.get_running_loop().time() + timeout
        while set(wanted) - set(await admin.list_topics()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topics not created: {sorted(set(wanted) - set(await admin.list_topics()))}")
            await asyncio.sleep(0.2)
        # Topics made before a config was introduced get it now (e.g. LogAppendTime on the command topics). This
        # request replaces a topic's settings whole, so it carries the durability setting as well.
        configured = [t for t in wanted.values() if (t.configs or durability) and t not in missing]
        if configured:
            await admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, t.name, configs={**t.configs, **durability})
                    for t in configured
                ]
            )
        return [t.name for t in missing]
    finally:
        await admin.close()
