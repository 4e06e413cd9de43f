"""Pydantic models of the OpenAI-compatible routes (``/v1/completions``, ``/v1/chat/completions``),
and of ``/tokenize``, which vLLM and SGLang serve next to them.

Served by the embedded engine with SGLang's extras (``rid``, ``extra_key``, ``cache_salt``,
``top_k``, ``min_p``, ``ignore_eos``, ...) and sent by the OpenAI adapter. Unknown keys are
ignored, as OpenAI clients send many; the types of known keys are strict.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parrot_backend.errors import InvalidRequestError
from parrot_backend.program.sampling import SamplingParams


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

    def template_message(self) -> dict[str, str]:
        """The message as chat templates expect it (``developer`` is a system message)."""
        return {"role": "system" if self.role == "developer" else self.role, "content": self.text()}


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
        return [m.template_message() for m in self.messages]


class TokenizeRequest(BaseModel):
    """Body of ``POST /tokenize`` (vLLM's and SGLang's shape): a prompt, a list of prompts, or chat
    messages, whose tokens are those of the model's chat template rendering.

    ``add_special_tokens`` applies to prompts; a chat template writes its own special tokens.
    """

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str | None = None
    prompt: str | list[str] | None = None
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    add_special_tokens: bool = True

    @model_validator(mode="after")
    def _check_input(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("send exactly one of prompt (a string or a list of strings) or messages")
        return self

    def items(self) -> list[str | list[dict[str, str]]]:
        """What to tokenize: each prompt, or the messages as one conversation."""
        if self.messages is not None:
            return [[m.template_message() for m in self.messages]]
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt or [])

    def reply(self, tokens: list[list[int]]) -> dict[str, Any]:
        """``{"tokens", "count"}`` for the token ids of :meth:`items`: lists for a list of prompts."""
        if isinstance(self.prompt, list):
            return {"tokens": tokens, "count": [len(ids) for ids in tokens]}
        return {"tokens": tokens[0], "count": len(tokens[0])}


@dataclass(frozen=True)
class ReplyPiece:
    """One choice's output so far, whatever engine produced it."""

    text: str
    finish_reason: str | None = None  # OpenAI's: "stop", "length", "abort"; None while running
    matched_stop: str | int | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0


class OpenAIReply:
    """Builds OpenAI-shaped responses and stream chunks for one request."""

    def __init__(self, id_prefix: str, object_name: str, model: str, request: OpenAIRequest) -> None:
        self.id = f"{id_prefix}-{uuid.uuid4().hex}"
        self.object = object_name
        self.model = request.model or model
        self.created = int(time.time())
        self.include_usage = request.include_usage

    def _envelope(self, choices: list[dict[str, Any]], chunk: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": f"{self.object}.chunk" if chunk and self.object == "chat.completion" else self.object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    @staticmethod
    def usage(pieces: list[ReplyPiece]) -> dict[str, Any]:
        prompt = sum(piece.prompt_tokens for piece in pieces)
        completion = sum(piece.completion_tokens for piece in pieces)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": sum(piece.cached_tokens for piece in pieces)},
        }

    def complete(self, finals: list[ReplyPiece], *, chat: bool) -> dict[str, Any]:
        choices = []
        for index, piece in enumerate(finals):
            choice: dict[str, Any] = {
                "index": index,
                "logprobs": None,
                "finish_reason": piece.finish_reason,
                "matched_stop": piece.matched_stop,
            }
            if chat:
                choice["message"] = {"role": "assistant", "content": piece.text}
            else:
                choice["text"] = piece.text
            choices.append(choice)
        reply = self._envelope(choices, chunk=False)
        reply["usage"] = self.usage(finals)
        return reply

    async def stream(
        self, pieces: AsyncIterator[tuple[int, ReplyPiece]], *, chat: bool
    ) -> AsyncIterator[dict[str, Any]]:
        shown: dict[int, str] = {}
        finals: dict[int, ReplyPiece] = {}
        async for index, piece in pieces:
            if chat and index not in shown:
                yield self._envelope([self._delta(index, {"role": "assistant", "content": ""}, None, chat)], True)
            delta = piece.text[len(shown.get(index, "")) :]
            shown[index] = piece.text
            if delta:
                yield self._envelope([self._delta(index, {"content": delta}, None, chat)], True)
            if piece.finish_reason is not None:
                finals[index] = piece
                yield self._envelope([self._delta(index, {}, piece.finish_reason, chat)], True)
        if self.include_usage:
            chunk = self._envelope([], True)
            chunk["usage"] = self.usage(list(finals.values()))
            yield chunk

    @staticmethod
    def _delta(index: int, delta: dict[str, Any], finish: str | None, chat: bool) -> dict[str, Any]:
        if chat:
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"index": index, "text": delta.get("content", ""), "logprobs": None, "finish_reason": finish}
