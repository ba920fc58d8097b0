from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class FactoringGatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FACTORING_", extra="ignore")

    service_name: str = "factoring-gateway"
    db_name: str = "ledgerline_factoring_gateway"
    db_user: str = "ledgerline_factoring_gateway"
    http_port: int = 8103

    ledger_url: str = "http://127.0.0.1:8101"
    """The ledger's read-only HTTP queries, for reconciliation (its numbers, never its tables)."""

    providers: list[str] = []
    """Consume only these providers' inbound topics (empty: all). Lets a platform team run an instance per
    provider, e.g. FACTORING_PROVIDERS='["abc-factoring"]' with FACTORING_INSTANCE_ID=abc-2."""
