"""Small helpers for reading the services' HTTP queries in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from ledgerline_cli.tokens import local_issuer


def user_headers(url: str, user: str = "admin") -> dict[str, str]:
    """A bearer token of `user` of the client the URL names (`.../clients/<id>/...`), from the local issuer."""
    if "/clients/" not in url:
        return {}
    client_id = url.split("/clients/", 1)[1].split("/", maxsplit=1)[0]
    return {"authorization": f"Bearer {local_issuer().user(client_id, user)}"}


async def get_json(url: str, **params: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url, params=params, headers=user_headers(url))
        response.raise_for_status()
        return response.json()


async def eventually(probe: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Calls the async `probe` until it returns something truthy (or raises AssertionError no more)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            result = await probe()
            if result:
                return result
        except (AssertionError, httpx.HTTPError) as error:
            last = error
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout:.0f} s; last: {last!r}")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total
