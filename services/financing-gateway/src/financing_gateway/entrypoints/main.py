from servicekit.cli import service_main

from ..settings import FinancingGatewaySettings
from .app import build

main = service_main("financing-gateway", FinancingGatewaySettings, build, "financing_gateway:migrations")  # type: ignore[arg-type]
