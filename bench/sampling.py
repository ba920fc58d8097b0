"""CPU time and peak RSS of our processes, and CPU time of the Kafka broker's and PostgreSQL's (psutil)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from .harness import STATE


class ProcessSampler:
    """Samples our processes in a background thread (psutil, every `interval` s): peak RSS and CPU time.

    `observe` adds processes we did not start, for CPU time only (read from /proc, never touched): the Kafka
    broker and the PostgreSQL server processes, which share the machine's cores with the services.
    """

    def __init__(
        self,
        pids: Mapping[str, int],
        observe: Mapping[str, Callable[[], list[psutil.Process]]] | None = None,
        interval: float = 0.25,
    ) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._procs["bench harness"] = psutil.Process()
        self._observe = dict(observe or {})
        self._interval = interval
        self.peak_rss: dict[str, int] = dict.fromkeys(self._procs, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        for name, proc in self._procs.items():
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss
                self.peak_rss[name] = max(self.peak_rss[name], rss)

    def observe_pids(self, name: str, pids: Iterable[int]) -> None:
        """Observes (CPU only) a changing set of processes we did not start, e.g. PostgreSQL backends."""
        processes = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                processes.append(psutil.Process(pid))
        self._observe[name] = lambda: processes

    def snapshot(self) -> CpuSnapshot:
        """CPU seconds so far per process (per pid), and the machine's CPU times."""
        per: dict[str, dict[int, float]] = {}
        groups = {name: (lambda proc=proc: [proc]) for name, proc in self._procs.items()} | self._observe
        for name, processes in groups.items():
            per[name] = {}
            with contextlib.suppress(psutil.Error):
                for proc in processes():
                    with contextlib.suppress(psutil.Error):
                        times = proc.cpu_times()
                        per[name][proc.pid] = times.user + times.system
        return CpuSnapshot(time.monotonic(), per, psutil.cpu_times())


@dataclass
class CpuSnapshot:
    at: float
    per_process: dict[str, dict[int, float]]
    machine: Any

    def until(self, later: CpuSnapshot) -> dict[str, Any]:
        """CPU use between two snapshots: seconds and cores used per process; machine busy %."""
        wall = max(later.at - self.at, 1e-9)
        total = sum(later.machine) - sum(self.machine)
        idle = (later.machine.idle + later.machine.iowait) - (self.machine.idle + self.machine.iowait)
        processes = {}
        for name, pids in later.per_process.items():
            earlier = self.per_process.get(name, {})
            used = sum(cpu - earlier.get(pid, 0.0) for pid, cpu in pids.items())
            processes[name] = {"cpu_s": round(used, 2), "cores": round(used / wall, 2)}
        return {
            "wall_s": round(wall, 3),
            "machine_busy_percent": round(100 * (1 - idle / total), 1) if total > 0 else None,
            "processes": processes,
        }


def kafka_broker() -> list[psutil.Process]:
    """The local broker (pid from .state/kafka/kafka.pid), observed for CPU only."""
    path = STATE / "kafka" / "kafka.pid"
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        return [psutil.Process(int(path.read_text().strip()))]
    return []


def postgres_server() -> list[psutil.Process]:
    """Every PostgreSQL server process (postmaster, backends of all clients), observed for CPU only."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def mb(value: int) -> float:
    return round(value / 2**20, 1)
