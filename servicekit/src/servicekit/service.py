"""A Ledgerline service, assembled the same way four times.

Kafka consumers and the outbox relay run inside an ASGI app (Starlette) that also serves `/healthz`, `/readyz`,
`/metrics`, `/asyncapi.json`, the outbox's quarantine for operators (`/outbox/quarantined`) and the service's own
read-only queries; uvicorn runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ledgerline_contracts import auth, topics
from ledgerline_contracts.topics import Topic

from . import metrics, outbox
from .asyncapi import Publication, asyncapi_document
from .broker import Publisher, make_broker
from .consumer import BatchProcessor, DeadLetterPublisher, RetryPolicy, Subscription, attach
from .db import OutboxSignal, PostgresUnitOfWork, create_engine, ping, prune_inbox
from .errors import is_transient
from .http import BadRequest, JSONResponse, error_response
from .logging import configure_logging, get_logger
from .messagebus import Consumer, Handlers, routes
from .outbox import OutboxRelay
from .settings import ServiceSettings

log = get_logger(__name__)

BackgroundTask = Callable[[], Coroutine[Any, Any, None]]


class Service:
    def __init__(self, settings: ServiceSettings, *, title: str, description: str, version: str = "1.0.0") -> None:
        self.settings = settings
        self.title = title
        self.description = description
        self.version = version
        self.engine = create_engine(settings)
        self.queries = create_engine(settings, for_queries=True)
        """The engine HTTP queries read through (`create_engine(for_queries=True)`)."""
        self.signal = OutboxSignal()
        self.broker = make_broker(settings)
        keys = settings.auth_public_keys_dir
        self.verifier = auth.Verifier.from_directory(keys) if keys else None
        if self.verifier is not None:
            verifier = self.verifier
            metrics.auth_seconds.labels(settings.service_name).set_function(lambda: verifier.seconds)
        self.token = (
            auth.ServiceToken(auth.Issuer.from_file(settings.service_name, settings.auth_signing_key))
            if settings.auth_signing_key
            else None
        )
        # Outbox rows and dead letters: no per-message middleware on the hot path; records to topics marked
        # `authenticated` carry this service's token.
        self.publisher = Publisher(settings, self.token)
        self.dead_letter = DeadLetterPublisher(self.publisher, settings.service_name)
        self.relay = OutboxRelay(
            self.engine,
            self.publisher,
            service=settings.service_name,
            signal=self.signal,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
            linger_seconds=settings.outbox_linger_ms / 1000,
            quarantine_after=settings.outbox_quarantine_attempts,
        )
        self.retry_policy = RetryPolicy(max_attempts=settings.consumer_max_attempts)
        self.subscriptions: list[Subscription] = []
        self.processors: list[BatchProcessor] = []
        self.publications: list[Publication] = []
        self.routes: list[BaseRoute] = []
        self.background: list[BackgroundTask] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self.operator_endpoint("/outbox/quarantined", self._quarantined, auth.OUTBOX_QUARANTINE)
        self.operator_endpoint("/outbox/quarantined/replay", self._replay, auth.OUTBOX_QUARANTINE, method="POST")

    # --- declaration ----------------------------------------------------------------------------------------------
    def uow(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.engine, self.signal, self.settings.service_name)

    def consume(self, consumers: Iterable[Consumer], handlers: Handlers) -> None:
        """Subscribes every consumer to the types the routing table sends it (see `servicekit.messagebus`)."""
        for subscription in routes(consumers, handlers, self.uow, self.verifier):
            self.subscribe(subscription)

    def subscribe(self, subscription: Subscription) -> None:
        self.subscriptions.append(subscription)
        self.processors.append(
            attach(
                self.broker,
                subscription,
                service=self.settings.service_name,
                dead_letter=self.dead_letter,
                policy=self.retry_policy,
                batch_size=self.settings.consumer_batch_size,
                batch_timeout_ms=self.settings.consumer_batch_timeout_ms,
                fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
                fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            )
        )

    def publishes(self, topic: Topic, models: Sequence[Any], description: str) -> None:
        self.publications.append(Publication(topic, list(models), description))

    def get(self, path: str, endpoint: Callable[[Request], Awaitable[Any]]) -> None:
        """A read-only JSON query about one client (`/clients/{client_id}/...`), for a bearer token of that client's
        user or of one of our services (401 without a valid token, 403 for another client's); a BadRequest raised
        inside becomes a 4xx with its reason. The endpoint finds the caller in `request.state.principal`."""
        if "{client_id}" not in path:
            raise ValueError(f"{path}: every query is about one client and names it in the path")
        self.routes.append(Route(path, self._guarded(endpoint, self._http_caller), methods=["GET"]))

    def operator_endpoint(
        self, path: str, endpoint: Callable[[Request], Awaitable[Any]], privilege: str, method: str = "GET"
    ) -> None:
        """An endpoint of the service's own plumbing, for a platform operator's token with `privilege` only."""

        def caller(request: Request) -> auth.Principal:
            if self.verifier is None:
                raise auth.NotAuthenticated("this service has no keys to check tokens with")
            principal = self.verifier.verify(request.headers.get(auth.HEADER))
            principal.require_operator(privilege)
            return principal

        self.routes.append(Route(path, self._guarded(endpoint, caller), methods=[method]))

    @staticmethod
    def _guarded(
        endpoint: Callable[[Request], Awaitable[Any]], caller: Callable[[Request], auth.Principal]
    ) -> Callable[[Request], Awaitable[Response]]:
        """401 without a valid token, 403 for one that may not; a BadRequest raised inside becomes a 4xx."""

        async def handle(request: Request) -> Response:
            try:
                request.state.principal = caller(request)
            except auth.NotAuthorised as refusal:
                return error_response(refusal.reason, 403)
            except auth.NotAuthenticated as refusal:
                return error_response(refusal.reason, 401, {"WWW-Authenticate": "Bearer"})
            for attempt in (1, 2):
                try:
                    result = await endpoint(request)
                    break
                except BadRequest as error:
                    return error_response(error.reason, error.status)
                except Exception as error:
                    if not is_transient(error):
                        raise
                    if attempt == 2:  # reads only: asking again once is safe; then the caller is told to wait
                        log.warning("query failed, database unavailable", path=request.url.path, error=repr(error))
                        return error_response(
                            "the database is unavailable; try again shortly", 503, {"Retry-After": "1"}
                        )
            return result if isinstance(result, Response) else JSONResponse(result)

        return handle

    def _http_caller(self, request: Request) -> auth.Principal:
        if self.verifier is None:
            raise auth.NotAuthenticated("this service has no keys to check tokens with")
        principal = self.verifier.verify(request.headers.get(auth.HEADER))
        if principal.kind != "service":  # our own services query on a client's behalf
            principal.require_tenant(request.path_params["client_id"])
        return principal

    # --- the outbox quarantine (servicekit.outbox), for `ledgerline outbox` ----------------------------------------
    async def _quarantined(self, _: Request) -> list[outbox.Quarantined]:
        return await outbox.quarantined(self.engine)

    async def _replay(self, request: Request) -> dict[str, list[int]]:
        try:
            ids = outbox.replay_selection(await request.json())
        except ValueError as error:
            raise BadRequest(str(error)) from None
        replayed = await outbox.replay(self.engine, ids)
        if replayed:
            self.signal.notify()
            log.info("quarantined outbox rows replayed", outbox_ids=replayed, operator=request.state.principal.subject)
        return {"replayed": replayed}

    def run_in_background(self, task: BackgroundTask) -> None:
        self.background.append(task)

    def asyncapi(self) -> dict[str, Any]:
        return asyncapi_document(
            title=self.title,
            version=self.version,
            description=self.description,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            subscriptions=self.subscriptions,
            publications=self.publications,
        )

    # --- running --------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.verifier is None:
            raise RuntimeError(
                f"{self.settings.service_name}: no token issuers' public keys (set *_AUTH_PUBLIC_KEYS_DIR): "
                "nothing this service is asked could be authenticated, so it does not start"
            )
        await self.publisher.start()
        await self.broker.start()
        self._tasks = [asyncio.create_task(self.relay.run(), name="outbox-relay")]
        self._tasks.append(asyncio.create_task(self._watch_lag(), name="lag-monitor"))
        self._tasks.append(asyncio.create_task(self._prune_inbox(), name="inbox-pruner"))
        self._tasks += [
            asyncio.create_task(task(), name=getattr(task, "__name__", "background")) for task in self.background
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self._started = True
        log.info("service started", subscriptions=[s.topic.name for s in self.subscriptions])

    async def stop(self) -> None:
        self._started = False
        # Consumers first (in-flight batches finish or are cancelled uncommitted), then the relay drains.
        await self.broker.stop()
        self.relay.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.publisher.stop()
        await self.engine.dispose()
        await self.queries.dispose()
        log.info("service stopped")

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        if self._started and not task.cancelled():
            log.error(
                "background task ended; /healthz now fails so the process is restarted",
                task=task.get_name(),
                error=repr(task.exception()),
            )

    def ended_tasks(self) -> list[str]:
        """Background tasks (the outbox relay first) that ended while the service runs. Each must run for as long
        as the process: a relay that ended would leave the service consuming but never publishing."""
        return [task.get_name() for task in self._tasks if task.done()] if self._started else []

    async def _watch_lag(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            for subscriber in self.broker.subscribers:
                consumer = getattr(subscriber, "consumer", None)
                if consumer is None:
                    continue
                group = (getattr(subscriber, "group_id", "") or "").removeprefix(topics.PREFIX)
                for partition in consumer.assignment():
                    highwater = consumer.highwater(partition)
                    if highwater is None:
                        continue
                    with contextlib.suppress(Exception):
                        position = await consumer.position(partition)
                        metrics.consumer_lag.labels(
                            self.settings.service_name, group, partition.topic, str(partition.partition)
                        ).set(max(highwater - position, 0))

    async def _prune_inbox(self) -> None:
        """Forgets handled keys past the inbox retention, now and then; an outage only delays it."""
        while True:
            try:
                pruned = await prune_inbox(self.engine, self.settings.inbox_retention_days)
            except Exception as error:  # the database is away: try again next round
                log.warning("inbox pruning failed", error=repr(error))
            else:
                metrics.inbox_pruned.labels(self.settings.service_name).inc(pruned)
                if pruned:
                    log.info("inbox pruned", keys=pruned, retention_days=self.settings.inbox_retention_days)
            await asyncio.sleep(self.settings.inbox_prune_seconds)

    async def ready(self) -> tuple[bool, dict[str, str]]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(ping(self.engine), 3.0)
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unreachable: {error!r}"
        try:
            ok = await self.broker.ping(timeout=3.0)
            checks["kafka"] = "ok" if ok else "unreachable"
        except Exception as error:
            checks["kafka"] = f"unreachable: {error!r}"
        checks["consumers"] = "running" if self._started else "not started"
        ended = self.ended_tasks()
        checks["background tasks"] = f"ended: {', '.join(ended)}" if ended else "running"
        return all(v in ("ok", "running") for v in checks.values()), checks

    def asgi_app(self) -> Starlette:
        async def healthz(_: Request) -> Response:
            # Alive means every background task still runs: a restart is the cure for one that ended.
            ended = self.ended_tasks()
            body = {"status": "down" if ended else "up", "service": self.settings.service_name}
            return JSONResponse(body | ({"ended": ended} if ended else {}), status_code=503 if ended else 200)

        async def readyz(_: Request) -> Response:
            ok, checks = await self.ready()
            return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

        async def metrics_endpoint(_: Request) -> Response:
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

        async def asyncapi_json(_: Request) -> Response:
            return JSONResponse(self.asyncapi())

        async def not_found(request: Request, exc: Exception) -> Response:
            return PlainTextResponse("not found", status_code=404)

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        routes: list[BaseRoute] = [
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/asyncapi.json", asyncapi_json),
            *self.routes,
        ]
        return Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})

    def run(self) -> None:
        configure_logging(self.settings.service_name, self.settings.log_level, self.settings.log_json)
        # Batches create many short-lived objects: collecting the youngest generation every 700 allocations
        # (the default) cost a tenth of the ledger's CPU in profiles; every 50,000 is plenty.
        gc.set_threshold(50_000, 20, 20)
        config = uvicorn.Config(
            self.asgi_app(),
            host=self.settings.http_host,
            port=self.settings.http_port,
            loop="uvloop",
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=25,
        )
        uvicorn.Server(config).run()
