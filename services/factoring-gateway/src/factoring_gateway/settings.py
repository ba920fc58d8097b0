from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

from . import SERVICE


class FactoringGatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FACTORING_", extra="ignore")

    service_name: str = SERVICE
    db_name: str = "ledgerline_factoring_gateway"
    db_user: str = "ledgerline_factoring_gateway"
    http_port: int = 8103

    ledger_url: str = "http://127.0.0.1:8101"
    """The ledger's read-only HTTP queries, for reconciliation (its numbers, never its tables)."""

    invoicing_url: str = "http://127.0.0.1:8102"
    """Invoicing's read-only HTTP queries: who a client's administrators are, when a mapping changes."""

    providers: list[str] | None = None
    """Consume only these providers' inbound topics (unset: all; `[]`: none, for a core instance beside one
    deployment per provider)."""

    core: bool = True
    """Also consume invoicing events and mapping commands. An extra instance that scales one
    provider alone runs with FACTORING_CORE=false FACTORING_PROVIDERS='["abc-factoring"]': it joins only that
    provider's consumer group and takes a share of its partitions."""
