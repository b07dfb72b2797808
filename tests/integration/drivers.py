"""Run the same scenario through the sync and the async client."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic

import longcall


def client(kind: str, url: str, **wrap_options: Any) -> Any:
    wrap_options.setdefault("journal", None)
    if kind == "sync":
        return longcall.wrap(
            anthropic.Anthropic(base_url=url, api_key="test-key", max_retries=0), **wrap_options
        )
    return longcall.wrap(
        anthropic.AsyncAnthropic(base_url=url, api_key="test-key", max_retries=0), **wrap_options
    )


def create(kind: str, url: str, wrap_options: dict[str, Any] | None = None, **params: Any) -> Any:
    """`messages.create(**params)` through a fresh wrapped client of that kind."""
    if kind == "sync":
        with client(kind, url, **(wrap_options or {})) as wrapped:
            return wrapped.messages.create(**params)

    async def run() -> Any:
        async with client(kind, url, **(wrap_options or {})) as wrapped:
            return await wrapped.messages.create(**params)

    return asyncio.run(run())


def stream_events(kind: str, url: str, **params: Any) -> list[Any]:
    if kind == "sync":
        with client(kind, url) as wrapped:
            return list(wrapped.messages.create(stream=True, **params))

    async def collect() -> list[Any]:
        async with client(kind, url) as wrapped:
            stream = await wrapped.messages.create(stream=True, **params)
            return [event async for event in stream]

    return asyncio.run(collect())


def stream_text(kind: str, url: str, **params: Any) -> tuple[list[str], Any, str]:
    """`messages.stream()`: the text_stream pieces, the final message and the final text."""
    if kind == "sync":
        with client(kind, url) as wrapped, wrapped.messages.stream(**params) as stream:
            pieces = list(stream.text_stream)
            return pieces, stream.get_final_message(), stream.get_final_text()

    async def run() -> tuple[list[str], Any, str]:
        async with client(kind, url) as wrapped, wrapped.messages.stream(**params) as stream:
            pieces = [piece async for piece in stream.text_stream]
            return pieces, await stream.get_final_message(), await stream.get_final_text()

    return asyncio.run(run())


def sent(emulator: Any) -> list[Any]:
    """The Messages API requests the emulator received: not the Models API's questions a wrapped
    client asks first, nor count_tokens."""
    return [r for r in emulator.requests if r.method == "POST" and r.path.split("?")[0] == "/v1/messages"]


def api_requests(emulator: Any) -> list[Any]:
    """The requests the emulator received, less the Models API's questions a wrapped client asks on
    its first call for a model."""
    return [r for r in emulator.requests if not r.path.startswith("/v1/models")]
