"""The topics tests watch, with their catalogues."""

from ledgerline_contracts import ledger, topics
from ledgerline_contracts.operations import DEAD_LETTERS

WATCHED = [
    (topics.LEDGER_EVENTS, ledger.LEDGER_EVENTS),
    (topics.LEDGER_REJECTIONS, ledger.LEDGER_REJECTIONS),
    (topics.dead_letters("ledger"), DEAD_LETTERS),
]
