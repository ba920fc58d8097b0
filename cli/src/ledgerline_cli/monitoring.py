"""The local stack's Prometheus: configuration rendered per stack, the process, and PromQL over HTTP.

`infra/prometheus/prometheus.yml` is the one configuration (docker-compose reads it as it is). For a stack of
processes on 127.0.0.1 it is rendered with that stack's ports into `<state>/prometheus/<port base>/`: each target
keeps its `service` label, every process of `Stack.specs()` and the lag exporter are scraped, and the rule files
come from `infra/prometheus/rules/` by absolute path. Prometheus listens on port base + 90 (8190 for `make up`),
the broker-side lag exporter (`ledgerline_cli.lag_exporter`) on port base + 91. Both are processes of the stack
(pids and logs in the state folder, like the services): `ledgerline stack up` and `make demo` start them, `make
down` stops them; each start of Prometheus begins a new history (its data folder is emptied). Where Debian's
`prometheus` is not installed the stack runs without them and says so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

if TYPE_CHECKING:
    from .stack import Stack

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "infra/prometheus/prometheus.yml"
RULES = REPO / "infra/prometheus/rules"
PROMETHEUS_OFFSET = 90
EXPORTER_OFFSET = 91
PROMETHEUS = "prometheus"
EXPORTER = "lag-exporter"


def rule_files(folder: Path = RULES) -> list[Path]:
    return sorted(folder.glob("*.yml"))


def with_short_for(files: list[Path], folder: Path, duration: str) -> list[Path]:
    """Copies of the rule files with every alert's `for:` set to `duration` (tests: an alert in seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in files:
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "alert" in rule and "for" in rule:
                    rule["for"] = duration
        copy = folder / path.name
        copy.write_text(yaml.safe_dump(rules, sort_keys=False))
        copies.append(copy)
    return copies


