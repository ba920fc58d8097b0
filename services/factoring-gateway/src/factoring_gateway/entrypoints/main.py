from servicekit.cli import service_main

from .. import SERVICE
from ..settings import FactoringGatewaySettings
from .app import build

main = service_main(SERVICE, FactoringGatewaySettings, build, "factoring_gateway:migrations")  # type: ignore[arg-type]
