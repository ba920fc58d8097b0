"""What every simulator shares: settings, a broker, a per-client script, HTTP for health, metrics and scripts.

A simulator is a provider's system in miniature. It consumes the provider's outbound topic and answers on the
inbound topic, following a script: provider-wide defaults from the environment, overridable per client over
HTTP (`PUT /clients/{client_id}/script`). `mode: manual` makes it stay silent for a client, so a test can play
the provider itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import uvicorn
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, ConfigDict
from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledgerline_contracts import access, topics
from ledgerline_contracts.messages import Catalogue, Message, UndecodableMessage
from ledgerline_contracts.topics import Topic
from servicekit import metrics
from servicekit.broker import Publisher, make_broker
from servicekit.http import JSONResponse
from servicekit.logging import configure_logging, get_logger
from servicekit.settings import ServiceSettings

log = get_logger(__name__)

simulator_received = Counter("ledgerline_simulator_received_total", "Messages a simulator took.", ["simulator", "type"])
simulator_sent = Counter(
    "ledgerline_simulator_sent_total", "Messages a simulator answered with.", ["simulator", "type"]
)


class SimulatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIMULATOR_", extra="ignore")

    service_name: str = "simulator"
    http_port: int = 8110


class Script(BaseModel):
    """How the provider behaves; percentages are of invoices (chosen by a hash of the invoice id: repeatable)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "manual"] = "auto"
    accept_percent: int = 100
    advance_percent: int = 85
    fee_ore: int = 15_000
    fee_percent_of_gross: float = 0.0
    holdback_percent: int = 10
    late_percent: int = 0
    interest_note_ore: int = 8_000
    recourse_percent: int = 0
    dispute_percent: int = 0  # Fjord: the buyer disputes the invoice and waits for the seller's credit note
    duplicate_percent: int = 0
    shuffle: bool = False
    step_delay_ms: int = 0
    settle: bool = True
    remittance_every: int = 1


class ScriptBook:
    def __init__(self, default: Script) -> None:
        self.default = default
        self._per_client: dict[str, Script] = {}

    def for_client(self, client_id: str) -> Script:
        return self._per_client.get(client_id, self.default)

    def set(self, client_id: str, script: Script) -> None:
        self._per_client[client_id] = script


def chance(key: str, salt: str, percent: float) -> bool:
    """A repeatable yes/no: the same invoice and question always give the same answer."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


class Simulator:
    """Runs one provider simulator: consumes `outbound`, calls `handle` per message, serves HTTP."""

    def __init__(
        self,
        name: str,
        outbound: Topic,
        inbound: Topic,
        catalogue: Catalogue,
        settings: SimulatorSettings,
        script: Script,
    ) -> None:
        self.name = name
        self.outbound = outbound
        self.inbound = inbound
        self.catalogue = catalogue
        self.settings = settings
        self.scripts = ScriptBook(script)
        self.broker: KafkaBroker = make_broker(settings.model_copy(update={"service_name": name}))
        self.publisher = Publisher(settings.model_copy(update={"service_name": name}))
        self._handler: Callable[[list[Message]], Awaitable[None]] | None = None

    def on_batch(self, handler: Callable[[list[Message]], Awaitable[None]]) -> None:
        """`handler` answers a whole batch before the offsets are committed: nothing is left pending."""
        self._handler = handler

    async def send(self, messages: list[tuple[Message, str]]) -> None:
        """Publishes answers (message, key) in order, waiting until the broker has them all."""
        pending = [
            await self.publisher.send(self.inbound.name, m.to_bytes(), key.encode(), m.correlation_id)
            for m, key in messages
        ]
        await asyncio.gather(*pending)
        for message, _ in messages:
            simulator_sent.labels(self.name, message.type).inc()

    def _subscribe(self) -> None:
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message if isinstance(message.raw_message, (tuple, list)) else [message.raw_message]
            decoded: list[Message] = []
            for record in records:
                try:
                    decoded.append(self.catalogue.decode(record.value))
                except UndecodableMessage as error:
                    log.warning("simulator ignores an undecodable message", error=error.reason)
                    continue
                simulator_received.labels(self.name, decoded[-1].type).inc()
            assert self._handler is not None
            try:
                await self._handler(decoded)
            except Exception as error:  # the broker was away: answer the same batch again with a fresh producer
                log.warning("simulator could not answer; retrying the batch", error=repr(error))
                await self.publisher.renew()
                await message.nack()
                await asyncio.sleep(1.0)
                return
            await message.ack()  # after every answer is published: a crash replays, answers dedupe by id

        self.broker.subscriber(
            self.outbound.name,
            group_id=topics.group(access.provider_group(self.name)),  # the group the provider's ACLs name
            batch=True,
            max_records=500,
            batch_timeout_ms=20,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            decoder=_no_decode,
            include_in_schema=False,
        )(consume)

    def app(self, extra_routes: list[Route] | None = None) -> Starlette:
        async def healthz(_: Request) -> Response:
            return JSONResponse({"status": "up", "simulator": self.name})

        async def readyz(_: Request) -> Response:
            ok = await self.broker.ping(timeout=3.0)
            return JSONResponse({"ready": ok, "kafka": "ok" if ok else "unreachable"}, status_code=200 if ok else 503)

        async def metrics_endpoint(_: Request) -> Response:
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

        async def script(request: Request) -> Response:
            client_id = request.path_params["client_id"]
            if request.method == "PUT":
                self.scripts.set(client_id, Script.model_validate(await request.json()))
            return JSONResponse(self.scripts.for_client(client_id).model_dump())

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            self._subscribe()
            await self.publisher.start()
            await self.broker.start()
            log.info("simulator started", simulator=self.name, consumes=self.outbound.name)
            try:
                yield
            finally:
                await self.broker.stop()
                await self.publisher.stop()

        return Starlette(
            routes=[
                Route("/healthz", healthz),
                Route("/readyz", readyz),
                Route("/metrics", metrics_endpoint),
                Route("/clients/{client_id}/script", script, methods=["GET", "PUT"]),
                *(extra_routes or []),
            ],
            lifespan=lifespan,
        )

    def run(self, extra_routes: list[Route] | None = None) -> None:
        configure_logging(self.name, self.settings.log_level, self.settings.log_json)
        uvicorn.Server(
            uvicorn.Config(
                self.app(extra_routes),
                host=self.settings.http_host,
                port=self.settings.http_port,
                loop="uvloop",
                log_config=None,
                access_log=False,
            )
        ).run()


async def _no_decode(message: KafkaMessage) -> None:
    return None


async def pause(ms: int) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


def script_from_env(**overrides: Any) -> Script:
    """Script defaults from SIMULATOR_SCRIPT (JSON), e.g. '{"accept_percent": 90}'."""
    import os

    raw = os.environ.get("SIMULATOR_SCRIPT")
    base = Script.model_validate_json(raw) if raw else Script()
    return base.model_copy(update=overrides)
