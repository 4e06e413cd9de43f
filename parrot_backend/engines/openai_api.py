"""Pydantic models of the OpenAI-compatible routes (``/v1/completions``, ``/v1/chat/completions``).

Served by the embedded engine with SGLang's extras (``rid``, ``extra_key``, ``cache_salt``,
``top_k``, ``min_p``, ``ignore_eos``, ...) and sent by the OpenAI adapter. Unknown keys are
ignored, as OpenAI clients send many; the types of known keys are strict.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parrot_backend.engines.sglang_api import SamplingParams
from parrot_backend.errors import InvalidRequestError


class StreamOptions(BaseModel):
    include_usage: bool = False


class OpenAIRequest(BaseModel):
    """Fields shared by the completion and chat routes."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=-1, ge=-1)
    min_p: float = Field(default=0.0, ge=0.0, le=1.0)
    n: int = Field(default=1, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    seed: int | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logprobs: bool | int | None = None
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    no_stop_trim: bool = False
    rid: str | None = None
    extra_key: str | None = None
    cache_salt: str | None = None
    user: str | None = None

    # OpenAI's completions default; chat completions run to the end of the context (as SGLang).
    default_max_tokens: ClassVar[int | None] = 16

    def sampling_params(self) -> SamplingParams:
        """The equivalent native sampling parameters."""
        if self.logprobs:
            raise InvalidRequestError("logprobs are not supported by this engine; leave logprobs unset")
        max_new_tokens = self.max_tokens if self.max_tokens is not None else self.default_max_tokens
        # Same-named fields carry over; OpenAI's max_tokens and seed have native names of their own.
        shared = self.model_dump(include=set(SamplingParams.model_fields) & set(type(self).model_fields))
        return SamplingParams(
            **shared,
            # No limit means "until the context is full"; the engine caps it to what fits.
            max_new_tokens=max_new_tokens if max_new_tokens is not None else 2**31 - 1,
            sampling_seed=self.seed,
        )

    @property
    def cache_namespace(self) -> str | None:
        """``extra_key`` and ``cache_salt`` together name the request's cache namespace."""
        if self.extra_key is None and self.cache_salt is None:
            return None
        return f"{self.extra_key or ''}\x00{self.cache_salt or ''}"

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class CompletionRequest(OpenAIRequest):
    """Body of ``POST /v1/completions``."""

    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    suffix: str | None = None

    @model_validator(mode="after")
    def _check_prompt(self) -> CompletionRequest:
        if self.echo or self.suffix:
            raise ValueError("echo and suffix are not supported by this engine")
        return self


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message's text, with content parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionRequest(OpenAIRequest):
    """Body of ``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=0)

    default_max_tokens: ClassVar[int | None] = None

    @model_validator(mode="after")
    def _merge_token_limits(self) -> ChatCompletionRequest:
        # sglang-router rewrites max_tokens as max_completion_tokens (the current OpenAI name).
        if self.max_tokens is None and self.max_completion_tokens is not None:
            self.max_tokens = self.max_completion_tokens
        return self

    def template_messages(self) -> list[dict[str, Any]]:
        """Messages as chat templates expect them (``developer`` is a system message)."""
        return [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in self.messages
        ]
