"""Report arithmetic on postings, without I/O: aged receivables buckets."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

AGE_BUCKETS = ("not_due", "1_30", "31_60", "61_90", "over_90")


def age_bucket(due_date: date | None, as_of: date) -> str:
    if due_date is None or as_of <= due_date:
        return "not_due"
    days = (as_of - due_date).days
    if days <= 30:
        return "1_30"
    if days <= 60:
        return "31_60"
    if days <= 90:
        return "61_90"
    return "over_90"


@dataclass(frozen=True, slots=True)
class OpenItem:
    party: int
    open_item: str
    original_ore: int
    balance_ore: int
    due_date: date | None


def aged_receivables(items: list[OpenItem], as_of: date) -> dict[str, object]:
    """Open items bucketed by days past due, per party and in total; every item is listed with its bucket, so a
    report can show what lies behind a party's figures (and join e.g. an invoice's factoring status onto it)."""
    totals = dict.fromkeys(AGE_BUCKETS, 0)
    per_party: dict[int, dict[str, int]] = {}
    listed: list[dict[str, object]] = []
    for item in items:
        bucket = age_bucket(item.due_date, as_of)
        listed.append({**asdict(item), "bucket": bucket})
        totals[bucket] += item.balance_ore
        party = per_party.setdefault(item.party, dict.fromkeys(AGE_BUCKETS, 0))
        party[bucket] += item.balance_ore
    return {
        "as_of": as_of.isoformat(),
        "buckets": list(AGE_BUCKETS),
        "total_ore": totals,
        "parties": [
            {"party": p, **buckets, "total_ore": sum(buckets.values())} for p, buckets in sorted(per_party.items())
        ],
        "items": listed,
    }
