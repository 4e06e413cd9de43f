"""Token counting by the served model's tokenizer, through the backend (no hub download)."""

from __future__ import annotations

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from parrot_backend.errors import BackendUnavailableError
from parrot_integrations.langchain import ChatParrot, ParrotLLM

TEXT = "Parrots eat seeds, fruit and the occasional semantic variable."


def engine_tokens(engine_url: str, body: dict) -> dict:
    return httpx.post(f"{engine_url}/tokenize", json=body, timeout=30).json()


def test_llm_counts_the_engines_tokens(backend, engine_server) -> None:
    expected = engine_tokens(engine_server.url, {"prompt": TEXT})
    llm = ParrotLLM(base_url=backend.url)
    assert llm.get_token_ids(TEXT) == expected["tokens"]
    assert llm.get_num_tokens(TEXT) == expected["count"] > 5
    chat = ChatParrot(base_url=backend.url)
    assert chat.get_num_tokens(TEXT) == expected["count"]


def test_chat_counts_the_chat_template(backend, engine_server) -> None:
    chat = ChatParrot(base_url=backend.url)
    messages = [SystemMessage("You are terse."), HumanMessage(TEXT)]
    counted = chat.get_num_tokens_from_messages(messages)
    assert counted > chat.get_num_tokens("You are terse.") + chat.get_num_tokens(TEXT)
    as_openai = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": TEXT}]
    assert counted == engine_tokens(engine_server.url, {"messages": as_openai})["count"]
    assert chat.get_num_tokens_from_messages([]) == 0
    with pytest.warns(UserWarning, match="tool schemas"):
        assert chat.get_num_tokens_from_messages(messages, tools=[{"name": "lookup"}]) == counted
    # What a call on these messages reads as its prompt.
    reply = chat.invoke(messages, max_tokens=1)
    assert reply.usage_metadata["input_tokens"] == counted


def test_custom_get_token_ids_wins(backend) -> None:
    llm = ParrotLLM(base_url=backend.url, custom_get_token_ids=lambda text: list(range(len(text.split()))))
    assert llm.get_num_tokens("one two three") == 3
    chat = ChatParrot(base_url=backend.url, custom_get_token_ids=lambda text: [0] * len(text))
    assert chat.get_num_tokens_from_messages([HumanMessage("abc")]) == len("Human: abc")


def test_a_backend_that_is_down() -> None:
    with pytest.raises(BackendUnavailableError, match="cannot reach the Parrot backend"):
        ParrotLLM(base_url="http://127.0.0.1:9", max_retries=0).get_num_tokens(TEXT)
    with pytest.raises(BackendUnavailableError):
        ChatParrot(base_url="http://127.0.0.1:9", max_retries=0).get_num_tokens_from_messages([HumanMessage(TEXT)])
