"""Summarization as LangChain 1.x users write it, compiled: langchain-classic's load_summarize_chain
(map_reduce with and without the collapse step, refine, stuff) and the LangGraph map-reduce with
Send, each equal to the same code on the drop-in model, in as few submissions as the code allows."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, TypedDict

import pytest
from langchain_classic.chains.summarize import load_summarize_chain
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from parrot_integrations.langchain import ParrotLLM, capture, compile
from parrot_integrations.tracing import DeferredTokenCount
from tests.integrations.langchain.test_compile import submitted

DOCS = [
    Document(page_content=f"Part {i}: parrots of region {i} eat seeds, nest in tree holes and live long.")
    for i in range(6)
]


@pytest.fixture(scope="module")
def llm(backend) -> ParrotLLM:
    return ParrotLLM(base_url=backend.url, max_tokens=8, temperature=0, ignore_eos=True)


def compiled_run(backend, chain, value):
    compiled = compile(chain)
    before = submitted(backend.url)
    result = compiled.invoke(value)
    return result, submitted(backend.url) - before, compiled


@pytest.mark.parametrize(
    ("chain_type", "options", "programs"),
    [
        ("map_reduce", {"token_max": 3000}, 1),  # no collapse can be needed: one program
        ("refine", {}, 1),  # the refine steps chain on the backend
        ("stuff", {}, 1),
        ("map_reduce", {"return_intermediate_steps": True}, 1),
    ],
)
def test_summarize_chains_are_one_program(backend, llm, chain_type, options, programs) -> None:
    chain = load_summarize_chain(llm, chain_type=chain_type, **options)
    expected = chain.invoke({"input_documents": DOCS})
    got, submissions, compiled = compiled_run(backend, chain, {"input_documents": DOCS})
    assert got == expected
    assert submissions == programs, compiled.explain()


def test_map_reduce_with_collapse_matches_langchain(backend, llm) -> None:
    # token_max is so small that the map outputs must be collapsed in groups whose make-up depends
    # on their real lengths: the compiled run reads the map outputs once, then submits the collapse
    # and the reduce together.
    chain = load_summarize_chain(llm, chain_type="map_reduce", token_max=120)
    expected = chain.invoke({"input_documents": DOCS})
    got, submissions, compiled = compiled_run(backend, chain, {"input_documents": DOCS})
    assert got["output_text"] == expected["output_text"]
    assert submissions == 2, compiled.explain()
    assert "program 2" in compiled.explain()


class MapReduceState(TypedDict):
    contents: list[str]
    summaries: Annotated[list, operator.add]
    final_summary: str


def langgraph_map_reduce(llm: ParrotLLM, *, use_async: bool):
    """The map-reduce of LangChain's migration guide (MapReduceDocumentsChain -> LangGraph)."""
    map_chain = PromptTemplate.from_template("Write a concise summary of:\n{content}") | llm | StrOutputParser()
    reduce_chain = PromptTemplate.from_template("Combine these summaries:\n{docs}") | llm | StrOutputParser()

    def fan_out(state: MapReduceState) -> list[Send]:
        return [Send("generate_summary", {"content": content}) for content in state["contents"]]

    if use_async:

        async def generate_summary(state: dict) -> dict:
            return {"summaries": [await map_chain.ainvoke({"content": state["content"]})]}

        async def generate_final_summary(state: MapReduceState) -> dict:
            return {"final_summary": await reduce_chain.ainvoke({"docs": "\n\n".join(state["summaries"])})}
    else:

        def generate_summary(state: dict) -> dict:
            return {"summaries": [map_chain.invoke({"content": state["content"]})]}

        def generate_final_summary(state: MapReduceState) -> dict:
            return {"final_summary": reduce_chain.invoke({"docs": "\n\n".join(state["summaries"])})}

    graph = StateGraph(MapReduceState)
    graph.add_node("generate_summary", generate_summary)
    graph.add_node("generate_final_summary", generate_final_summary)
    graph.add_conditional_edges(START, fan_out, ["generate_summary"])
    graph.add_edge("generate_summary", "generate_final_summary")
    graph.add_edge("generate_final_summary", END)
    return graph.compile()


@pytest.mark.parametrize("use_async", [False, True])
def test_langgraph_send_map_reduce_is_one_program(backend, llm, use_async) -> None:
    app = langgraph_map_reduce(llm, use_async=use_async)
    state = {"contents": [doc.page_content for doc in DOCS]}
    if use_async:
        expected = asyncio.run(app.ainvoke(state))
        before = submitted(backend.url)
        got = asyncio.run(capture(app).ainvoke(state))
    else:
        expected = app.invoke(state)
        before = submitted(backend.url)
        got = capture(app).invoke(state)
    assert submitted(backend.url) - before == 1
    assert got["final_summary"] == expected["final_summary"]
    assert sorted(got["summaries"]) == sorted(expected["summaries"])  # Send order is not fixed


def test_deferred_token_counts_answer_from_bounds_and_check_them() -> None:
    reads = []

    def real() -> int:
        reads.append(1)
        return 50

    count = DeferredTokenCount(low=10, high=60, exact=real)
    assert not count > 100 and count < 61 and count >= 10  # decided by the bounds: nothing read
    assert reads == []
    assert count > 40  # 10..60 against 40: needs the real count
    assert reads == [1] and int(count) == 50 and count.held()
    lying = DeferredTokenCount(low=10, high=20, exact=lambda: 30)  # the real count breaks the bound
    assert not lying > 25
    assert not lying.held()


def test_a_bound_that_did_not_hold_reruns_with_real_counts(backend, llm, monkeypatch) -> None:
    chain = load_summarize_chain(llm, chain_type="map_reduce", token_max=3000)
    expected = chain.invoke({"input_documents": DOCS})
    verdicts = iter([False])  # the first run's estimate is declared wrong, the rerun's are real
    monkeypatch.setattr(DeferredTokenCount, "held", lambda self: next(verdicts, True))
    got, submissions, _ = compiled_run(backend, chain, {"input_documents": DOCS})
    assert got == expected
    assert submissions == 3  # the first run's program, then the map and the reduce on real counts
