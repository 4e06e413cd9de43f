"""The LlamaIndex examples against the backend and embedded engine (tiny model): the same answers as
LlamaIndex's own query engine and an undecorated workflow step, in one program per tree level / step."""

from __future__ import annotations

import asyncio

import llama_index.core
from llama_index.core import Settings

from tests.examples.test_langchain_examples import args, load
from tests.integrations.langchain.test_compile import submitted


def test_workflow_step_is_one_program_with_the_drop_in_answer(backend) -> None:
    example = load("llama_index_workflow")
    before = submitted(backend.url)
    run = example.main(args(backend, "--chunks", "3"))
    assert submitted(backend.url) - before == 1  # three summaries and their combination
    workflow = example.SummarizeSpeech(llm=run["llm"], timeout=600)
    assert asyncio.run(workflow.map_reduce(run["chunks"])) == run["summary"]  # the same calls, one by one


def test_rag_answers_are_llama_index_s(backend, monkeypatch) -> None:
    for name in ("_llm", "_embed_model"):  # the example sets LlamaIndex's globals
        monkeypatch.setattr(Settings, name, getattr(Settings, name))
    monkeypatch.setattr(llama_index.core, "global_tokenizer", llama_index.core.global_tokenizer)
    run = load("llama_index_rag").main(args(backend))
    assert Settings.tokenizer == run["llm"].tokenize
    own = run["index"].as_query_engine(
        llm=run["llm"], response_mode="tree_summarize", use_async=True, similarity_top_k=run["top_k"]
    )
    for answer in run["answers"]:
        assert len(answer["sources"]) == run["top_k"]
        assert {node.node.metadata["speech"] for node in answer["sources"]} <= {
            "1790-Washington-1", "1801-Jefferson-1", "1861-Lincoln-1"
        }  # fmt: skip
        assert answer["answer"] == str(own.query(answer["question"]))
