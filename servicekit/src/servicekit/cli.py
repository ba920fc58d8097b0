"""The console entry point every service has: `serve` (default), `migrate`, `asyncapi`, `revision`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from .migrations import revision, upgrade
from .settings import ServiceSettings

if TYPE_CHECKING:
    from .service import Service


def service_main(
    name: str, settings_type: type[ServiceSettings], build: Callable[[ServiceSettings], Service], migrations: str
) -> Callable[[], None]:
    def main() -> None:
        parser = argparse.ArgumentParser(prog=f"ledgerline-{name}", description=f"Ledgerline {name} service")
        sub = parser.add_subparsers(dest="command")
        sub.add_parser("serve", help="run the service (default)")
        sub.add_parser("migrate", help="bring the service's database schema to the newest migration")
        sub.add_parser("asyncapi", help="print the service's AsyncAPI document (JSON)")
        rev = sub.add_parser("revision", help="autogenerate a migration from the table definitions")
        rev.add_argument("-m", "--message", required=True)
        args = parser.parse_args()
        settings = settings_type()
        if args.command == "migrate":
            upgrade(migrations, settings)
        elif args.command == "revision":
            revision(migrations, settings, args.message)
        elif args.command == "asyncapi":
            sys.stdout.write(orjson.dumps(build(settings).asyncapi(), option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            build(settings).run()

    return main
