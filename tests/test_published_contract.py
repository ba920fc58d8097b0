"""The published contract is the wire (issue 19, item 7), checked from outside, as a provider's engineer would:
with the AsyncAPI documents in docs/asyncapi/ and a JSON Schema validator, never our Python models.

- Every message schema of every document requires its type and version fields: what a consumer decodes by.
- Every message on a provider topic names its record key (`x-kafka-key`, a JSON Pointer into the payload).
- The outbox sends the `correlation_id` header the documents put the correlation id in.
- On the real stack: the records on each provider topic validate against the document, carry the key and the
  header it describes; events written from the schemas alone, as plain JSON, are booked by the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from ledgerline_abc_factoring import contract as abc
from ledgerline_cli.kafka_security import OPERATOR, client_kwargs
from ledgerline_cli.operator import Operator
from ledgerline_contracts import topics
from ledgerline_contracts.ledger import LEDGER_EVENTS, OpenItemChanged
from ledgerline_contracts.messages import UndecodableMessage
from servicekit.broker import Publisher
from servicekit.db import outbox_rows
from servicekit.outbox import Pending, publish
from servicekit.settings import ServiceSettings
from tests.support.http import eventually
from tests.support.scenario import TEN_THOUSAND, factoring_client

DOCS = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"
GATEWAY = "factoring-gateway"
PROVIDERS = ("abc-factoring", "fjord-invoice-sale")
TYPE_FIELDS = (("type", "version"), ("messageType", "schemaVersion"))
"""A message's type and version fields, by wire name: our own snake_case, and Fjord's camelCase."""


# --- reading the documents as a stranger would ------------------------------------------------------------------
def document(name: str) -> dict[str, Any]:
    return json.loads((DOCS / f"{name}.json").read_text())  # type: ignore[no-any-return]


def resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    """A `$ref` within the document (`#/components/...`)."""
    assert ref.startswith("#/"), ref
    found: Any = doc
    for part in ref[2:].split("/"):
        found = found[part.replace("~1", "/").replace("~0", "~")]
    return found  # type: ignore[no-any-return]


def payloads(doc: dict[str, Any], message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The schemas a channel message's payload may be, (name, schema), one per message type."""
    ref = message["payload"]["$ref"]
    schema = resolve(doc, ref)
    union = schema.get("anyOf") or schema.get("oneOf")
    if union is None:
        return [(ref.rsplit("/", 1)[-1], schema)]
    return [(alternative["$ref"].rsplit("/", 1)[-1], resolve(doc, alternative["$ref"])) for alternative in union]


def type_fields(schema: dict[str, Any]) -> tuple[str, str]:
    """The names of a message schema's type and version fields (its type field is a constant)."""
    for kind, version in TYPE_FIELDS:
        if "const" in schema.get("properties", {}).get(kind, {}) and version in schema["properties"]:
            return kind, version
    raise AssertionError(f"{schema.get('title')}: no constant type field among {sorted(schema.get('properties', {}))}")


def channel_message(doc: dict[str, Any], topic: topics.Topic, direction: str) -> dict[str, Any]:
    """The message of `<topic>:send` (we write it) or `<topic>:receive` (we read it)."""
    channel = doc["channels"][f"{topic.name.removeprefix(topics.PREFIX)}:{direction}"]
    (message,) = channel["messages"].values()
    return resolve(doc, message["$ref"])


def provider_channels() -> Iterator[tuple[str, topics.Topic, str]]:
    for slug in PROVIDERS:
        yield slug, topics.factoring_outbound(slug), "send"
        yield slug, topics.factoring_inbound(slug), "receive"


def schema_of(doc: dict[str, Any], topic: topics.Topic, direction: str, message_type: str) -> dict[str, Any]:
    for _, schema in payloads(doc, channel_message(doc, topic, direction)):
        kind, _ = type_fields(schema)
        if schema["properties"][kind]["const"] == message_type:
            return schema
    raise AssertionError(f"{message_type} is not published on {topic.name}")


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """Validates against `schema`, its `$ref`s resolved within the document, formats (uuid, date) checked."""
    return Draft202012Validator({**schema, "components": doc["components"]}, format_checker=FormatChecker())


def pointer(data: Any, path: str) -> Any:
    """The value a JSON Pointer (RFC 6901) names."""
    for part in path.split("/")[1:]:
        data = data[part.replace("~1", "/").replace("~0", "~")]
    return data


