"""ParrotLLM: one program per batch, the same answers as one call at a time, streaming, errors."""

from __future__ import annotations

import httpx
import pytest

from parrot_backend.errors import BackendUnavailableError, InvalidRequestError, ProgramError
from parrot_integrations.langchain import ParrotLLM

PROMPTS = ["Parrots eat", "The quick brown fox", "Semantic variables are", "Map steps run"]


def submitted(backend_url: str) -> float:
    for line in httpx.get(f"{backend_url}/metrics").text.splitlines():
        if line.startswith("parrot_programs_submitted_total"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("parrot_programs_submitted_total missing")


def test_batch_is_one_program_with_the_answers_of_single_calls(backend, engine_server) -> None:
    llm = ParrotLLM(base_url=backend.url, max_tokens=6, temperature=0, ignore_eos=True)
    before = submitted(backend.url)
    batched = llm.batch(PROMPTS)
    assert submitted(backend.url) - before == 1  # four prompts, one submission
    singles = [llm.invoke(prompt) for prompt in PROMPTS]
    assert batched == singles
    body = {"text": PROMPTS[0], "sampling_params": {"max_new_tokens": 6, "temperature": 0, "ignore_eos": True}}
    assert batched[0] == httpx.post(f"{engine_server.url}/generate", json=body, timeout=60).json()["text"]


async def test_abatch_and_usage(backend) -> None:
    llm = ParrotLLM(base_url=backend.url, max_tokens=4, temperature=0, ignore_eos=True)
    result = await llm.agenerate(PROMPTS[:2])
    assert [len(g) for g in result.generations] == [1, 1]
    assert result.llm_output["token_usage"]["completion_tokens"] == 8
    assert await llm.abatch(PROMPTS[:2]) == [g[0].text for g in result.generations]


def test_streaming_matches_invoke(backend) -> None:
    llm = ParrotLLM(base_url=backend.url, max_tokens=8, temperature=0, ignore_eos=True)
    chunks = list(llm.stream("Stream this"))
    assert len(chunks) > 1
    assert "".join(chunks) == llm.invoke("Stream this")


def test_errors(backend) -> None:
    with pytest.raises(BackendUnavailableError):
        ParrotLLM(base_url="http://127.0.0.1:9", max_retries=0).invoke("hi")
    with pytest.raises(InvalidRequestError, match="allowed keys"):
        ParrotLLM(base_url=backend.url, frequency_bias=1).invoke("hi")
    with pytest.raises(ProgramError, match="max_new_tokens"):
        ParrotLLM(base_url=backend.url, max_tokens=100_000).invoke("hi")  # over the backend's limit
