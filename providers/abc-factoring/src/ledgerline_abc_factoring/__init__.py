"""ABC Factoring: advance on acceptance, fees and interest notes, settlement per invoice, recourse.

One package holds all of the provider: its wire format (`contract`), its adapter in the factoring gateway
(`adapter`) and its simulator for the local stack (`simulator`). The entry point in pyproject.toml announces
`PROVIDER`; nothing else in Ledgerline names this provider. Keep this module light: the registry imports it to
learn of the provider before anything else of it is needed.
"""

from ledgerline_contracts.providers import FactoringProvider

SLUG = "abc-factoring"
DISPLAY_NAME = "ABC Factoring"

PROVIDER = FactoringProvider(
    slug=SLUG,
    display_name=DISPLAY_NAME,
    partitions=6,
    contract="ledgerline_abc_factoring.contract",
    adapter="ledgerline_abc_factoring.adapter:AbcFactoring",
    simulator="ledgerline_abc_factoring.simulator",
)
