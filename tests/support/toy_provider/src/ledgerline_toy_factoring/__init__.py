"""Toy Factoring: buys each invoice outright and pays the price later (a test fixture, no simulator)."""

from ledgerline_contracts.providers import FactoringProvider

SLUG = "toy-factoring"
DISPLAY_NAME = "Toy Factoring"

PROVIDER = FactoringProvider(
    slug=SLUG,
    display_name=DISPLAY_NAME,
    partitions=2,
    contract="ledgerline_toy_factoring.contract",
    adapter="ledgerline_toy_factoring.adapter:ToyFactoring",
)
