"""The wire model of a program: semantic variables, calls, and what the client will read.

A program is one app run. Its *variables* are named text slots: an input (its value given in
``inputs``) or the output of exactly one call. A *call* is a prompt template of literal text and
variable references, sampling parameters, and the variable it writes. The client names the
variables it will read in ``outputs`` and how it wants each (``latency`` for an interactive
answer, ``throughput`` for batch work).

JSON form::

    {"inputs": {"doc": "..."},
     "calls": [{"id": "summarize",
                "template": [{"text": "Summarize:\\n"}, {"var": "doc"}],
                "output": "summary",
                "sampling": {"max_new_tokens": 64, "temperature": 0}}],
     "outputs": [{"name": "summary", "objective": "latency"}]}

Chat calls give ``messages`` (each a role and a template) instead of ``template``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parrot_backend.program.sampling import SamplingParams

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$"

Objective = Literal["latency", "throughput"]


class Text(BaseModel):
    """A literal piece of a template."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str


class Ref(BaseModel):
    """A reference to a variable, filled with its value when the call runs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    var: str = Field(pattern=NAME_PATTERN)


Segment = Text | Ref
Template = list[Segment]


class Message(BaseModel):
    """One chat message whose content is a template."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "user", "assistant"]
    content: Template


class Call(BaseModel):
    """A semantic function call: a template, sampling parameters and the variable it writes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=NAME_PATTERN)
    template: Template | None = None
    messages: list[Message] | None = Field(default=None, min_length=1)
    output: str = Field(pattern=NAME_PATTERN)
    sampling: SamplingParams = Field(default_factory=SamplingParams)

    @model_validator(mode="after")
    def _one_form(self) -> Call:
        if (self.template is None) == (self.messages is None):
            raise ValueError(f"call {self.id!r}: give exactly one of template (completion) or messages (chat)")
        return self

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    def segments(self) -> list[Segment]:
        """Every segment of the call, message contents in order for chat calls."""
        if self.template is not None:
            return list(self.template)
        return [segment for message in self.messages or () for segment in message.content]

    def reads(self) -> list[str]:
        """Names of the variables the call reads, in order of first use."""
        return list(dict.fromkeys(s.var for s in self.segments() if isinstance(s, Ref)))


class Output(BaseModel):
    """A variable the client will read, and what it wants of it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN)
    objective: Objective = "latency"


class Program(BaseModel):
    """One app run: input values, calls, and the variables the client will read."""

    model_config = ConfigDict(extra="forbid", strict=True)

    inputs: dict[str, str] = Field(default_factory=dict)
    calls: list[Call]
    outputs: list[Output] = Field(default_factory=list)
    model: str | None = None  # a model name the backend serves (GET /v1/models); None: any

    def produced(self) -> dict[str, Call]:
        """Each call's output variable, mapped to the call (validation guarantees uniqueness)."""
        return {call.output: call for call in self.calls}

    def variable_names(self) -> list[str]:
        """Inputs first, then call outputs, in declaration order."""
        return list(dict.fromkeys([*self.inputs, *(call.output for call in self.calls)]))
