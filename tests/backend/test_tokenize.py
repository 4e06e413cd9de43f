"""``POST /v1/tokenize``: the engine's counts through the backend, clear errors, typed client errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from parrot_backend.engines.processes import BackendProcess, free_port
from parrot_backend.errors import EngineNotReadyError, NotSupportedError
from parrot_integrations.client import AsyncParrotClient, ParrotClient

TEXT = "Shared prompt prefixes are computed once"
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi"}]


def engine_tokens(engine_url: str, body: dict) -> dict:
    return httpx.post(f"{engine_url}/tokenize", json=body, timeout=30).json()


def test_counts_equal_the_engines(backend, engine_server) -> None:
    for body in ({"prompt": TEXT}, {"prompt": [TEXT, "Map steps run"]}, {"messages": MESSAGES},
                 {"prompt": TEXT, "add_special_tokens": False}):  # fmt: skip
        reply = httpx.post(f"{backend.url}/v1/tokenize", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        expected = engine_tokens(engine_server.url, body)
        assert reply.json() == {"tokens": expected["tokens"], "count": expected["count"]}
    chat = httpx.post(f"{backend.url}/v1/tokenize", json={"messages": MESSAGES}, timeout=30).json()
    assert chat["count"] > sum(engine_tokens(engine_server.url, {"prompt": m["content"]})["count"] for m in MESSAGES)


async def test_the_clients(backend, engine_server) -> None:
    expected = engine_tokens(engine_server.url, {"prompt": TEXT})["tokens"]
    assert len(expected) > 3
    with ParrotClient(backend.url) as client:
        assert client.tokenize(TEXT) == expected
    async with AsyncParrotClient(backend.url) as aclient:
        assert await aclient.tokenize(TEXT) == expected


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "exactly one of prompt"),
        ({"prompt": TEXT, "messages": MESSAGES}, "exactly one of prompt"),
        ({"prompt": 42}, "prompt"),
        ({"messages": [{"role": "user"}], "add_special_tokens": 1}, "add_special_tokens"),
        ({"messages": []}, "messages: List should have at least 1 item"),
    ],
)
def test_bad_bodies_get_a_422_and_the_backend_keeps_serving(backend, body, words) -> None:
    reply = httpx.post(f"{backend.url}/v1/tokenize", json=body, timeout=30)
    assert reply.status_code == 422, reply.text
    assert words in reply.json()["error"]["message"]
    assert httpx.post(f"{backend.url}/v1/tokenize", json={"prompt": TEXT}, timeout=30).json()["count"] > 0


def test_api_keys_are_required(engine_server) -> None:
    with BackendProcess([engine_server.url], ["--api-key", "k1=alice"]) as backend:
        refused = httpx.post(f"{backend.url}/v1/tokenize", json={"prompt": TEXT}, timeout=30)
        assert refused.status_code == 401
        with ParrotClient(backend.url, api_key="k1") as client:
            assert client.tokenize(TEXT) == engine_tokens(engine_server.url, {"prompt": TEXT})["tokens"]


@contextmanager
def server_without_tokenize() -> Iterator[str]:
    """An OpenAI-style server with no ``/tokenize`` (as hosted APIs): it only lists its model."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "stub", "object": "model"}]}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_an_engine_without_the_route_is_a_501_and_no_engine_a_503() -> None:
    with server_without_tokenize() as url, BackendProcess([f"openai:{url}"]) as backend:
        reply = httpx.post(f"{backend.url}/v1/tokenize", json={"prompt": TEXT}, timeout=30)
        assert reply.status_code == 501, reply.text
        assert f"the engine at {url} cannot tokenize" in reply.json()["error"]["message"]
        with ParrotClient(backend.url) as client:
            with pytest.raises(NotSupportedError, match="cannot tokenize"):
                client.tokenize(TEXT)
            (engine,) = httpx.get(f"{backend.url}/v1/engines").json()["engines"]
            assert httpx.delete(f"{backend.url}/v1/engines/{engine['id']}", timeout=30).status_code == 200
            with pytest.raises(EngineNotReadyError, match="no healthy engine to tokenize with"):
                client.tokenize(TEXT)
