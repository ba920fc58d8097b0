from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class FactoringGatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FACTORING_", extra="ignore")

    service_name: str = "factoring-gateway"
    db_name: str = "ledgerline_factoring_gateway"
    db_user: str = "ledgerline_factoring_gateway"
    http_port: int = 8103
