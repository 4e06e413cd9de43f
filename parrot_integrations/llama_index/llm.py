"""``Parrot``: a LlamaIndex LLM served by the Parrot backend.

    from llama_index.core import Settings
    from parrot_integrations.llama_index import Parrot

    Settings.llm = Parrot(base_url="http://127.0.0.1:8000", max_tokens=128, temperature=0)

Real async (``acomplete``, ``achat`` and their streams go out concurrently, unlike ``CustomLLM``
whose async methods call the sync ones), ``metadata`` from the backend (the served model's context
length), LlamaIndex's callback and instrumentation events. Inside a Parrot synthesizer or a
captured workflow step, calls are recorded instead of sent (see :mod:`parrot_integrations.tracing`)
and run as one program.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import Field, PrivateAttr

from parrot_backend.engines.openai_api import ChatCompletionRequest
from parrot_backend.errors import InvalidRequestError
from parrot_backend.program.sampling import SamplingParams
from parrot_integrations.client import AsyncParrotClient, ParrotClient, validated
from parrot_integrations.tracing import active_trace

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def message_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """LlamaIndex messages as chat-completion messages (text content only)."""
    converted = []
    for message in messages:
        role = _ROLES.get(message.role.value)
        if role is None:
            raise InvalidRequestError(f"Parrot does not support {message.role.value!r} messages (no tool calling)")
        converted.append({"role": role, "content": message.content or ""})
    return converted


class Parrot(LLM):
    """LlamaIndex LLM backed by a Parrot backend (``parrot serve``)."""

    model: str = Field(default="parrot", description="A model the backend serves; 'parrot' means its own.")
    base_url: str = Field(default_factory=lambda: os.environ.get("PARROT_BASE_URL", "http://127.0.0.1:8000"))
    api_key: str | None = Field(default_factory=lambda: os.environ.get("PARROT_API_KEY"), exclude=True)
    temperature: float = Field(default=0.1, ge=0.0)
    max_tokens: int = Field(default=256, gt=0, description="Tokens per answer (LlamaIndex's num_output).")
    context_window: int | None = Field(default=None, description="Default: what the backend reports.")
    is_chat_model: bool = Field(default=True, description="Send chat messages (the model's chat template).")
    timeout: float = 600.0
    additional_kwargs: dict[str, Any] = Field(default_factory=dict, description="Sent with every call.")

    _served_context: int | None = PrivateAttr(default=None)
    _token_ids: dict[str, list[int]] = PrivateAttr(default_factory=dict)

    @classmethod
    def class_name(cls) -> str:
        return "Parrot"

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window or self._backend_context(),
            num_output=self.max_tokens,
            is_chat_model=self.is_chat_model,
            model_name=self.model,
        )

    def _backend_context(self) -> int:
        """The context length the backend reports for this model, asked once."""
        if self._served_context is None:
            with self._client() as client:
                self._served_context = client.models().get(self.model) or DEFAULT_CONTEXT_WINDOW
        return self._served_context

    def tokenize(self, text: str) -> list[int]:
        """Token ids by the served model's tokenizer (through the backend). LlamaIndex sizes prompts
        with tiktoken unless told otherwise; ``Settings.tokenizer = llm.tokenize`` makes it pack
        prompts to the context length the model really has."""
        if text not in self._token_ids:
            if len(self._token_ids) > 4096:  # splitters ask again for the same pieces; keep it bounded
                self._token_ids.clear()
            with self._client() as client:
                self._token_ids[text] = client.tokenize(text)
        return self._token_ids[text]

    # ------------------------------------------------------------------ plumbing

    def _client_args(self) -> dict[str, Any]:
        return {"api_key": self.api_key, "timeout": self.timeout}

    def _client(self) -> ParrotClient:
        return ParrotClient(self.base_url, **self._client_args())

    def _aclient(self) -> AsyncParrotClient:
        return AsyncParrotClient(self.base_url, **self._client_args())

    def _check_traceable(self) -> None:
        """Every call of this class can be deferred."""

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.additional_kwargs,
            **kwargs,
        }

    def _call_sampling(self, stop: list[str] | None, kwargs: dict[str, Any]) -> SamplingParams:
        """The sampling parameters the backend's OpenAI routes would use for this call."""
        payload = {**self._params(kwargs), "messages": [{"role": "user", "content": ""}]}
        return validated(ChatCompletionRequest, payload, "Parrot").sampling_params()

    def _chat_payload(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**self._params(kwargs), "messages": message_dicts(messages)}

    def _completion_payload(self, prompt: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**self._params(kwargs), "prompt": prompt}

    # ------------------------------------------------------------------ chat

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        trace = active_trace()
        if trace is not None:
            return _chat_response(trace.record_chat(self, message_dicts(messages), None, kwargs))
        with self._client() as client:
            body = client.post("/v1/chat/completions", self._chat_payload(messages, kwargs))
        return _chat_response(body["choices"][0]["message"]["content"] or "", body)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        trace = active_trace()
        if trace is not None:
            return _chat_response(trace.record_chat(self, message_dicts(messages), None, kwargs))
        async with self._aclient() as client:
            body = await client.post("/v1/chat/completions", self._chat_payload(messages, kwargs))
        return _chat_response(body["choices"][0]["message"]["content"] or "", body)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Generator[ChatResponse, None, None]:
        trace = active_trace()
        if trace is not None:
            placeholder = trace.record_chat(self, message_dicts(messages), None, kwargs)
            return iter([_chat_response(placeholder, delta=placeholder)])
        payload = self._chat_payload(messages, kwargs)

        def events() -> Generator[ChatResponse, None, None]:
            text = ""
            with self._client() as client:
                for event in client.post_stream("/v1/chat/completions", payload):
                    delta = _delta(event, "chat")
                    text += delta
                    yield _chat_response(text, event, delta=delta)

        return events()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> AsyncGenerator[ChatResponse, None]:
        trace = active_trace()
        placeholder = trace.record_chat(self, message_dicts(messages), None, kwargs) if trace is not None else None
        payload = self._chat_payload(messages, kwargs)

        async def events() -> AsyncGenerator[ChatResponse, None]:
            if placeholder is not None:
                yield _chat_response(placeholder, delta=placeholder)
                return
            text = ""
            async with self._aclient() as client:
                async for event in client.post_stream("/v1/chat/completions", payload):
                    delta = _delta(event, "chat")
                    text += delta
                    yield _chat_response(text, event, delta=delta)

        return events()

    # ------------------------------------------------------------------ completion

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        trace = active_trace()
        if trace is not None:
            return CompletionResponse(text=trace.record_completion(self, [prompt], None, kwargs)[0])
        with self._client() as client:
            body = client.post("/v1/completions", self._completion_payload(prompt, kwargs))
        return CompletionResponse(text=body["choices"][0]["text"], raw=body, additional_kwargs=_usage(body))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        trace = active_trace()
        if trace is not None:
            return CompletionResponse(text=trace.record_completion(self, [prompt], None, kwargs)[0])
        async with self._aclient() as client:
            body = await client.post("/v1/completions", self._completion_payload(prompt, kwargs))
        return CompletionResponse(text=body["choices"][0]["text"], raw=body, additional_kwargs=_usage(body))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> Generator[CompletionResponse, None, None]:
        trace = active_trace()
        if trace is not None:
            placeholder = trace.record_completion(self, [prompt], None, kwargs)[0]
            return iter([CompletionResponse(text=placeholder, delta=placeholder)])
        payload = self._completion_payload(prompt, kwargs)

        def events() -> Generator[CompletionResponse, None, None]:
            text = ""
            with self._client() as client:
                for event in client.post_stream("/v1/completions", payload):
                    delta = _delta(event, "text")
                    text += delta
                    yield CompletionResponse(text=text, delta=delta, raw=event, additional_kwargs=_usage(event))

        return events()

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> AsyncGenerator[CompletionResponse, None]:
        trace = active_trace()
        placeholder = trace.record_completion(self, [prompt], None, kwargs)[0] if trace is not None else None
        payload = self._completion_payload(prompt, kwargs)

        async def events() -> AsyncGenerator[CompletionResponse, None]:
            if placeholder is not None:
                yield CompletionResponse(text=placeholder, delta=placeholder)
                return
            text = ""
            async with self._aclient() as client:
                async for event in client.post_stream("/v1/completions", payload):
                    delta = _delta(event, "text")
                    text += delta
                    yield CompletionResponse(text=text, delta=delta, raw=event, additional_kwargs=_usage(event))

        return events()


def _chat_response(text: str, body: dict[str, Any] | None = None, delta: str | None = None) -> ChatResponse:
    return ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
        raw=body,
        delta=delta,
        additional_kwargs=_usage(body or {}),
    )


def _delta(event: dict[str, Any], kind: str) -> str:
    """The text an OpenAI stream event adds (``kind``: ``chat`` or ``text``)."""
    for choice in event.get("choices") or ():
        return (choice.get("delta") or {}).get("content") or "" if kind == "chat" else choice.get("text") or ""
    return ""


def _usage(body: dict[str, Any]) -> dict[str, int]:
    """Token counts, as LlamaIndex integrations report them, plus the prompt tokens served from cache."""
    usage = body.get("usage") or {}
    if not usage:
        return {}
    return {
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
        "cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
    }
