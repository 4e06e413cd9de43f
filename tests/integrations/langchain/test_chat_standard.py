"""langchain-tests' standard suites for ChatParrot: unit tests offline, integration tests against
a real backend in front of the embedded engine (tiny model)."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from parrot_integrations.langchain import ChatParrot


class TestChatParrotUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatParrot]:
        return ChatParrot

    @property
    def chat_model_params(self) -> dict:
        return {"model": "parrot", "base_url": "http://127.0.0.1:9"}

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        return (
            {"PARROT_BASE_URL": "http://parrot.example:8000", "PARROT_API_KEY": "secret"},
            {},
            {"base_url": "http://parrot.example:8000"},
        )


@pytest.fixture(scope="class")
def _backend_url(request, backend):
    # The suite builds the model from chat_model_params; the backend's address comes from here.
    request.cls.backend_url = backend.url


@pytest.mark.usefixtures("_backend_url")
class TestChatParrotIntegration(ChatModelIntegrationTests):
    backend_url: str = ""

    @property
    def chat_model_class(self) -> type[ChatParrot]:
        return ChatParrot

    @property
    def chat_model_params(self) -> dict:
        # ignore_eos: the random test model may end at once; the suite wants some text.
        return {"model": "parrot", "base_url": self.backend_url, "max_tokens": 12, "ignore_eos": True}

    @property
    def supports_model_override(self) -> bool:
        return False  # one backend serves the model it has; a model name does not pick another

    @property
    def returns_usage_metadata(self) -> bool:
        return True
