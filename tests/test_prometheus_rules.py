"""The Prometheus rules (infra/prometheus/rules/), their unit tests, the runbook and the local stack's Prometheus
configuration, without a running stack: `promtool check rules` and `promtool test rules` (Debian's prometheus
package, installed by `make setup`: never skipped), every alert tested both ways, documented in docs/runbook.md,
and querying only metrics the code exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import TopicPartition
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from ledgerline_cli import monitoring
from ledgerline_cli.lag_exporter import LAG_METRIC, LagCollector, group_lag, watched_groups
from ledgerline_cli.monitoring import Monitoring, throughput_queries, with_short_for
from ledgerline_cli.stack import Stack
from ledgerline_contracts import topics
from tests.test_dashboard import GENERATED_BY_PROMETHEUS, _register_every_metric, promql_names, read_exposition

ROOT = Path(__file__).resolve().parents[1]
RULE_FILES = sorted((ROOT / "infra/prometheus/rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "infra/prometheus/tests").glob("*.yml"))
RUNBOOK = ROOT / "docs/runbook.md"


def _rules() -> list[dict[str, Any]]:
    return [
        rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


ALERTS = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
RECORDED = {rule["record"] for rule in _rules() if "record" in rule}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("promtool"), "promtool is missing: `bash infra/prometheus/prometheus.sh install` (make setup)"
    return subprocess.run(["promtool", *args], check=False, capture_output=True, text=True, timeout=120)


# --- promtool ----------------------------------------------------------------------------------------------------
def test_promtool_checks_the_rules() -> None:
    assert RULE_FILES and RULE_TESTS
    checked = promtool("check", "rules", *map(str, RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_runs_the_rule_unit_tests() -> None:
    tested = promtool("test", "rules", *map(str, RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_issue_s_alerts_exist() -> None:
    wanted = {
        "LedgerlineConsumerLagHigh",  # per group
        "LedgerlineProviderLagHigh",  # per provider
        "LedgerlineOutboxBacklogHigh",
        "LedgerlineOutboxOldestRowOld",
        "LedgerlineDeadLetters",
        "LedgerlineParkedEventsPiling",
        "LedgerlineParkedEventWaiting",
        "LedgerlineBookingRejected",
        "LedgerlinePipelineStalled",
        "LedgerlineServiceDown",
        "LedgerlineMemoryHigh",
    }
    assert wanted <= ALERTS.keys()


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_silent() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert sorted(ALERTS.keys() - fires) == [], "alerts no unit test sees firing"
    assert sorted(ALERTS.keys() - silent) == [], "alerts no unit test sees silent"
    assert (fires | silent) <= ALERTS.keys(), "unit tests of alerts that do not exist"


def test_a_broken_rule_fails_its_unit_tests(tmp_path: Path) -> None:
    """The unit tests can fail: with the lag threshold raised, the case where it should fire does not."""
    (tmp_path / "rules").mkdir()
    for path in RULE_FILES:
        text = path.read_text().replace("} > 500", "} > 5000")
        (tmp_path / "rules" / path.name).write_text(text)
    (tmp_path / "tests").mkdir()
    for path in RULE_TESTS:
        shutil.copy(path, tmp_path / "tests" / path.name)
    tested = promtool("test", "rules", *(str(tmp_path / "tests" / p.name) for p in RULE_TESTS))
    assert tested.returncode != 0
    assert "LedgerlineConsumerLagHigh" in tested.stdout + tested.stderr


# --- what the rules query ----------------------------------------------------------------------------------------
def test_every_metric_the_rules_query_is_exported_by_the_code_or_recorded() -> None:
    _register_every_metric()
    declared, _ = read_exposition(generate_latest(REGISTRY).decode())
    registry = CollectorRegistry()
    registry.register(LagCollector())
    exporter, _ = read_exposition(generate_latest(registry).decode())
    known = declared | exporter | RECORDED | GENERATED_BY_PROMETHEUS
    queried = {metric for rule in _rules() for metric in promql_names(rule["expr"])[0]}
    queried |= {metric for promql in throughput_queries(60).values() for metric in promql_names(promql)[0]}
    assert sorted(queried - known) == []
    assert "process_resident_memory_bytes" in declared  # RSS: prometheus-client's process collector


def test_the_demo_s_throughput_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "demo",
                "rules": [{"record": f"demo:{name}", "expr": q} for name, q in throughput_queries(42).items()],
            }
        ]
    }
    path = tmp_path / "demo.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- the runbook -------------------------------------------------------------------------------------------------
def _anchor(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's) gives a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_a_runbook_section_and_every_section_an_alert() -> None:
    sections = re.findall(r"^## (.+)$", RUNBOOK.read_text(), re.MULTILINE)
    assert sorted(sections) == sorted(ALERTS)
    anchors = {_anchor(section) for section in sections}
    for name, rule in ALERTS.items():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbook.md#{_anchor(name)}", name
        assert url.split("#")[1] in anchors
        assert rule["annotations"]["summary"], name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name


def test_every_runbook_section_says_what_it_means_how_to_confirm_and_what_to_do() -> None:
    text = RUNBOOK.read_text()
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        name = section.splitlines()[0]
        for part in ("**Means.**", "**Confirm.**", "**Do.**"):
            assert part in section, f"{name}: no {part}"


# --- the local stack's Prometheus configuration ----------------------------------------------------------------------
def test_the_stack_renders_prometheus_yml_with_its_own_ports_and_every_process(tmp_path: Path) -> None:
    stack = Stack(state_dir=tmp_path, port_base=20500, bootstrap="127.0.0.1:9092")
    mon = Monitoring(stack)
    config = mon.config()
    compose = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == compose["global"]["scrape_interval"]
    (job,) = config["scrape_configs"]
    scraped = {group["labels"]["service"]: group["targets"] for group in job["static_configs"]}
    expected = {name: [f"127.0.0.1:{spec.port}"] for name, spec in stack.specs().items()}
    expected["lag-exporter"] = ["127.0.0.1:20591"]
    assert scraped == expected
    assert mon.port == 20590 and mon.url == "http://127.0.0.1:20590"
    assert mon.port not in {spec.port for spec in stack.specs().values()}
    assert [Path(p) for p in config["rule_files"]] == [p.resolve() for p in RULE_FILES]
    # What Prometheus would be started with is valid, rules included.
    checked = promtool("check", "config", str(mon.write_config()))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert str(tmp_path / "prometheus" / "20500") in str(mon.write_config())


def test_the_prometheus_process_listens_on_its_own_port_with_its_state_under_the_stack_s(tmp_path: Path) -> None:
    stack = Stack(state_dir=tmp_path, port_base=20500, bootstrap="127.0.0.1:9093")
    specs = Monitoring(stack, exporter_interval=2.0).specs()
    prometheus, exporter = specs[monitoring.PROMETHEUS], specs[monitoring.EXPORTER]
    assert "--web.listen-address=127.0.0.1:20590" in prometheus.command
    assert f"--storage.tsdb.path={tmp_path / 'prometheus' / '20500' / 'data'}" in prometheus.command
    assert exporter.command[-3:] == ["--port=20591", "--bootstrap=127.0.0.1:9093", "--interval=2.0"]


def test_short_for_rewrites_every_alert_s_for_and_nothing_else(tmp_path: Path) -> None:
    (copy,) = with_short_for(RULE_FILES, tmp_path, "3s")
    rules = [rule for group in yaml.safe_load(copy.read_text())["groups"] for rule in group["rules"]]
    assert {rule["for"] for rule in rules if "alert" in rule and "for" in rule} == {"3s"}
    assert [rule["expr"] for rule in rules] == [rule["expr"] for rule in _rules()]


def test_without_prometheus_the_stack_says_so_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(monitoring.shutil, "which", lambda _: None)
    stack = Stack(state_dir=tmp_path, port_base=20500, bootstrap="127.0.0.1:9092")
    assert Monitoring(stack).start() is False
    assert "prometheus: not installed" in capsys.readouterr().err
    assert stack.pid(monitoring.PROMETHEUS) is None and stack.pid(monitoring.EXPORTER) is None


# --- the lag exporter ----------------------------------------------------------------------------------------------
def test_group_lag_counts_from_the_committed_offset_or_the_beginning_on_the_topics_the_group_committed_on() -> None:
    ledger_commands = topics.TOPIC_LEDGER_COMMANDS.name
    other = topics.TOPIC_INVOICING_EVENTS.name

    def tp(topic: str, partition: int) -> TopicPartition:
        return TopicPartition(topic, partition)

    committed = {tp(ledger_commands, 0): 40, tp(ledger_commands, 1): -1, tp(other, 0): -1}
    beginnings = {tp(ledger_commands, 0): 0, tp(ledger_commands, 1): 5, tp(ledger_commands, 2): 0, tp(other, 0): 0}
    ends = {tp(ledger_commands, 0): 100, tp(ledger_commands, 1): 25, tp(ledger_commands, 2): 0, tp(other, 0): 9}
    found = group_lag(topics.group("ledger"), committed, {ledger_commands: 3, other: 1}, beginnings, ends)
    assert found == {
        ("ledger", ledger_commands, 0): 60,  # committed 40 of 100
        ("ledger", ledger_commands, 1): 20,  # no offset: from the beginning (5) to 25
        ("ledger", ledger_commands, 2): 0,
    }  # `other`: no committed offset at all, so not a topic of this group


def test_the_lag_exporter_watches_every_consumer_group_and_each_provider_s() -> None:
    groups = watched_groups()
    assert {topics.group(g) for g in topics.consumer_groups()} <= set(groups)
    assert topics.group("simulator.buffer") in groups and topics.group("simulator.abc-factoring") in groups


def test_the_lag_collector_serves_the_last_measurement() -> None:
    collector = LagCollector()
    collector.lag = {("ledger", "t.ledger.commands.v1", 3): 17}
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert f'{LAG_METRIC}{{group="ledger",partition="3",topic="t.ledger.commands.v1"}} 17.0' in text
