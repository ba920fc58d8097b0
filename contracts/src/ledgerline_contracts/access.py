"""Who may do what on Kafka: one principal per service, per provider and for the operator, and their grants.

Everything here is derived from `topics` (names, consumer groups, the installed factoring providers, the
`LEDGERLINE_TOPIC_PREFIX` namespace), so a provider package installed later gets its own principal and grants
without an edit here. The broker runs with `allow.everyone.if.no.acl.found=false`: whatever is not granted below
is refused. Grants are literal topic and group names:

- a topic a principal reads: Read and Describe, with the consumer groups it reads them in (Read);
- a topic it writes: Write and Describe;
- groups it may only look at (Describe: the operator's lag and membership views).

`admin` (a super user) is used only to set the cluster up: topics, users, ACLs. `controller` is the KRaft
controller's own user (PLAIN, on the controller listener only). Neither appears in the table.

`tests/test_access.py` checks the table against each service's `consumers()` and declared publications (dead
letters included) and the simulators' subscriptions, so the grants cannot drift from the code; the README prints
the table (`python -m ledgerline_cli.kafka_security table`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from . import topics
from .topics import Topic

ADMIN = "admin"
"""Super user for set-up only (topics, users, ACLs)."""
CONTROLLER = "controller"
"""The KRaft controller's own user (PLAIN, controller listener); a super user."""
OPERATOR = "operator"
"""The CLI, the tests, the benchmark harness: commands, reading events and results, dead letters, lag."""
BUFFER = "buffer"
"""Buffer, the invoice-financing provider."""

SERVICES = ("ledger", "invoicing", "factoring-gateway", "financing-gateway")

Kind = Literal["service", "provider", "operator"]


@dataclass(frozen=True)
class Grant:
    """What one principal may do. Topic and group names are as on the cluster (with the topic prefix)."""

    principal: str
    kind: Kind
    reads: tuple[str, ...]
    """Topics it consumes or inspects (Read, Describe)."""
    groups: tuple[str, ...]
    """Consumer groups it consumes in (Read)."""
    writes: tuple[str, ...]
    """Topics it publishes to (Write, Describe)."""
    describes_groups: tuple[str, ...] = ()
    """Consumer groups it may only look at (Describe)."""


@dataclass(frozen=True)
class Binding:
    """One ALLOW ACL: `User:<principal>` may do `operation` on the literal resource `name` (any host)."""

    principal: str
    resource: Literal["TOPIC", "GROUP"]
    name: str
    operation: Literal["READ", "WRITE", "DESCRIBE"]


def provider_group(name: str) -> str:
    """A provider's consumer group on its outbound topic (the simulator's, or the provider's own consumer),
    before namespacing (`topics.group` adds the prefix)."""
    return f"simulator.{name}"


def command_topics() -> tuple[Topic, ...]:
    """The topics the operator commands the system on."""
    return (
        topics.TOPIC_INVOICING_COMMANDS,
        topics.TOPIC_LEDGER_COMMANDS,
        topics.TOPIC_FACTORING_COMMANDS,
        topics.TOPIC_FINANCING_COMMANDS,
    )


def _names(found: Iterable[Topic]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.name for t in found))


def _service(name: str, reads: list[tuple[Topic, str]], writes: list[Topic]) -> Grant:
    """A service's grant: each (topic, group) it consumes, each topic it publishes, and the dead-letter topic
    of each of its groups (servicekit dead-letters per consumer group)."""
    letters = [topics.dead_letters(group) for _, group in reads]
    return Grant(
        name,
        "service",
        reads=_names(topic for topic, _ in reads),
        groups=tuple(dict.fromkeys(topics.group(group) for _, group in reads)),
        writes=_names([*writes, *letters]),
    )


def _provider(name: str, outbound: Topic, inbound: Topic) -> Grant:
    """A provider reads only its own outbound topic (in its own group) and writes only its own inbound topic."""
    return Grant(
        name,
        "provider",
        reads=(outbound.name,),
        groups=(topics.group(provider_group(name)),),
        writes=(inbound.name,),
    )


