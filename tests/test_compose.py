"""docker-compose.yml cannot run here (no Docker engine), so check it against the code instead."""

from __future__ import annotations

import re
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

import yaml

from ledgerline_cli import kafka_security
from ledgerline_cli.stack import Stack
from ledgerline_contracts import access, topics
from ledgerline_simulators.main import simulators
from ledgerline_simulators.runtime import SimulatorSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS = {
    "ledger": ("ledger.settings", "LedgerSettings"),
    "invoicing": ("invoicing.settings", "InvoicingSettings"),
    "factoring-gateway": ("factoring_gateway.settings", "FactoringGatewaySettings"),
    "financing-gateway": ("financing_gateway.settings", "FinancingGatewaySettings"),
}


def _settings(service: str) -> type:
    module, name = SETTINGS[service]
    return getattr(import_module(module), name)  # type: ignore[no-any-return]


def test_every_service_of_the_code_is_in_compose() -> None:
    assert set(Stack.SERVICES) <= set(COMPOSE["services"])


def test_environment_variables_name_real_settings() -> None:
    for service in Stack.SERVICES:
        settings = _settings(service)
        prefix = settings.model_config["env_prefix"]
        for variable in COMPOSE["services"][service]["environment"]:
            assert variable.startswith(prefix), f"{service}: {variable} lacks the {prefix} prefix"
            field = variable.removeprefix(prefix).lower()
            assert field in settings.model_fields, f"{service}: {variable} names no setting"


def test_ports_and_healthchecks_match_the_settings() -> None:
    for service in Stack.SERVICES:
        spec = COMPOSE["services"][service]
        port = int(spec["environment"][f"{_settings(service).model_config['env_prefix']}HTTP_PORT"])
        assert port == _settings(service).model_fields["http_port"].default
        assert spec["ports"] == [f"127.0.0.1:{port}:{port}"]  # published on the host's loopback only
        assert f":{port}/readyz" in " ".join(spec["healthcheck"]["test"])


def test_commands_are_installed_console_scripts() -> None:
    scripts = {e.name for e in entry_points(group="console_scripts")}
    for name, spec in COMPOSE["services"].items():
        command = " ".join(spec.get("command", []))
        for program in re.findall(r"\b(ledgerline(?:-[a-z-]+)?)\b", command):
            assert program in scripts, f"{name} runs {program}, which no package installs"


def test_prometheus_scrapes_every_service_at_its_port() -> None:
    config = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    for service in Stack.SERVICES:
        assert f"{service}:{_settings(service).model_fields['http_port'].default}" in targets


def test_secrets_come_from_the_environment_only() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if "PASSWORD:" in line:
            assert "${" in line, f"a password in the repo: {line.strip()}"


def _stack_ports() -> dict[str, int]:
    """The ports `make up` uses (port base 8100): compose publishes every process on the same one."""
    return {name: spec.port for name, spec in Stack(port_base=8100).specs().items()}


