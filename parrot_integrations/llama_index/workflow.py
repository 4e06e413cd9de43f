"""Workflows: a step whose Parrot calls run as one program (a task group and what consumes it).

    from parrot_integrations.llama_index import deferred_calls

    class Summarize(Workflow):
        @step
        @deferred_calls
        async def map_reduce(self, ev: StartEvent) -> StopEvent:
            parts = await asyncio.gather(*(llm.acomplete(f"Summarize:\\n{c}") for c in ev.chunks))
            joined = "\\n".join(p.text for p in parts)
            return StopEvent(result=(await llm.acomplete(f"Combine:\\n{joined}")).text)

Inside the step, ``Parrot`` calls return at once with placeholders for their text (see
:mod:`parrot_integrations.tracing`); the step's code moves them around as text, and the event it
returns carries the real values: the map calls run together on the backend, and the combine call
starts there the moment the last one ends. Code in the step must not inspect an answer (its
length, ``if "yes" in answer``); a fan-out spread over several steps with ``send_event`` and
``collect_events`` makes one request per call, as with any LLM.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from workflows.events import Event

from parrot_integrations.tracing import CompileError, Trace

E = TypeVar("E")


def deferred_calls(step: Callable[..., Awaitable[E]]) -> Callable[..., Awaitable[E]]:
    """Run a workflow step (an ``async def``) with its ``Parrot`` calls submitted as one program."""

    @functools.wraps(step)
    async def run(*args: Any, **kwargs: Any) -> E:
        with Trace() as trace:
            result = await step(*args, **kwargs)
            resolved = await asyncio.to_thread(_resolve, trace, result)
            if not await asyncio.to_thread(trace.estimates_held):
                raise CompileError(f"step {step.__name__}: a length estimated before the answers existed was wrong")
            return resolved

    return run


def _resolve(trace: Trace, value: Any) -> Any:
    if isinstance(value, Event):
        return type(value)(**trace.resolve(value.model_dump()))
    return trace.resolve(value)
