"""The LlamaIndex LLM: the engine's answers through every method, real async, metadata from the
backend, callback events, clear errors."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate

from parrot_backend.errors import (
    BackendUnavailableError,
    InvalidRequestError,
    NotFoundError,
    ProgramError,
    ReadTimeoutError,
)
from parrot_integrations.llama_index import Parrot


@pytest.fixture(scope="module")
def llm(backend) -> Parrot:
    return Parrot(base_url=backend.url, max_tokens=6, temperature=0, additional_kwargs={"ignore_eos": True})


def engine_text(engine_url: str, prompt: str, tokens: int = 6) -> str:
    body = {"text": prompt, "sampling_params": {"max_new_tokens": tokens, "temperature": 0, "ignore_eos": True}}
    return httpx.post(f"{engine_url}/generate", json=body, timeout=60).json()["text"]


def test_complete_is_the_engine_s_answer_every_way(llm, engine_server) -> None:
    expected = engine_text(engine_server.url, "Parrots eat")
    assert llm.complete("Parrots eat").text == expected
    assert asyncio.run(llm.acomplete("Parrots eat")).text == expected
    streamed = list(llm.stream_complete("Parrots eat"))
    assert len(streamed) > 1 and streamed[-1].text == expected == "".join(r.delta for r in streamed)

    async def astream() -> str:
        return "".join([r.delta async for r in await llm.astream_complete("Parrots eat")])

    assert asyncio.run(astream()) == expected
    usage = llm.complete("Parrots eat").additional_kwargs
    assert usage["completion_tokens"] == 6 and usage["prompt_tokens"] > 0


def test_chat_every_way(llm) -> None:
    messages = [ChatMessage(role="system", content="You are terse."), ChatMessage(role="user", content="Hi")]
    reply = llm.chat(messages)
    assert reply.message.role.value == "assistant" and reply.message.content
    assert asyncio.run(llm.achat(messages)).message.content == reply.message.content
    assert list(llm.stream_chat(messages))[-1].message.content == reply.message.content

    async def astream() -> str:
        return "".join([r.delta async for r in await llm.astream_chat(messages)])

    assert asyncio.run(astream()) == reply.message.content
    # predict fills the template and goes through chat (metadata.is_chat_model)
    prompt = PromptTemplate("Say {word}")
    assert llm.predict(prompt, word="hi") == llm.chat([ChatMessage(role="user", content="Say hi")]).message.content


def test_async_calls_run_concurrently(backend) -> None:
    # CustomLLM's acomplete runs the sync complete: four calls take four times one.
    slow = Parrot(base_url=backend.url, max_tokens=120, temperature=0, additional_kwargs={"ignore_eos": True})
    start = time.perf_counter()
    slow.complete("Go")
    one = time.perf_counter() - start

    async def four() -> list[str]:
        return [r.text for r in await asyncio.gather(*(slow.acomplete("Go") for _ in range(4)))]

    start = time.perf_counter()
    texts = asyncio.run(four())
    assert len(set(texts)) == 1
    assert time.perf_counter() - start < 3 * one  # batched by the engine, not one after another


def test_metadata_comes_from_the_backend(backend, llm) -> None:
    served = {m["id"]: m["max_model_len"] for m in httpx.get(f"{backend.url}/v1/models").json()["data"]}
    assert llm.metadata.context_window == served["parrot"] > 0
    assert llm.metadata.num_output == 6 and llm.metadata.is_chat_model
    assert Parrot(base_url=backend.url, context_window=1000).metadata.context_window == 1000


def test_callback_events(backend) -> None:
    debug = LlamaDebugHandler()
    llm = Parrot(base_url=backend.url, max_tokens=3, callback_manager=CallbackManager([debug]))
    llm.complete("Hello")
    llm.chat([ChatMessage(role="user", content="Hello")])
    pairs = debug.get_event_pairs(CBEventType.LLM)
    assert len(pairs) == 2 and all(len(pair) == 2 for pair in pairs)  # start and end of each call


def test_errors(backend) -> None:
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        Parrot(base_url="http://127.0.0.1:9").complete("hi")
    with pytest.raises(NotFoundError, match="not served here"):
        Parrot(base_url=backend.url, model="gpt-17").chat([ChatMessage(role="user", content="hi")])
    with pytest.raises(ReadTimeoutError, match="did not answer in time"):
        Parrot(base_url=backend.url, max_tokens=400, timeout=0.2, additional_kwargs={"ignore_eos": True}).complete("x")
    with pytest.raises(InvalidRequestError, match="tool"):
        Parrot(base_url=backend.url).chat([ChatMessage(role="tool", content="42")])
    with pytest.raises(ProgramError, match="temperature"):  # the backend's 422 for a bad body
        Parrot(base_url=backend.url, additional_kwargs={"temperature": "hot"}).chat(
            [ChatMessage(role="user", content="hi")]
        )