# --- the documents themselves ------------------------------------------------------------------------------------
def test_every_message_schema_of_every_document_requires_its_type_and_version() -> None:
    """A message without its type is dead-lettered as an unknown type: the schema must not call it optional."""
    checked = 0
    for path in sorted(DOCS.glob("*.json")):
        doc = document(path.stem)
        for name, message in doc["components"]["messages"].items():
            for title, schema in payloads(doc, message):
                kind, version = type_fields(schema)
                assert {kind, version} <= set(schema.get("required", [])), f"{path.name}: {name}: {title}"
                checked += 1
    assert checked >= 60  # every channel of the four documents, not a lucky few


@pytest.mark.parametrize(("slug", "topic", "direction"), list(provider_channels()), ids=str)
def test_every_provider_message_names_its_record_key(slug: str, topic: topics.Topic, direction: str) -> None:
    doc = document(GATEWAY)
    found = payloads(doc, channel_message(doc, topic, direction))
    assert found
    for title, schema in found:
        key = schema.get("x-kafka-key")
        assert isinstance(key, str) and key.startswith("/"), f"{title} does not say what its record key is"
        first = key.split("/")[1]
        assert first in schema["required"], f"{title}: its key {key} is not a required field"


def test_the_onboarding_messages_are_documented_as_keyed_by_the_client() -> None:
    doc = document(GATEWAY)
    abc_out, fjord_out = topics.factoring_outbound("abc-factoring"), topics.factoring_outbound("fjord-invoice-sale")
    assert schema_of(doc, abc_out, "send", "abc.ClientOnboarding")["x-kafka-key"] == "/client/client_id"
    assert schema_of(doc, fjord_out, "send", "fjord.SellerOnboarding")["x-kafka-key"] == "/sellerRef"
    channel = doc["channels"][f"{abc_out.name.removeprefix(topics.PREFIX)}:send"]
    assert "client_id for a message about the client as a whole (onboarding" in channel["description"]


def test_the_per_invoice_sequence_rule_is_in_the_published_schema() -> None:
    doc = document(GATEWAY)
    event = schema_of(doc, topics.factoring_inbound("abc-factoring"), "receive", "abc.InvoiceEvent")
    sequence = event["properties"]["sequence"]
    assert sequence["minimum"] == 1 and "sequence" in event["required"]
    assert "per `submission_id`" in sequence["description"] and "whatever order they arrive" in sequence["description"]
    assert "Unique per event" in event["properties"]["event_id"]["description"]


def test_every_document_says_where_the_correlation_id_header_is_and_what_it_holds() -> None:
    for path in sorted(DOCS.glob("*.json")):
        for name, message in document(path.stem)["components"]["messages"].items():
            correlation = message["correlationId"]
            assert correlation["location"] == "$message.header#/correlation_id", f"{path.name}: {name}"
            assert "header `correlation_id`" in correlation["description"]


def abc_event_from_the_schema(doc: dict[str, Any], submission: str, sequence: int, kind: str) -> dict[str, Any]:
    """ABC's event written from the published schema alone: its required fields, each from what the schema says."""
    schema = schema_of(doc, topics.factoring_inbound("abc-factoring"), "receive", "abc.InvoiceEvent")
    kinds = resolve(doc, schema["properties"]["event_type"]["$ref"])["enum"]
    assert kind in kinds
    values = {
        "type": schema["properties"]["type"]["const"],
        "version": schema["properties"]["version"]["const"],
        "event_id": f"{submission}:{sequence}",
        "submission_id": submission,
        "sequence": sequence,
        "event_type": kind,
        "occurred_on": date.today().isoformat(),
    }
    assert set(values) == set(schema["required"]), "the schema's required fields changed: write the event anew"
    return values


def test_a_message_the_schema_accepts_the_gateway_decodes_and_one_it_refuses_the_gateway_refuses_too() -> None:
    """The issue's symptom: an event valid against the schema was dead-lettered as an unknown type."""
    doc = document(GATEWAY)
    inbound = topics.factoring_inbound("abc-factoring")
    schema = schema_of(doc, inbound, "receive", "abc.InvoiceEvent")
    event = abc_event_from_the_schema(doc, str(uuid.uuid4()), 1, "invoice.accepted")
    validator(doc, schema).validate(event)
    assert abc.INBOUND.decode(orjson.dumps(event)).type == "abc.InvoiceEvent"
    for field in ("type", "version"):
        without = {k: v for k, v in event.items() if k != field}
        with pytest.raises(ValidationError, match=f"'{field}' is a required property"):
            validator(doc, schema).validate(without)
        with pytest.raises(UndecodableMessage):
            abc.INBOUND.decode(orjson.dumps(without))


