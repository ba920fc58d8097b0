"""Property: whatever commands arrive, however often and in whatever order, the books stay right.

Runs the ledger's real handler against the real database (no broker: delivery order and redelivery are what
hypothesis varies). For each generated history: every voucher balances, the trial balance is zero, no
idempotency key has two vouchers (or a voucher and a rejection), and voucher numbers are 1..n without gaps per
client and series.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.service_layer.handlers import HANDLERS, consumers
from ledger.settings import LedgerSettings
from ledgerline_cli.stack import Stack, _secrets
from ledgerline_contracts import auth
from ledgerline_contracts import ledger as L
from ledgerline_contracts.messages import Command
from servicekit.consumer import Delivery
from servicekit.db import PostgresUnitOfWork, create_engine
from servicekit.messagebus import Consumer, run_batch
from servicekit.testing import USERS, VERIFIER

pytestmark = pytest.mark.integration

ACCOUNTS = ["1920", "3000", "2700", "7770", "8050", "2960", "1999"]  # 1999 is not in the chart: refused
SERIES = ["GENERAL", "BANK"]


@pytest.fixture(scope="module")
async def handlers(infra: Stack) -> AsyncIterator[tuple[Consumer, AsyncEngine]]:
    settings = LedgerSettings(
        db_name=infra.db_name("ledger"),
        db_pool_size=4,
        db_password=_secrets(infra.state)["LEDGERLINE_PG_LEDGER_PASSWORD"],
    )
    engine = create_engine(settings)
    (consumer,) = consumers()  # one chart cache for the module, as in one ledger process
    yield consumer, engine
    await engine.dispose()


@st.composite
def a_line(draw: st.DrawFn) -> tuple[str, int]:
    return draw(st.sampled_from(ACCOUNTS)), draw(st.integers(min_value=1, max_value=10_000_000))


@st.composite
def a_voucher(draw: st.DrawFn, client: str) -> L.Command:
    key = f"k{draw(st.integers(min_value=0, max_value=12))}"  # a small pool: keys repeat with other content
    debits = draw(st.lists(a_line(), min_size=1, max_size=3))
    total = sum(amount for _, amount in debits)
    balanced = draw(st.booleans()) or draw(st.booleans())
    credit_account = draw(st.sampled_from(ACCOUNTS))
    credit_total = total if balanced else total + draw(st.integers(min_value=1, max_value=100))
    lines = [L.VoucherLine(account=a, side="debit", amount_ore=o) for a, o in debits]
    lines.append(L.VoucherLine(account=credit_account, side="credit", amount_ore=credit_total))
    return L.PostVoucher(
        client_id=client,
        idempotency_key=key,
        voucher_date=date(2026, 11, 23),
        text="p",
        series=draw(st.sampled_from(SERIES)),
        lines=lines,
        source=L.BookingSource(service="prop"),
    )


@st.composite
def a_history(draw: st.DrawFn) -> tuple[str, list[list[Command]]]:
    client = f"prop-{uuid.uuid4().hex[:12]}"
    opening: list[Command] = [
        L.OpenBooks(client_id=client, company_name="Property AS"),
        L.UpsertAccount(client_id=client, number="2960", name="Mellomregning", account_type="liability"),
    ]
    commands = draw(st.lists(a_voucher(client), min_size=1, max_size=25))
    # Redelivery: each command arrives one to three times, in any order, split into batches of any size.
    deliveries = [c for c in commands for _ in range(draw(st.integers(min_value=1, max_value=3)))]
    deliveries = draw(st.permutations(deliveries))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(deliveries)), max_size=5)))
    batches, start = [], 0
    for cut in [*cuts, len(deliveries)]:
        if cut > start:
            batches.append(list(deliveries[start:cut]))
            start = cut
    return client, [opening, *batches]


def as_deliveries(batch: list[Command]) -> list[Delivery]:
    """Records as a platform operator with every privilege sends them (who may send what is tested elsewhere)."""
    headers = {auth.HEADER: f"Bearer {USERS.operator('property-test')}"}
    return [
        Delivery(c, "ledger.commands.v1", 0, i, c.client_id.encode(), c.to_bytes(), headers)
        for i, c in enumerate(batch)
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(history=a_history())
async def test_books_stay_right_under_any_redelivery(
    handlers: tuple[Consumer, AsyncEngine], history: tuple[str, list[list[Command]]]
) -> None:
    consumer, engine = handlers
    client, batches = history
    for batch in batches:
        await run_batch(consumer, HANDLERS, PostgresUnitOfWork(engine), as_deliveries(batch), VERIFIER)
    async with engine.connect() as db:
        unbalanced = (
            await db.execute(
                text(
                    "SELECT v.id FROM vouchers v JOIN voucher_lines l ON l.voucher_id = v.id WHERE v.client_id = :c "
                    "GROUP BY v.id HAVING sum(l.amount_ore) <> 0"
                ),
                {"c": client},
            )
        ).all()
        assert unbalanced == []
        total = (
            await db.execute(
                text("SELECT COALESCE(sum(amount_ore), 0) FROM voucher_lines WHERE client_id = :c"), {"c": client}
            )
        ).scalar()
        assert total == 0
        keys = (
            (
                await db.execute(
                    text(
                        "SELECT idempotency_key FROM vouchers WHERE client_id = :c UNION ALL "
                        "SELECT idempotency_key FROM rejected_bookings WHERE client_id = :c"
                    ),
                    {"c": client},
                )
            )
            .scalars()
            .all()
        )
        assert len(keys) == len(set(keys)), "a key produced two outcomes"
        distinct = {c.idempotency_key for b in batches[1:] for c in b if isinstance(c, L.PostVoucher)}
        assert set(keys) == distinct, "every key has exactly one outcome"
        numbers = (
            await db.execute(
                text(
                    "SELECT series, array_agg(number ORDER BY number) FROM vouchers "
                    "WHERE client_id = :c GROUP BY series"
                ),
                {"c": client},
            )
        ).all()
        for series, got in numbers:
            assert got == list(range(1, len(got) + 1)), f"gap in {series}: {got}"
