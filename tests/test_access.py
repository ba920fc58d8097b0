"""The Kafka ACL table (ledgerline_contracts.access) is what the code does: every service's consumers and
publications, every simulator's subscription, nothing more. And the helpers that give each client its identity.

Unit tests: no broker. tests/test_kafka_security.py tries the grants on the real broker.
"""

from __future__ import annotations

import re
import stat
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from ledgerline_cli import asyncapi_docs, kafka_security
from ledgerline_contracts import access, topics
from ledgerline_contracts.providers import buffer as buffer_wire
from ledgerline_contracts.providers import factoring_providers
from ledgerline_simulators.runtime import Script, Simulator, SimulatorSettings

ROOT = Path(__file__).resolve().parents[1]


def _service(name: str) -> Any:
    app_module, settings_path = asyncapi_docs.SERVICES[name]
    settings_module, settings_class = settings_path.split(":")
    defaults = getattr(import_module(settings_module), settings_class).model_construct()
    return import_module(app_module).build(defaults)


@pytest.mark.parametrize("name", access.SERVICES)
def test_a_services_grant_is_exactly_its_consumers_and_publications(name: str) -> None:
    service = _service(name)
    grant = access.grant_of(name)
    assert grant.kind == "service"
    assert set(grant.reads) == {s.topic.name for s in service.subscriptions}
    assert set(grant.groups) == {topics.group(s.group) for s in service.subscriptions}
    dead_letters = {topics.dead_letters(s.group).name for s in service.subscriptions}  # servicekit, per group
    assert set(grant.writes) == {p.topic.name for p in service.publications} | dead_letters
    assert grant.describes_groups == ()


@pytest.mark.parametrize("name", access.SERVICES)
def test_every_topic_a_services_handlers_publish_to_is_granted(name: str) -> None:
    """Declared publications are what the AsyncAPI documents say; this reads the handlers themselves."""
    package = import_module(asyncapi_docs.SERVICES[name][0].split(".")[0])
    assert package.__file__ is not None
    layer = Path(package.__file__).parent / "service_layer"
    published = set()
    for source in layer.glob("*.py"):
        published |= set(re.findall(r"\.publish\(\s*topics\.(TOPIC_[A-Z_]+)", source.read_text()))
    assert published, f"no publish calls found in {layer}"
    granted = set(access.grant_of(name).writes)
    for constant in published:
        assert getattr(topics, constant).name in granted, f"{name} publishes to {constant} without a grant"


def _subscription(simulator: Simulator) -> tuple[set[str], set[str]]:
    simulator._subscribe()
    subscribers = list(simulator.broker.subscribers)
    return {t for s in subscribers for t in s.topic_names}, {s.group_id for s in subscribers}


@pytest.mark.parametrize("slug", list(factoring_providers()))
def test_a_providers_grant_is_exactly_its_own_two_topics(slug: str) -> None:
    grant = access.grant_of(slug)
    outbound, inbound = topics.factoring_outbound(slug).name, topics.factoring_inbound(slug).name
    assert (grant.kind, grant.reads, grant.writes) == ("provider", (outbound,), (inbound,))
    assert grant.groups == (topics.group(access.provider_group(slug)),)
    assert grant.describes_groups == ()
    simulator_module = factoring_providers()[slug].simulator
    if simulator_module is not None:  # the simulator does no more than its provider may
        simulator = import_module(simulator_module).build(SimulatorSettings())
        assert _subscription(simulator) == ({outbound}, set(grant.groups))
        assert simulator.inbound.name == inbound
    # Only the gateway writes a provider's outbound topic and reads its inbound topic; no one else writes either.
    assert access.writers(outbound) == ("factoring-gateway",)
    assert access.writers(inbound) == (slug,)
    readers = {g.principal for g in access.table() if inbound in g.reads}
    assert readers == {"factoring-gateway", access.OPERATOR}


def test_buffer_reads_only_its_outbound_topic_and_writes_only_its_inbound_topic() -> None:
    grant = access.grant_of(access.BUFFER)
    outbound, inbound = topics.TOPIC_BUFFER_OUTBOUND.name, topics.TOPIC_BUFFER_INBOUND.name
    assert (grant.kind, grant.reads, grant.writes) == ("provider", (outbound,), (inbound,))
    simulator = Simulator(
        "buffer",
        topics.TOPIC_BUFFER_OUTBOUND,
        topics.TOPIC_BUFFER_INBOUND,
        buffer_wire.OUTBOUND,
        SimulatorSettings(),
        Script(),
    )
    assert _subscription(simulator) == ({outbound}, set(grant.groups))
    assert access.writers(inbound) == (access.BUFFER,)


def test_who_may_write_the_topics_that_matter_most() -> None:
    assert access.writers(topics.TOPIC_INVOICING_EVENTS) == ("invoicing",)
    assert set(access.writers(topics.TOPIC_LEDGER_COMMANDS)) == {
        "invoicing",
        "factoring-gateway",
        "financing-gateway",
        access.OPERATOR,
    }
    assert access.writers(topics.TOPIC_LEDGER_EVENTS) == ("ledger",)
    providers = {g.principal for g in access.table() if g.kind == "provider"}
    assert providers == {*factoring_providers(), access.BUFFER}
    for grant in access.table():
        if grant.kind == "provider":
            assert topics.TOPIC_LEDGER_COMMANDS.name not in grant.writes
            assert len(grant.reads) == len(grant.writes) == len(grant.groups) == 1


