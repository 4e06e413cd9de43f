"""One program running as a dataflow: each call starts the moment its inputs are filled.

Every call is a task that waits for the variables it reads, renders its prompt, goes through the
scheduler to an engine and streams its output into its variable. Before the calls start, the
program is analysed: each call's objective (is someone waiting for it?) goes with it to the
scheduler, and its task group (which siblings its consumer waits on) to its record. A failed call
fails its variable, and so, with the cause, every call that reads it. Cancelling the program
cancels its tasks, which closes their engine streams (aborting the requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from parrot_backend.analysis import call_objectives, dataflow, task_groups
from parrot_backend.engines.base import EngineRequest
from parrot_backend.errors import CallFailedError, ParrotError
from parrot_backend.program.model import Call, Objective, Program
from parrot_backend.program.render import render_messages, render_template
from parrot_backend.runtime.scheduler import Scheduler
from parrot_backend.runtime.variables import Variable

logger = logging.getLogger(__name__)

CallState = Literal["waiting", "queued", "running", "done", "failed", "cancelled"]
ProgramState = Literal["running", "done", "failed", "cancelled"]


@dataclass
class CallRecord:
    """A call's timeline: where it ran, when, and what it cost."""

    id: str
    output: str
    state: CallState = "waiting"
    objective: Objective = "latency"
    group: str | None = None  # the consumer whose task group the call belongs to
    engine: str | None = None
    placed_by: str | None = None  # the policy that chose the engine (see scheduler.plan.Dispatch)
    matched_chars: int = 0  # prompt characters the scheduler knew the engine to hold
    warmed: bool = False  # a prefill-only warm-up of its shared prefix ran first
    ready_at: float | None = None  # inputs filled, queued in the scheduler
    dispatched_at: float | None = None  # sent to its engine
    started_at: float | None = None  # first output from the engine
    finished_at: float | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None  # "stop", "length" or "abort"
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


class ProgramRun:
    """The state of one submitted program."""

    def __init__(
        self,
        program: Program,
        tenant: str,
        scheduler: Scheduler,
        cache_namespace: str | None = None,
    ) -> None:
        self.id = f"prog-{uuid.uuid4().hex}"
        self.tenant = tenant
        self.program = program
        self.created_at = time.time()
        self.finished_at: float | None = None
        self._scheduler = scheduler
        self._cache_namespace = cache_namespace
        self._cancelled = False
        self._watcher: asyncio.Task[None] | None = None
        self.variables = {name: Variable(name, value) for name, value in program.inputs.items()}
        self.variables.update({call.output: Variable(call.output) for call in program.calls})
        flow = dataflow(program)
        self._calls = [flow.calls[call_id] for call_id in flow.order]
        objectives = call_objectives(program, flow)
        groups = {member: group.consumer for group in task_groups(flow) for member in group.members}
        self.records = {
            call.id: CallRecord(call.id, call.output, objective=objectives[call.id], group=groups.get(call.id))
            for call in self._calls
        }
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start every call's task; each waits for its own inputs."""
        self._tasks = [asyncio.create_task(self._run_call(call), name=f"{self.id}:{call.id}") for call in self._calls]
        self._watcher = asyncio.create_task(self._watch())

    @property
    def state(self) -> ProgramState:
        if self._cancelled:
            return "cancelled"
        records = self.records.values()
        if any(r.state in ("waiting", "queued", "running") for r in records):
            return "running"
        return "failed" if any(r.state == "failed" for r in records) else "done"

    async def cancel(self) -> None:
        """Abort every unfinished call."""
        if self.state != "running":
            return
        self._cancelled = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def variable(self, name: str) -> Variable:
        from parrot_backend.errors import NotFoundError

        try:
            return self.variables[name]
        except KeyError:
            raise NotFoundError(f"program {self.id} has no variable {name!r}") from None

    def describe(self) -> dict[str, Any]:
        """The JSON of ``GET /v1/programs/{id}``."""
        return {
            "id": self.id,
            "status": self.state,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "calls": [record.to_json() for record in self.records.values()],
            "variables": {
                name: {"state": var.state, **({"error": var.error} if var.error else {})}
                for name, var in self.variables.items()
            },
        }

    async def _watch(self) -> None:
        await self.wait()
        self.finished_at = time.time()

    async def _run_call(self, call: Call) -> None:
        record = self.records[call.id]
        output = self.variables[call.output]
        try:
            values = {name: await self.variables[name].value() for name in call.reads()}
        except CallFailedError as error:
            record.state, record.error = "failed", f"an input failed: {error.message}"
            output.fail(record.error)
            return
        except asyncio.CancelledError:
            record.state = "cancelled"
            output.fail("the program was cancelled")
            raise
        record.state, record.ready_at = "queued", time.time()
        request = self._request(call, values)
        calls = self._scheduler.run(f"{self.id}:{call.id}", self.tenant, request, record.objective)
        try:
            async with contextlib.aclosing(calls):
                async for dispatched, assignment in calls:
                    progress = dispatched.progress
                    if record.dispatched_at is None:
                        record.dispatched_at = assignment.released_at
                        record.placed_by, record.matched_chars = assignment.policy, assignment.matched_chars
                        record.warmed = assignment.warmed
                    if record.started_at is None:
                        record.state, record.started_at = "running", time.time()
                    if dispatched.engine_id != assignment.engine:
                        record.placed_by = "failover"
                    record.engine = dispatched.engine_id
                    if progress.finished:
                        record.prompt_tokens = progress.prompt_tokens
                        record.cached_tokens = progress.cached_tokens
                        record.completion_tokens = progress.completion_tokens
                        record.finish_reason = progress.finish_reason
                        record.state, record.finished_at = "done", time.time()
                        output.finish(progress.text)
                    else:
                        output.update(progress.text)
        except asyncio.CancelledError:
            record.state, record.finished_at = "cancelled", time.time()
            output.fail("the program was cancelled")
            raise
        except ParrotError as error:
            record.state, record.error, record.finished_at = "failed", error.message, time.time()
            output.fail(f"call {call.id!r} failed: {error.message}")
        except Exception as error:  # a bug: fail this call (and its readers), never hang the program
            logger.exception("call %s of %s failed unexpectedly", call.id, self.id)
            record.state, record.error, record.finished_at = "failed", f"internal error: {error!r}", time.time()
            output.fail(f"call {call.id!r} failed: {record.error}")

    def _request(self, call: Call, values: dict[str, str]) -> EngineRequest:
        rid, namespace = f"{self.id}-{call.id}", self._cache_namespace
        if call.is_chat:
            return EngineRequest(rid, call.sampling, messages=render_messages(call, values), cache_namespace=namespace)
        prompt = render_template(call.template or [], values)
        return EngineRequest(rid, call.sampling, prompt=prompt, cache_namespace=namespace)
