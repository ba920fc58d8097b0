"""The services' own /metrics (Prometheus text, parsed by prometheus_client): sums and batch figures."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def scrape(url: str) -> dict[str, float]:
    """A service's /metrics as {"name{label=value,…}": value}."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def metric_sum(values: Mapping[str, float], name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for key, value in values.items():
        metric = key.partition("{")[0]
        if metric != name:
            continue
        have = _labels(key)
        if all(have.get(k) == v for k, v in labels.items()):
            total += value
    return total


def batch_profile(values: Mapping[str, float], service: str) -> dict[str, dict[str, float]]:
    """Per consumer group of a service: batches, mean records and seconds per batch, seconds spent in total;
    and the same for its outbox relay (rows published per relay batch)."""
    groups = {_labels(key).get("consumer", "") for key in values if key.startswith("ledgerline_batch_size_count{")}
    result = {}
    for group in sorted(g for g in groups if g):
        count = metric_sum(values, "ledgerline_batch_size_count", service=service, consumer=group)
        if not count:
            continue
        size = metric_sum(values, "ledgerline_batch_size_sum", service=service, consumer=group)
        seconds = metric_sum(values, "ledgerline_batch_handling_seconds_sum", service=service, consumer=group)
        result[group] = {
            "batches": int(count),
            "mean_records": round(size / count, 1),
            "mean_seconds": round(seconds / count, 4),
            "busy_seconds": round(seconds, 2),
        }
    relays = metric_sum(values, "ledgerline_outbox_publish_seconds_count", service=service)
    if relays:
        rows = metric_sum(values, "ledgerline_outbox_published_total", service=service)
        seconds = metric_sum(values, "ledgerline_outbox_publish_seconds_sum", service=service)
        result["outbox relay"] = {
            "batches": int(relays),
            "mean_records": round(rows / relays, 1),
            "mean_seconds": round(seconds / relays, 4),
            "busy_seconds": round(seconds, 2),
        }
    return result


def _labels(key: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in key.partition("{")[2].rstrip("}").split(",") if item)