# --- the correlation_id header, without a broker -------------------------------------------------------------------
def test_an_outbox_row_keeps_its_messages_correlation_id_and_an_envelope_the_one_its_items_share() -> None:
    events = topics.TOPIC_LEDGER_EVENTS

    def changed(client: str, correlation: str | None) -> tuple[str, bytes, bytes, str, str | None]:
        message = OpenItemChanged(
            client_id=client,
            correlation_id=correlation,
            party=10001,
            open_item="1",
            account="1500",
            original_ore=1,
            balance_ore=1,
            due_date=date(2026, 1, 1),
            voucher_id=uuid.uuid4(),
            cause="x",
        )
        return (events.name, client.encode(), message.to_bytes(), message.type, message.correlation_id)

    rows = outbox_rows(
        [
            changed("alone", "inv-1"),
            changed("same", "inv-2"),
            changed("same", "inv-2"),
            changed("mixed", "inv-3"),
            changed("mixed", "inv-4"),
            ("plain", None, b"{}", None, "inv-5"),
            ("plain", None, b"{}", None, None),
        ]
    )
    assert [(key, correlation) for _, key, _, correlation in rows] == [
        (b"alone", "inv-1"),
        (b"same", "inv-2"),
        (b"mixed", None),  # items of two flows: no single correlation id to promise
        (None, "inv-5"),
        (None, None),
    ]
    assert len(LEDGER_EVENTS.decode_record(rows[1][2])) == 2  # an envelope, still


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, str | None]] = []

    async def send(
        self, topic: str, value: bytes, key: bytes | None, correlation_id: str | None = None
    ) -> asyncio.Future[Any]:
        self.sent.append((topic, value, correlation_id))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def topic_error(self, topic: str) -> None:
        return None

    async def renew(self) -> None:
        return None


async def test_the_relay_hands_each_rows_correlation_id_to_the_producer() -> None:
    sender = RecordingSender()
    rows = [
        Pending(1, "u", None, b"c", 1, "x"),  # failed before: sent alone
        Pending(2, "t", b"k", b"a", 0, "inv-1"),  # the rest: all at once
        Pending(3, "t", b"k", b"b", 0),
    ]
    outcome = await publish(sender, rows)
    assert [r.id for r in outcome.published] == [1, 2, 3]
    assert sender.sent == [("u", b"c", "x"), ("t", b"a", "inv-1"), ("t", b"b", None)]


class RecordingProducer:
    def __init__(self) -> None:
        self.headers: list[list[tuple[str, bytes]]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        self.headers.append(headers)
        return asyncio.get_running_loop().create_future()


async def test_the_publisher_sends_the_correlation_id_as_a_header_beside_the_content_type() -> None:
    publisher = Publisher(ServiceSettings.model_construct(service_name="t"))
    producer = RecordingProducer()
    publisher._producer = producer  # type: ignore[assignment]
    await publisher.send("t", b"{}", b"k", "inv-1")
    await publisher.send("t", b"{}", b"k")
    assert producer.headers == [
        [("content-type", b"application/json"), ("correlation_id", b"inv-1")],
        [("content-type", b"application/json")],  # a message without one: no empty header
    ]


# --- on the real stack ----------------------------------------------------------------------------------------------
class Tap:
    """Every record of some topics from now on, raw (key, value, headers), as a provider's own client reads them."""

    def __init__(self, bootstrap: str, watched: list[topics.Topic]) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs(OPERATOR)
        )
        self._watched = watched
        self.records: list[ConsumerRecord[bytes, bytes]] = []

    async def __aenter__(self) -> Tap:
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()  # the topics' partitions, as `Bus` learns them
        partitions = [
            TopicPartition(topic.name, p)
            for topic in self._watched
            for p in self._consumer.partitions_for_topic(topic.name) or ()
        ]
        if {p.topic for p in partitions} != {t.name for t in self._watched}:
            await self._consumer.stop()
            raise AssertionError(f"not every topic of {[t.name for t in self._watched]} exists")
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:
            await self._consumer.position(partition)
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self._consumer.stop()

    async def until(
        self, enough: Callable[[list[ConsumerRecord[bytes, bytes]]], bool], timeout: float = 60.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        deadline = time.monotonic() + timeout
        while not enough(self.records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.records)} records, not enough, within {timeout:.0f} s")
            for batch in (await self._consumer.getmany(timeout_ms=500)).values():
                self.records += batch
        return self.records


