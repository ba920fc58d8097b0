"""docs/asyncapi/ holds what the code declares now: every service's AsyncAPI document and an index naming every
provider's channels. Regenerate with `make asyncapi`."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from ledgerline_cli import asyncapi_docs
from ledgerline_contracts import topics

README = asyncapi_docs.DOCS / "README.md"


def _documented(topic: topics.Topic) -> str:
    """A topic's name as the documents give it: without this deployment's (or test session's) namespace prefix."""
    return topic.name.removeprefix(topics.PREFIX)


def _first_differences(expected: str, actual: str, limit: int = 40) -> str:
    diff = difflib.unified_diff(actual.splitlines(), expected.splitlines(), "checked in", "generated", lineterm="")
    return "\n".join(list(diff)[:limit])


@pytest.mark.parametrize("service", list(asyncapi_docs.SERVICES))
def test_the_checked_in_document_is_what_the_code_generates(service: str) -> None:
    path = asyncapi_docs.path_of(service)
    assert path.exists(), f"{path} is missing: run `make asyncapi` and commit the result"
    checked_in, generated = path.read_text(), asyncapi_docs.render(service)
    same = checked_in == generated  # not compared inline: pytest would print two 100 kB strings
    assert same, (
        f"{path.name} is out of date: run `make asyncapi` and commit the result\n"
        f"{_first_differences(generated, checked_in)}"
    )


def test_check_names_the_document_that_differs_and_write_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncapi_docs.write(tmp_path)
    assert asyncapi_docs.main(["check", "--dir", str(tmp_path)]) == 0
    ledger = asyncapi_docs.path_of("ledger", tmp_path)
    ledger.write_text(ledger.read_text().replace('"ledger.events.v1"', '"ledger.events.v2"'))
    asyncapi_docs.path_of("invoicing", tmp_path).unlink()
    assert asyncapi_docs.main(["check", "--dir", str(tmp_path)]) == 1
    assert "out of date: ledger, invoicing; run `make asyncapi`" in capsys.readouterr().err
    assert asyncapi_docs.main(["write", "--dir", str(tmp_path)]) == 0
    assert asyncapi_docs.stale(tmp_path) == []


def test_the_index_names_every_document_and_every_providers_channels() -> None:
    index = README.read_text()
    for service in asyncapi_docs.SERVICES:
        assert f"({service}.json)" in index, f"README.md does not link {service}.json"
    provider_topics = [
        topics.TOPIC_BUFFER_OUTBOUND,
        topics.TOPIC_BUFFER_INBOUND,
        topics.dead_letters(topics.GROUP_FINANCING_BUFFER),
    ]
    for slug in topics.factoring_providers():
        provider_topics += [
            topics.factoring_outbound(slug),
            topics.factoring_inbound(slug),
            topics.dead_letters(topics.group_for_provider(slug)),
        ]
    for topic in map(_documented, provider_topics):
        assert f"`{topic}`" in index, f"README.md does not tell providers about {topic}"


def test_each_provider_topic_is_a_channel_of_its_gateways_document() -> None:
    """What the index promises a provider is in the generated document, in the direction it says."""
    channels = {
        "factoring-gateway": set(asyncapi_docs.document("factoring-gateway")["channels"]),
        "financing-gateway": set(asyncapi_docs.document("financing-gateway")["channels"]),
    }
    for slug in topics.factoring_providers():
        assert f"{_documented(topics.factoring_outbound(slug))}:send" in channels["factoring-gateway"]
        assert f"{_documented(topics.factoring_inbound(slug))}:receive" in channels["factoring-gateway"]
        dead_letters = topics.dead_letters(topics.group_for_provider(slug))
        assert f"{_documented(dead_letters)}:send" in channels["factoring-gateway"]
    assert f"{_documented(topics.TOPIC_BUFFER_OUTBOUND)}:send" in channels["financing-gateway"]
    assert f"{_documented(topics.TOPIC_BUFFER_INBOUND)}:receive" in channels["financing-gateway"]
