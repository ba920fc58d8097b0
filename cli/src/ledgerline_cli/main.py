"""`ledgerline`: the operator command line."""

from __future__ import annotations

import asyncio
import os
import time

import typer
from rich.console import Console
from rich.table import Table

from .kafka_admin import ensure_topics
from .stack import Stack

app = typer.Typer(help="Ledgerline operator tool: drives the system over Kafka and HTTP.", no_args_is_help=True)
stack_app = typer.Typer(help="Run the whole stack locally (broker, database, services, simulators).")
app.add_typer(stack_app, name="stack")
console = Console()


def _stack() -> Stack:
    return Stack(
        port_base=int(os.environ.get("LEDGERLINE_PORT_BASE", "8100")),
        bootstrap=os.environ.get("LEDGERLINE_KAFKA", "127.0.0.1:9092"),
    )


@stack_app.command("up")
def stack_up(only: list[str] = typer.Option(None, "--only", help="Start just these processes.")) -> None:
    """Start broker, database and every service; wait until each answers /readyz."""
    stack = _stack()
    started = time.monotonic()
    ready = stack.up(only or None)
    table = Table("process", "url", "ready after (s)")
    for name, seconds in ready.items():
        table.add_row(name, stack.url(name), f"{seconds:.1f}")
    console.print(table)
    console.print(f"stack up in {time.monotonic() - started:.1f} s (logs: {stack.state / 'logs'})")


@stack_app.command("down")
def stack_down(keep_infra: bool = typer.Option(False, help="Leave Kafka and PostgreSQL running.")) -> None:
    """Stop every process of the stack, broker and database included."""
    _stack().down(infra=not keep_infra)
    console.print("stack down")


@stack_app.command("status")
def stack_status() -> None:
    stack = _stack()
    running = stack.running()
    table = Table("process", "pid", "url")
    for name in stack.specs():
        table.add_row(name, str(running.get(name, "-")), stack.url(name))
    console.print(table)


@app.command("topics")
def topics(bootstrap: str = typer.Option("127.0.0.1:9092")) -> None:
    """Create every topic of the system that does not exist yet."""
    created = asyncio.run(ensure_topics(bootstrap))
    console.print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