def message_type(data: dict[str, Any]) -> str:
    return str(data.get("type") or data.get("messageType"))


async def status_of(op: Operator, client: str, invoice: uuid.UUID, wanted: str, timeout: float = 60) -> None:
    async def reached() -> bool | None:
        return (await op.invoice(client, invoice))["factoring_status"] == wanted or None

    await eventually(reached, timeout=timeout)


@pytest.mark.integration
async def test_real_records_on_every_provider_topic_are_what_the_document_says(operator: Operator) -> None:
    """Both providers' whole story (onboarding, delivery, the provider's answers, settlement, offboarding) as records
    on the four provider topics: each validates against its channel's schema, is keyed as its `x-kafka-key` says,
    and carries `content-type` and, when its message has a correlation id, the `correlation_id` header."""
    doc = document(GATEWAY)
    channels = {topic.name: (topic, direction) for _, topic, direction in provider_channels()}
    clients = {slug: f"contract-{slug[:3]}-{uuid.uuid4().hex[:8]}" for slug in PROVIDERS}
    async with Tap(operator.bus.bootstrap, [topic for topic, _ in channels.values()]) as tap:
        invoices: dict[str, uuid.UUID] = {}
        for slug, client in clients.items():
            person, _ = await factoring_client(operator, client, slug)
            invoices[slug] = await operator.create_invoice(client, person, TEN_THOUSAND)
            await operator.send_invoice(client, invoices[slug])
        for slug, client in clients.items():
            await status_of(operator, client, invoices[slug], "settled")
            await operator.deactivate(client)
        ours = {*clients.values(), *(str(i) for i in invoices.values())}
        wanted = {
            "abc.ClientOnboarding",
            "abc.InvoiceSubmission",
            "abc.InvoiceEvent",
            "abc.ClientOffboarding",
            "fjord.SellerOnboarding",
            "fjord.SaleOffer",
            "fjord.PurchaseDecision",
            "fjord.BuyerPayment",
            "fjord.RemittanceReport",
            "fjord.SellerOffboarding",
        }

        def mine(records: list[ConsumerRecord[bytes, bytes]]) -> list[ConsumerRecord[bytes, bytes]]:
            return [r for r in records if r.key is not None and r.key.decode() in ours]

        records = mine(await tap.until(lambda rs: wanted <= {message_type(orjson.loads(r.value)) for r in mine(rs)}))

    seen: dict[str, set[str]] = {}
    with_header = 0
    for record in records:
        topic, direction = channels[record.topic]
        data = orjson.loads(record.value)
        kind = message_type(data)
        schema = schema_of(doc, topic, direction, kind)
        where = f"{kind} on {record.topic}"
        validator(doc, resolve(doc, channel_message(doc, topic, direction)["payload"]["$ref"])).validate(data)
        validator(doc, schema).validate(data)
        assert record.key == str(pointer(data, schema["x-kafka-key"])).encode(), where
        headers = dict(record.headers)
        assert headers.get("content-type") == b"application/json", where
        correlation = data.get("correlation_id", data.get("correlationId"))
        assert headers.get("correlation_id") == (None if correlation is None else correlation.encode()), where
        with_header += correlation is not None
        seen.setdefault(record.topic, set()).add(kind)
    assert wanted <= set().union(*seen.values())
    assert set(seen) == set(channels)  # every provider topic, both ways
    assert with_header >= 3  # deliveries and ABC's events carry one: the header is really there


