"""Pydantic models of SGLang's native HTTP API (``/generate`` and friends), as of sglang 0.5.23.

The embedded engine serves these shapes and the SGLang adapter sends them, so both sides share
one definition. Unknown top-level keys are ignored, as SGLang does; ``sampling_params`` is
:class:`~parrot_backend.program.sampling.SamplingParams`, which programs use too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from parrot_backend.program.sampling import SamplingParams

__all__ = ["FinishReason", "GenerateRequest", "GenerateResponse", "MetaInfo", "SamplingParams"]


class GenerateRequest(BaseModel):
    """Body of ``POST /generate``: one prompt or a batch, as text or token ids."""

    model_config = ConfigDict(extra="ignore")

    text: str | list[str] | None = None
    input_ids: list[int] | list[list[int]] | None = None
    sampling_params: SamplingParams | list[SamplingParams] | None = None
    rid: str | list[str] | None = None
    stream: bool = False
    return_logprob: bool | list[bool] = False
    return_prompt_token_ids: bool = False
    extra_key: str | list[str] | None = None
    cache_salt: str | list[str] | None = None
    priority: int | None = None

    @property
    def is_batch(self) -> bool:
        """True when the request holds a list of prompts (the response is then a list)."""
        if self.text is not None:
            return isinstance(self.text, list)
        return bool(self.input_ids) and isinstance(self.input_ids[0], list)


FinishType = Literal["stop", "length", "abort"]


class FinishReason(BaseModel):
    """SGLang's ``finish_reason`` object: ``{"type": "stop", "matched": ...}`` and its siblings."""

    type: FinishType
    matched: str | int | None = None
    length: int | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form: only the keys SGLang sends for this type."""
        return self.model_dump(exclude_none=True)

    @property
    def openai_reason(self) -> str:
        """The OpenAI routes' ``finish_reason`` string."""
        return {"stop": "stop", "length": "length", "abort": "abort"}[self.type]


class MetaInfo(BaseModel):
    """``meta_info`` of a ``/generate`` response."""

    id: str
    finish_reason: dict[str, Any] | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    e2e_latency: float


class GenerateResponse(BaseModel):
    """One item of a ``/generate`` response (a batch returns a list of these)."""

    text: str
    output_ids: list[int]
    meta_info: MetaInfo
    prompt_token_ids: list[int] | None = None
    index: int | None = None
