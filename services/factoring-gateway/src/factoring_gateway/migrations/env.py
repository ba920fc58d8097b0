from factoring_gateway.adapters.tables import metadata
from factoring_gateway.settings import FactoringGatewaySettings
from servicekit.migrations import run_env

run_env(metadata, FactoringGatewaySettings)
