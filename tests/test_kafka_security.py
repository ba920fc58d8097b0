"""Attacks on the real broker: each is refused by Kafka's authoriser (or its authentication), and changes nothing.

The broker runs SASL/SCRAM with the StandardAuthorizer and allow.everyone.if.no.acl.found=false; the grants are
ledgerline_contracts.access's table, applied by the session's set-up (`Stack.infra_up`). Every attack below uses
a real principal's real password, except where the password or the protocol is the attack.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from ledgerline_cli.kafka_security import client_kwargs
from ledgerline_cli.stack import Stack
from ledgerline_contracts import access, topics
from ledgerline_contracts import invoicing as inv
from ledgerline_contracts import ledger as L

pytestmark = pytest.mark.integration

ABC, FJORD = "abc-factoring", "fjord-invoice-sale"


def _as(infra: Stack, principal: str) -> dict[str, Any]:
    return client_kwargs(principal, infra.state)


async def _end_offsets(infra: Stack, *topic_names: str) -> Mapping[TopicPartition, int]:
    """Every partition's end offset, read by the operator (who may read every topic)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, **_as(infra, access.OPERATOR))
    await consumer.start()
    try:
        partitions = [
            TopicPartition(name, p) for name in topic_names for p in consumer.partitions_for_topic(name) or ()
        ]
        if not partitions:  # a fresh consumer may not have the metadata yet
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(n, p) for n in topic_names for p in consumer.partitions_for_topic(n) or ()]
        assert {tp.topic for tp in partitions} == set(topic_names)
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _committed(infra: Stack, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap, **_as(infra, access.ADMIN))
    await admin.start()
    try:
        return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


async def _refused_write(
    infra: Stack, principal: str, topic: topics.Topic, value: bytes, key: str
) -> TopicAuthorizationFailedError:
    """`principal` writes `value` to `topic`; returns the broker's refusal, after checking nothing was appended."""
    before = await _end_offsets(infra, topic.name)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.bootstrap, enable_idempotence=True, acks="all", **_as(infra, principal)
    )
    await producer.start()  # authentication succeeds: the principal is real, the write is not allowed
    try:
        with pytest.raises(TopicAuthorizationFailedError) as refused:
            await producer.send_and_wait(topic.name, value, key=key.encode())
    finally:
        await producer.stop()
    assert await _end_offsets(infra, topic.name) == before, f"{topic.name} changed"
    return refused.value


async def _refused_read(consumer: AIOKafkaConsumer, *errors: type[KafkaError]) -> None:
    try:
        with pytest.raises(errors):
            await consumer.start()
            assert not await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()


async def test_a_provider_cannot_read_another_providers_outbound_topic(infra: Stack) -> None:
    theirs, mine = topics.factoring_outbound(FJORD).name, topics.factoring_outbound(ABC).name
    fjord_group = topics.group(access.provider_group(FJORD))
    committed_before = await _committed(infra, fjord_group)
    assert (await _end_offsets(infra, theirs))[TopicPartition(theirs, 0)] >= 0
    settings = {"bootstrap_servers": infra.bootstrap, "auto_offset_reset": "earliest", **_as(infra, ABC)}
    # In its own consumer group: the topic is refused.
    own_group = topics.group(access.provider_group(ABC))
    await _refused_read(AIOKafkaConsumer(theirs, group_id=own_group, **settings), TopicAuthorizationFailedError)
    # In Fjord's consumer group: refused too (the topic, or the group), nothing read or committed.
    await _refused_read(
        AIOKafkaConsumer(theirs, group_id=fjord_group, **settings),
        TopicAuthorizationFailedError,
        GroupAuthorizationFailedError,
    )
    # By assignment, without a group: the broker answers "not authorised" for the topic (aiokafka's consumer would
    # only log that and retry), and fetching from the first record gets nothing.
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **settings)
    await consumer.start()
    try:
        partition = TopicPartition(theirs, 0)
        with pytest.raises(TopicAuthorizationFailedError):
            await consumer._client._wait_on_metadata(theirs)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        assert await consumer.getmany(timeout_ms=3_000) == {}
    finally:
        await consumer.stop()
    assert await _committed(infra, fjord_group) == committed_before
    # Its own outbound topic: allowed (the refusals above are the ACLs, not a broken client). By assignment, so
    # that the running simulator's group is not disturbed.
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **settings)
    await consumer.start()
    try:
        partitions = await consumer._client._wait_on_metadata(mine)
        ends = await consumer.end_offsets([TopicPartition(mine, p) for p in partitions])
        assert len(ends) == topics.factoring_outbound(ABC).partitions
    finally:
        await consumer.stop()


async def test_a_provider_cannot_write_booking_commands(infra: Stack) -> None:
    client = f"attack-{uuid.uuid4().hex[:8]}"
    forged = L.OpenBooks(client_id=client, company_name="Forged by a provider AS")
    await _refused_write(infra, ABC, topics.TOPIC_LEDGER_COMMANDS, forged.to_bytes(), client)
    await _refused_write(infra, access.BUFFER, topics.TOPIC_LEDGER_COMMANDS, forged.to_bytes(), client)


async def test_a_service_cannot_write_a_topic_it_does_not_own(infra: Stack) -> None:
    client = f"attack-{uuid.uuid4().hex[:8]}"
    forged = L.BooksOpened(client_id=client, company_name="Not booked by the ledger AS")
    await _refused_write(infra, "factoring-gateway", topics.TOPIC_LEDGER_EVENTS, forged.to_bytes(), client)
    # Nor another provider's inbound topic: the gateway reads it, only the provider writes it.
    event = b'{"event_id": "forged"}'
    await _refused_write(infra, "factoring-gateway", topics.factoring_inbound(ABC), event, client)


@pytest.mark.parametrize("principal", [access.BUFFER, access.OPERATOR, "financing-gateway"])
async def test_no_one_but_invoicing_announces_privileges(infra: Stack, principal: str) -> None:
    client = f"attack-{uuid.uuid4().hex[:8]}"
    forged = inv.UserPrivilegesChanged(
        client_id=client,
        user_id="mallory",
        name="Mallory",
        roles=[inv.ADMINISTRATOR],
        privileges=[inv.INVOICE_FINANCING],
        sequence=1_000_000,
    )
    await _refused_write(infra, principal, topics.TOPIC_INVOICING_EVENTS, forged.to_bytes(), client)


async def test_a_wrong_password_is_refused(infra: Stack, caplog: pytest.LogCaptureFixture) -> None:
    wrong = {**_as(infra, "ledger"), "sasl_plain_password": "not-the-password"}
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, request_timeout_ms=10_000, **wrong)
    with pytest.raises(KafkaConnectionError):  # aiokafka's "unable to bootstrap", after the broker's answer:
        await producer.start()
    await producer.stop()
    assert "SaslAuthenticationFailed" in caplog.text and "invalid credentials" in caplog.text
    unknown = {**_as(infra, "ledger"), "sasl_plain_username": "mallory"}
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, request_timeout_ms=10_000, **unknown)
    with pytest.raises(KafkaError):
        await consumer.start()
    await consumer.stop()


async def test_a_plaintext_client_is_refused(infra: Stack) -> None:
    before = await _end_offsets(infra, topics.TOPIC_LEDGER_COMMANDS.name)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, request_timeout_ms=5_000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    assert await _end_offsets(infra, topics.TOPIC_LEDGER_COMMANDS.name) == before
