"""The Grafana dashboard (infra/grafana/dashboards/ledgerline.json) queries only metrics the services export, and
groups and filters them only by labels they carry: checked against the code's metric registry (fast) and against
the /metrics of every process of a running stack that has just handled an invoice (integration)."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ledgerline_cli.operator import Operator
from ledgerline_cli.stack import Stack
from tests.support.http import eventually
from tests.support.scenario import TEN_THOUSAND, factoring_client

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = json.loads((ROOT / "infra/grafana/dashboards/ledgerline.json").read_text())
PROMETHEUS = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())

GENERATED_BY_PROMETHEUS = {"up"}
"""Series Prometheus writes itself for every scrape target, exported by no process."""

SCRAPE_LABELS = {"job", "instance"} | {
    label for job in PROMETHEUS["scrape_configs"] for group in job["static_configs"] for label in group["labels"]
}
"""Labels Prometheus attaches to every series it scrapes (the `service` of prometheus.yml among them)."""

SERIES_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
"""The series names one metric family of each type is queried by (any other type: its own name)."""

# --- reading PromQL -------------------------------------------------------------------------------------------------
# Strings, ranges and numbers are tokens of their own only so that nothing inside them is taken for a name.
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_TOKEN = re.compile(
    rf"""(?P<string>{_STRING})
      |(?P<matchers>\{{(?:{_STRING}|[^}}"'`])*\}})
      |(?P<range>\[[^\]]*\])
      |(?P<number>(?:\d+(?:ms|[smhdwy]))+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      |(?P<word>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?
      |(?P<close>\))
      |.""",
    re.VERBOSE | re.DOTALL,
)
_MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = _GROUPING | {
    *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk"),
    *("quantile", "limitk", "limit_ratio", "and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"),
}


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """The metric names an expression selects, and the label names it filters or groups by."""
    metrics: set[str] = set()
    labels: set[str] = set()
    in_label_list = False
    for token in _TOKEN.finditer(expr):
        if token["matchers"]:
            labels.update(_MATCHER_LABEL.findall(re.sub(_STRING, '""', token["matchers"])))
        elif token["close"]:
            in_label_list = False
        elif token["word"]:
            word = token["word"]
            if in_label_list:
                labels.add(word)
            elif word in _GROUPING:
                in_label_list = token["call"] is not None
            elif word not in _KEYWORDS and token["call"] is None:
                metrics.add(word)
    return metrics, labels


@dataclass(frozen=True)
class Query:
    where: str
    expr: str
    metrics: frozenset[str]
    labels: frozenset[str]


def _query(where: str, expr: str, extra_label: str | None = None) -> Query:
    metrics, labels = promql_names(expr)
    return Query(where, expr, frozenset(metrics), frozenset(labels | ({extra_label} if extra_label else set())))


def _panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row keeps its panels inside


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every PromQL expression of the dashboard: panel targets and template variable queries."""
    queries = [
        _query(f"panel {panel['title']!r}", target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        where = f"variable ${variable['name']}"
        if values := re.fullmatch(r"\s*label_values\((?:(?P<expr>.*),)?\s*(?P<label>\w+)\s*\)\s*", text, re.DOTALL):
            queries.append(_query(where, values["expr"] or "", values["label"]))
        elif result := re.fullmatch(r"\s*query_result\((?P<expr>.*)\)\s*", text, re.DOTALL):
            queries.append(_query(where, result["expr"]))
        else:
            queries.append(_query(where, text))
    return queries


QUERIES = dashboard_queries(DASHBOARD)
QUERIED = sorted({metric for query in QUERIES for metric in query.metrics})


# --- reading what processes export --------------------------------------------------------------------------------
def read_exposition(exposition: str) -> tuple[set[str], dict[str, set[str]]]:
    """The series names an exposition declares (sampled or not yet), and the label names of those with samples."""
    declared: set[str] = set()
    sampled: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        declared.update(family.name + suffix for suffix in SERIES_SUFFIXES.get(family.type, ("",)))
        for sample in family.samples:
            declared.add(sample.name)
            sampled.setdefault(sample.name, set()).update(sample.labels)
    return declared, sampled


def unlabelled(query: Query, labels_of: dict[str, set[str]]) -> list[str]:
    """Labels the query relies on that a metric it selects (and `labels_of` knows) does not carry."""
    problems = []
    for metric in sorted(query.metrics & labels_of.keys()):
        carried = labels_of[metric] | SCRAPE_LABELS | ({"le"} if metric.endswith("_bucket") else set())
        problems += [f"{query.where}: {metric} has no label {label!r}" for label in sorted(query.labels - carried)]
    return problems


def _register_every_metric() -> None:
    """Builds each service (FastStream registers its metrics when a broker is made) and loads every simulator."""
    from factoring_gateway.entrypoints.app import build as factoring_gateway
    from financing_gateway.entrypoints.app import build as financing_gateway
    from invoicing.entrypoints.app import build as invoicing
    from ledger.entrypoints.app import build as ledger
    from ledgerline_simulators.main import simulators

    for build in (ledger, invoicing, factoring_gateway, financing_gateway):
        build()
    for module in simulators().values():
        importlib.import_module(module)


# --- fast tests -----------------------------------------------------------------------------------------------------
def test_promql_names_finds_metrics_and_labels_but_not_functions_strings_or_durations() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (service, le) (rate(a_bucket{x=~"b|c", y!="}{"}[$__rate_interval])))'
        " / on (service) group_left (kind) max without (z) (b_total offset 5m) > bool 2e3"
    )
    assert promql_names(expr) == ({"a_bucket", "b_total"}, {"service", "le", "x", "y", "kind", "z"})


def test_the_dashboard_queries_something_of_everything_sres_asked_for() -> None:
    asked = {
        "ledgerline_messages_consumed_total",
        "ledgerline_messages_handled_total",
        "ledgerline_batch_handling_seconds_bucket",
        "ledgerline_handler_errors_total",
        "ledgerline_dead_letters_total",
        "ledgerline_retries_total",
        "ledgerline_outbox_backlog",
        "ledgerline_outbox_oldest_age_seconds",
        "ledgerline_inbox_duplicates_total",
        "ledgerline_consumer_lag",
        "ledgerline_vouchers_posted_total",
        "ledgerline_vouchers_rejected_total",
        "ledgerline_posting_lines_total",
        "ledgerline_booking_latency_seconds_bucket",
        "ledgerline_command_results_total",
        "faststream_received_messages_total",
        "faststream_received_processed_messages_total",
        "faststream_received_processed_messages_duration_seconds_bucket",
        "faststream_published_messages_total",
    }
    assert asked <= set(QUERIED), f"no panel for {sorted(asked - set(QUERIED))}"
    provider_panels = [q for q in QUERIES if "$provider" in q.expr]
    assert {"ledgerline_messages_consumed_total", "ledgerline_outbox_published_total"} <= {
        metric for query in provider_panels for metric in query.metrics
    }


def test_every_panel_has_a_unique_id_and_uses_the_data_source_variable() -> None:
    panels = list(_panels(DASHBOARD["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    variable = next(v for v in DASHBOARD["templating"]["list"] if v["type"] == "datasource")
    assert variable["query"] == "prometheus"
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == f"${{{variable['name']}}}", panel["title"]
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]


def test_every_metric_the_dashboard_queries_is_registered_by_the_code() -> None:
    _register_every_metric()
    declared, _ = read_exposition(generate_latest(REGISTRY).decode())
    missing = [metric for metric in QUERIED if metric not in declared and metric not in GENERATED_BY_PROMETHEUS]
    assert missing == [], f"the dashboard queries metrics no code registers: {missing}"


def test_the_dashboard_filters_and_groups_only_by_labels_the_metrics_carry() -> None:
    _register_every_metric()
    # prometheus_client shows a metric's label names only on samples, and a labelled metric has none until first
    # used; its registry (private, but FastStream reads it the same way) knows them from the start.
    labels_of = {
        name: set(getattr(collector, "_labelnames", ()))
        | {label for family in collector.collect() for sample in family.samples for label in sample.labels}
        for name, collector in REGISTRY._names_to_collectors.items()
    }
    problems = [problem for query in QUERIES for problem in unlabelled(query, labels_of)]
    assert problems == []


# --- against the running processes ------------------------------------------------------------------------------
async def _scrape(stack: Stack) -> dict[str, str]:
    async with httpx.AsyncClient(timeout=5) as http:
        names = sorted(stack.running())
        responses = await asyncio.gather(*(http.get(f"{stack.url(name)}/metrics") for name in names))
    for name, response in zip(names, responses, strict=True):
        assert response.status_code == 200, f"{name} /metrics answered {response.status_code}"
    return {name: response.text for name, response in zip(names, responses, strict=True)}


@pytest.mark.integration
async def test_every_metric_the_dashboard_queries_is_served_by_the_running_processes(
    services: Stack, operator: Operator, client_id: str
) -> None:
    # One invoice through ABC Factoring: consumers, outbox, vouchers and command results get their labelled series.
    person, _ = await factoring_client(operator, client_id, "abc-factoring")
    invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
    await operator.send_invoice(client_id, invoice)

    async def booked_by_the_gateway() -> bool:
        vouchers = await operator.vouchers(client_id, invoice)
        return any(v["source"]["service"] == "factoring-gateway" for v in vouchers)

    await eventually(booked_by_the_gateway, timeout=30)
    scrapes = await _scrape(services)
    served: set[str] = set()
    labels_of: dict[str, set[str]] = {}
    for exposition in scrapes.values():
        declared, sampled = read_exposition(exposition)
        served |= declared
        for name, labels in sampled.items():
            labels_of.setdefault(name, set()).update(labels)
    missing = [metric for metric in QUERIED if metric not in served and metric not in GENERATED_BY_PROMETHEUS]
    assert missing == [], f"no process of {sorted(scrapes)} serves {missing}"
    # The traffic gave the main series their samples: their labels are checked as served (the rest, from the code).
    assert {"ledgerline_messages_handled_total", "ledgerline_vouchers_posted_total"} <= labels_of.keys()
    problems = [problem for query in QUERIES for problem in unlabelled(query, labels_of)]
    assert problems == []