def test_every_simulator_runs_in_compose_like_the_local_stack_runs_it() -> None:
    prefix = SimulatorSettings.model_config["env_prefix"]
    for name in Stack.simulators():
        spec, port = COMPOSE["services"][name], _stack_ports()[name]
        simulator = name.removesuffix("-simulator")
        assert simulator in simulators() and spec["command"] == ["ledgerline-simulator", simulator]
        for variable in spec["environment"]:
            assert variable.startswith(prefix), f"{name}: {variable} lacks the {prefix} prefix"
            assert variable.removeprefix(prefix).lower() in SimulatorSettings.model_fields, f"{name}: {variable}"
        assert spec["environment"]["SIMULATOR_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert int(spec["environment"]["SIMULATOR_HTTP_PORT"]) == port
        assert spec["ports"] == [f"127.0.0.1:{port}:{port}"]  # published on the host's loopback only
        assert f":{port}/readyz" in " ".join(spec["healthcheck"]["test"])
        assert "postgres" not in spec["depends_on"], f"{name} needs the broker only"


def test_prometheus_scrapes_every_simulator_at_its_port() -> None:
    config = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    for name in Stack.simulators():
        assert f"{name}:{_stack_ports()[name]}" in targets


def test_grafana_is_provisioned_from_the_repository_with_prometheus_as_its_data_source() -> None:
    grafana = COMPOSE["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    assert "prometheus" in grafana["depends_on"]
    mounts = {}
    for volume in grafana["volumes"]:
        source, target, mode = volume.split(":")
        assert mode == "ro" and (ROOT / source).is_dir(), volume
        mounts[target] = ROOT / source
    provisioning = mounts["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    prometheus_port = COMPOSE["services"]["prometheus"]["ports"][0].split(":")[-1]
    assert [(d["type"], d["url"]) for d in datasources] == [("prometheus", f"http://prometheus:{prometheus_port}")]
    (provider,) = yaml.safe_load((provisioning / "dashboards/ledgerline.yml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "ledgerline.json").is_file()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/ledgerline.json"


# --- Kafka security: the compose broker is secured as the local one is -------------------------------------------
def _password_variable(principal: str) -> str:
    return f"LEDGERLINE_KAFKA_{principal.upper().replace('-', '_')}_PASSWORD"


def test_the_broker_authenticates_and_authorises_like_the_local_one() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["command"] == ["sh", "/ledgerline/compose-kafka.sh"]
    assert "./infra/kafka:/ledgerline:ro" in kafka["volumes"]  # the same server.properties.in as kafka.sh's
    template = (ROOT / "infra/kafka/server.properties.in").read_text()
    for setting in (
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:admin;User:controller",
        "allow.everyone.if.no.acl.found=false",
    ):
        assert setting in template.splitlines(), setting
    environment = kafka["environment"]
    assert environment["LEDGERLINE_KAFKA_PRINCIPALS"].split() == list(access.principals())  # a SCRAM user each
    for principal in (access.CONTROLLER, *access.principals()):
        assert environment[_password_variable(principal)].startswith(f"${{{_password_variable(principal)}:?")
    assert "--command-config /tmp/ledgerline/admin.properties" in " ".join(kafka["healthcheck"]["test"])


def test_every_process_authenticates_as_its_own_principal() -> None:
    prefixes = {service: _settings(service).model_config["env_prefix"] for service in Stack.SERVICES}
    processes = [(service, service, prefixes[service]) for service in Stack.SERVICES]
    processes += [(name, name.removesuffix("-simulator"), "SIMULATOR_") for name in Stack.simulators()]
    for name, principal, prefix in processes:
        environment = COMPOSE["services"][name]["environment"]
        assert environment[f"{prefix}KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        assert environment[f"{prefix}KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert environment[f"{prefix}KAFKA_SASL_USERNAME"] == principal, name
        assert environment[f"{prefix}KAFKA_SASL_PASSWORD"] == f"${{{_password_variable(principal)}:?}}", name
    topics_job = COMPOSE["services"]["kafka-topics"]["environment"]
    assert topics_job["LEDGERLINE_KAFKA_SASL_USERNAME"] == access.ADMIN


def test_the_acls_are_the_tables_and_come_before_any_process() -> None:
    script = ROOT / "infra/kafka/compose-acls.sh"
    assert script.read_text() == kafka_security.compose_acl_script(), (
        "infra/kafka/compose-acls.sh is stale: `python -m ledgerline_cli.kafka_security compose-acls`"
    )
    granted = set()
    for line in script.read_text().splitlines():
        if line.startswith("acl --allow-principal "):
            words = line.split()
            principal = words[2].removeprefix("User:")
            operations = [words[i + 1].upper() for i, w in enumerate(words) if w == "--operation"]
            resources = [(w[2:].upper(), words[i + 1]) for i, w in enumerate(words) if w in ("--topic", "--group")]
            granted |= {(principal, kind, name, op) for kind, name in resources for op in operations}
    expected = {(b.principal, b.resource, b.name.removeprefix(topics.PREFIX), b.operation) for b in access.bindings()}
    assert granted == expected
    acls = COMPOSE["services"]["kafka-acls"]
    assert acls["command"] == ["sh", "/ledgerline/compose-acls.sh"]
    assert acls["depends_on"] == {"kafka-topics": {"condition": "service_completed_successfully"}}
    for name in (*Stack.SERVICES, *Stack.simulators()):
        assert COMPOSE["services"][name]["depends_on"]["kafka-acls"] == {"condition": "service_completed_successfully"}


def test_every_published_port_is_on_the_hosts_loopback() -> None:
    """The compose stack publishes what an operator needs (queries, dashboards) to the host itself, nobody else."""
    for name, spec in COMPOSE["services"].items():
        for published in spec.get("ports", []):
            assert str(published).startswith("127.0.0.1:"), f"{name} publishes {published} beyond the host"


def test_every_service_has_its_token_keys() -> None:
    for service in Stack.SERVICES:
        spec = COMPOSE["services"][service]
        prefix = _settings(service).model_config["env_prefix"]
        assert spec["environment"][f"{prefix}AUTH_PUBLIC_KEYS_DIR"] == "/keys/public"
        assert spec["environment"][f"{prefix}AUTH_SIGNING_KEY"] == f"/keys/private/{service}.key"
        assert "keys:/keys:ro" in spec["volumes"] and spec["depends_on"]["keys"]