@dataclass
class Monitoring:
    stack: Stack
    scrape_interval: str | None = None
    """None: the interval of infra/prometheus/prometheus.yml."""
    evaluation_interval: str | None = None
    rules: list[Path] = field(default_factory=rule_files)
    exporter_interval: float = 5.0

    @property
    def port(self) -> int:
        return self.stack.port_base + PROMETHEUS_OFFSET

    @property
    def exporter_port(self) -> int:
        return self.stack.port_base + EXPORTER_OFFSET

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def folder(self) -> Path:
        return self.stack.state / "prometheus" / str(self.stack.port_base)

    @staticmethod
    def available() -> bool:
        return shutil.which("prometheus") is not None

    # --- configuration ------------------------------------------------------------------------------------------
    def targets(self) -> dict[str, int]:
        """Every process this Prometheus scrapes, by its `service` label."""
        found = {name: spec.port for name, spec in self.stack.specs().items()}
        return {**found, EXPORTER: self.exporter_port}

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
        config["global"] = dict(config.get("global") or {})
        if self.scrape_interval:
            config["global"]["scrape_interval"] = self.scrape_interval
        if self.evaluation_interval:
            config["global"]["evaluation_interval"] = self.evaluation_interval
        config["rule_files"] = [str(path.resolve()) for path in self.rules]
        jobs = config["scrape_configs"]
        if len(jobs) != 1:
            raise ValueError(f"{CONFIG} should have one scrape job, the processes': it has {len(jobs)}")
        jobs[0]["static_configs"] = [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}} for name, port in self.targets().items()
        ]
        return config

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return path

    # --- processes --------------------------------------------------------------------------------------------------
    def specs(self) -> dict[str, Any]:
        from .stack import ProcessSpec

        config = self.folder / "prometheus.yml"
        return {
            EXPORTER: ProcessSpec(
                EXPORTER,
                [
                    sys.executable,
                    "-m",
                    "ledgerline_cli.lag_exporter",
                    f"--port={self.exporter_port}",
                    f"--bootstrap={self.stack.bootstrap}",
                    f"--interval={self.exporter_interval}",
                ],
                self.exporter_port,
                {"LEDGERLINE_STATE_DIR": str(self.stack.state)},
            ),
            PROMETHEUS: ProcessSpec(
                PROMETHEUS,
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.folder / 'data'}",
                    "--storage.tsdb.retention.time=2d",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    f"--web.external-url={self.url}",
                ],
                self.port,
                {},
            ),
        }

    def start(self, timeout: float = 30.0) -> bool:
        """Starts the lag exporter and Prometheus (or reloads a running one's configuration); False, with a
        message, where Prometheus is not installed."""
        if not self.available():
            print(
                "prometheus: not installed (`bash infra/prometheus/prometheus.sh install`, needs root): "
                "the stack runs without monitoring",
                file=sys.stderr,
            )
            return False
        self.write_config()
        check = subprocess.run(
            ["promtool", "check", "config", str(self.folder / "prometheus.yml")],
            check=False,
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"the rendered Prometheus configuration is invalid:\n{check.stdout}{check.stderr}")
        specs = self.specs()
        reload = self.stack.pid(PROMETHEUS) is not None
        if not reload:  # a new stack, a new history: series of processes long gone would only mislead
            shutil.rmtree(self.folder / "data", ignore_errors=True)
        for name, spec in specs.items():
            self.stack.start(name, spec)
        if reload:
            httpx.post(f"{self.url}/-/reload", timeout=10).raise_for_status()
        self.wait_ready(timeout)
        print(f"prometheus: {self.url} (rules: {RULES.relative_to(REPO)}, alerts: {self.url}/alerts)", file=sys.stderr)
        return True

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as http:
            for name, path in (
                (PROMETHEUS, f"{self.url}/-/ready"),
                (EXPORTER, f"http://127.0.0.1:{self.exporter_port}/metrics"),
            ):
                while True:
                    if self.stack.pid(name) is None:
                        log = self.stack.logfile(name)
                        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                        raise RuntimeError(f"{name} exited while starting; log tail:\n{tail}")
                    try:
                        if http.get(path).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} not ready after {timeout:.0f} s")
                    time.sleep(0.2)

    def stop(self) -> None:
        for name in (PROMETHEUS, EXPORTER):
            self.stack.stop(name)

    def running(self) -> bool:
        return self.stack.pid(PROMETHEUS) is not None

    # --- asking it ----------------------------------------------------------------------------------------------
    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant PromQL query: each result's labels and value."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {promql!r}: {body}")
        return [{"labels": r["metric"], "value": float(r["value"][1])} for r in body["data"]["result"]]

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing now (`/api/v1/alerts`): labels, annotations, state."""
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
        return alerts

    def scraped_since(self, moment: float) -> bool:
        """True once every target was scraped after `moment` (a Unix time)."""
        oldest = self.query('min(timestamp(up{job="ledgerline"}))')
        return bool(oldest) and oldest[0]["value"] >= moment


# --- the demo's closing summary: throughput from Prometheus itself --------------------------------------------------
PROVIDER_TOPIC = r".*factoring\\.([^.]+)\\.(inbound|outbound)\\.v1"


def _since(selector: str, by: str, window: str, wrap: Callable[[str], str] = lambda selector: selector) -> str:
    """How much counters grew over the window, summed by `by` (after `wrap`): now minus then, where a series born
    since counts from zero (`increase` would miss its first value, and most of the demo's series are born during
    it)."""
    now = f"sum by ({by}) ({wrap(selector)})"
    # A process restarted within the window would make it negative (its counters start again): never below zero.
    return f"clamp_min({now} - (sum by ({by}) ({wrap(f'{selector} offset {window}')}) or {now} * 0), 0)"


def _provider(selector: str) -> str:
    return f'label_replace({selector}, "provider", "$1", "topic", "{PROVIDER_TOPIC}")'


def throughput_queries(seconds: int) -> dict[str, str]:
    """The PromQL behind the demo's summary: what grew over the last `seconds`, and per second."""
    seconds = max(seconds, 1)
    window = f"{seconds}s"
    inbound = 'ledgerline_messages_handled_total{topic=~".*factoring\\\\..+\\\\.inbound\\\\.v1"}'
    outbound = 'ledgerline_outbox_published_total{topic=~".*factoring\\\\..+\\\\.outbound\\\\.v1"}'
    handled = _since("ledgerline_messages_handled_total", "service", window)
    events = _since(inbound, "provider", window, _provider)
    return {
        "handled": handled,
        "handled_per_s": f"({handled}) / {seconds}",
        "vouchers": _since("ledgerline_booking_latency_seconds_count", "source", window),
        "provider_in": events,
        "provider_in_per_s": f"({events}) / {seconds}",
        "provider_out": _since(outbound, "provider", window, _provider),
    }


def throughput(monitoring: Monitoring, seconds: int) -> tuple[list[list[str]], list[list[str]]]:
    """Rows per service (messages handled, per second, vouchers posted for it) and per provider (its events
    handled, per second, messages sent to it) over the last `seconds`, each figure read from Prometheus."""
    found = {name: monitoring.query(promql) for name, promql in throughput_queries(seconds).items()}

    def by(name: str, label: str) -> dict[str, float]:
        return {r["labels"].get(label, ""): r["value"] for r in found[name]}

    handled, per_s, vouchers = by("handled", "service"), by("handled_per_s", "service"), by("vouchers", "source")
    services = [
        [name, f"{handled[name]:.0f}", f"{per_s.get(name, 0.0):.2f}", f"{vouchers.get(name, 0.0):.0f}"]
        for name in sorted(handled)
    ]
    events_in, events_per_s, out = (
        by("provider_in", "provider"),
        by("provider_in_per_s", "provider"),
        by("provider_out", "provider"),
    )
    providers = [
        [name, f"{events_in.get(name, 0.0):.0f}", f"{events_per_s.get(name, 0.0):.2f}", f"{out.get(name, 0.0):.0f}"]
        for name in sorted(set(events_in) | set(out))
    ]
    return services, providers
