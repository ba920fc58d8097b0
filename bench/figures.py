"""Small helpers for the figures and the result file: percentiles, per-second buckets, phases, JSON output."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .harness import RESULTS


def percentiles(values: Sequence[float], points: Sequence[float] = (50, 95, 99)) -> dict[str, float | None]:
    if not values:
        return {f"p{p:g}": None for p in points}
    ordered = sorted(values)
    result: dict[str, float | None] = {}
    for p in points:
        # nearest-rank percentile: the smallest value with at least p % of the values at or below it
        rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
        result[f"p{p:g}"] = ordered[int(rank) - 1]
    return result


def per_second(times: Sequence[float], weights: Sequence[float] | None, origin: float) -> list[float]:
    """Counts (or summed weights) per whole second since `origin`."""
    if not times:
        return []
    buckets = [0.0] * (int(max(times) - origin) + 1)
    for i, t in enumerate(times):
        buckets[max(int(t - origin), 0)] += weights[i] if weights is not None else 1
    return buckets


def write_json(name: str, stamp: str, payload: Mapping[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Phase:
    """Start and end of a measured interval, in wall-clock seconds (time.time())."""

    name: str
    started: float = 0.0
    ended: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.ended - self.started
