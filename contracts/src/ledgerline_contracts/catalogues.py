"""Which messages each topic carries: the topic's catalogue, found from the topic itself.

Providers' topics carry the provider's own wire format (its package's `contract` module).
"""

from __future__ import annotations

from . import factoring, financing, invoicing, ledger, topics
from .messages import Catalogue, CommandResult
from .operations import DEAD_LETTERS
from .providers import buffer, registry
from .topics import Topic

COMMAND_RESULTS = Catalogue("ledgerline.command-results", [CommandResult])

_OURS: dict[str, Catalogue] = {
    topics.TOPIC_LEDGER_COMMANDS.name: ledger.LEDGER_COMMANDS,
    topics.TOPIC_LEDGER_EVENTS.name: ledger.LEDGER_EVENTS,
    topics.TOPIC_LEDGER_REJECTIONS.name: ledger.LEDGER_REJECTIONS,
    topics.TOPIC_INVOICING_COMMANDS.name: invoicing.INVOICING_COMMANDS,
    topics.TOPIC_INVOICING_EVENTS.name: invoicing.INVOICING_EVENTS,
    topics.TOPIC_FACTORING_COMMANDS.name: factoring.FACTORING_COMMANDS,
    topics.TOPIC_FACTORING_EVENTS.name: factoring.FACTORING_EVENTS,
    topics.TOPIC_FINANCING_COMMANDS.name: financing.FINANCING_COMMANDS,
    topics.TOPIC_FINANCING_EVENTS.name: financing.FINANCING_EVENTS,
    topics.TOPIC_COMMAND_RESULTS.name: COMMAND_RESULTS,
    topics.TOPIC_BUFFER_OUTBOUND.name: buffer.OUTBOUND,
    topics.TOPIC_BUFFER_INBOUND.name: buffer.INBOUND,
}


def of(topic: Topic) -> Catalogue:
    """The catalogue of a topic; dead-letter topics all carry `DeadLetter`."""
    found = _OURS.get(topic.name)
    if found is not None:
        return found
    for slug, provider in registry.factoring_providers().items():
        if topic.name == topics.factoring_outbound(slug).name:
            return provider.wire_format().OUTBOUND  # type: ignore[no-any-return]
        if topic.name == topics.factoring_inbound(slug).name:
            return provider.wire_format().INBOUND  # type: ignore[no-any-return]
    if topic.name.removeprefix(topics.PREFIX).startswith("deadletter."):
        return DEAD_LETTERS
    raise KeyError(f"no catalogue for topic {topic.name}")
