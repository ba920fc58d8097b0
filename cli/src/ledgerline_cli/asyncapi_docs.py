"""The AsyncAPI documents in docs/asyncapi/, generated from each service's own declarations.

`python -m ledgerline_cli.asyncapi_docs write` regenerates them (`make asyncapi`); `check` exits 1 and names
every document that differs from what the code declares now, so a contract change cannot land undocumented.

Each document is `build(settings).asyncapi()` of the service's entrypoints, with the settings the code ships with
(never this shell's environment, which could change servers or the providers served), written with sorted keys:
the same code always gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from .stack import REPO

DOCS = REPO / "docs" / "asyncapi"

SERVICES: dict[str, tuple[str, str]] = {
    "ledger": ("ledger.entrypoints.app", "ledger.settings:LedgerSettings"),
    "invoicing": ("invoicing.entrypoints.app", "invoicing.settings:InvoicingSettings"),
    "factoring-gateway": ("factoring_gateway.entrypoints.app", "factoring_gateway.settings:FactoringGatewaySettings"),
    "financing-gateway": ("financing_gateway.entrypoints.app", "financing_gateway.settings:FinancingGatewaySettings"),
}
"""Service name (and document name) -> the module with its `build`, and its settings class."""


def document(service: str) -> dict[str, Any]:
    app_module, settings_path = SERVICES[service]
    settings_module, settings_class = settings_path.split(":")
    defaults = getattr(import_module(settings_module), settings_class).model_construct()
    return import_module(app_module).build(defaults).asyncapi()  # type: ignore[no-any-return]


def render(service: str) -> str:
    return json.dumps(document(service), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def path_of(service: str, directory: Path = DOCS) -> Path:
    return directory / f"{service}.json"


def write(directory: Path = DOCS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for service in SERVICES:
        path = path_of(service, directory)
        path.write_text(render(service))
        written.append(path)
    return written


def stale(directory: Path = DOCS) -> list[str]:
    """The documents that are missing or differ from what the code generates now."""
    return [
        service
        for service in SERVICES
        if not path_of(service, directory).exists() or path_of(service, directory).read_text() != render(service)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledgerline_cli.asyncapi_docs", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("--dir", type=Path, default=DOCS, help=f"where the documents live (default {DOCS})")
    args = parser.parse_args(argv)
    if args.action == "write":
        for path in write(args.dir):
            print(f"wrote {path}")
        return 0
    if outdated := stale(args.dir):
        print(f"out of date: {', '.join(outdated)}; run `make asyncapi` and commit the result", file=sys.stderr)
        return 1
    print(f"{len(SERVICES)} AsyncAPI documents match the code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
