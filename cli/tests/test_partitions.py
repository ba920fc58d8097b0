"""`topics grow`'s decision, without a broker: grow only when both groups have read everything and nothing is being
written; never shrink; the override covers only what Kafka cannot know."""

from __future__ import annotations

from ledgerline_cli.partitions import OVERRIDE, PartitionOffsets, Side, next_steps, plan

IN, OUT = "factoring.abc-factoring.inbound.v1", "factoring.abc-factoring.outbound.v1"


def side(topic: str, offsets: list[tuple[int, int, int | None]], elsewhere: bool = False) -> Side:
    """offsets: (beginning, end, committed) per partition."""
    parts = tuple(PartitionOffsets(p, b, e, c) for p, (b, e, c) in enumerate(offsets))
    reader = "abc-factoring" if elsewhere else "the factoring gateway"
    return Side("outbound" if elsewhere else "inbound", topic, f"group-of-{topic}", reader, parts, elsewhere)


def drained() -> list[Side]:
    return [side(IN, [(0, 10, 10), (0, 0, None)]), side(OUT, [(0, 5, 5), (3, 3, None)], elsewhere=True)]


QUIET = {IN: 0, OUT: 0}


def test_grows_both_topics_when_drained_and_quiet() -> None:
    decided = plan(drained(), 4, QUIET)
    assert decided.refusals == []
    assert decided.grow == {IN: (2, 4), OUT: (2, 4)}


def test_refuses_with_the_numbers_while_a_group_has_unread_records() -> None:
    sides = [side(IN, [(0, 10, 7), (0, 4, None)]), drained()[1]]
    decided = plan(sides, 4, QUIET)
    assert decided.grow == {}
    (reason,) = decided.refusals
    assert "has not read 7 records" in reason and "p0=3, p1=4" in reason and IN in reason


def test_the_override_does_not_cover_known_lag() -> None:
    sides = [side(IN, [(0, 10, 9), (0, 0, None)]), side(OUT, [(0, 5, 2), (0, 0, None)], elsewhere=True)]
    decided = plan(sides, 4, QUIET, i_have_drained=True)
    assert decided.grow == {} and len(decided.refusals) == 2


def test_a_provider_group_without_committed_offsets_needs_the_override() -> None:
    sides = [drained()[0], side(OUT, [(0, 5, None), (0, 2, None)], elsewhere=True)]
    refused = plan(sides, 4, QUIET)
    assert refused.grow == {} and OVERRIDE in refused.refusals[0] and "holds 7 records" in refused.refusals[0]
    assert plan(sides, 4, QUIET, i_have_drained=True).grow == {IN: (2, 4), OUT: (2, 4)}


def test_our_own_group_without_committed_offsets_is_lag_whatever_the_override() -> None:
    sides = [side(IN, [(0, 3, None), (0, 0, None)]), drained()[1]]
    decided = plan(sides, 4, QUIET, i_have_drained=True)
    assert decided.grow == {} and "has not read 3 records" in decided.refusals[0]


def test_refuses_while_anything_is_written() -> None:
    decided = plan(drained(), 4, {IN: 0, OUT: 2}, i_have_drained=True)
    assert decided.grow == {}
    assert "2 records were written to " + OUT in decided.refusals[0]


def test_never_shrinks_and_equal_is_nothing_to_do() -> None:
    shrink = plan(drained(), 1, QUIET)
    assert shrink.grow == {} and "fewer than the 2" in shrink.refusals[0]
    same = plan(drained(), 2, QUIET)
    assert same.refusals == [] and same.grow == {}


def test_finishes_a_half_done_growth() -> None:
    sides = [side(IN, [(0, 0, None)] * 4), side(OUT, [(0, 0, None)] * 2, elsewhere=True)]
    assert plan(sides, 4, QUIET).grow == {OUT: (2, 4)}
    assert plan(sides, 3, QUIET).refusals  # below what the inbound topic already has


def test_records_before_the_log_start_are_not_lag() -> None:
    """Retention may have deleted records a group never read: they are gone, not waiting."""
    assert PartitionOffsets(0, 50, 60, 10).lag == 10
    assert PartitionOffsets(0, 50, 60, None).lag == 10


def test_next_steps_name_the_deployment_and_the_new_maximum() -> None:
    steps = " ".join(next_steps("abc-factoring", 12))
    assert "factoring-gateway-abc-factoring" in steps and "maxReplicaCount to 12" in steps
    assert "restart" in steps
