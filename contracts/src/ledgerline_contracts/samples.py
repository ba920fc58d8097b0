"""Sample customers, as examples of the contract and for the demo and the tests: a person and a company with
everything a factoring provider needs, a company without its organisation number, and a client's address."""

from .invoicing import Address, CustomerData, CustomerKind

PERSON = CustomerData(
    kind=CustomerKind.PERSON,
    first_name="Kari",
    last_name="Nordmann",
    address=Address(street="Storgata 1", postcode="0155", city="Oslo"),
    phone="+4791234567",
    email="kari@example.no",
)
COMPANY = CustomerData(
    kind=CustomerKind.COMPANY,
    company_name="Fjellbygg AS",
    organisation_number="987654321",
    address=Address(street="Kaigata 2", postcode="5016", city="Bergen"),
    phone="+4755000000",
    email="post@fjellbygg.no",
)
SELLER_ADDRESS = Address(street="Dronningens gate 10", postcode="0152", city="Oslo")
"""A client's own address, as its invoices show it (factoring is activated only with one)."""
INCOMPLETE = CustomerData(
    kind=CustomerKind.COMPANY,
    company_name="Sjøbris Kafé",
    address=Address(street="Bryggen 3", postcode="5003", city="Bergen"),
    phone="+4755111111",
    email="post@sjobris.no",
)
