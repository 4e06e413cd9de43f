"""``ChatParrot``: a LangChain chat model served by the Parrot backend.

A drop-in for ``ChatOpenAI``-style classes: each call goes to the backend's
``/v1/chat/completions`` (the backend places it on an engine), with usage including the prompt
tokens served from the engine's prefix cache (``usage_metadata["input_token_details"]["cache_read"]``).

    from parrot_integrations.langchain import ChatParrot

    chat = ChatParrot(base_url="http://127.0.0.1:8000", temperature=0, max_tokens=64)
    chat.invoke("Name a parrot species.")
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from parrot_backend.engines.openai_api import ChatCompletionRequest
from parrot_backend.errors import InvalidRequestError
from parrot_backend.program.sampling import SamplingParams
from parrot_integrations.client import validated
from parrot_integrations.langchain._base import ParrotSettings
from parrot_integrations.tracing import active_trace

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "user": "user", "assistant": "assistant"}


def _deferred_result(placeholder: str) -> ChatResult:
    """The result of a call recorded by a trace: its placeholder (see :mod:`parrot_integrations.tracing`)."""
    return ChatResult(generations=[ChatGeneration(message=AIMessage(content=placeholder))])


def message_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as chat-completion messages (text content only)."""
    converted = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise InvalidRequestError(f"ChatParrot does not support {message.type!r} messages (no tool calling)")
        content = message.content if isinstance(message.content, str) else message.text
        converted.append({"role": role, "content": content})
    return converted


def usage_metadata(usage: dict[str, Any]) -> UsageMetadata:
    """OpenAI usage as LangChain's, with cached prompt tokens as ``cache_read``."""
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return UsageMetadata(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=prompt + completion,
        input_token_details={"cache_read": cached},
    )


class ChatParrot(ParrotSettings, BaseChatModel):
    """Chat model backed by a Parrot backend (``parrot serve``)."""

    @property
    def _llm_type(self) -> str:
        return "parrot-chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="parrot",
            ls_model_name=kwargs.get("model", self.model_name),
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Sequence[Any] | None = None) -> int:
        """Prompt tokens of ``messages`` as the model reads them: rendered by its chat template (with
        the assistant's turn opened), counted by the backend. ``custom_get_token_ids``, when set,
        counts LangChain's way instead (each message's text)."""
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens_from_messages(messages, tools)
        if tools is not None:
            warnings.warn("ChatParrot does not count tokens of tool schemas; ignoring tools", stacklevel=2)
        if not messages:  # chat templates refuse an empty conversation; LangChain counts it as 0
            return 0
        return len(self._tokenize({"messages": message_dicts(messages)}))

    # ------------------------------------------------------------------ requests

    def _call_sampling(self, stop: list[str] | None, kwargs: dict[str, Any]) -> SamplingParams:
        """The sampling parameters the backend's chat route would use for this call."""
        payload = self._payload([], stop, False, **kwargs)
        payload["messages"] = [{"role": "user", "content": ""}]
        return validated(ChatCompletionRequest, payload, "ChatParrot").sampling_params()

    def _payload(
        self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, **kwargs: Any
    ) -> dict[str, Any]:
        payload = {
            "model": kwargs.pop("model", self.model_name),
            "messages": message_dicts(messages),
            **self._default_params,
            **kwargs,
            "stream": stream,
        }
        if stop or self.stop:
            payload["stop"] = stop or self.stop
        if stream:
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _result(self, body: dict[str, Any]) -> ChatResult:
        choice = body["choices"][0]
        message = AIMessage(
            content=choice["message"]["content"] or "",
            usage_metadata=usage_metadata(body.get("usage") or {}),
            response_metadata={
                "model_name": body.get("model", self.model_name),
                "finish_reason": choice.get("finish_reason"),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"model_name": body.get("model")})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        trace = active_trace()
        if trace is not None:
            return _deferred_result(trace.record_chat(self, message_dicts(messages), stop, kwargs))
        with self._client() as client:
            response = client.post("/v1/chat/completions", self._payload(messages, stop, False, **kwargs))
        return self._result(response)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        trace = active_trace()
        if trace is not None:
            return _deferred_result(trace.record_chat(self, message_dicts(messages), stop, kwargs))
        async with self._aclient() as client:
            response = await client.post("/v1/chat/completions", self._payload(messages, stop, False, **kwargs))
        return self._result(response)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        trace = active_trace()
        if trace is not None:
            placeholder = trace.record_chat(self, message_dicts(messages), stop, kwargs)
            yield ChatGenerationChunk(message=AIMessageChunk(content=placeholder, chunk_position="last"))
            return
        payload = self._payload(messages, stop, True, **kwargs)
        with self._client() as client:
            for event in client.post_stream("/v1/chat/completions", payload):
                chunk = self._chunk(event, payload["model"])
                if chunk is not None:
                    if run_manager:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        trace = active_trace()
        if trace is not None:
            placeholder = trace.record_chat(self, message_dicts(messages), stop, kwargs)
            yield ChatGenerationChunk(message=AIMessageChunk(content=placeholder, chunk_position="last"))
            return
        payload = self._payload(messages, stop, True, **kwargs)
        async with self._aclient() as client:
            async for event in client.post_stream("/v1/chat/completions", payload):
                chunk = self._chunk(event, payload["model"])
                if chunk is not None:
                    if run_manager:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    def _chunk(self, event: dict[str, Any], model: str) -> ChatGenerationChunk | None:
        if event.get("usage"):
            message = AIMessageChunk(
                content="",
                usage_metadata=usage_metadata(event["usage"]),
                response_metadata={"model_name": model},
                chunk_position="last",
            )
            return ChatGenerationChunk(message=message)
        for choice in event.get("choices") or ():
            delta = choice.get("delta", {}).get("content") or ""
            finish = choice.get("finish_reason")
            if delta or finish:
                metadata = {"finish_reason": finish} if finish else {}
                return ChatGenerationChunk(message=AIMessageChunk(content=delta, response_metadata=metadata))
        return None
