"""Ledgerline's message contracts: the public API between services and towards providers.

Every message is a pydantic model with a `type` and a `version`. Versions only ever grow: a consumer ignores
fields it does not know (so adding an optional field is backwards compatible), and a message whose version
the consumer does not know is refused with a clear reason instead of being guessed at.
"""
