"""Toy Factoring's wire format: JSON, amounts in øre, one message per invoice."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from ledgerline_contracts.messages import Catalogue, Message


class ToyClientJoined(Message):
    type: Literal["toy.ClientJoined"] = "toy.ClientJoined"
    version: Literal[1] = 1
    client_ref: str
    name: str


class ToyClientLeft(Message):
    type: Literal["toy.ClientLeft"] = "toy.ClientLeft"
    version: Literal[1] = 1
    client_ref: str


class ToyOffer(Message):
    """An invoice offered for sale."""

    type: Literal["toy.Offer"] = "toy.Offer"
    version: Literal[1] = 1
    invoice_ref: UUID
    client_ref: str
    invoice_number: str
    debtor: str
    amount_ore: int
    due_date: date


class ToyNotice(Message):
    """A credit note or a payment the client received: the offered amount changes by `amount_ore`."""

    type: Literal["toy.Notice"] = "toy.Notice"
    version: Literal[1] = 1
    invoice_ref: UUID
    amount_ore: int


class ToyBought(Message):
    type: Literal["toy.Bought"] = "toy.Bought"
    version: Literal[1] = 1
    invoice_ref: UUID
    price_ore: int
    bought_on: date


class ToyPaid(Message):
    type: Literal["toy.Paid"] = "toy.Paid"
    version: Literal[1] = 1
    invoice_ref: UUID
    amount_ore: int
    paid_on: date


OUTBOUND = Catalogue("toy-factoring outbound", [ToyClientJoined, ToyClientLeft, ToyOffer, ToyNotice])
INBOUND = Catalogue("toy-factoring inbound", [ToyBought, ToyPaid])
