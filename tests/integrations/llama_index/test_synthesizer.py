"""Parrot's synthesizers: for every response mode, LlamaIndex's own answer on the drop-in LLM (greedy,
tiny model), in one program submission (one per tree level) instead of a request per call."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core import get_response_synthesizer as llama_synthesizer
from llama_index.core.schema import NodeWithScore, TextNode

from parrot_backend.errors import BackendUnavailableError, CallFailedError, ProgramError
from parrot_integrations.llama_index import Parrot, get_response_synthesizer
from tests.integrations.langchain.test_compile import submitted

QUERY = "What do parrots eat?"
CHUNKS = [
    f"Part {i}: parrots of region {i} eat seeds and fruit, nest in tree holes and live long. " * 3 for i in range(8)
]


def parrot(backend, **settings) -> Parrot:
    defaults = {"max_tokens": 8, "temperature": 0, "additional_kwargs": {"ignore_eos": True}, "context_window": 700}
    return Parrot(base_url=backend.url, **{**defaults, **settings})


def both(backend, llm: Parrot, mode: str, **options):
    """LlamaIndex's answer, and Parrot's with its number of submissions."""
    expected = llama_synthesizer(llm=llm, response_mode=mode, **options).get_response(QUERY, CHUNKS)
    synthesizer = get_response_synthesizer(llm=llm, response_mode=mode, **options)
    before = submitted(backend.url)
    got = synthesizer.get_response(QUERY, CHUNKS)
    return expected, got, submitted(backend.url) - before


@pytest.mark.parametrize(
    "mode", ["tree_summarize", "refine", "compact", "accumulate", "compact_accumulate", "simple_summarize"]
)
def test_each_mode_is_llama_index_s_answer_in_one_program(backend, mode) -> None:
    llm = parrot(backend)
    expected, got, programs = both(backend, llm, mode)
    assert got == expected
    assert programs == 1
    synthesizer = get_response_synthesizer(llm=llm, response_mode=mode, use_async=True)
    assert asyncio.run(synthesizer.aget_response(QUERY, CHUNKS)) == expected


def test_refine_chains_every_step_on_the_backend(backend) -> None:
    llm = parrot(backend)
    synthesizer = get_response_synthesizer(llm=llm, response_mode="refine")
    synthesizer.get_response(QUERY, CHUNKS)
    assert synthesizer.last_programs == 1
    # LlamaIndex's own refine, one request per chunk, reaches the same answer (above); here the
    # refine calls were one program: every step after the first read the answer before it.


def test_a_tree_of_two_levels_is_one_program_per_level(backend) -> None:
    llm = parrot(backend, max_tokens=30, context_window=800)
    chunks = [c * 2 for c in CHUNKS] * 2
    expected = llama_synthesizer(llm=llm, response_mode="tree_summarize", use_async=True).get_response(QUERY, chunks)
    synthesizer = get_response_synthesizer(llm=llm, response_mode="tree_summarize", use_async=True)
    assert synthesizer.get_response(QUERY, chunks) == expected
    assert synthesizer.last_programs == 2  # the leaves, then the root over LlamaIndex's repacking of them


def test_an_estimate_that_fails_reruns_with_real_answers(backend, monkeypatch) -> None:
    from parrot_integrations.llama_index import synthesizer as module

    llm = parrot(backend)
    expected = llama_synthesizer(llm=llm, response_mode="refine").get_response(QUERY, CHUNKS)
    monkeypatch.setattr(module._RepackEstimate, "held", lambda self: False)
    synthesizer = get_response_synthesizer(llm=llm, response_mode="refine")
    before = submitted(backend.url)
    assert synthesizer.get_response(QUERY, CHUNKS) == expected
    runs = submitted(backend.url) - before
    assert synthesizer.last_programs == runs - 1 > 1  # the estimated run, then one program per step


def test_synthesize_gives_a_response_with_its_sources(backend) -> None:
    llm = parrot(backend)
    nodes = [NodeWithScore(node=TextNode(text=text), score=1.0) for text in CHUNKS[:3]]
    own = llama_synthesizer(llm=llm, response_mode="tree_summarize").synthesize(QUERY, nodes)
    response = get_response_synthesizer(llm=llm, response_mode="tree_summarize").synthesize(QUERY, nodes)
    assert response.response == own.response and len(response.source_nodes) == 3


def test_streaming_runs_as_llama_index_runs_it(backend) -> None:
    llm = parrot(backend)
    streamed = get_response_synthesizer(llm=llm, response_mode="compact", streaming=True).get_response(QUERY, CHUNKS)
    expected = llama_synthesizer(llm=llm, response_mode="compact").get_response(QUERY, CHUNKS)
    assert "".join(streamed) == expected


def test_errors(backend) -> None:
    down = Parrot(base_url="http://127.0.0.1:9", context_window=700, max_tokens=8)
    with pytest.raises(BackendUnavailableError):
        get_response_synthesizer(llm=down, response_mode="refine").get_response(QUERY, CHUNKS)
    huge = parrot(backend, context_window=100_000, max_tokens=8)  # the engine's context is far smaller
    simple = get_response_synthesizer(llm=huge, response_mode="simple_summarize")
    with pytest.raises(ProgramError, match="limit"):  # over the backend's program limits: rejected
        simple.get_response(QUERY, CHUNKS * 40)
    with pytest.raises(CallFailedError, match="c0"):  # accepted, but longer than the engine's context
        simple.get_response(QUERY, CHUNKS * 8)
