"""deploy/kubernetes/ checked against the code, without a cluster: kustomize renders every overlay, the core kinds
validate against the Kubernetes schemas (kubernetes-validate ships them), KEDA's kinds against the fields KEDA
reads (its CRD's, written out below), and every container's environment against the settings classes."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ledgerline_cli.stack import Stack
from ledgerline_contracts import access, topics
from ledgerline_contracts.providers import registry

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy/kubernetes"
KUBERNETES_VERSION = "1.32"  # the kubectl this project's machines carry
SETTINGS = {
    "ledger": ("ledger.settings", "LedgerSettings"),
    "invoicing": ("invoicing.settings", "InvoicingSettings"),
    "factoring-gateway": ("factoring_gateway.settings", "FactoringGatewaySettings"),
    "financing-gateway": ("financing_gateway.settings", "FinancingGatewaySettings"),
}
CRD_KINDS = {"ScaledObject", "TriggerAuthentication"}
Doc = dict[str, Any]


def _settings(service: str) -> Any:
    module, name = SETTINGS[service]
    return getattr(import_module(module), name)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ledgerline_k8s_generate", KUBERNETES / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _kustomizations() -> list[Path]:
    return [KUBERNETES / "base", *sorted(p for p in (KUBERNETES / "overlays").iterdir() if p.is_dir())]


def render(folder: Path) -> list[Doc]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render deploy/kubernetes (`kubectl kustomize`); the machine image ships it"
    done = subprocess.run([kubectl, "kustomize", str(folder)], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{folder} does not render: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    return {str(folder.relative_to(KUBERNETES)): render(folder) for folder in _kustomizations()}


def _of(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _named(docs: list[Doc], kind: str, name: str) -> Doc | None:
    return next((doc for doc in _of(docs, kind) if doc["metadata"]["name"] == name), None)


def _containers(deployment: Doc) -> Iterator[Doc]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def _service_of(container: Doc) -> str:
    program = container["command"][0]
    assert program.startswith("ledgerline-"), program
    return str(program.removeprefix("ledgerline-"))


def _config_maps(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {doc["metadata"]["name"]: doc.get("data", {}) for doc in _of(docs, "ConfigMap")}


def _environment(container: Doc, docs: list[Doc]) -> dict[str, str]:
    """The container's environment as the process would see it (Secrets, made out of band, as placeholders)."""
    maps = _config_maps(docs)
    found = {}
    for entry in container.get("env", []):
        source = entry.get("valueFrom")
        if source is None:
            found[entry["name"]] = entry["value"]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            assert ref["key"] in maps.get(ref["name"], {}), f"{entry['name']}: no key {ref['key']} in {ref['name']}"
            found[entry["name"]] = maps[ref["name"]][ref["key"]]
        elif "secretKeyRef" in source:
            found[entry["name"]] = "from-a-secret"
        else:
            assert source == {"fieldRef": {"fieldPath": "metadata.name"}}, entry
            found[entry["name"]] = "pod-0"
    return found


