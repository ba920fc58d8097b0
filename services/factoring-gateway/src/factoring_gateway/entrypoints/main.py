from servicekit.cli import service_main

from ..settings import FactoringGatewaySettings
from .app import build

main = service_main("factoring-gateway", FactoringGatewaySettings, build, "factoring_gateway:migrations")  # type: ignore[arg-type]
