"""The scheduler at run time: ready calls wait here until a plan sends them to an engine.

Each ready call :meth:`Scheduler.run` s through here. It joins the queue, and a round of
:func:`~parrot_backend.scheduler.plan.plan` runs once the event loop has delivered everything that
became ready at the same moment (so siblings released by one parent are planned together). The
round's warm-ups are sent, their calls released when they end; the other calls start at once.
What the scheduler did is counted for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace

from parrot_backend.analysis.prefixes import PrefixTree, body_start, prefix_messages, rendered_key
from parrot_backend.engines.base import EngineRequest
from parrot_backend.engines.pool import Dispatched, EnginePool
from parrot_backend.errors import ParrotError
from parrot_backend.program.model import Objective
from parrot_backend.scheduler.plan import EngineState, Plan, QueuedCall, SchedulerState, Warm, plan
from parrot_backend.scheduler.policies import SchedulerConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assignment:
    """Where the scheduler sent a call, why, and whether a warm-up ran for it first."""

    engine: str
    policy: str
    matched_chars: int
    warmed: bool = False
    released_at: float = field(default_factory=time.time)  # when the call was let go to its engine


@dataclass
class SchedulerStats:
    """Running totals for ``/metrics``.

    ``ideal_chars`` grows by the part of each prompt no earlier prompt of the tenant shared (the
    size of the prompts' trie); ``computed_chars`` by each prompt's length times the share of its
    tokens the engine did not find cached. Their ratio is computed vs ideal prefill.
    """

    calls: int = 0
    warms: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    sent_chars: int = 0
    ideal_chars: int = 0
    computed_chars: float = 0.0
    placed_by: Counter[str] = field(default_factory=Counter)


@dataclass
class _Waiting:
    call: QueuedCall
    request: EngineRequest
    chosen: asyncio.Future[Assignment]


class Scheduler:
    """Queues ready calls and runs them where :func:`plan` says (see the module doc)."""

    def __init__(self, pool: EnginePool, config: SchedulerConfig | None = None, *, max_keys: int = 4096) -> None:
        self.pool = pool
        self.config = config or SchedulerConfig()
        self.stats = SchedulerStats()
        self._max_keys = max_keys  # prompt keys remembered per engine (and overall) before forgetting
        self._queue: dict[str, _Waiting] = {}
        self._running: dict[str, tuple[str, Objective]] = {}  # ticket -> engine, objective
        self._cached: dict[str, PrefixTree] = {}  # engine id -> prompt keys run there
        self._seen = PrefixTree()  # every prompt key, for the ideal prefill
        self._seq = itertools.count()
        self._round_pending = False
        self._warm_tasks: set[asyncio.Task[None]] = set()

    def queue_lengths(self) -> dict[Objective, int]:
        """Calls waiting for an engine, by objective."""
        counts: dict[Objective, int] = {"latency": 0, "throughput": 0}
        for waiting in self._queue.values():
            counts[waiting.call.objective] += 1
        return counts

    async def run(
        self,
        ticket: str,
        tenant: str,
        request: EngineRequest,
        objective: Objective = "latency",
    ) -> AsyncGenerator[tuple[Dispatched, Assignment], None]:
        """Queue a ready call, then stream it from the engine it is sent to (failing over if that
        engine fails); the call leaves the scheduler's books when the stream ends or is closed."""
        key = rendered_key(tenant, request.prompt if request.prompt is not None else request.messages or [])
        self._count_prompt(key)
        waiting = _Waiting(
            QueuedCall(ticket, key, objective, next(self._seq)),
            request,
            asyncio.get_running_loop().create_future(),
        )
        self._queue[ticket] = waiting
        self._schedule_round()
        try:
            assignment = await waiting.chosen
            async for dispatched in self.pool.run(request, assignment.engine):
                if dispatched.progress.finished:
                    self._count_finished(key, dispatched)
                yield dispatched, assignment
        finally:
            self._queue.pop(ticket, None)
            if self._running.pop(ticket, None) is not None:
                self._schedule_round()

    # ------------------------------------------------------------ rounds

    def _schedule_round(self) -> None:
        """Plan once the loop has run what is ready now (calls released together join one round)."""
        if not self._round_pending:
            self._round_pending = True
            asyncio.get_running_loop().call_soon(self._round)

    def _state(self) -> SchedulerState:
        engines = []
        running = Counter(engine for engine, _ in self._running.values())
        batch = Counter(engine for engine, objective in self._running.values() if objective == "throughput")
        for entry in self.pool.available():
            cached = self._cached.setdefault(entry.id, PrefixTree())
            engines.append(
                EngineState(entry.id, running[entry.id], batch[entry.id], cached, entry.engine.kind == "sglang")
            )
        latency = sum(1 for _, objective in self._running.values() if objective == "latency")
        return SchedulerState(engines, [w.call for w in self._queue.values()], latency)

    def _round(self) -> None:
        self._round_pending = False
        state = self._state()
        if not state.queue:
            return
        if not state.engines:  # nothing can take calls: let the pool say why, on the least-loaded path
            for waiting in self._queue.values():
                waiting.chosen.set_result(Assignment("", "least-loaded", 0))
            self._queue.clear()
            return
        self._execute(plan(state, self.config))

    def _execute(self, decided: Plan) -> None:
        held: dict[str, tuple[_Waiting, Assignment]] = {}  # ticket -> a call waiting for its warm-up
        for dispatch in decided.dispatches:
            waiting = self._queue.pop(dispatch.ticket)
            call = waiting.call
            self._running[call.ticket] = (dispatch.engine, call.objective)
            cached = self._cached.setdefault(dispatch.engine, PrefixTree())
            if len(cached) >= self._max_keys:  # forget, as the engine's cache evicts
                cached = self._cached[dispatch.engine] = PrefixTree()
            cached.insert(call.key, call.ticket)
            self.stats.placed_by[dispatch.policy] += 1
            assignment = Assignment(dispatch.engine, dispatch.policy, dispatch.matched_chars, dispatch.warm is not None)
            if dispatch.warm is None:
                waiting.chosen.set_result(assignment)
            else:
                held[call.ticket] = (waiting, assignment)
        for warm in decided.warms:
            task = asyncio.create_task(self._warm(warm, [held[ticket] for ticket in warm.calls]))
            self._warm_tasks.add(task)
            task.add_done_callback(self._warm_tasks.discard)

    async def _warm(self, warm: Warm, members: list[tuple[_Waiting, Assignment]]) -> None:
        """Prefill the shared prefix, then release ``members`` (in the warm-up's order)."""
        source = members[0][0].request
        request = _prefix_request(source, warm.chars)
        self.stats.warms += 1
        try:
            async for _ in self.pool.run(request, warm.engine):
                pass
        except ParrotError as error:  # the calls still run; each computes the prefix itself
            logger.warning("warm-up on %s failed (%s); releasing its calls anyway", warm.engine, error.message)
        finally:
            for waiting, assignment in members:
                if not waiting.chosen.done():
                    waiting.chosen.set_result(replace(assignment, released_at=time.time()))

    # ------------------------------------------------------------ accounting

    def _count_prompt(self, key: str) -> None:
        if len(self._seen) >= self._max_keys * 4:
            self._seen = PrefixTree()
        start = body_start(key)
        self.stats.calls += 1
        self.stats.sent_chars += len(key) - start
        self.stats.ideal_chars += len(key) - max(self._seen.longest_match(key), start)
        self._seen.insert(key, "")

    def _count_finished(self, key: str, dispatched: Dispatched) -> None:
        progress = dispatched.progress
        self.stats.prompt_tokens += progress.prompt_tokens
        self.stats.cached_tokens += progress.cached_tokens
        if progress.prompt_tokens:
            computed = 1 - progress.cached_tokens / progress.prompt_tokens
            self.stats.computed_chars += (len(key) - body_start(key)) * computed


def _prefix_request(request: EngineRequest, chars: int) -> EngineRequest:
    """A prefill-only request for the first ``chars`` characters of ``request``'s prompt key."""
    sampling = request.sampling.model_copy(update={"max_new_tokens": 0})
    rid = f"{request.rid}-warm"
    if request.prompt is not None:
        return EngineRequest(rid, sampling, prompt=request.prompt[:chars], cache_namespace=request.cache_namespace)
    messages = prefix_messages(request.messages or [], chars)
    return EngineRequest(rid, sampling, messages=messages, cache_namespace=request.cache_namespace)
