"""The fast encoders write exactly the bytes the pydantic models write (so no consumer can tell them apart)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerline_contracts import encoders
from ledgerline_contracts.ledger import LEDGER_EVENTS, BookingSource, OpenItemChanged, PostedLine, Side, VoucherPosted

clients = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
# Text as the system takes it: no NUL character (refused on the way in, see `messages._nul_at`).
chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
texts = st.text(chars, max_size=40)
maybe_texts = st.none() | st.text(chars, max_size=20)
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
sources = st.builds(
    BookingSource,
    service=st.text(chars, min_size=1, max_size=20),
    provider=maybe_texts,
    event_type=maybe_texts,
    provider_event_id=maybe_texts,
    invoice_id=st.none() | st.uuids(),
)
lines = st.lists(
    st.tuples(
        st.integers(1, 500),
        st.from_regex(r"[0-9]{4}", fullmatch=True),
        st.integers(1, 10**12).flatmap(lambda n: st.sampled_from([n, -n])),
        st.none() | st.integers(1, 99_999),
        st.none() | st.text(chars, max_size=20),
        st.none() | days,
        st.none() | st.sampled_from(["3", "31", "5"]),
        maybe_texts,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(
    client=clients,
    correlation=maybe_texts,
    voucher=st.uuids(),
    series=st.sampled_from(["SALES", "BANK", "FACTORING"]),
    number=st.integers(1, 10**9),
    day=days,
    text=texts,
    posted=lines,
    source=sources,
    key=st.text(chars, min_size=1, max_size=40),
    reverses=st.none() | st.uuids(),
    message_id=st.uuids(),
    at=moments,
)
def test_voucher_posted(
    client, correlation, voucher, series, number, day, text, posted, source, key, reverses, message_id, at
) -> None:
    model = VoucherPosted(
        client_id=client,
        correlation_id=correlation,
        voucher_id=voucher,
        series=series,
        number=number,
        voucher_date=day,
        text=text,
        lines=[
            PostedLine(
                line_number=n,
                account=a,
                side=Side.DEBIT if x > 0 else Side.CREDIT,
                amount_ore=abs(x),
                party=p,
                open_item=o,
                due_date=d,
                vat_code=v,
                description=ds,
            )
            for n, a, x, p, o, d, v, ds in posted
        ],
        source=source,
        idempotency_key=key,
        reverses_voucher_id=reverses,
        message_id=message_id,
        occurred_at=at,
    )
    fast = encoders.voucher_posted(
        client_id=client,
        correlation_id=correlation,
        voucher_id=voucher,
        series=series,
        number=number,
        voucher_date=day,
        text=text,
        lines=posted,
        source=source,
        idempotency_key=key,
        reverses_voucher_id=reverses,
        message_id=message_id,
        occurred_at=at,
    )
    assert fast == model.to_bytes()
    assert LEDGER_EVENTS.decode(fast) == model


@settings(max_examples=200, deadline=None)
@given(
    client=clients,
    correlation=maybe_texts,
    party=st.integers(1, 99_999),
    item=st.text(chars, min_size=1, max_size=40),
    account=st.from_regex(r"[0-9]{4}", fullmatch=True),
    original=st.integers(-(10**12), 10**12),
    balance=st.integers(-(10**12), 10**12),
    due=st.none() | days,
    voucher=st.uuids(),
    cause=texts,
    service=maybe_texts,
    message_id=st.uuids(),
    at=moments,
)
def test_open_item_changed(
    client, correlation, party, item, account, original, balance, due, voucher, cause, service, message_id, at
) -> None:
    values = dict(
        client_id=client,
        correlation_id=correlation,
        party=party,
        open_item=item,
        account=account,
        original_ore=original,
        balance_ore=balance,
        due_date=due,
        voucher_id=voucher,
        cause=cause,
        source_service=service,
        message_id=message_id,
        occurred_at=at,
    )
    fast = encoders.open_item_changed(**values)
    model = OpenItemChanged(**values)
    assert fast == model.to_bytes()
    assert LEDGER_EVENTS.decode(fast) == model
