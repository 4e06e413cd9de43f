"""Engines added and drained at run time, the OpenAI-compatible adapter, the async client, limits."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from parrot_backend.engines.processes import BackendProcess
from parrot_backend.errors import TooManyRequestsError
from parrot_integrations.client import AsyncParrotClient, ParrotClient, ProgramBuilder

GREEDY = {"temperature": 0.0, "ignore_eos": True}


def two_steps() -> ProgramBuilder:
    p = ProgramBuilder()
    p.input("x", "Parrots")
    p.call("About {x}:", output="a", max_new_tokens=5, **GREEDY)
    p.get(p.call("More on {a}", output="b", max_new_tokens=5, **GREEDY))
    return p


def by_hand(engine_url: str, text: str, tokens: int) -> str:
    body = {"text": text, "sampling_params": {"max_new_tokens": tokens, **GREEDY}}
    return httpx.post(f"{engine_url}/generate", json=body, timeout=60).json()["text"]


def test_the_openai_adapter_against_a_real_server(engine_server) -> None:
    # The embedded engine's /v1/completions stands in for any OpenAI-compatible server here.
    with BackendProcess([f"openai:{engine_server.url}"]) as backend, ParrotClient(backend.url) as client:
        engines = httpx.get(f"{backend.url}/v1/engines").json()["engines"]
        assert engines[0]["kind"] == "openai"
        run = client.submit(two_steps())
        a, b = run.get("a"), run.get("b")
        assert a == by_hand(engine_server.url, "About Parrots:", 5)
        assert b == by_hand(engine_server.url, f"More on {a}", 5)
        record = run.status()["calls"][1]
        assert record["completion_tokens"] == 5 and record["prompt_tokens"] > 0


def test_an_engine_is_registered_once_and_listed_with_its_load(backend, engine_server) -> None:
    url = backend.url
    before = httpx.get(f"{url}/v1/engines").json()["engines"]
    duplicate = httpx.post(f"{url}/v1/engines", json={"url": engine_server.url}, timeout=30)
    assert duplicate.status_code == 502 and "already registered" in duplicate.json()["error"]["message"]
    added = httpx.post(f"{url}/v1/engines", json={"url": f"{engine_server.url}/", "kind": "openai"}, timeout=30)
    assert added.status_code == 502  # the same server under another spelling is still the same engine
    engine_id = before[0]["id"]
    described = httpx.get(f"{url}/v1/engines").json()["engines"][0]
    assert {"healthy", "in_flight", "served", "kind", "url"} <= described.keys()
    assert engine_id == described["id"]


def test_the_program_schema_is_in_the_openapi_document(backend) -> None:
    schema = httpx.get(f"{backend.url}/openapi.json").json()
    components = schema["components"]["schemas"]
    assert {"Program", "Call", "SamplingParams"} <= components.keys()
    assert "/v1/programs" in schema["paths"]


async def test_the_async_client(backend, engine_server) -> None:
    async with AsyncParrotClient(backend.url) as client:
        ids = await asyncio.gather(*(client.submit(two_steps()) for _ in range(3)))
        values = [await client.get(program_id, "b") for program_id in ids]
        assert len(set(values)) == 1  # same program, greedy: same answer
        streamed = "".join([delta async for delta in client.stream(ids[0], "a")])
        assert streamed == await client.get(ids[0], "a")
        assert (await client.status(ids[0]))["status"] == "done"


def test_programs_running_per_tenant_are_limited(engine_server) -> None:
    with BackendProcess([engine_server.url], ["--max-programs", "1"]) as backend, ParrotClient(backend.url) as client:
        p = ProgramBuilder()
        p.input("x", "long")
        p.call("Go {x}", output="y", max_new_tokens=1500, **GREEDY)
        first = client.submit(p)
        with pytest.raises(TooManyRequestsError, match="limit is 1"):
            client.submit(p)
        first.cancel()
        assert client.submit(two_steps()).get("b")
