"""The engines the backend sends calls to: registration, health, load, and failover.

A call goes to the engine the scheduler picked (or the least-loaded one). If that engine fails
mid-call (unreachable, 5xx, a broken stream) it is marked unhealthy and the call continues
on another engine from where it stopped: the new request is the old prompt plus the text already
generated, so a variable's streamed text never goes backwards. A health loop brings engines back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from parrot_backend.engines.base import Engine, EngineKind, EngineProgress, EngineRequest
from parrot_backend.engines.http import RetryableEngineError, detect_kind, make_engine, served_model
from parrot_backend.errors import EngineError, EngineNotReadyError, NotFoundError
from parrot_backend.scheduler.placement import EngineView, least_loaded

logger = logging.getLogger(__name__)


@dataclass
class EngineEntry:
    """An engine and what the pool knows of it."""

    id: str
    engine: Engine
    healthy: bool = True
    draining: bool = False
    in_flight: int = 0
    served: int = 0
    failures: int = 0
    max_model_len: int | None = None  # the model's context length, where the engine reports it
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self) -> EngineView:
        return EngineView(self.id, self.healthy, self.draining, self.in_flight)

    def describe(self) -> dict[str, object]:
        """The JSON form listed by ``GET /v1/engines``."""
        return {
            "id": self.id,
            "url": self.engine.url,
            "kind": self.engine.kind,
            "healthy": self.healthy,
            "draining": self.draining,
            "in_flight": self.in_flight,
            "served": self.served,
            "failures": self.failures,
        }


@dataclass(frozen=True)
class Dispatched:
    """Progress of a call, with the engine serving it."""

    progress: EngineProgress
    engine_id: str


class EnginePool:
    """Engines by id, with placement, failover and periodic health checks."""

    def __init__(self, *, health_interval: float = 5.0, max_attempts: int = 3) -> None:
        self._entries: dict[str, EngineEntry] = {}
        self._ids = itertools.count(1)
        self._health_interval = health_interval
        self._max_attempts = max_attempts
        self._health_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ membership

    async def add(
        self,
        url: str,
        kind: EngineKind | None = None,
        *,
        model: str | None = None,
        api_key: str | None = None,
    ) -> EngineEntry:
        """Register an engine (its kind detected when not given) after checking it answers."""
        url = url.rstrip("/")
        if any(entry.engine.url == url and not entry.draining for entry in self._entries.values()):
            raise EngineError(f"{url} is already registered")
        kind = kind or await detect_kind(url)
        listed = await served_model(url, api_key)
        engine = make_engine(url, kind, model=model or listed.get("id"), api_key=api_key)
        if not await engine.healthy():
            await engine.aclose()
            raise EngineError(f"{url} does not answer its health check; is the engine running?")
        length = listed.get("max_model_len")
        entry = EngineEntry(id=f"engine-{next(self._ids)}", engine=engine, max_model_len=length)
        entry.idle.set()
        self._entries[entry.id] = entry
        logger.info("engine %s added: %s (%s)", entry.id, url, kind)
        return entry

    async def drain(self, engine_id: str) -> None:
        """Stop placing calls on an engine, wait for its calls to end, then forget it."""
        entry = self.get(engine_id)
        entry.draining = True
        await entry.idle.wait()
        self._entries.pop(engine_id, None)
        await entry.engine.aclose()

    def get(self, engine_id: str) -> EngineEntry:
        try:
            return self._entries[engine_id]
        except KeyError:
            raise NotFoundError(f"no engine {engine_id!r}; GET /v1/engines lists them") from None

    def entries(self) -> list[EngineEntry]:
        return list(self._entries.values())

    def models(self) -> dict[str, int | None]:
        """The models the engines serve (as they report them), with the smallest context length
        reported for each (None where no engine says)."""
        served: dict[str, int | None] = {}
        for entry in self._entries.values():
            name = getattr(entry.engine, "model", None)
            if name:
                lengths = [n for n in (served.get(name), entry.max_model_len) if n is not None]
                served[name] = min(lengths) if lengths else None
        return served

    # ------------------------------------------------------------ health

    def start_health_checks(self) -> None:
        if self._health_task is None:
            self._health_task = asyncio.create_task(self._health_loop())

    async def check_health(self) -> None:
        """Probe every engine once."""
        entries = list(self._entries.values())
        results = await asyncio.gather(*(e.engine.healthy() for e in entries))
        for entry, healthy in zip(entries, results, strict=True):
            if healthy != entry.healthy:
                logger.warning("engine %s (%s) is %s", entry.id, entry.engine.url, "back" if healthy else "down")
            entry.healthy = healthy

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            with contextlib.suppress(Exception):
                await self.check_health()

    async def aclose(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        for entry in self._entries.values():
            await entry.engine.aclose()

    # ------------------------------------------------------------ calls

    async def tokenize(self, content: str | list[dict[str, str]], *, add_special_tokens: bool = True) -> list[int]:
        """Token ids by the least-loaded healthy engine (the engines serve one model, one tokenizer)."""
        ready = self.available()
        if not ready:
            raise EngineNotReadyError("no healthy engine to tokenize with; add one with POST /v1/engines or --engine")
        entry = min(ready, key=lambda e: (e.in_flight, e.id))
        return await entry.engine.tokenize(content, add_special_tokens=add_special_tokens)

    def available(self) -> list[EngineEntry]:
        """Engines that take new calls: healthy and not draining."""
        return [e for e in self._entries.values() if e.view().available]

    async def run(self, request: EngineRequest, engine_id: str | None = None) -> AsyncIterator[Dispatched]:
        """Run one call on ``engine_id`` (the least-loaded engine if None or no longer available),
        failing over to other engines; the last item is finished."""
        failed: set[str] = set()
        partial, partial_tokens = "", 0
        attempt_request = request
        for _ in range(self._max_attempts):
            first = self._entries.get(engine_id or "")
            if first is not None and first.view().available and first.id not in failed:
                entry = first
            else:
                entry = self._entries[
                    least_loaded([e.view() for e in self._entries.values()], exclude=frozenset(failed))
                ]
            entry.in_flight += 1
            entry.idle.clear()
            text, tokens = partial, partial_tokens
            try:
                async for progress in entry.engine.generate(attempt_request):
                    # A continuation's text follows what the failed engines produced.
                    text = partial + progress.text
                    tokens = partial_tokens + progress.completion_tokens
                    if progress.finished:
                        entry.served += 1
                    yield Dispatched(replace(progress, text=text), entry.id)
                    if progress.finished:
                        return
            except RetryableEngineError as error:
                entry.healthy = False
                entry.failures += 1
                failed.add(entry.id)
                logger.warning("engine %s failed a call (%s); continuing it elsewhere", entry.id, error)
                partial, partial_tokens = text, tokens
                attempt_request = request.continued(partial, partial_tokens)
            finally:
                entry.in_flight -= 1
                if entry.in_flight == 0:
                    entry.idle.set()
        raise EngineError(f"the call failed on {len(failed)} engine(s); no engine could finish it")
