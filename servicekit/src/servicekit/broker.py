"""The Kafka broker every service uses: idempotent producer, acks from all replicas, Prometheus middleware."""

from __future__ import annotations

import logging
import ssl
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from . import metrics
from .settings import ServiceSettings


def _security(settings: ServiceSettings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context() if protocol.endswith("SSL") else None
    if settings.kafka_sasl_mechanism is None:
        return BaseSecurity(ssl_context=context)
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
        settings.kafka_sasl_mechanism.upper()
    ]
    return sasl(username=settings.kafka_sasl_username or "", password=password, ssl_context=context)


def make_broker(settings: ServiceSettings, **extra: Any) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-{settings.instance_id}",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        compression_type=settings.kafka_compression,  # type: ignore[arg-type]
        max_batch_size=256 * 1024,
        allow_auto_create_topics=False,
        security=_security(settings),
        graceful_timeout=20.0,
        middlewares=[KafkaPrometheusMiddleware(registry=metrics.registry, app_name=settings.service_name)],
        logger=logging.getLogger(f"{settings.service_name}.broker"),
        log_level=logging.DEBUG,  # FastStream's per-message lines; ours say the same per batch, with ids
        **extra,
    )
