"""The LangChain examples, run against the backend and embedded engine (tiny model): each gives
what the same chain gives on the drop-in models, in one program where the example compiles."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from langchain_classic.chains.summarize import load_summarize_chain

from parrot_integrations.langchain import ChatParrot, ParrotLLM

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))  # the examples import their shared _common module
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


def args(backend, *extra: str) -> list[str]:
    return ["--base-url", backend.url, "--max-tokens", "6", "--ignore-eos", *extra]


def test_chat_app_streams_and_reuses_the_system_prompt(backend, capsys) -> None:
    turns = load("langchain_chat").main(args(backend))["turns"]
    assert len(turns) == 2 and all(turn["answer"] for turn in turns)
    assert all(turn["usage"]["output_tokens"] == 6 for turn in turns)
    assert turns[1]["usage"]["input_token_details"]["cache_read"] > 0  # the shared system prompt
    assert "> And when are you open on Saturday?" in capsys.readouterr().out


def test_fanout_is_one_program_with_the_chain_s_answer(backend) -> None:
    example = load("langchain_fanout")
    run = example.main(args(backend))
    assert "last run: 1 program(s) submitted" in run["explain"]
    assert "reads v0, v1, v2" in run["explain"]  # the brief reads the three analyses
    chat = ChatParrot(base_url=backend.url, max_tokens=6, temperature=0, ignore_eos=True)
    assert run["result"] == example.build_chain(chat).invoke({"passage": run["result"]["passage"]})


@pytest.mark.parametrize("chain_type", ["map_reduce", "refine"])
def test_summaries_of_a_speech_match_langchain(backend, chain_type) -> None:
    run = load("langchain_summarize").main(args(backend, "--chain-type", chain_type, "--chunks", "3"))
    assert len(run["docs"]) == 3 and run["docs"][0].metadata["speech"] == "1790-Washington-1"
    assert "last run: 1 program(s) submitted" in run["explain"]
    llm = ParrotLLM(base_url=backend.url, max_tokens=6, temperature=0, ignore_eos=True)
    expected = load_summarize_chain(llm, chain_type=chain_type).invoke({"input_documents": run["docs"]})
    assert run["output_text"] == expected["output_text"]