def test_the_operator_commands_and_watches_but_writes_no_one_elses_topic() -> None:
    operator = access.grant_of(access.OPERATOR)
    assert set(operator.writes) == {t.name for t in access.command_topics()}
    assert set(operator.reads) == {t.name for t in topics.all_topics()}
    assert operator.groups == ()  # it joins no group: it reads by assignment
    service_groups = {topics.group(g) for g in topics.consumer_groups()}
    assert service_groups <= set(operator.describes_groups)  # lag and membership
    for slug in factoring_providers():
        assert topics.factoring_inbound(slug).name not in operator.writes


def test_bindings_give_each_grant_and_nothing_else() -> None:
    grant = access.grant_of("ledger")
    found = {(b.resource, b.name, b.operation) for b in access.bindings([grant])}
    expected = {("TOPIC", topics.TOPIC_LEDGER_COMMANDS.name, op) for op in ("READ", "DESCRIBE")}
    expected |= {("GROUP", topics.group(topics.GROUP_LEDGER), "READ")}
    expected |= {("TOPIC", name, op) for name in grant.writes for op in ("WRITE", "DESCRIBE")}
    assert found == expected
    assert len(access.bindings()) == len(set(access.bindings()))


def test_the_managed_names_are_exactly_this_prefixs() -> None:
    def managed(name: str, patterns: tuple[str, ...], prefix: str = topics.PREFIX) -> bool:
        rest = name.removeprefix(prefix) if name.startswith(prefix) else None
        return rest is not None and any(re.fullmatch(p, rest) for p in patterns)

    for grant in access.table():
        for name in (*grant.reads, *grant.writes):
            assert managed(name, access.MANAGED_TOPICS), name
            # Another namespace's topic is never this one's, even with an empty prefix (`make up`'s).
            assert not managed(f"t18100.{name.removeprefix(topics.PREFIX)}", access.MANAGED_TOPICS, "")
        for name in (*grant.groups, *grant.describes_groups):
            assert managed(name, access.MANAGED_GROUPS), name
            assert not managed(f"bench-e1.{name.removeprefix(topics.PREFIX)}", access.MANAGED_GROUPS, "")
    assert not managed(f"{topics.PREFIX}bench.ceiling.x.1", access.MANAGED_TOPICS)


def test_the_readme_prints_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert access.markdown() in readme, (
        "README.md's ACL table is stale: `python -m ledgerline_cli.kafka_security table`"
    )


# --- credentials -----------------------------------------------------------------------------------------------------
def test_credentials_are_generated_once_private_and_complete(tmp_path: Path) -> None:
    known, generated = kafka_security.ensure_credentials(tmp_path)
    path = tmp_path / kafka_security.CREDENTIALS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(known) == generated == {access.CONTROLLER, *access.principals()}
    assert len(set(known.values())) == len(known)  # one password each
    again, none = kafka_security.ensure_credentials(tmp_path)
    assert (again, none) == (known, set())
    # A principal added later (a provider installed afterwards) gets a password; the others keep theirs.
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("buffer=")))
    after, added = kafka_security.ensure_credentials(tmp_path)
    assert added == {"buffer"} and {k: v for k, v in after.items() if k != "buffer"} == {
        k: v for k, v in known.items() if k != "buffer"
    }


def test_each_client_gets_its_own_principal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD"):
        key = "LEDGERLINE_KAFKA_SECURITY_PROTOCOL" if variable == "PROTOCOL" else f"LEDGERLINE_KAFKA_{variable}"
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(kafka_security.MissingCredentials, match="make up"):
        kafka_security.client_kwargs("ledger", tmp_path)
    known, _ = kafka_security.ensure_credentials(tmp_path)
    assert kafka_security.client_kwargs("ledger", tmp_path) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ledger",
        "sasl_plain_password": known["ledger"],
    }
    assert kafka_security.service_env("SIMULATOR", "abc-factoring", tmp_path) == {
        "SIMULATOR_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SIMULATOR_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SIMULATOR_KAFKA_SASL_USERNAME": "abc-factoring",
        "SIMULATOR_KAFKA_SASL_PASSWORD": known["abc-factoring"],
    }
    properties = kafka_security.java_properties("operator", tmp_path)
    assert 'ScramLoginModule required username="operator"' in properties
    # A managed cluster: the protocol from the environment, the CLI's own identity too (services keep theirs).
    monkeypatch.setenv("LEDGERLINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEDGERLINE_KAFKA_SASL_USERNAME", "ops-team")
    monkeypatch.setenv("LEDGERLINE_KAFKA_SASL_PASSWORD", "from-the-vault")
    operator = kafka_security.client_kwargs(access.OPERATOR, tmp_path)
    assert (operator["security_protocol"], operator["sasl_plain_username"]) == ("SASL_SSL", "ops-team")
    assert operator["ssl_context"] is not None
    assert kafka_security.client_kwargs("ledger", tmp_path)["sasl_plain_username"] == "ledger"


def test_a_test_playing_a_party_writes_as_that_party() -> None:
    owner = kafka_security.OwnerProducers.principal_for
    assert owner(topics.TOPIC_LEDGER_COMMANDS.name) == access.OPERATOR
    assert owner(topics.factoring_inbound("abc-factoring").name) == "abc-factoring"
    assert owner(topics.TOPIC_INVOICING_EVENTS.name) == "invoicing"
    assert owner(topics.dead_letters(topics.GROUP_LEDGER).name) == "ledger"
    with pytest.raises(PermissionError):
        owner("someone.elses.topic")
