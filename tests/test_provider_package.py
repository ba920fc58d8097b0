"""A factoring provider is one package: built, installed and run end to end without an edit anywhere else.

The toy provider's package (tests/support/toy_provider) is copied to a temporary folder, built and installed
there with pip, and put on the path of a stack of its own (own topic namespace, own databases): the registry
finds it through its entry point, `ledgerline topics` and the gateway pick up its two topics and its consumer
group, and an invoice goes through it on the real broker and database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledgerline_cli.stack import REPO, Stack
from ledgerline_contracts.providers import factoring_providers
from tests.conftest import TEST_PORT_BASE

pytestmark = pytest.mark.integration

TOY = Path(__file__).parent / "support" / "toy_provider"


def test_the_shipped_providers_are_packages_found_by_their_entry_points() -> None:
    assert list(factoring_providers()) == ["abc-factoring", "fjord-invoice-sale"]
    assert "toy-factoring" not in factoring_providers()


def test_a_toy_provider_installed_as_a_package_runs_an_invoice_end_to_end(infra: Stack, tmp_path: Path) -> None:
    package, site = tmp_path / "toy-factoring", tmp_path / "site"
    shutil.copytree(TOY, package)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
    )
    assert (site / "ledgerline_toy_factoring" / "adapter.py").exists()
    port_base = TEST_PORT_BASE + 300
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "LEDGERLINE_TOPIC_PREFIX": f"toy{port_base}.",
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.support.toy_run", str(port_base)],
        check=False,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=420,
    )
    print(run.stdout)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-4000:]}"
    assert "toy provider: two vouchers booked: the purchase and the payment" in run.stdout
    assert "toy provider: the trial balance balances" in run.stdout
