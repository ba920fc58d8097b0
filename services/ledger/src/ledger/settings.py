from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

from . import SERVICE


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    service_name: str = SERVICE
    db_name: str = "ledgerline_ledger"
    db_user: str = "ledgerline_ledger"
    http_port: int = 8101
