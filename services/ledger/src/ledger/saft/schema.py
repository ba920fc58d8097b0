"""The official SAF-T Financial 1.30 schema, kept next to this module (see README.md), and validation against it."""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree

SCHEMA_FILE = "Norwegian_SAF-T_Financial_Schema_v_1.30.xsd"


@cache
def schema() -> etree.XMLSchema:
    with resources.files(__package__).joinpath(SCHEMA_FILE).open("rb") as xsd:
        return etree.XMLSchema(etree.parse(xsd))


def schema_errors(xml: bytes) -> list[str]:
    """What makes `xml` invalid against the schema (libxml2's messages, with line numbers), empty if it is valid."""
    checker = schema()
    if checker.validate(etree.fromstring(xml)):
        return []
    return str(checker.error_log).splitlines()
