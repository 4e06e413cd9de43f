"""ChatParrot's errors: clear exceptions, never a hang."""

import pytest
from pydantic import ValidationError

from parrot_backend.errors import BackendUnavailableError, ProgramError
from parrot_integrations.langchain import ChatParrot


def test_a_backend_that_is_down() -> None:
    chat = ChatParrot(base_url="http://127.0.0.1:9", max_retries=0, timeout=5)
    with pytest.raises(BackendUnavailableError, match="cannot reach the Parrot backend"):
        chat.invoke("hi")
    with pytest.raises(BackendUnavailableError):
        list(chat.stream("hi"))


def test_bad_settings_and_requests_the_backend_rejects(backend) -> None:
    with pytest.raises(ValidationError, match="temperature"):
        ChatParrot(base_url=backend.url, temperature="hot")
    chat = ChatParrot(base_url=backend.url)
    with pytest.raises(ProgramError, match="temperature"):
        chat.invoke("hi", temperature="hot")
    with pytest.raises(ProgramError, match="max_tokens"):
        ChatParrot(base_url=backend.url, max_tokens=-5).invoke("hi")
    assert chat.invoke("hi", max_tokens=2, ignore_eos=True).usage_metadata["output_tokens"] == 2


def test_usage_reports_cached_prompt_tokens(backend) -> None:
    chat = ChatParrot(base_url=backend.url, max_tokens=3, temperature=0, ignore_eos=True)
    system = "You are a patient assistant of a parrot sanctuary; answer in a few words. " * 3
    chat.invoke([("system", system), ("user", "first")])
    reply = chat.invoke([("system", system), ("user", "second")])
    assert reply.usage_metadata["input_token_details"]["cache_read"] > 0
    assert reply.usage_metadata["output_tokens"] == 3
    assert chat.model_kwargs == {"ignore_eos": True}  # unknown arguments go to the request
