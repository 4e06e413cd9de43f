"""``ChatParrot``: a LangChain chat model served by the Parrot backend.

A drop-in for ``ChatOpenAI``-style classes: each call goes to the backend's
``/v1/chat/completions`` (the backend places it on an engine), with usage including the prompt
tokens served from the engine's prefix cache (``usage_metadata["input_token_details"]["cache_read"]``).

    from parrot_integrations.langchain import ChatParrot

    chat = ChatParrot(base_url="http://127.0.0.1:8000", temperature=0, max_tokens=64)
    chat.invoke("Name a parrot species.")
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils import from_env, secret_from_env
from pydantic import ConfigDict, Field, SecretStr, model_validator

from parrot_backend.errors import BackendUnavailableError, InvalidRequestError, ParrotError
from parrot_integrations.client import _ERRORS_BY_STATUS

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "user": "user", "assistant": "assistant"}


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


class ChatParrot(BaseChatModel):
    """Chat model backed by a Parrot backend (``parrot serve``)."""

    model_name: str = Field(default="parrot", alias="model")
    base_url: str = Field(default_factory=from_env("PARROT_BASE_URL", default="http://127.0.0.1:8000"))
    api_key: SecretStr | None = Field(default_factory=secret_from_env("PARROT_API_KEY", default=None))
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    timeout: float | None = 600.0
    max_retries: int = 2
    streaming: bool = False
    model_kwargs: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _collect_extra(cls, values: Any) -> Any:
        # Unknown keyword arguments become request parameters, as in langchain-openai.
        if not isinstance(values, dict):
            return values
        known = {name for name, info in cls.model_fields.items()} | {
            info.alias for info in cls.model_fields.values() if info.alias
        }
        extra = {key: values.pop(key) for key in list(values) if key not in known}
        if extra:
            values["model_kwargs"] = {**values.get("model_kwargs", {}), **extra}
        return values

    @property
    def _llm_type(self) -> str:
        return "parrot-chat"

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "PARROT_API_KEY"}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, **self._default_params}

    @property
    def _default_params(self) -> dict[str, Any]:
        params = {"temperature": self.temperature, "max_tokens": self.max_tokens, **self.model_kwargs}
        return {key: value for key, value in params.items() if value is not None}

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

    # ------------------------------------------------------------------ requests

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

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"} if self.api_key else {}

    def _transport_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url.rstrip("/"),
            "headers": self._headers(),
            "timeout": self.timeout,
            "transport_retries": self.max_retries,
        }

    def _client(self) -> httpx.Client:
        kw = self._transport_kwargs()
        transport = httpx.HTTPTransport(retries=kw.pop("transport_retries"))
        return httpx.Client(transport=transport, **kw)

    def _aclient(self) -> httpx.AsyncClient:
        kw = self._transport_kwargs()
        transport = httpx.AsyncHTTPTransport(retries=kw.pop("transport_retries"))
        return httpx.AsyncClient(transport=transport, **kw)

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
        with self._client() as client:
            response = _post(client, "/v1/chat/completions", self._payload(messages, stop, False, **kwargs))
        return self._result(response)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        async with self._aclient() as client:
            response = await _apost(client, "/v1/chat/completions", self._payload(messages, stop, False, **kwargs))
        return self._result(response)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        payload = self._payload(messages, stop, True, **kwargs)
        with self._client() as client:
            try:
                with client.stream("POST", "/v1/chat/completions", json=payload) as response:
                    _raise_for(response, response.read() if response.status_code >= 400 else b"")
                    for event in _events(response.iter_lines()):
                        chunk = self._chunk(event, payload["model"])
                        if chunk is not None:
                            if run_manager:
                                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                            yield chunk
            except httpx.TransportError as error:
                raise BackendUnavailableError(
                    f"cannot reach the Parrot backend at {self.base_url}: {error!r}"
                ) from error

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        payload = self._payload(messages, stop, True, **kwargs)
        async with self._aclient() as client:
            try:
                async with client.stream("POST", "/v1/chat/completions", json=payload) as response:
                    _raise_for(response, await response.aread() if response.status_code >= 400 else b"")
                    async for line in response.aiter_lines():
                        for event in _events([line]):
                            chunk = self._chunk(event, payload["model"])
                            if chunk is not None:
                                if run_manager:
                                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                                yield chunk
            except httpx.TransportError as error:
                raise BackendUnavailableError(
                    f"cannot reach the Parrot backend at {self.base_url}: {error!r}"
                ) from error

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


def _events(lines: Any) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line.removeprefix("data: "))
        if "error" in event:
            error = event["error"]
            raise _ERRORS_BY_STATUS.get(error.get("code", 500), ParrotError)(error.get("message", str(error)))
        yield event


def _raise_for(response: httpx.Response, body: bytes) -> None:
    if response.status_code < 400:
        return
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body.decode(errors="replace") or response.reason_phrase
    raise _ERRORS_BY_STATUS.get(response.status_code, ParrotError)(message)


def _post(client: httpx.Client, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post(path, json=payload)
    except httpx.TransportError as error:
        raise BackendUnavailableError(f"cannot reach the Parrot backend at {client.base_url}: {error!r}") from error
    _raise_for(response, response.content)
    return response.json()


async def _apost(client: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await client.post(path, json=payload)
    except httpx.TransportError as error:
        raise BackendUnavailableError(f"cannot reach the Parrot backend at {client.base_url}: {error!r}") from error
    _raise_for(response, response.content)
    return response.json()