@pytest.mark.integration
async def test_provider_events_written_from_the_schemas_alone_are_booked(operator: Operator, client_id: str) -> None:
    """Plain JSON from the published schemas (required fields and the documented key and headers; no model class),
    sent as raw bytes: the gateway applies and books them, and dead-letters none."""
    doc = document(GATEWAY)
    fjord_client = f"{client_id}-f"
    invoices: dict[str, uuid.UUID] = {}
    for slug, client in (("abc-factoring", client_id), ("fjord-invoice-sale", fjord_client)):
        person, _ = await factoring_client(operator, client, slug)
        simulator = operator.urls.abc_simulator if slug == "abc-factoring" else operator.urls.fjord_simulator
        await operator.simulator_script(simulator, client, mode="manual")
        invoices[slug] = await operator.create_invoice(client, person, TEN_THOUSAND)
        await operator.send_invoice(client, invoices[slug])
        await status_of(operator, client, invoices[slug], "prepared")

    async def send(slug: str, schema: dict[str, Any], event: dict[str, Any]) -> None:
        validator(doc, schema).validate(event)
        key = str(pointer(event, schema["x-kafka-key"]))
        headers = [("content-type", b"application/json"), ("correlation_id", key.encode())]
        await operator.bus.send(topics.factoring_inbound(slug), orjson.dumps(event), key, token=None, headers=headers)

    # ABC: accepted, then the advance (an amount, as the schema's description says advance.paid carries).
    abc_invoice = str(invoices["abc-factoring"])
    abc_schema = schema_of(doc, topics.factoring_inbound("abc-factoring"), "receive", "abc.InvoiceEvent")
    assert "advance.paid" in abc_schema["description"] and "amount_ore" in abc_schema["properties"]
    await send("abc-factoring", abc_schema, abc_event_from_the_schema(doc, abc_invoice, 1, "invoice.accepted"))
    advance = abc_event_from_the_schema(doc, abc_invoice, 2, "advance.paid") | {"amount_ore": 1_062_500}
    await send("abc-factoring", abc_schema, advance)

    # Fjord: the purchase decision, then the remittance report that pays the price.
    fjord_in = topics.factoring_inbound("fjord-invoice-sale")
    offer = str(invoices["fjord-invoice-sale"])
    decision_schema = schema_of(doc, fjord_in, "receive", "fjord.PurchaseDecision")
    decision = {
        "messageType": decision_schema["properties"]["messageType"]["const"],
        "schemaVersion": decision_schema["properties"]["schemaVersion"]["const"],
        "offerRef": offer,
        "decision": "APPROVED",
        "decidedOn": date.today().isoformat(),
        "purchasePrice": "12500.00",
    }
    assert set(decision_schema["required"]) <= set(decision)
    assert "APPROVED" in resolve(doc, decision_schema["properties"]["decision"]["$ref"])["enum"]
    await send("fjord-invoice-sale", decision_schema, decision)
    report_schema = schema_of(doc, fjord_in, "receive", "fjord.RemittanceReport")
    report = {
        "messageType": report_schema["properties"]["messageType"]["const"],
        "schemaVersion": report_schema["properties"]["schemaVersion"]["const"],
        "reportId": f"R-{uuid.uuid4().hex[:10]}",
        "sellerRef": fjord_client,
        "paidOn": date.today().isoformat(),
        "lines": [{"offerRef": offer, "lineType": "PURCHASE_PRICE", "amount": "12500.00"}],
        "totalAmount": "12500.00",
    }
    assert set(report_schema["required"]) <= set(report)
    await send("fjord-invoice-sale", report_schema, report)

    await status_of(operator, client_id, invoices["abc-factoring"], "advance_paid")
    await status_of(operator, fjord_client, invoices["fjord-invoice-sale"], "purchased")

    async def booked(client: str, account: str, amount: int) -> bool | None:
        found = {a["account"]: a["balance_ore"] for a in (await operator.trial_balance(client))["accounts"]}
        return found.get(account) == amount or None

    await eventually(lambda: booked(client_id, "1920", 1_062_500), timeout=30)  # the advance, in the bank
    await eventually(lambda: booked(fjord_client, "1920", 1_250_000), timeout=30)  # the price, paid
    for slug, client in (("abc-factoring", client_id), ("fjord-invoice-sale", fjord_client)):
        sources = [v["source"]["service"] for v in await operator.vouchers(client, invoices[slug])]
        assert "factoring-gateway" in sources, slug
        keys = {base64.b64encode(key.encode()).decode() for key in (client, str(invoices[slug]))}
        refused = operator.bus.seen(
            topics.dead_letters(topics.group_for_provider(slug)), where=lambda m, keys=keys: m.key_b64 in keys
        )
        assert refused == [], [m.error for m in refused]
