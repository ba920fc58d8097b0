"""Buffer's side of the contract without a broker: onboarding, the limit rule, the stream and its gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from ledgerline_contracts.financing import CONSENT_TEXTS, FinancingContext
from ledgerline_contracts.messages import Message
from ledgerline_contracts.providers import buffer as b
from ledgerline_simulators.buffer import Buffer, Refusal, credit_limit
from ledgerline_simulators.runtime import Script

TODAY = date(2026, 11, 23)
CLIENT = "c1"


def receivable(reference: str, balance: int, due: date | None = TODAY) -> b.Receivable:
    return b.Receivable(
        invoice_reference=reference, debtor_number=10001, original_ore=balance, balance_ore=balance, due_date=due
    )


class Harness:
    """Buffer with its answers kept in a list instead of a topic."""

    def __init__(self, mode: str = "auto") -> None:
        self.sent: list[Message] = []
        self.buffer = Buffer(self._send, lambda _: Script(mode=mode), today=lambda: TODAY)  # type: ignore[arg-type]
        self.onboarding = uuid4()
        self.sequence = 0

    async def _send(self, answers: list[tuple[Message, str]]) -> None:
        assert all(key == message.client_id for message, key in answers)  # type: ignore[attr-defined]
        self.sent += [message for message, _ in answers]

    def take(self) -> list[Message]:
        sent, self.sent = self.sent, []
        return sent

    async def consent(self, *roles: str) -> b.ConsentGiven:
        message = b.ConsentGiven(
            client_id=CLIENT,
            onboarding_id=self.onboarding,
            company=b.BufferCompany(name="Test AS", organisation_number="999888777"),
            user=b.BufferUser(user_id="u1", name="Ada", roles=list(roles)),
            consent=b.BufferConsent(
                text=CONSENT_TEXTS["en-1"],
                text_version="en-1",
                given_at=datetime.now(UTC),
                context=FinancingContext.OPEN_ITEMS,
            ),
        )
        await self.buffer.handle_batch([message])
        return message

    def snapshot(self, *parts: list[b.Receivable]) -> list[b.ReceivablesSnapshot]:
        snapshot_id = uuid4()
        every = [r for part in parts for r in part]
        messages = []
        for number, part in enumerate(parts, start=1):
            self.sequence += 1
            messages.append(
                b.ReceivablesSnapshot(
                    client_id=CLIENT,
                    onboarding_id=self.onboarding,
                    sequence=self.sequence,
                    snapshot_id=snapshot_id,
                    part=number,
                    parts=len(parts),
                    as_of=datetime.now(UTC),
                    receivables=part,
                    total_count=len(every),
                    total_ore=sum(r.balance_ore for r in every),
                )
            )
        return messages

    def change(
        self, item: b.Receivable, *, skip: int = 0, kind: b.ReceivableChange = b.ReceivableChange.OPENED
    ) -> b.ReceivableChanged:
        self.sequence += 1 + skip
        return b.ReceivableChanged(
            client_id=CLIENT,
            onboarding_id=self.onboarding,
            sequence=self.sequence,
            change=kind,
            receivable=item,
            previous_balance_ore=None,
            cause="test",
        )

    async def onboard(self, *items: b.Receivable) -> None:
        await self.consent("administrator")
        await self.buffer.handle_batch(list(self.snapshot(list(items))))
        self.take()


def of(kind: type[Message], messages: list[Message]) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


def test_the_limit_is_80_percent_of_receivables_at_most_60_days_past_due_in_whole_kroner() -> None:
    receivables = [
        receivable("1", 1_250_055),  # due today
        receivable("2", 500_000, TODAY - timedelta(days=60)),  # 60 days past due: still counts
        receivable("3", 700_000, TODAY - timedelta(days=61)),  # 61 days: does not
        receivable("4", 100_000, None),  # no due date: not past due
        receivable("5", -50_000),  # a credit balance lowers nothing
    ]
    eligible = 1_250_055 + 500_000 + 100_000
    assert credit_limit(receivables, TODAY) == eligible * 80 // 100 // 100 * 100 == 1_480_000


async def test_a_general_manager_is_onboarded_step_by_step_and_offered_a_limit() -> None:
    harness = Harness()
    await harness.consent("general_manager")
    assert [m.step for m in of(b.OnboardingProgressed, harness.take())] == [
        b.OnboardingStep.SIGNED_IN,
        b.OnboardingStep.SIGNING_AUTHORITY_CONFIRMED,
    ]
    await harness.buffer.handle_batch(list(harness.snapshot([receivable("1", 1_000_000)])))
    answers = harness.take()
    assert [type(m).__name__ for m in answers] == [
        "OnboardingProgressed",
        "OnboardingProgressed",
        "CreditLimitChanged",
        "OnboardingProgressed",
    ]
    assert answers[-1].step is b.OnboardingStep.ACCOUNT_OPENED  # type: ignore[attr-defined]
    limit = answers[2]
    assert isinstance(limit, b.CreditLimitChanged)
    assert (limit.limit_ore, limit.used_ore, limit.available_ore, limit.based_on_sequence) == (800_000, 0, 800_000, 1)


async def test_a_user_without_signing_authority_is_refused_and_the_snapshot_is_not_read() -> None:
    harness = Harness()
    await harness.consent("accountant")
    refused = of(b.OnboardingRefused, harness.take())
    assert len(refused) == 1 and refused[0].code is b.RefusalCode.NO_SIGNING_AUTHORITY
    assert "no signing authority" in refused[0].reason
    await harness.buffer.handle_batch(list(harness.snapshot([receivable("1", 1_000_000)])))
    assert harness.take() == []


async def test_each_change_in_order_moves_the_limit() -> None:
    harness = Harness()
    await harness.onboard(receivable("1", 1_000_000))
    await harness.buffer.handle_batch([harness.change(receivable("2", 500_000))])
    await harness.buffer.handle_batch([harness.change(receivable("1", 0))])
    limits = of(b.CreditLimitChanged, harness.take())
    assert [(m.limit_ore, m.based_on_sequence) for m in limits] == [(1_200_000, 2), (400_000, 3)]


async def test_a_receivable_a_factoring_provider_took_over_is_dropped_until_it_comes_back() -> None:
    harness = Harness()
    await harness.onboard(receivable("1", 1_000_000), receivable("2", 1_250_000))
    await harness.buffer.handle_batch([harness.change(receivable("2", 1_250_000), kind=b.ReceivableChange.FACTORED)])
    assert harness.buffer.clients[CLIENT].receivables.keys() == {(10001, "1")}
    await harness.buffer.handle_batch([harness.change(receivable("2", 1_250_000))])  # returned by recourse: opened
    limits = of(b.CreditLimitChanged, harness.take())
    assert [(m.limit_ore, m.based_on_sequence) for m in limits] == [(800_000, 2), (1_800_000, 3)]


async def test_a_repeated_change_changes_nothing() -> None:
    harness = Harness()
    await harness.onboard()
    change = harness.change(receivable("2", 500_000))
    await harness.buffer.handle_batch([change, change])
    assert len(of(b.CreditLimitChanged, harness.take())) == 1


async def test_a_gap_asks_for_one_resnapshot_and_a_snapshot_resyncs() -> None:
    harness = Harness()
    await harness.onboard(receivable("1", 1_000_000))
    await harness.buffer.handle_batch([harness.change(receivable("2", 500_000), skip=1)])
    await harness.buffer.handle_batch([harness.change(receivable("3", 500_000))])
    asked = harness.take()
    assert [type(m) for m in asked] == [b.ResnapshotRequested]  # once, and the later change is ignored
    assert (asked[0].expected_sequence, asked[0].received_sequence) == (2, 3)  # type: ignore[attr-defined]
    await harness.buffer.handle_batch(list(harness.snapshot([receivable("1", 1_000_000), receivable("2", 500_000)])))
    limit = of(b.CreditLimitChanged, harness.take())
    assert [(m.limit_ore, m.based_on_sequence) for m in limit] == [(1_200_000, 5)]


async def test_a_snapshot_in_parts_counts_only_once_complete() -> None:
    harness = Harness()
    await harness.consent("administrator")
    harness.take()
    first, second = harness.snapshot([receivable("1", 1_000_000)], [receivable("2", 1_000_000)])
    await harness.buffer.handle_batch([first])
    assert harness.take() == []
    await harness.buffer.handle_batch([second])
    assert [m.limit_ore for m in of(b.CreditLimitChanged, harness.take())] == [1_600_000]


async def test_a_snapshot_with_a_missing_part_is_asked_for_again_once() -> None:
    harness = Harness()
    await harness.onboard(receivable("1", 1_000_000))
    first, _, third, fourth = harness.snapshot(*([receivable("2", 1)] for _ in range(4)))
    await harness.buffer.handle_batch([first, third, fourth])
    asked = harness.take()
    assert [type(m) for m in asked] == [b.ResnapshotRequested]
    assert (asked[0].expected_sequence, asked[0].received_sequence) == (2, 4)  # type: ignore[attr-defined]
    assert harness.buffer.clients[CLIENT].receivables.keys() == {(10001, "1")}  # the old view stays until replaced


async def test_a_client_forgotten_in_a_restart_is_asked_for_a_snapshot() -> None:
    harness = Harness()
    harness.sequence = 41
    await harness.buffer.handle_batch([harness.change(receivable("1", 100_000))])
    asked = of(b.ResnapshotRequested, harness.take())
    assert len(asked) == 1 and asked[0].onboarding_id == harness.onboarding


async def test_after_withdrawal_nothing_is_read_and_no_money_can_be_drawn() -> None:
    harness = Harness()
    await harness.onboard(receivable("1", 1_000_000))
    await harness.buffer.draw(CLIENT, 300_000)
    withdrawn = b.ConsentWithdrawn(
        client_id=CLIENT,
        onboarding_id=harness.onboarding,
        withdrawn_by="u1",
        withdrawn_at=datetime.now(UTC),
        last_sequence=harness.sequence,
    )
    await harness.buffer.handle_batch([withdrawn])
    harness.take()
    await harness.buffer.handle_batch([harness.change(receivable("2", 500_000))])
    assert harness.take() == []
    assert harness.buffer.clients[CLIENT].used_ore == 300_000  # the debt outlives the data access
    with pytest.raises(Refusal, match="no open Buffer account"):
        await harness.buffer.draw(CLIENT, 1)


async def test_drawdowns_and_repayments_move_used_within_the_limit() -> None:
    harness = Harness()
    await harness.onboard(receivable("1", 1_000_000))
    drawn = await harness.buffer.draw(CLIENT, 300_000)
    assert (drawn["used_ore"], drawn["available_ore"]) == (300_000, 500_000)
    with pytest.raises(Refusal, match="exceeds the available credit"):
        await harness.buffer.draw(CLIENT, 500_001)
    with pytest.raises(Refusal, match="more than the 300000 øre owed"):
        await harness.buffer.repay(CLIENT, 300_001)
    await harness.buffer.repay(CLIENT, 100_000)
    sent = harness.take()
    assert [type(m).__name__ for m in sent] == [
        "DrawdownMade",
        "CreditLimitChanged",
        "RepaymentMade",
        "CreditLimitChanged",
    ]
    assert [m.used_ore for m in of(b.CreditLimitChanged, sent)] == [300_000, 200_000]


async def test_answers_to_the_same_message_carry_the_same_ids_so_a_replay_is_dropped() -> None:
    first, again = Harness(), Harness()
    again.onboarding = first.onboarding
    message = await first.consent("administrator")
    await again.buffer.handle_batch([message])
    assert [m.message_id for m in first.take()] == [m.message_id for m in again.take()]


async def test_manual_mode_keeps_buffer_silent() -> None:
    harness = Harness(mode="manual")
    await harness.consent("administrator")
    assert harness.take() == []
