"""Settings every service shares; each service subclasses with its own env prefix (e.g. LEDGER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from ledgerline_contracts import topics


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "service"
    instance_id: str = Field(default="1", description="Distinguishes instances of one service in logs and metrics.")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_linger_ms: int = 5
    kafka_compression: str | None = None

    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "ledgerline"
    db_user: str = "ledgerline"
    db_password: SecretStr | None = None
    db_pool_size: int = 10
    db_ssl: str = Field(default="prefer", description="asyncpg's ssl mode: disable, prefer, require, verify-full.")

    auth_public_keys_dir: Path | None = Field(
        default=None,
        description="Public keys of the token issuers (`<issuer>.pub`): the users' issuer and the services. Required "
        "by a service: without it, nothing it is asked could be authenticated.",
    )
    auth_signing_key: Path | None = Field(
        default=None,
        description="This service's own private key: it signs the token on what it sends to other services.",
    )

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    log_level: str = "INFO"
    log_json: bool = True

    consumer_batch_size: int = Field(default=500, description="Most records one handler call (one transaction) takes.")
    consumer_batch_timeout_ms: int = 50
    consumer_fetch_min_bytes: int = Field(
        default=1, description="The broker holds a fetch until this many bytes are ready (or the wait below ends)."
    )
    consumer_fetch_max_wait_ms: int = Field(default=500, description="The longest the broker holds a fetch.")
    consumer_max_attempts: int = Field(default=3, description="Attempts before a failing message is dead-lettered.")
    inbox_retention_days: int = Field(
        default=30,
        description="How long a handled message's key is remembered for deduplication. Must be longer than any "
        "record can come again (the longest topic retention, dead letters included); older keys are pruned.",
    )
    inbox_prune_seconds: float = Field(default=3600, description="How often old inbox keys are pruned.")
    outbox_batch_size: int = 1000
    outbox_poll_seconds: float = 0.5
    outbox_linger_ms: float = Field(
        default=0, description="After a commit wakes the relay, wait this long so later commits go in the same round."
    )
    outbox_quarantine_attempts: int = Field(
        default=5,
        ge=1,
        description="Failed attempts after which an outbox row the broker refuses for its own sake (too large, a topic "
        "that does not exist or may not be written) is set aside, so that the rows after it flow on.",
    )

    @field_validator("inbox_retention_days")
    @classmethod
    def _longer_than_any_replay(cls, days: int) -> int:
        horizon = topics.replay_horizon_days()
        if days <= horizon:
            raise ValueError(
                f"inbox retention of {days} days is not longer than the {horizon} days a record can come again "
                "(the longest topic retention): a redelivered message could be handled twice"
            )
        return days

    @property
    def database_url(self) -> URL:
        return URL.create(
            "postgresql+asyncpg",
            username=self.db_user,
            password=self.db_password.get_secret_value() if self.db_password else None,
            host=self.db_host,
            port=self.db_port,
            database=self.db_name,
        )