def table() -> list[Grant]:
    """Every principal's grant, services first, then the providers, then the operator."""
    slugs = topics.factoring_providers()
    results = topics.TOPIC_COMMAND_RESULTS
    services = [
        _service(
            "ledger",
            reads=[(topics.TOPIC_LEDGER_COMMANDS, topics.GROUP_LEDGER)],
            writes=[topics.TOPIC_LEDGER_EVENTS, topics.TOPIC_LEDGER_REJECTIONS, results],
        ),
        _service(
            "invoicing",
            reads=[
                (topics.TOPIC_INVOICING_COMMANDS, topics.GROUP_INVOICING_COMMANDS),
                (topics.TOPIC_FACTORING_EVENTS, topics.GROUP_INVOICING_FACTORING_EVENTS),
                (topics.TOPIC_LEDGER_EVENTS, topics.GROUP_INVOICING_LEDGER_EVENTS),
                (topics.TOPIC_LEDGER_REJECTIONS, topics.GROUP_INVOICING_BOOKING_REJECTIONS),
            ],
            writes=[topics.TOPIC_INVOICING_EVENTS, topics.TOPIC_LEDGER_COMMANDS, results],
        ),
        _service(
            "factoring-gateway",
            reads=[
                (topics.TOPIC_INVOICING_EVENTS, topics.GROUP_FACTORING_INVOICING_EVENTS),
                (topics.TOPIC_FACTORING_COMMANDS, topics.GROUP_FACTORING_COMMANDS),
                *((topics.factoring_inbound(slug), topics.group_for_provider(slug)) for slug in slugs),
            ],
            writes=[
                *(topics.factoring_outbound(slug) for slug in slugs),
                topics.TOPIC_FACTORING_EVENTS,
                topics.TOPIC_LEDGER_COMMANDS,
                results,
            ],
        ),
        _service(
            "financing-gateway",
            reads=[
                (topics.TOPIC_FINANCING_COMMANDS, topics.GROUP_FINANCING_COMMANDS),
                (topics.TOPIC_INVOICING_EVENTS, topics.GROUP_FINANCING_INVOICING_EVENTS),
                (topics.TOPIC_LEDGER_EVENTS, topics.GROUP_FINANCING_LEDGER_EVENTS),
                (topics.TOPIC_BUFFER_INBOUND, topics.GROUP_FINANCING_BUFFER),
                (topics.TOPIC_FACTORING_EVENTS, topics.GROUP_FINANCING_FACTORING_EVENTS),
            ],
            writes=[
                topics.TOPIC_BUFFER_OUTBOUND,
                topics.TOPIC_FINANCING_EVENTS,
                topics.TOPIC_LEDGER_COMMANDS,
                results,
            ],
        ),
    ]
    providers = [_provider(slug, topics.factoring_outbound(slug), topics.factoring_inbound(slug)) for slug in slugs]
    providers.append(_provider(BUFFER, topics.TOPIC_BUFFER_OUTBOUND, topics.TOPIC_BUFFER_INBOUND))
    every_group = [g for grant in [*services, *providers] for g in grant.groups]
    operator = Grant(
        OPERATOR,
        "operator",
        reads=_names(topics.all_topics()),
        groups=(),
        writes=_names(command_topics()),
        describes_groups=tuple(dict.fromkeys(every_group)),
    )
    return [*services, *providers, operator]


def principals() -> tuple[str, ...]:
    """Every SCRAM user: the admin and each principal of the table."""
    return (ADMIN, *(grant.principal for grant in table()))


def grant_of(principal: str) -> Grant:
    for grant in table():
        if grant.principal == principal:
            return grant
    raise KeyError(f"no Kafka principal {principal!r} (known: {', '.join(principals())})")


def bindings(grants: Iterable[Grant] | None = None) -> list[Binding]:
    """The ACLs that give exactly these grants (all of the table by default)."""
    found: list[Binding] = []
    for grant in table() if grants is None else grants:
        for name in grant.reads:
            found += [
                Binding(grant.principal, "TOPIC", name, "READ"),
                Binding(grant.principal, "TOPIC", name, "DESCRIBE"),
            ]
        for name in grant.writes:
            found += [
                Binding(grant.principal, "TOPIC", name, "WRITE"),
                Binding(grant.principal, "TOPIC", name, "DESCRIBE"),
            ]
        found += [Binding(grant.principal, "GROUP", name, "READ") for name in grant.groups]
        found += [Binding(grant.principal, "GROUP", name, "DESCRIBE") for name in grant.describes_groups]
    return list(dict.fromkeys(found))


def writers(topic: Topic | str) -> tuple[str, ...]:
    """The principals that may write a topic, in table order."""
    name = topic.name if isinstance(topic, Topic) else topic
    return tuple(grant.principal for grant in table() if name in grant.writes)


MANAGED_TOPICS = (
    r"(ledger|invoicing|factoring|financing)\.(commands|events)\.v1",
    r"ledger\.booking-rejections\.v1",
    r"ledgerline\.command-results\.v1",
    r"factoring\.[a-z0-9-]+\.(inbound|outbound)\.v1",
    r"financing\.buffer\.(inbound|outbound)\.v1",
    r"deadletter\.[a-z0-9.-]+\.v1",
)
"""Topic names (after the prefix) whose ACLs the set-up owns: a grant on such a name that the table does not give
is removed. Every topic of `topics.all_topics()` matches, for any installed provider."""

MANAGED_GROUPS = (
    r"(ledger|invoicing|factoring-gateway|financing-gateway)(\.[a-z0-9-]+)?",
    r"simulator\.[a-z0-9-]+",
)
"""Consumer-group names (after the prefix) whose ACLs the set-up owns."""


# --- the table for people ---------------------------------------------------------------------------------------
def _base(name: str) -> str:
    return name.removeprefix(topics.PREFIX)


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{_base(n)}`" for n in names)


def markdown() -> str:
    """The table as Markdown (names without the topic prefix), as printed in the README."""
    every_topic = set(_names(topics.all_topics()))
    lines = [
        "| principal | reads (Read, Describe) | in consumer groups (Read) | writes (Write, Describe) |",
        "| --- | --- | --- | --- |",
    ]
    for grant in table():
        reads = "every topic" if set(grant.reads) == every_topic else _code(grant.reads)
        groups = _code(grant.groups)
        if grant.describes_groups:
            groups = (groups + "; " if groups else "") + "Describe on every consumer group above (lag)"
        lines.append(f"| `{grant.principal}` ({grant.kind}) | {reads} | {groups or '–'} | {_code(grant.writes)} |")
    return "\n".join(lines) + "\n"
