from ledger.adapters.tables import metadata
from ledger.settings import LedgerSettings
from servicekit.migrations import run_env

run_env(metadata, LedgerSettings)
