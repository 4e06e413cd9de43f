"""Engines over HTTP: any OpenAI-compatible server, and SGLang's native API.

:class:`OpenAIEngine` speaks ``/v1/completions`` and ``/v1/chat/completions`` (vLLM, SGLang's
``/v1`` routes, hosted APIs), reading cached tokens from ``usage.prompt_tokens_details`` when the
server reports them. :class:`SGLangEngine` sends completion-form calls to SGLang's ``/generate``
(which always reports ``cached_tokens``) and chat calls to its OpenAI route, which applies the
model's chat template. Both abort a request by closing its stream, as SGLang does on disconnect,
and tokenize through ``/tokenize`` (served by SGLang runtimes, vLLM and the embedded engine).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from parrot_backend.engines.base import EngineKind, EngineProgress, EngineRequest
from parrot_backend.errors import EngineError, NotSupportedError
from parrot_backend.program.sampling import SamplingParams


class RetryableEngineError(EngineError):
    """The engine is unreachable or broken (connection error, 5xx): try another engine."""


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """JSON payloads of a server-sent-events stream, until ``[DONE]``."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        event = json.loads(payload)
        if isinstance(event, dict) and "error" in event:
            error = event["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            code = error.get("code", 500) if isinstance(error, dict) else 500
            cls = RetryableEngineError if isinstance(code, int) and code >= 500 else EngineError
            raise cls(f"the engine reported an error mid-stream: {message}")
        yield event


async def _raise_for_status(response: httpx.Response, url: str) -> None:
    if response.status_code < 400:
        return
    body = (await response.aread()).decode(errors="replace")[:500]
    cls = RetryableEngineError if response.status_code >= 500 else EngineError
    raise cls(f"{url} answered {response.status_code}: {body}")


class OpenAIEngine:
    """An OpenAI-compatible server (``/v1/completions``, ``/v1/chat/completions``)."""

    kind: EngineKind = "openai"

    def __init__(self, url: str, *, model: str | None = None, api_key: str | None = None, timeout: float = 600) -> None:
        self.url = url.rstrip("/")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0)
        )

    async def healthy(self) -> bool:
        try:
            response = await self._client.get(self._health_path, timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    _health_path = "/v1/models"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def tokenize(self, content: str | list[dict[str, str]], *, add_special_tokens: bool = True) -> list[int]:
        body: dict[str, Any] = (
            {"prompt": content, "add_special_tokens": add_special_tokens}
            if isinstance(content, str)
            else {"messages": content}
        )
        if self.model:  # vLLM refuses names it does not serve, so none is sent unless known
            body["model"] = self.model
        try:
            response = await self._client.post("/tokenize", json=body)
        except httpx.HTTPError as error:
            raise RetryableEngineError(f"{self.url} failed: {error!r}") from error
        if response.status_code in (404, 405):
            raise NotSupportedError(
                f"the engine at {self.url} cannot tokenize: it has no POST /tokenize route "
                "(SGLang runtimes, vLLM and Parrot's embedded engine have one)"
            )
        await _raise_for_status(response, f"{self.url}/tokenize")
        return response.json()["tokens"]

    def generate(self, request: EngineRequest) -> AsyncIterator[EngineProgress]:
        if request.messages is not None:
            return self._stream_openai("/v1/chat/completions", request, {"messages": request.messages})
        return self._stream_openai("/v1/completions", request, {"prompt": request.prompt})

    def _openai_body(self, request: EngineRequest, body: dict[str, Any]) -> dict[str, Any]:
        s = request.sampling
        body = {
            **body,
            "model": self.model or "default",
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if s.stop_strings:
            body["stop"] = s.stop_strings
        if s.sampling_seed is not None:
            body["seed"] = s.sampling_seed
        # Extensions that SGLang and vLLM accept; sent only when set, as hosted APIs refuse them.
        extras = {"top_k": s.top_k != -1, "min_p": s.min_p != 0.0, "ignore_eos": s.ignore_eos}
        body.update({key: getattr(s, key) for key, wanted in extras.items() if wanted})
        if s.stop_token_ids:
            body["stop_token_ids"] = s.stop_token_ids
        if request.cache_namespace is not None:
            body["extra_key"] = request.cache_namespace
        return body

    async def _stream_openai(
        self, path: str, request: EngineRequest, body: dict[str, Any]
    ) -> AsyncIterator[EngineProgress]:
        payload = self._openai_body(request, body)
        text, finish = "", None
        usage: dict[str, Any] = {}
        try:
            async with self._client.stream("POST", path, json=payload) as response:
                await _raise_for_status(response, self.url + path)
                async for event in _sse_events(response):
                    for choice in event.get("choices") or ():
                        delta = choice.get("delta", {}).get("content") if "delta" in choice else choice.get("text")
                        if delta:
                            text += delta
                            yield EngineProgress(text)
                        finish = choice.get("finish_reason") or finish
                    usage = event.get("usage") or usage
        except httpx.HTTPError as error:
            raise RetryableEngineError(f"{self.url} failed: {error!r}") from error
        if finish == "abort":
            raise RetryableEngineError(f"{self.url}{path} aborted the request")
        details = usage.get("prompt_tokens_details") or {}
        yield EngineProgress(
            text,
            finished=True,
            finish_reason=finish or "stop",
            prompt_tokens=usage.get("prompt_tokens", 0),
            cached_tokens=(details or {}).get("cached_tokens") or 0,
            completion_tokens=usage.get("completion_tokens", 0),
        )


class SGLangEngine(OpenAIEngine):
    """An SGLang runtime (or sglang-router, or Parrot's embedded engine): native ``/generate``."""

    kind: EngineKind = "sglang"
    _health_path = "/health"

    def generate(self, request: EngineRequest) -> AsyncIterator[EngineProgress]:
        if request.messages is not None:
            return super().generate(request)  # the OpenAI route applies the chat template
        return self._stream_native(request)

    async def _stream_native(self, request: EngineRequest) -> AsyncIterator[EngineProgress]:
        body: dict[str, Any] = {
            "text": request.prompt,
            "sampling_params": _native_sampling(request.sampling),
            "rid": request.rid,
            "stream": True,
        }
        if request.cache_namespace is not None:
            body["extra_key"] = request.cache_namespace
        last: dict[str, Any] | None = None
        try:
            async with self._client.stream("POST", "/generate", json=body) as response:
                await _raise_for_status(response, f"{self.url}/generate")
                async for event in _sse_events(response):
                    last = event
                    meta = event.get("meta_info", {})
                    if meta.get("finish_reason") is None:
                        yield EngineProgress(event.get("text", ""), completion_tokens=meta.get("completion_tokens", 0))
        except httpx.HTTPError as error:
            raise RetryableEngineError(f"{self.url} failed: {error!r}") from error
        if last is None or last.get("meta_info", {}).get("finish_reason") is None:
            raise RetryableEngineError(f"{self.url}/generate ended its stream before the request finished")
        meta = last["meta_info"]
        if meta["finish_reason"].get("type") == "abort":  # the engine gave up (shutting down, ...)
            raise RetryableEngineError(f"{self.url} aborted the request: {meta['finish_reason'].get('message')}")
        yield EngineProgress(
            last.get("text", ""),
            finished=True,
            finish_reason=meta["finish_reason"].get("type", "stop"),
            prompt_tokens=meta.get("prompt_tokens", 0),
            cached_tokens=meta.get("cached_tokens", 0),
            completion_tokens=meta.get("completion_tokens", 0),
        )


def _native_sampling(sampling: SamplingParams) -> dict[str, Any]:
    """Sampling parameters as SGLang's /generate takes them: only what differs from its defaults."""
    return sampling.model_dump(exclude_defaults=True) | {"max_new_tokens": sampling.max_new_tokens}


async def detect_kind(url: str, timeout: float = 5.0) -> EngineKind:
    """``sglang`` if the server answers SGLang's ``/model_info`` (or ``/get_model_info``), else ``openai``."""
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout) as client:
        for path in ("/model_info", "/get_model_info"):
            try:
                response = await client.get(path)
            except httpx.HTTPError as error:
                raise EngineError(f"cannot reach an engine at {url}: {error!r}") from error
            if response.status_code == 200 and "model_path" in response.text:
                return "sglang"
    return "openai"


async def served_model(url: str, api_key: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The first model an OpenAI-compatible server lists (vLLM refuses requests for other names):
    its ``id`` and, where the server says (vLLM, SGLang, the embedded engine), ``max_model_len``.
    Empty if the server lists none."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, headers=headers) as client:
            models = (await client.get("/v1/models")).json().get("data") or []
    except (httpx.HTTPError, ValueError):
        return {}
    return models[0] if models and isinstance(models[0], dict) else {}


def make_engine(url: str, kind: EngineKind, *, model: str | None = None, api_key: str | None = None) -> OpenAIEngine:
    """The adapter for ``kind`` at ``url``."""
    cls = SGLangEngine if kind == "sglang" else OpenAIEngine
    return cls(url, model=model, api_key=api_key)