def _settings_from(container: Doc, docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The container's settings object, read by the service's own settings class from its environment."""
    service = _service_of(container)
    settings = _settings(service)
    prefix = settings.model_config["env_prefix"]
    environment = _environment(container, docs)
    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(prefix)]:
            patch.delenv(name)
        for name, value in environment.items():
            assert name.startswith(prefix), f"{service}: {name} lacks the {prefix} prefix"
            assert name.removeprefix(prefix).lower() in settings.model_fields, f"{service}: {name} names no setting"
            patch.setenv(name, value)
        return settings()


# --- rendering and schemas -----------------------------------------------------------------------------------------
def test_the_base_is_what_the_generator_makes_from_the_code() -> None:
    wanted = _generator().files()
    present = {path.name: path.read_text() for path in (KUBERNETES / "base").glob("*.yaml")}
    stale = sorted(name for name in set(wanted) | set(present) if wanted.get(name) != present.get(name))
    assert not stale, f"stale: {stale} (`.venv/bin/python deploy/kubernetes/generate.py`)"


def test_every_kustomization_renders(rendered: dict[str, list[Doc]]) -> None:
    assert "base" in rendered and any(name.startswith("overlays/") for name in rendered)
    for name, docs in rendered.items():
        kinds = {doc["kind"] for doc in docs}
        assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", *CRD_KINDS} <= kinds, name
        if name != "base":
            assert {doc["metadata"].get("namespace") for doc in docs} == {"ledgerline"}, name


def test_every_core_object_validates_against_the_kubernetes_schemas(rendered: dict[str, list[Doc]]) -> None:
    validated = set()
    for name, docs in rendered.items():
        for doc in docs:
            if doc["kind"] in CRD_KINDS:
                continue
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {error.path}: {error.message}")
            validated.add(doc["kind"])
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= validated


def test_the_schema_validation_catches_a_mistake(rendered: dict[str, list[Doc]]) -> None:
    """The check above is not vacuous: the same validator refuses a misspelt field and a wrong type."""
    deployment = copy.deepcopy(_of(rendered["base"], "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    budget = copy.deepcopy(_of(rendered["base"], "PodDisruptionBudget")[0])
    budget["spec"]["maxUnavailable"] = [1]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(budget, KUBERNETES_VERSION, strict=True)


# KEDA 2.x (keda.sh/v1alpha1), the fields of its CRDs (config/crd/bases/keda.sh_scaledobjects.yaml and
# keda.sh_triggerauthentications.yaml in kedacore/keda) that these manifests use, with their types; unknown
# fields are refused, so a misspelt one fails here rather than being ignored by the cluster.
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metadata": _STRING_MAP,
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    },
}
TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "additionalProperties": False,
                        "properties": {
                            "parameter": {"type": "string"},
                            "name": {"type": "string"},
                            "key": {"type": "string"},
                        },
                    },
                }
            },
        },
    },
}
# The Kafka scaler's parameters (keda.sh docs, "Apache Kafka" scaler): trigger metadata and authentication.
KAFKA_TRIGGER_METADATA = {
    "bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold", "offsetResetPolicy",
    "allowIdleConsumers", "excludePersistentLag", "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag",
}  # fmt: skip
KAFKA_AUTH_PARAMETERS = {"sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword"}


def test_keda_objects_have_the_fields_keda_reads(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        platform = next(iter(_config_maps(docs).values()))
        authentications = {doc["metadata"]["name"] for doc in _of(docs, "TriggerAuthentication")}
        for doc in _of(docs, "TriggerAuthentication"):
            jsonschema.validate(doc, TRIGGER_AUTHENTICATION)
            assert {ref["parameter"] for ref in doc["spec"]["secretTargetRef"]} <= KAFKA_AUTH_PARAMETERS
        for doc in _of(docs, "ScaledObject"):
            jsonschema.validate(doc, SCALED_OBJECT)
            target = doc["spec"]["scaleTargetRef"]
            assert (target.get("apiVersion"), target.get("kind")) == ("apps/v1", "Deployment")
            assert _named(docs, "Deployment", target["name"]), f"{name}: {target['name']} is no Deployment"
            (trigger,) = doc["spec"]["triggers"]
            assert trigger["type"] == "kafka" and set(trigger["metadata"]) <= KAFKA_TRIGGER_METADATA
            assert trigger["authenticationRef"]["name"] in authentications
            # the same brokers the services are configured with, in every overlay
            assert trigger["metadata"]["bootstrapServers"] == platform["kafka-bootstrap-servers"], name


def test_the_keda_schema_catches_a_mistake(rendered: dict[str, list[Doc]]) -> None:
    scaled = copy.deepcopy(_of(rendered["base"], "ScaledObject")[0])
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCALED_OBJECT)
    scaled = copy.deepcopy(_of(rendered["base"], "ScaledObject")[0])
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 100
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCALED_OBJECT)


# --- every deployment's environment is what the code reads ---------------------------------------------------------
def test_every_container_runs_an_installed_program_of_a_service(rendered: dict[str, list[Doc]]) -> None:
    scripts = {e.name for e in entry_points(group="console_scripts")}
    for docs in rendered.values():
        deployments = _of(docs, "Deployment")
        core = {doc["metadata"]["name"] for doc in deployments if doc["metadata"]["name"] in Stack.SERVICES}
        assert core == set(Stack.SERVICES), "a Deployment per service"
        for deployment in deployments:
            images = {container["image"] for container in _containers(deployment)}
            assert len(images) == 1, f"{deployment['metadata']['name']}: one image for the migration and the service"
            for container in _containers(deployment):
                assert container["command"][0] in scripts, container["command"]
                assert _service_of(container) in SETTINGS


def test_every_environment_variable_names_a_setting_and_parses(
    rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, docs in rendered.items():
        for deployment in _of(docs, "Deployment"):
            for container in _containers(deployment):
                settings = _settings_from(container, docs, monkeypatch)  # names a setting, and the value parses
                prefix = type(settings).model_config["env_prefix"]
                variables = {entry["name"]: entry for entry in container["env"]}
                for secret in ("DB_PASSWORD", "KAFKA_SASL_PASSWORD"):
                    if prefix + secret in variables:
                        assert "secretKeyRef" in variables[prefix + secret].get("valueFrom", {}), (name, secret)
                assert settings.db_host == _config_maps(docs)[_platform_name(docs)]["db-host"]


def _platform_name(docs: list[Doc]) -> str:
    (found,) = _config_maps(docs)
    return found


def test_the_services_listen_where_probes_scrapers_and_services_look(
    rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for docs in rendered.values():
        for deployment in _of(docs, "Deployment"):
            pod = deployment["spec"]["template"]
            container = pod["spec"]["containers"][0]
            settings = _settings_from(container, docs, monkeypatch)
            assert settings.http_host == "0.0.0.0"  # reachable from the kubelet and Prometheus
            (port,) = container["ports"]
            assert (port["name"], port["containerPort"]) == ("http", settings.http_port)
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            annotations = pod["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (
                str(settings.http_port),
                "/metrics",
            )
        for service in _of(docs, "Service"):
            (selected,) = _selected(docs, service["spec"]["selector"])
            container = selected["spec"]["template"]["spec"]["containers"][0]
            assert service["spec"]["ports"][0]["port"] == container["ports"][0]["containerPort"]


def test_the_urls_of_other_services_point_at_their_kubernetes_services(
    rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for docs in rendered.values():
        ports = {service["metadata"]["name"]: service["spec"]["ports"][0]["port"] for service in _of(docs, "Service")}
        for deployment in _of(docs, "Deployment"):
            settings = _settings_from(deployment["spec"]["template"]["spec"]["containers"][0], docs, monkeypatch)
            for field in ("ledger_url", "invoicing_url"):
                if field in type(settings).model_fields:
                    url = re.fullmatch(r"http://([a-z-]+):(\d+)", getattr(settings, field))
                    assert url and ports.get(url[1]) == int(url[2]), f"{deployment['metadata']['name']}: {field}"


def test_each_service_authenticates_with_its_own_principal_keys_and_secrets(
    rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for docs in rendered.values():
        assert not _of(docs, "Secret"), "no secret in the repository: Secrets are made in the namespace"
        for deployment in _of(docs, "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            container = pod["containers"][0]
            service = _service_of(container)
            settings = _settings_from(container, docs, monkeypatch)
            assert settings.kafka_sasl_username == service and service in access.principals()
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "secret" in volumes[mounts[str(settings.auth_public_keys_dir)]]
            key = PurePosixPath(str(settings.auth_signing_key))
            secret = volumes[mounts[str(key.parent)]]["secret"]
            assert secret["secretName"] == f"ledgerline-{service}"
            assert [item["path"] for item in secret["items"]] == [key.name] == [f"{service}.key"]
            for entry in container["env"]:
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == f"ledgerline-{service}", entry


# --- per-provider scaling ------------------------------------------------------------------------------------------
def _selected(docs: list[Doc], selector: dict[str, str]) -> list[Doc]:
    return [
        d for d in _of(docs, "Deployment") if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]


def _providers_of(deployment: Doc, docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> tuple[bool, list[str]]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if _service_of(container) != "factoring-gateway":
        return False, []
    settings = _settings_from(container, docs, monkeypatch)
    every = topics.factoring_providers()
    return settings.core, list(every if settings.providers is None else settings.providers)


def provider_problems(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What is wrong with per-provider scaling in one rendered kustomization (empty: nothing)."""
    from factoring_gateway.domain.providers import installed_adapters
    from factoring_gateway.service_layer.handlers import consumers

    problems = []
    installed = topics.factoring_providers()
    serving: dict[str, list[str]] = {}
    for deployment in _of(docs, "Deployment"):
        core, providers = _providers_of(deployment, docs, monkeypatch)
        if core or _service_of(deployment["spec"]["template"]["spec"]["containers"][0]) != "factoring-gateway":
            continue
        name = deployment["metadata"]["name"]
        if len(providers) != 1:
            problems.append(f"{name} serves {providers or 'every provider'}: a provider deployment serves one")
        for slug in providers:
            serving.setdefault(slug, []).append(name)
            if slug not in installed:
                problems.append(f"{name} serves {slug}, which is not installed")
    for slug in installed:
        name = f"factoring-gateway-{slug}"
        deployment = _named(docs, "Deployment", name)
        if deployment is None or serving.get(slug) != [name]:
            problems.append(
                f"{slug}: no Deployment {name} serving it alone (FACTORING_CORE=false) — found {serving.get(slug)}"
            )
            continue
        if "replicas" in deployment["spec"]:
            problems.append(f"{name}: sets replicas, which its ScaledObject owns")
        # The group and topic the gateway's code consumes with these settings, not a copy of their names.
        adapters = installed_adapters()
        consumed = {(c.topic.name, c.group) for c in consumers(None, adapters, providers=[adapters[slug]], core=False)}  # type: ignore[arg-type]
        assert consumed == {(topics.factoring_inbound(slug).name, topics.group_for_provider(slug))}
        (topic, group) = next(iter(consumed))
        scalers = [d for d in _of(docs, "ScaledObject") if d["spec"]["scaleTargetRef"]["name"] == name]
        if len(scalers) != 1:
            problems.append(f"{slug}: {len(scalers)} ScaledObjects scale {name}")
            continue
        spec = scalers[0]["spec"]
        metadata = spec["triggers"][0]["metadata"]
        if (metadata["consumerGroup"], metadata["topic"]) != (group, topic.removeprefix(topics.PREFIX)):
            problems.append(
                f"{slug}: scaled on {metadata['topic']} in {metadata['consumerGroup']}, read {topic} in {group}"
            )
        if spec["maxReplicaCount"] != registry.provider(slug).partitions or spec["minReplicaCount"] < 1:
            problems.append(
                f"{slug}: replicas {spec['minReplicaCount']}–{spec['maxReplicaCount']}, partitions "
                f"{registry.provider(slug).partitions}"
            )
    return problems


def test_each_provider_has_its_deployment_group_topic_and_scaler(
    rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(topics.factoring_providers()) >= 2
    for name, docs in rendered.items():
        assert provider_problems(docs, monkeypatch) == [], name
        core = _named(docs, "Deployment", "factoring-gateway")
        assert core and _providers_of(core, docs, monkeypatch)[0], "the core gateway runs beside them"
        # and leaves every provider's events to them: no share of a provider's partitions sits idle.
        assert _providers_of(core, docs, monkeypatch)[1] == [], name


def test_a_provider_added_without_a_deployment_fails(
    rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered["base"]
    abc, fjord = "abc-factoring", "fjord-invoice-sale"
    # a new provider package installed, no deployment for it
    toy = registry.FactoringProvider("toy-factoring", "Toy Factoring", 3, "toy.contract", "toy.adapter:Adapter")
    with monkeypatch.context() as patch:
        installed = registry.factoring_providers()
        patch.setattr(registry, "factoring_providers", lambda: {**installed, "toy-factoring": toy})
        assert any(p.startswith("toy-factoring: no Deployment") for p in provider_problems(docs, monkeypatch))
    # a provider added to an existing provider deployment's FACTORING_PROVIDERS
    widened = copy.deepcopy(docs)
    deployment = _named(widened, "Deployment", f"factoring-gateway-{abc}")
    assert deployment
    for entry in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if entry["name"] == "FACTORING_PROVIDERS":
            entry["value"] = f'["{abc}", "{fjord}"]'
    problems = provider_problems(widened, monkeypatch)
    assert any("a provider deployment serves one" in p for p in problems)
    assert any(p.startswith(f"{fjord}: no Deployment") for p in problems)
    # a scaler that allows more replicas than the provider has partitions
    grown = copy.deepcopy(docs)
    scaled = _named(grown, "ScaledObject", f"factoring-gateway-{abc}")
    assert scaled
    scaled["spec"]["maxReplicaCount"] += 1
    assert any(p.startswith(f"{abc}: replicas") for p in provider_problems(grown, monkeypatch))


def test_keda_reads_lag_as_a_principal_allowed_to(rendered: dict[str, list[Doc]]) -> None:
    """The TriggerAuthentication's Secret names the operator (generate.py): it may describe each provider's group."""
    operator = access.grant_of(access.OPERATOR)
    for slug in topics.factoring_providers():
        assert topics.group(topics.group_for_provider(slug)) in operator.describes_groups
        assert topics.factoring_inbound(slug).name in operator.reads


# --- disruption budgets and resources ------------------------------------------------------------------------------
def test_every_deployment_has_a_disruption_budget_of_its_own(rendered: dict[str, list[Doc]]) -> None:
    for name, docs in rendered.items():
        covered = []
        for budget in _of(docs, "PodDisruptionBudget"):
            selected = _selected(docs, budget["spec"]["selector"]["matchLabels"])
            assert len(selected) == 1, f"{name}: {budget['metadata']['name']} selects {len(selected)} deployments"
            assert budget["spec"].get("maxUnavailable") == 1  # never blocks a drain, even with one replica
            covered.append(selected[0]["metadata"]["name"])
        assert sorted(covered) == sorted(d["metadata"]["name"] for d in _of(docs, "Deployment")), name


def _measured_rss() -> dict[str, float]:
    """bench/README.md's end-to-end figures: 'peak RSS per service | ledger 148 MB, invoicing 148 MB, ...'."""
    text = (ROOT / "bench/README.md").read_text()
    line = next(l for l in text.splitlines() if l.startswith("| peak RSS per service |") and " MB" in l)
    return {name.replace(" ", "-"): float(mb) for name, mb in re.findall(r"([a-z][a-z ]+?) (\d+) MB", line)}


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_memory_requests_cover_the_measured_rss(
    rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured = _measured_rss()
    assert set(Stack.SERVICES) <= set(measured), measured
    for docs in rendered.values():
        for deployment in _of(docs, "Deployment"):
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            rss = measured[_service_of(container)]  # a provider-only gateway: the gateway's figure
            requests, limits = container["resources"]["requests"], container["resources"]["limits"]
            assert _mebibytes(requests["memory"]) >= rss, deployment["metadata"]["name"]  # MB read as MiB: stricter
            assert _mebibytes(limits["memory"]) >= 2 * rss
            assert "cpu" in requests and "cpu" not in limits
