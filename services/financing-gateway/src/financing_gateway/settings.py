from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

from . import SERVICE


class FinancingGatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FINANCING_", extra="ignore")

    service_name: str = SERVICE
    db_name: str = "ledgerline_financing_gateway"
    db_user: str = "ledgerline_financing_gateway"
    http_port: int = 8104
