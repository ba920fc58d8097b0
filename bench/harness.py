"""What every run needs: where things are, who we are on the shared machine, progress output, run identity."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
STATE = Path(os.environ.get("LEDGERLINE_STATE_DIR", REPO / ".state"))
BOOTSTRAP = os.environ.get("LEDGERLINE_KAFKA", "127.0.0.1:9092")
PORT_BASE = 48100
_RESERVED_PORTS = [(8100, 8199), (18100, 18499), (28100, 28199), (38100, 38199)]
"""Ports other developers' stacks and test sessions use on this machine: never ours."""

_started = time.monotonic()


def say(message: str) -> None:
    """Progress on stdout, with seconds since the benchmark started."""
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", flush=True)


class BenchAborted(Exception):
    """The benchmark cannot produce an honest figure (e.g. someone else's consumer is in our group)."""


def check_port_base(port_base: int) -> None:
    """Our processes use port_base + 1 … + 13; refuse bases that touch ports other stacks use."""
    ours = range(port_base, port_base + 20)
    for low, high in _RESERVED_PORTS:
        if any(low <= port <= high for port in ours):
            raise SystemExit(f"port base {port_base} overlaps ports {low}-{high}, which other stacks use here")


def instance_tag(port_base: int) -> str:
    """The instance id our processes run with; the services make it part of their Kafka client id."""
    return f"bench{port_base}"


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """`--env KEY=VALUE` options, passed to every process we start (e.g. LEDGER_CONSUMER_BATCH_SIZE=2000)."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def run_id() -> str:
    return datetime.now().strftime("%m%d%H%M%S") + secrets.token_hex(2)


def read_secrets(state: Path = STATE) -> dict[str, str]:
    values: dict[str, str] = {}
    path = state / "secrets.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
    return values


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load1, load5, _ = os.getloadavg()
    return {
        "cpus": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "load_avg_1m_at_start": round(load1, 2),
        "load_avg_5m_at_start": round(load5, 2),
    }


def git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "services", "servicekit", "contracts"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
