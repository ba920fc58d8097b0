from financing_gateway.adapters.tables import metadata
from financing_gateway.settings import FinancingGatewaySettings
from servicekit.migrations import run_env

run_env(metadata, FinancingGatewaySettings)
