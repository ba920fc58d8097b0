"""Runs the whole stack locally as plain processes: broker, database, the four services and the simulators.

`up` starts what is not running and waits until every service answers `/readyz`; `down` stops everything it
started, broker and database included. Pids and logs live in the state folder (default `<repo>/.state`).
Tests use the same class on their own ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from ledgerline_simulators.main import simulators

from . import kafka_security
from .kafka_admin import ensure_topics
from .tokens import keys_dir

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: list[str]
    port: int
    env: dict[str, str]
    migrate: list[str] | None = None


def _secrets(state: Path) -> dict[str, str]:
    path = state / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
    return values


class Stack:
    SERVICES = ("ledger", "invoicing", "factoring-gateway", "financing-gateway")

    @staticmethod
    def simulators() -> tuple[str, ...]:
        """A simulator per installed factoring provider that ships one, and Buffer's."""
        return tuple(f"{name}-simulator" for name in simulators())

    def __init__(
        self,
        state_dir: Path | None = None,
        port_base: int = 8100,
        bootstrap: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        instance: str = "1",
        db_suffix: str = "",
        brokers: int | None = None,
    ) -> None:
        self.state = Path(state_dir or os.environ.get("LEDGERLINE_STATE_DIR") or REPO / ".state")
        self.port_base = port_base
        # How many brokers kafka.sh runs: 1 (port 9092), or a cluster (`make up BROKERS=3`) on ports of its own.
        self.brokers = brokers or int(os.environ.get("LEDGERLINE_KAFKA_BROKERS", "1"))
        self.bootstrap = bootstrap or (self.kafka("bootstrap").strip() if self.brokers > 1 else "127.0.0.1:9092")
        self.extra_env = dict(extra_env or {})
        self.instance = instance
        self.db_suffix = db_suffix
        self.bin = Path(sys.executable).parent

    def sibling(self, offset: int, instance: str, extra_env: Mapping[str, str] | None = None) -> Stack:
        """More instances on other ports that share this stack's broker, topics and databases."""
        return Stack(
            self.state,
            self.port_base + offset,
            self.bootstrap,
            {**self.extra_env, **(extra_env or {})},
            instance,
            self.db_suffix,
            self.brokers,
        )

    def db_name(self, service: str) -> str:
        """The service's database; a suffix gives a stack (a test session, a benchmark) databases of its own."""
        return f"ledgerline_{service.replace('-', '_')}{self.db_suffix}"

    # --- what runs ------------------------------------------------------------------------------------------------
    def specs(self) -> dict[str, ProcessSpec]:
        secrets = _secrets(self.state)
        keys = keys_dir(self.state)
        bootstrap = self.bootstrap  # every broker: a service starts while any one of them answers
        common = {
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

        def service(name: str, prefix: str, offset: int, db_secret: str) -> ProcessSpec:
            env = {
                **common,
                f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                f"{prefix}_HTTP_PORT": str(self.port_base + offset),
                f"{prefix}_INSTANCE_ID": self.instance,
                f"{prefix}_DB_PASSWORD": secrets.get(db_secret, ""),
                f"{prefix}_DB_NAME": self.db_name(name),
                f"{prefix}_DB_SSL": "disable",  # loopback: TLS would only cost CPU
                **kafka_security.service_env(prefix, name, self.state),  # its own Kafka principal
                f"{prefix}_AUTH_PUBLIC_KEYS_DIR": str(keys / "public"),
                f"{prefix}_AUTH_SIGNING_KEY": str(keys / "private" / f"{name}.key"),
            }
            exe = str(self.bin / f"ledgerline-{name}")
            return ProcessSpec(name, [exe, "serve"], self.port_base + offset, env, [exe, "migrate"])

        def simulator(name: str, offset: int) -> ProcessSpec:
            env = {
                **common,
                "SIMULATOR_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "SIMULATOR_HTTP_PORT": str(self.port_base + offset),
                # The provider's principal: it reads only its outbound topic and writes only its inbound topic.
                **kafka_security.service_env("SIMULATOR", name.removesuffix("-simulator"), self.state),
            }
            return ProcessSpec(
                name,
                [str(self.bin / "ledgerline-simulator"), name.removesuffix("-simulator")],
                self.port_base + offset,
                env,
            )

        factoring = [name for name in self.simulators() if name != "buffer-simulator"]
        gateway = service("factoring-gateway", "FACTORING", 3, "LEDGERLINE_PG_FACTORING_GATEWAY_PASSWORD")
        gateway.env["FACTORING_LEDGER_URL"] = f"http://127.0.0.1:{self.port_base + 1}"
        gateway.env["FACTORING_INVOICING_URL"] = f"http://127.0.0.1:{self.port_base + 2}"
        invoicing = service("invoicing", "INVOICING", 2, "LEDGERLINE_PG_INVOICING_PASSWORD")
        invoicing.env["INVOICING_LEDGER_URL"] = f"http://127.0.0.1:{self.port_base + 1}"
        specs = [
            service("ledger", "LEDGER", 1, "LEDGERLINE_PG_LEDGER_PASSWORD"),
            invoicing,
            gateway,
            service("financing-gateway", "FINANCING", 4, "LEDGERLINE_PG_FINANCING_GATEWAY_PASSWORD"),
            simulator("buffer-simulator", 13),
            # Factoring providers' simulators take +11, +12, then +14 onwards (Buffer's keeps +13).
            *(simulator(name, offset) for name, offset in zip(factoring, (11, 12, *range(14, 60)), strict=False)),
        ]
        return {s.name: s for s in specs}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.specs()[name].port}"

    # --- infrastructure -------------------------------------------------------------------------------------------
    def kafka(self, *args: str, brokers: int | None = None) -> str:
        """Runs `infra/kafka/kafka.sh ARGS` for this stack's broker or cluster; returns what it printed."""
        env = {**os.environ, "LEDGERLINE_STATE_DIR": str(self.state), "BROKERS": str(brokers or self.brokers)}
        script = str(REPO / "infra/kafka/kafka.sh")
        return subprocess.run(["bash", script, *args], check=True, env=env, stdout=subprocess.PIPE, text=True).stdout

    @property
    def kafka_state(self) -> Path:
        """The broker's (or cluster's) folder, as kafka.sh lays it out."""
        return self.state / ("kafka-cluster" if self.brokers > 1 else "kafka")

    def infra_up(self) -> None:
        env = {**os.environ, "LEDGERLINE_STATE_DIR": str(self.state)}
        subprocess.run(["bash", str(REPO / "infra/postgres/postgres.sh"), "provision"], check=True, env=env)
        self.kafka("start")
        # Three replicas on a cluster (two of them in sync for a write), one on the single broker.
        replication = int(os.environ.get("LEDGERLINE_TOPIC_REPLICATION", str(min(self.brokers, 3))))
        asyncio.run(ensure_topics(self.bootstrap, replication=replication))
        # Users and ACLs for this topic prefix, from ledgerline_contracts.access (skipped when unchanged).
        print(kafka_security.apply(self.bootstrap, self.state, kafka_state=self.kafka_state), file=sys.stderr)
        if self.db_suffix:
            asyncio.run(self._create_databases())

    async def _create_databases(self) -> None:
        """Databases of this stack's own, each owned by its service's role and closed to everyone else."""
        admin = await asyncpg.connect(
            host="127.0.0.1",
            user="ledgerline_admin",
            database="postgres",
            password=_secrets(self.state)["LEDGERLINE_PG_ADMIN_PASSWORD"],
        )
        try:
            for service in self.SERVICES:
                name, role = self.db_name(service), f"ledgerline_{service.replace('-', '_')}"
                if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await admin.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
                    await admin.execute(f'REVOKE CONNECT ON DATABASE "{name}" FROM PUBLIC')
        finally:
            await admin.close()

    def infra_down(self) -> None:
        env = {**os.environ, "LEDGERLINE_STATE_DIR": str(self.state)}
        # The single broker and kafka.sh's cluster, whichever runs (`make up` or `make up BROKERS=3`).
        for brokers in {1, self.brokers, 3}:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.kafka("stop", brokers=brokers)
        subprocess.run(["bash", str(REPO / "infra/postgres/postgres.sh"), "stop"], check=False, env=env)

    def migrate(self, names: Iterable[str] | None = None) -> None:
        for spec in self.specs().values():
            if spec.migrate and (names is None or spec.name in names):
                subprocess.run(spec.migrate, check=True, env={**os.environ, **spec.env})

    # --- processes ------------------------------------------------------------------------------------------------
    def _pidfile(self, name: str) -> Path:
        return self.state / "pids" / f"{name}-{self.port_base}.pid"

    def logfile(self, name: str) -> Path:
        return self.state / "logs" / f"{name}-{self.port_base}.log"

    def pid(self, name: str) -> int | None:
        path = self._pidfile(name)
        if not path.exists():
            return None
        pid = int(path.read_text())
        if not _alive(pid):
            path.unlink(missing_ok=True)
            return None
        return pid

    def start(self, name: str, spec: ProcessSpec | None = None) -> int:
        """Starts a process of `specs()`, or `spec` (the monitoring's: ledgerline_cli.monitoring)."""
        if (pid := self.pid(name)) is not None:
            return pid
        spec = spec or self.specs()[name]
        (self.state / "pids").mkdir(parents=True, exist_ok=True)
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        log = self.logfile(name).open("ab")
        process = subprocess.Popen(
            spec.command,
            env={**os.environ, **spec.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._pidfile(name).write_text(str(process.pid))
        return process.pid

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kills a process without ceremony (chaos tests): SIGKILL leaves no chance to clean up."""
        if (pid := self.pid(name)) is not None:
            os.kill(pid, sig)
            if sig == signal.SIGKILL:
                _wait_gone(pid, 10)
                self._pidfile(name).unlink(missing_ok=True)

    def stop(self, name: str, timeout: float = 30.0) -> None:
        pid = self.pid(name)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
        self._pidfile(name).unlink(missing_ok=True)

    def wait_ready(self, names: Iterable[str], timeout: float = 60.0) -> dict[str, float]:
        """Waits until each process answers /readyz; returns seconds until each was ready."""
        started = time.monotonic()
        pending = set(names)
        ready_after: dict[str, float] = {}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name in sorted(pending):
                    if self.pid(name) is None:
                        tail = (
                            self.logfile(name).read_text(errors="replace")[-3000:]
                            if self.logfile(name).exists()
                            else ""
                        )
                        raise RuntimeError(f"{name} exited while starting; log tail:\n{tail}")
                    try:
                        if client.get(f"{self.url(name)}/readyz").status_code == 200:
                            pending.discard(name)
                            ready_after[name] = time.monotonic() - started
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() - started > timeout:
                    raise TimeoutError(f"not ready after {timeout:.0f} s: {sorted(pending)}")
                if pending:
                    time.sleep(0.2)
        return ready_after

    def up(self, names: Iterable[str] | None = None, infra: bool = True) -> dict[str, float]:
        names = list(names or (*self.SERVICES, *self.simulators()))
        if infra:
            self.infra_up()
        self.migrate(names)
        for name in names:
            self.start(name)
        ready = self.wait_ready(names)
        if infra:  # the whole stack (`make up`, `make demo`): Prometheus too, where it is installed
            from .monitoring import Monitoring

            Monitoring(self).start()
        return ready

    def down(self, names: Iterable[str] | None = None, infra: bool = True) -> None:
        for name in list(names or (*self.SERVICES, *self.simulators())):
            self.stop(name)
        if infra:
            from .monitoring import Monitoring

            Monitoring(self).stop()
            self.infra_down()

    def running(self) -> dict[str, int]:
        return {name: pid for name in self.specs() if (pid := self.pid(name)) is not None}


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # reap our own exited child first: a zombie answers kill 0
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False
