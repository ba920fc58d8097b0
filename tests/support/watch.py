"""The topics tests watch, with their catalogues."""

import ledgerline_abc_factoring as abc_factoring
import ledgerline_fjord_invoice_sale as fjord_invoice_sale
from ledgerline_abc_factoring import contract as abc_wire
from ledgerline_contracts import factoring, invoicing, ledger, topics
from ledgerline_contracts.operations import DEAD_LETTERS
from ledgerline_fjord_invoice_sale import contract as fjord_wire

WATCHED = [
    (topics.TOPIC_LEDGER_EVENTS, ledger.LEDGER_EVENTS),
    (topics.TOPIC_LEDGER_REJECTIONS, ledger.LEDGER_REJECTIONS),
    (topics.TOPIC_INVOICING_EVENTS, invoicing.INVOICING_EVENTS),
    (topics.TOPIC_FACTORING_EVENTS, factoring.FACTORING_EVENTS),
    (topics.factoring_outbound(abc_factoring.SLUG), abc_wire.OUTBOUND),
    (topics.factoring_outbound(fjord_invoice_sale.SLUG), fjord_wire.OUTBOUND),
    (topics.factoring_inbound(fjord_invoice_sale.SLUG), fjord_wire.INBOUND),
    (topics.dead_letters(topics.GROUP_LEDGER), DEAD_LETTERS),
    (topics.dead_letters(topics.GROUP_INVOICING_COMMANDS), DEAD_LETTERS),
    (topics.dead_letters(topics.group_for_provider(abc_factoring.SLUG)), DEAD_LETTERS),
    (topics.dead_letters(topics.group_for_provider(fjord_invoice_sale.SLUG)), DEAD_LETTERS),
]
