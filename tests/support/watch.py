"""The topics tests watch, with their catalogues."""

from ledgerline_contracts import factoring, invoicing, ledger, topics
from ledgerline_contracts.operations import DEAD_LETTERS
from ledgerline_contracts.providers import abc_factoring, fjord_invoice_sale

WATCHED = [
    (topics.TOPIC_LEDGER_EVENTS, ledger.LEDGER_EVENTS),
    (topics.TOPIC_LEDGER_REJECTIONS, ledger.LEDGER_REJECTIONS),
    (topics.TOPIC_INVOICING_EVENTS, invoicing.INVOICING_EVENTS),
    (topics.TOPIC_FACTORING_EVENTS, factoring.FACTORING_EVENTS),
    (topics.factoring_outbound(abc_factoring.SLUG), abc_factoring.OUTBOUND),
    (topics.factoring_outbound(fjord_invoice_sale.SLUG), fjord_invoice_sale.OUTBOUND),
    (topics.factoring_inbound(fjord_invoice_sale.SLUG), fjord_invoice_sale.INBOUND),
    (topics.dead_letters("ledger"), DEAD_LETTERS),
    (topics.dead_letters("invoicing"), DEAD_LETTERS),
    (topics.dead_letters("factoring-gateway.abc-factoring"), DEAD_LETTERS),
    (topics.dead_letters("factoring-gateway.fjord-invoice-sale"), DEAD_LETTERS),
]
