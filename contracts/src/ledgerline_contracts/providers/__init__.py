"""Provider wire formats: what each provider reads from and writes to its own two topics.

These are the contracts a provider's engineers implement; the factoring gateway translates between them and
our own messages. `ledgerline_simulators` holds an executable version of each provider's side.
"""
