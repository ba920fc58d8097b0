"""ABC Factoring's side, runnable: what ABC sends back for each invoice it receives.

Per submission, following the client's script: accepted (or rejected, for `100 − accept_percent` % of
invoices), an advance of `advance_percent` % of the gross amount, sent to the debtor, a fee of `fee_ore`; for
`recourse_percent` % the invoice is handed back and the advance reclaimed; for `late_percent` % a reminder and
an interest note of `interest_note_ore`; then the debtor pays and ABC settles the rest. Event ids are
`<submission>:<sequence>`, so an invoice received twice yields the same events (which the gateway drops).
`duplicate_percent` resends events, `shuffle` sends an invoice's events in random order: both are what real
callbacks do, and the gateway must book each event exactly once anyway. Time is compressed: everything
happens, and is dated, today.

A submission carrying the invoice document's content (lines, KID, …) is checked first (`document_problems`): one
that ABC could not print as a Norwegian invoice is rejected at once, the problems in the rejection's description.
"""

from __future__ import annotations

import random
from datetime import date

from ledgerline_contracts import topics
from ledgerline_contracts.messages import Message
from ledgerline_simulators import invoice_document
from ledgerline_simulators.runtime import Script, Simulator, SimulatorSettings, chance, pause, script_from_env

from . import SLUG
from . import contract as abc

E = abc.AbcEventType


def lifecycle(submission: abc.AbcInvoiceSubmission, script: Script) -> list[abc.AbcInvoiceEvent]:
    """Every event ABC sends for one invoice, in order."""
    key = str(submission.submission_id)
    steps: list[tuple[E, int | None, str | None]] = []
    if problems := document_problems(submission):
        steps.append((E.REJECTED, None, invoice_document.refusal(problems)))
    elif not chance(key, "accept", script.accept_percent):
        steps.append((E.REJECTED, None, "Debtor's credit rating is too low"))
    else:
        gross = submission.amount_ore
        advance = gross * script.advance_percent // 100
        fee = script.fee_ore + int(gross * script.fee_percent_of_gross) // 100
        steps += [
            (E.ACCEPTED, None, None),
            (E.ADVANCE_PAID, advance, None),
            (E.DELIVERED, None, None),
            (E.FEE_CHARGED, fee, "Factoring fee"),
        ]
        if chance(key, "recourse", script.recourse_percent):
            steps.append((E.RECOURSE, advance, "Unpaid after collection: handed back"))
        else:
            interest = 0
            if chance(key, "late", script.late_percent):
                interest = script.interest_note_ore
                steps += [(E.REMINDED, None, None), (E.INTEREST_NOTE_COLLECTED, interest, "Late-payment interest")]
            steps.append((E.DEBTOR_PAID, gross, None))
            if script.settle:
                steps.append((E.SETTLED, gross + interest - advance - fee, None))
    return [
        abc.AbcInvoiceEvent(
            event_id=f"{key}:{sequence}",
            submission_id=submission.submission_id,
            sequence=sequence,
            event_type=kind,
            amount_ore=amount,
            occurred_on=date.today(),
            description=text,
            correlation_id=str(submission.submission_id),
        )
        for sequence, (kind, amount, text) in enumerate(steps, start=1)
    ]


def document_problems(submission: abc.AbcInvoiceSubmission) -> list[str]:
    """Why ABC cannot make the invoice document from a submission that carries its content (none for a submission
    made before it did, which ABC takes as it always has)."""
    if submission.lines is None and submission.kid is None:
        return []
    debtor = submission.debtor
    return invoice_document.problems(
        invoice_document.Document(
            lines=[
                invoice_document.Line(
                    line.description, line.quantity, line.unit_price_ore, line.net_ore, line.vat_percent, line.vat_ore
                )
                for line in submission.lines or []
            ],
            vat_totals=[(t.vat_percent, t.net_ore, t.vat_ore) for t in submission.vat_totals or []],
            net_ore=submission.net_ore,
            vat_ore=submission.vat_ore,
            gross_ore=submission.amount_ore,
            kid=submission.kid,
            kid_scheme=submission.kid_scheme,
            payment_account=submission.payment_account,
            channel=submission.delivery_channel,
            peppol_id=debtor.peppol_id,
            email=debtor.email,
            seller_named=submission.seller is not None and bool(submission.seller.organisation_number),
        ),
        abc.PAYMENT_ACCOUNT,
    )


def delivery_order(events: list[abc.AbcInvoiceEvent], script: Script) -> list[abc.AbcInvoiceEvent]:
    """The order (and repeats) in which the events go out: as they happened, or as a flaky network would."""
    key = str(events[0].submission_id) if events else ""
    out = list(events)
    if script.duplicate_percent:  # a chosen event goes out two or three times, as retried callbacks do
        for event in events:
            if chance(event.event_id, "duplicate", script.duplicate_percent):
                out += [event] * (2 if chance(event.event_id, "third", 50) else 1)
    if script.shuffle:
        random.Random(key).shuffle(out)
    return out


def build(settings: SimulatorSettings | None = None) -> Simulator:
    simulator = Simulator(
        SLUG,
        topics.factoring_outbound(SLUG),
        topics.factoring_inbound(SLUG),
        abc.OUTBOUND,
        settings or SimulatorSettings(service_name="abc-factoring-simulator"),
        script_from_env(),
    )

    async def answer(batch: list[Message]) -> None:
        for message in batch:
            if not isinstance(message, abc.AbcInvoiceSubmission):
                continue  # onboarding, offboarding and credit notes need no answer in this simulation
            script = simulator.scripts.for_client(message.client.client_id)
            if script.mode == "manual":
                continue
            events = delivery_order(lifecycle(message, script), script)
            if script.step_delay_ms:
                for event in events:
                    await pause(script.step_delay_ms)
                    await simulator.send([(event, str(message.submission_id))])
            else:
                await simulator.send([(event, str(message.submission_id)) for event in events])

    simulator.on_batch(answer)
    return simulator


def run() -> None:
    build().run()
