"""compile(): every supported chain shape returns what the chain returns with the drop-in models
(one request at a time, greedy, tiny model), in one program submission; unsupported nodes split the
chain and run in the client with the right answer; errors are clear."""

from __future__ import annotations

import asyncio
import json
import logging
from operator import itemgetter

import httpx
import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

from parrot_backend.errors import (
    BackendUnavailableError,
    CallFailedError,
    NotFoundError,
    ProgramError,
    ReadTimeoutError,
)
from parrot_integrations.langchain import ChatParrot, CompileError, ParrotLLM, compile, text_only


def submitted(backend_url: str) -> float:
    for line in httpx.get(f"{backend_url}/metrics").text.splitlines():
        if line.startswith("parrot_programs_submitted_total"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("parrot_programs_submitted_total missing")


@pytest.fixture(scope="module")
def chat(backend) -> ChatParrot:
    return ChatParrot(base_url=backend.url, max_tokens=6, temperature=0, ignore_eos=True)


@pytest.fixture(scope="module")
def llm(backend) -> ParrotLLM:
    return ParrotLLM(base_url=backend.url, max_tokens=6, temperature=0, ignore_eos=True)


def run_both(backend, chain, value, *, programs: int = 1):
    """The chain's own result and the compiled one, asserting the compiled run's submissions."""
    expected = chain.invoke(value)
    compiled = compile(chain)
    before = submitted(backend.url)
    got = compiled.invoke(value)
    assert submitted(backend.url) - before == programs, compiled.explain()
    return expected, got, compiled


def shapes(chat: ChatParrot, llm: ParrotLLM) -> dict[str, tuple[object, object]]:
    facts = ChatPromptTemplate([("system", "You list facts."), ("human", "Facts about {topic}")]) | chat
    summary = PromptTemplate.from_template("Summary of {facts} for {audience}:") | llm
    per_item = PromptTemplate.from_template("One word for {item}:") | llm | StrOutputParser()
    return {
        "prompt | llm": (PromptTemplate.from_template("Say {x}") | llm, {"x": "hello"}),
        "single-variable prompt given a bare string": (PromptTemplate.from_template("Echo {x}") | llm, "bare"),
        "chat prompt | chat | parser": (facts | StrOutputParser(), {"topic": "parrots"}),
        "chained calls through assign and a dict literal": (
            RunnablePassthrough.assign(facts=facts | StrOutputParser())
            | {"summary": summary, "facts": itemgetter("facts"), "same": RunnablePassthrough().pick("topic")},
            {"topic": "owls", "audience": "kids"},
        ),
        "parallel fan-out, then a reduce": (
            RunnableParallel(a=per_item, b=PromptTemplate.from_template("Two words for {item}:") | llm)
            | PromptTemplate.from_template("Merge {a} and {b}:")
            | chat.bind(stop=["\n"])
            | StrOutputParser(),
            {"item": "feathers"},
        ),
        "map over a list, joined by text_only, reduced": (
            {"words": itemgetter("items") | per_item.map()}
            | text_only(lambda d: {"all": "; ".join(d["words"])})
            | PromptTemplate.from_template("Sentence with {all}:")
            | llm,
            {"items": ["sun", "moon", "star"]},
        ),
        "messages placeholder and partial variables": (
            ChatPromptTemplate(
                [("system", "You are {persona}."), MessagesPlaceholder("history"), ("human", "{question}")]
            ).partial(persona="a parrot")
            | chat
            | StrOutputParser(),
            {"history": [("human", "hi"), ("ai", "hello")], "question": "and now?"},
        ),
        "with_config and with per-call kwargs on the model": (
            (PromptTemplate.from_template("Cfg {x}") | llm.bind(max_tokens=3)).with_config(run_name="cfg"),
            {"x": "y"},
        ),
    }


@pytest.mark.parametrize(
    "shape",
    [
        "prompt | llm",
        "single-variable prompt given a bare string",
        "chat prompt | chat | parser",
        "chained calls through assign and a dict literal",
        "parallel fan-out, then a reduce",
        "map over a list, joined by text_only, reduced",
        "messages placeholder and partial variables",
        "with_config and with per-call kwargs on the model",
    ],
)
def test_each_supported_shape_is_one_program_with_the_same_answer(backend, chat, llm, shape) -> None:
    chain, value = shapes(chat, llm)[shape]
    expected, got, compiled = run_both(backend, chain, value)
    assert got == expected
    assert "runs in the client" not in compiled.explain()


def test_chained_calls_read_each_other_on_the_backend(backend, chat, llm) -> None:
    chain, value = shapes(chat, llm)["chained calls through assign and a dict literal"]
    compiled = compile(chain)
    compiled.invoke(value)
    report = compiled.explain()
    assert "last run: 1 program(s) submitted" in report
    assert "c1 -> v1 reads v0" in report  # the summary call reads the facts call's variable


def test_a_chat_model_at_the_end_returns_its_message_with_usage(backend, chat) -> None:
    chain = ChatPromptTemplate([("human", "Tell me about {x}")]) | chat
    expected, got, _ = run_both(backend, chain, {"x": "macaws"})
    assert isinstance(got, AIMessage)
    assert got.content == expected.content
    assert got.usage_metadata["output_tokens"] == expected.usage_metadata["output_tokens"] == 6
    assert got.usage_metadata["input_tokens"] == expected.usage_metadata["input_tokens"]
    assert got.response_metadata == expected.response_metadata


def test_batch_inputs_share_one_program(backend, chat, llm) -> None:
    chain, _ = shapes(chat, llm)["chained calls through assign and a dict literal"]
    inputs = [{"topic": topic, "audience": "adults"} for topic in ("kea", "kaka", "kakapo")]
    expected = chain.batch(inputs)
    compiled = compile(chain)
    before = submitted(backend.url)
    assert compiled.batch(inputs) == expected
    assert submitted(backend.url) - before == 1
    before = submitted(backend.url)
    assert asyncio.run(compiled.abatch(inputs)) == expected
    assert asyncio.run(compiled.ainvoke(inputs[0])) == expected[0]
    assert submitted(backend.url) - before == 2


def test_an_unsupported_node_splits_the_chain_and_still_gives_the_answer(backend, chat, llm, caplog) -> None:
    facts = ChatPromptTemplate([("human", "Facts about {topic}")]) | chat | StrOutputParser()
    shout = RunnableLambda(lambda text: {"loud": text.upper()[:12]}, name="shout")
    chain = facts | shout | PromptTemplate.from_template("Repeat {loud}") | llm
    with caplog.at_level(logging.WARNING, logger="parrot_integrations.langchain.compiler"):
        expected, got, compiled = run_both(backend, chain, {"topic": "parrots"}, programs=2)
        compiled.invoke({"topic": "macaws"})
    assert got == expected
    report = compiled.explain()
    assert "RunnableLambda 'shout': runs in the client (a Python function" in report
    assert "split at RunnableLambda 'shout'" in report
    assert sum("shout" in record.getMessage() for record in caplog.records) == 1  # logged once


def test_a_json_parser_feeding_a_prompt_runs_in_the_client(backend, llm) -> None:
    as_json = RunnableLambda(lambda text: json.dumps({"word": text.strip()[:4]}))
    chain = (
        PromptTemplate.from_template("Word for {x}:")
        | llm
        | as_json
        | JsonOutputParser()
        | PromptTemplate.from_template("Use {word}:")
        | llm
    )
    expected, got, compiled = run_both(backend, chain, {"x": "sky"}, programs=2)
    assert got == expected
    assert "JsonOutputParser: runs in the client" in compiled.explain()


def test_a_field_that_transforms_its_value_reads_the_real_value(backend, llm) -> None:
    chain = {"w": PromptTemplate.from_template("Say {x}") | llm} | PromptTemplate.from_template("Got {w!r}") | llm
    expected, got, compiled = run_both(backend, chain, {"x": "it"}, programs=2)
    assert got == expected
    assert "not a plain f-string" in compiled.explain()


def test_errors_are_clear(backend, llm) -> None:
    with pytest.raises(BackendUnavailableError, match="cannot reach the Parrot backend"):
        compile(PromptTemplate.from_template("Hi {x}") | ParrotLLM(base_url="http://127.0.0.1:9")).invoke({"x": 1})
    with pytest.raises(ProgramError, match="max_new_tokens"):  # the backend rejects the program
        compile(PromptTemplate.from_template("Hi {x}") | llm.bind(max_tokens=100_000)).invoke({"x": 1})
    with pytest.raises(NotFoundError, match="not served here"):
        ChatParrot(base_url=backend.url, model="gpt-17").invoke("hi")
    with pytest.raises(NotFoundError, match="'gpt-17' is not served here"):
        ParrotLLM(base_url=backend.url, model="gpt-17").invoke("hi")
    with pytest.raises(NotFoundError, match="'gpt-17' is not served here"):
        compile(PromptTemplate.from_template("Hi {x}") | ParrotLLM(base_url=backend.url, model="gpt-17")).invoke(
            {"x": 1}
        )
    slow = ParrotLLM(base_url=backend.url, max_tokens=400, ignore_eos=True, timeout=0.2)
    with pytest.raises(ReadTimeoutError, match="did not answer in time"):
        compile(PromptTemplate.from_template("Go {x}") | slow).invoke({"x": 1})
    # An engine-side failure of a call surfaces as the call's error, naming it.
    with pytest.raises(CallFailedError, match="c0"):  # longer than the engine's context
        compile(PromptTemplate.from_template("{x}") | llm.bind(max_tokens=8)).invoke({"x": "word " * 3000})
    cached = ParrotLLM(base_url=backend.url, max_tokens=2, cache=InMemoryCache())
    with pytest.raises(CompileError, match="LLM cache is on"):
        compile(PromptTemplate.from_template("Hi {x}") | cached).invoke({"x": 1})
    # A chain that keeps an output from one run and feeds it to another is refused, not garbled.
    compiled = compile(PromptTemplate.from_template("Say {x}") | llm)
    leaked: list[str] = []
    keeper = RunnableLambda(lambda v: leaked.append(v) or v)
    compile(PromptTemplate.from_template("Say {x}") | llm | text_only(keeper)).invoke({"x": "a"})
    assert leaked and "\x00" in leaked[0]
    with pytest.raises(CompileError, match="another Parrot trace"):
        compiled.invoke({"x": leaked[0]})
    assert compiled.invoke({"x": "fine"}) == (PromptTemplate.from_template("Say {x}") | llm).invoke({"x": "fine"})


def test_models_of_two_names_make_two_programs_with_the_chain_s_answer(backend, llm) -> None:
    served = [m["id"] for m in httpx.get(f"{backend.url}/v1/models").json()["data"] if m["id"] != "parrot"]
    other = ParrotLLM(base_url=backend.url, model=served[0], max_tokens=6, temperature=0, ignore_eos=True)
    first = PromptTemplate.from_template("Say {x}") | llm
    chain = (
        {"a": first}
        | RunnablePassthrough.assign(b=PromptTemplate.from_template("Echo {a}") | other)
        | PromptTemplate.from_template("{a} and {b}")
        | llm
    )
    expected, got, compiled = run_both(backend, chain, {"x": "hi"}, programs=3)
    assert got == expected
    assert "program 3" in compiled.explain()  # the first call, the other model's, then the last
