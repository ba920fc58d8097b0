from invoicing.adapters.tables import metadata
from invoicing.settings import InvoicingSettings
from servicekit.migrations import run_env

run_env(metadata, InvoicingSettings)
