"""Sampling parameters, under SGLang's names, shared by programs and engines.

Validation follows SGLang's ``/generate``: unknown keys are an error that names the allowed keys,
types are strict (a string temperature is rejected).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SamplingParams(BaseModel):
    """SGLang's ``sampling_params`` object, with SGLang's defaults."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_new_tokens: int = Field(default=128, ge=0)
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    stop_regex: str | list[str] | None = None
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=-1, ge=-1)
    min_p: float = Field(default=0.0, ge=0.0, le=1.0)
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    min_new_tokens: int = Field(default=0, ge=0)
    n: int = Field(default=1, ge=1)
    json_schema: str | None = None
    regex: str | None = None
    ebnf: str | None = None
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    spaces_between_special_tokens: bool = True
    no_stop_trim: bool = False
    logit_bias: dict[str, float] | None = None
    sampling_seed: int | None = None
    custom_params: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        # pydantic's own "extra forbidden" message names the bad key but not the good ones.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                allowed = ", ".join(cls.model_fields)
                raise ValueError(
                    f"unknown sampling parameter(s) {unknown}; allowed keys are: {allowed}"
                    " (note: the native API calls it max_new_tokens, not max_tokens)"
                )
        return data

    @property
    def stop_strings(self) -> list[str]:
        """``stop`` as a list, empty strings dropped."""
        return _as_list(self.stop)

    @property
    def stop_regexes(self) -> list[str]:
        """``stop_regex`` as a list."""
        return _as_list(self.stop_regex)

    @property
    def is_greedy(self) -> bool:
        """SGLang treats a temperature under 1e-6 (or top_k == 1) as greedy decoding."""
        return self.temperature < 1e-6 or self.top_k == 1


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    return [item for item in items if item]
