"""py-spy profiles of our processes (speedscope JSON) and their summary: self, inclusive, per library."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .harness import REPO, RESULTS


class Profiler:
    """py-spy `record` on our processes, in speedscope format (JSON, open at https://www.speedscope.app)."""

    def __init__(self, stamp: str) -> None:
        self._stamp = stamp
        self._runs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self._exe = str(Path(sys.executable).parent / "py-spy")

    def start(self, name: str, pid: int, seconds: int, rate: int = 100, native: bool = False) -> None:
        """Samples `pid` for `seconds`; `native` adds C frames (the garbage collector, syscalls, C extensions)."""
        out = RESULTS / f"profile-{name}{'-native' if native else ''}-{self._stamp}.json"
        command = [
            self._exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(rate),
            "--format",
            "speedscope",
            "--full-filenames",
            "--output",
            str(out),
            *(["--native"] if native else []),
        ]
        self._runs[name] = (
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL),
            out,
        )

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        summaries: dict[str, Any] = {}
        for name, (process, out) in self._runs.items():
            try:
                _, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                _, err = process.communicate(timeout=10)
            if process.returncode != 0 or not out.exists():
                summaries[name] = {"error": (err or b"").decode(errors="replace")[-500:]}
                continue
            summaries[name] = {"file": str(out.relative_to(REPO)), **summarise_speedscope(out)}
        self._runs.clear()
        return summaries

    def kill(self) -> None:
        for process, _ in self._runs.values():
            if process.poll() is None:
                process.terminate()


_SITE = re.compile(r".*/site-packages/")
_SRC = re.compile(r".*/(?:src)/")


def _short(file: str) -> str:
    if "site-packages/" in file:
        return _SITE.sub("", file)
    if "/src/" in file:
        return _SRC.sub("", file)
    if "/lib/python3" in file:
        return "stdlib/" + file.rsplit("/lib/python3", 1)[1].split("/", 1)[-1]
    return file


def _package(file: str) -> str:
    """Which library a frame belongs to: first path component under site-packages or src, stdlib, or native."""
    if ".so" in Path(file).name and "site-packages/" not in file:
        return "native:" + Path(file).name.split(".so", 1)[0]
    short = _short(file)
    if short.startswith("stdlib/"):
        rest = short.removeprefix("stdlib/")
        return "stdlib:" + (rest.split("/", 1)[0].removesuffix(".py") if "/" in rest else rest.removesuffix(".py"))
    first = short.split("/", 1)[0]
    return first.removesuffix(".py") or "?"


PROJECT_PACKAGES = {
    "servicekit",
    "ledger",
    "invoicing",
    "factoring_gateway",
    "financing_gateway",
    "ledgerline_contracts",
    "ledgerline_simulators",
}
PROJECT_ENTRY_FRAMES = ("Service.run", "service_main.<locals>.main", "attach.<locals>.consume")
"""Frames every sample passes through (process entry, consumer wrapper): left out of the project table."""

IDLE_LEAVES = {("wait", "threading.py"), ("get", "queue.py"), ("select", "selectors.py")}
"""Leaf frames of threads that are blocked waiting (e.g. Starlette's idle worker threads), which py-spy may still
count as active on a busy machine; left out of the percentages."""


def summarise_speedscope(path: Path, top: int = 15) -> dict[str, Any]:
    """Top functions by self and by inclusive share of the active samples of the service's main thread (where
    the event loop runs all its work), and the self share per library."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]

    def label(index: int) -> str:  # per function, whatever line of it was running
        frame = frames[index]
        return f"{frame['name']} ({_short(frame.get('file') or '?')})"

    labels = [label(i) for i in range(len(frames))]
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = other_threads = 0.0
    samples = 0
    for profile in data["profiles"]:
        main = "MainThread" in profile.get("name", "")
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            leaf = frames[stack[-1]]
            if (leaf["name"].rsplit(".", 1)[-1], Path(leaf.get("file") or "").name) in IDLE_LEAVES:
                continue
            if not main:
                other_threads += weight
                continue
            samples += 1
            total += weight
            self_counts[labels[stack[-1]]] += weight
            by_package[_package(frames[stack[-1]].get("file") or "?")] += weight
            for name in {labels[i] for i in stack}:
                incl_counts[name] += weight

    def table(counts: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "percent": round(100 * n / total, 1)} for f, n in counts.most_common(top) if total]

    project = Counter(
        {f: n for f, n in incl_counts.items() if f.split(" (", 1)[1].split("/", 1)[0] in PROJECT_PACKAGES}
    )
    for entry in PROJECT_ENTRY_FRAMES:
        for f in [f for f in project if f.startswith(entry + " (")]:
            del project[f]
    return {
        "samples": samples,
        "active_seconds": round(total, 2),
        "other_threads_active_seconds": round(other_threads, 2),
        "self": table(self_counts),
        "inclusive": table(incl_counts),
        "inclusive_project": table(project),
        "self_by_library": [
            {"library": name, "percent": round(100 * n / total, 1)} for name, n in by_package.most_common(top) if total
        ],
    }


def print_profiles(profiles: Mapping[str, Any], rows: int = 8) -> None:
    for name, profile in profiles.items():
        if "error" in profile:
            print(f"  profile {name}: py-spy failed: {profile['error']}")
            continue
        print(
            f"  profile {name}: {profile['file']} ({profile['samples']} samples, "
            f"{profile['active_seconds']} s active on the main thread)"
        )
        print("    self time:")
        for row in profile["self"][:rows]:
            print(f"      {row['percent']:5.1f} %  {row['function']}")
        print("    inclusive, project code:")
        for row in profile["inclusive_project"][:rows]:
            print(f"      {row['percent']:5.1f} %  {row['function']}")
        libraries = ", ".join(f"{r['library']} {r['percent']} %" for r in profile["self_by_library"][:8])
        print(f"    self time by library: {libraries}")
