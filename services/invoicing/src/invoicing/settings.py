from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

from . import SERVICE


class InvoicingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_", extra="ignore")

    service_name: str = SERVICE
    db_name: str = "ledgerline_invoicing"
    db_user: str = "ledgerline_invoicing"
    http_port: int = 8102
    ledger_url: str = "http://127.0.0.1:8101"
    """The ledger's HTTP queries: posting accounts are checked against the client's chart."""
