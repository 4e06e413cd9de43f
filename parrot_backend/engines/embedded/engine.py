"""The embedded engine: SGLang-like request handling on transformers' continuous batching.

transformers' ``ContinuousBatchingManager`` runs the generation loop in a background thread
(paged attention, continuous batching, block-level prefix sharing). This module adds what an
SGLang runtime has and the library does not:

- per-request sampling (see :mod:`.sampler`) and per-request stop ids / ``ignore_eos``;
- stop strings, the length limit and SGLang's text rules (see :mod:`.stopping`);
- ``cached_tokens``: the prompt tokens served from shared blocks, counted where the library
  looks them up;
- prefill-only requests (``max_new_tokens == 0``) that leave their prompt cached, and
  cache namespaces (``extra_key`` / ``cache_salt``);
- abort, flush and load figures.

Two library facts shape the code. A block is registered for sharing only by a forward pass
after which the request is still running, so the loop is always asked for at least one token
more than the client wants and the engine ends the request itself. And cancelled requests
produce no output, so the engine resolves its own waiters on abort.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from parrot_backend.engines.embedded.models import LoadedModel
from parrot_backend.engines.embedded.stopping import OutputTracker, Snapshot, StopCriteria
from parrot_backend.errors import (
    ContextLengthError,
    DuplicateRequestError,
    EngineNotReadyError,
    InvalidRequestError,
    RequestsPendingError,
)
from parrot_backend.program.sampling import SamplingParams

logger = logging.getLogger(__name__)

_UNSUPPORTED_DEFAULTS: dict[str, Any] = {
    "n": 1,
    "json_schema": None,
    "regex": None,
    "ebnf": None,
    "logit_bias": None,
    "custom_params": None,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "repetition_penalty": 1.0,
    "min_new_tokens": 0,
}


@dataclass(frozen=True)
class EngineConfig:
    """Sizes of the KV cache and the batches, and the GPU speed-ups.

    ``block_size`` is the prefix-sharing granularity: only whole blocks are shared, so small
    blocks (16-32 tokens) suit CPU runs with short prompts; GPUs prefer larger ones.
    ``num_blocks=None`` lets transformers size the cache from free device memory.
    """

    block_size: int = 32
    num_blocks: int | None = 1024
    max_batch_tokens: int | None = 1024
    max_running_requests: int | None = None
    use_cuda_graph: bool | None = None
    compile_level: int = 0
    prefix_sharing: bool = True  # off only to measure what sharing buys

    @property
    def cache_tokens(self) -> int | None:
        """Tokens the KV cache holds, when its size is fixed."""
        return None if self.num_blocks is None else self.num_blocks * self.block_size


@dataclass(frozen=True)
class GenerationEvent:
    """One step of a request's progress: its cumulative output and its accounting."""

    rid: str
    snapshot: Snapshot
    prompt_tokens: int
    cached_tokens: int
    e2e_latency: float

    @property
    def finished(self) -> bool:
        return self.snapshot.finished


@dataclass
class EngineStats:
    """Counters and gauges for ``/metrics`` and ``/server_info``."""

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generation_tokens: int = 0
    running: int = 0
    queued: int = 0


@dataclass
class _LiveRequest:
    rid: str  # the client's id
    key: str  # the generation loop's id: unique even when a client reuses a rid
    tracker: OutputTracker
    queue: asyncio.Queue[Any]
    loop: asyncio.AbstractEventLoop
    prompt_tokens: int
    started: float
    last_ids: list[int] = field(default_factory=list)
    library_done: bool = False


@dataclass(frozen=True)
class _Abort:
    message: str


class EmbeddedEngine:
    """An in-process engine generating with a transformers model.

    Use from asyncio: ``async for event in engine.generate(ids, params)``. Leaving the loop early
    (or cancelling the task) aborts the request and frees its slot.
    """

    def __init__(self, loaded: LoadedModel, config: EngineConfig | None = None) -> None:
        self.loaded = loaded
        self.config = config or EngineConfig()
        self.tokenizer = loaded.tokenizer
        model_config = loaded.model.config.get_text_config()
        self.vocab_size: int = model_config.vocab_size
        self.context_length: int = getattr(model_config, "max_position_embeddings", None) or 4096
        self.eos_token_ids: frozenset[int] = frozenset(_eos_ids(loaded.model))
        self._stats = EngineStats()
        self._live: dict[str, _LiveRequest] = {}  # by client rid
        self._by_key: dict[str, _LiveRequest] = {}  # by loop key
        self._prefix_hits: dict[str, int] = {}  # by loop key
        self._isolated: set[str] = set()  # loop keys of namespaced requests
        self._lock = threading.Lock()
        self._manager: Any = None
        self._dispatcher: threading.Thread | None = None
        self._closing = threading.Event()
        self._rid_counter = itertools.count()

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 600.0) -> None:
        """Start the generation loop (and, on GPUs, capture graphs). Blocks until it is ready."""
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        from parrot_backend.engines.embedded.sampler import build_processor_list

        cfg = self.config
        cb_config = ContinuousBatchingConfig(
            page_size=cfg.block_size,
            num_blocks=cfg.num_blocks,
            max_batch_tokens=cfg.max_batch_tokens,
            max_requests_per_batch=cfg.max_running_requests,
            allow_block_sharing=self.loaded.prefix_sharing and cfg.prefix_sharing,
            use_cuda_graph=cfg.use_cuda_graph,
            default_compile_level=cfg.compile_level,
        )
        generation_config = GenerationConfig(do_sample=False, eos_token_id=-1, max_new_tokens=1)
        manager = self.loaded.model.init_continuous_batching(
            generation_config=generation_config, continuous_batching_config=cb_config
        )
        # Sampling is per request: the loop stays greedy and our processors draw the samples.
        manager.logit_processor = build_processor_list()
        manager.start()
        deadline = time.monotonic() + timeout
        while manager.batch_processor is None:
            if not manager.is_running() or time.monotonic() > deadline:
                error = getattr(manager.background_thread_status, "fatal_error", None)
                raise EngineNotReadyError(
                    f"the generation loop failed to start: {error or 'timed out'} "
                    "(a KV cache too large for memory? lower --num-blocks or --block-size)"
                )
            time.sleep(0.01)
        self._instrument_cache(manager.batch_processor.cache)
        self._manager = manager
        self._dispatcher = threading.Thread(target=self._dispatch_outputs, name="parrot-outputs", daemon=True)
        self._dispatcher.start()

    def shutdown(self) -> None:
        """Stop the generation loop; running requests end as aborted."""
        self._closing.set()
        for live in list(self._live.values()):
            self._deliver(live, _Abort("the engine is shutting down"))
        if self._manager is not None:
            self._manager.stop(block=True, timeout=30, hard_stop=True)
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=5)

    @property
    def healthy(self) -> bool:
        """True while the generation loop runs."""
        return self._manager is not None and self._manager.is_running() and not self._closing.is_set()

    # ------------------------------------------------------------------ requests

    def tokenize(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of a prompt, as the model's tokenizer gives them: with the special tokens it
        adds by default (a BOS token, for many models) unless ``add_special_tokens`` is false."""
        return list(self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])

    def apply_chat_template(self, messages: list[dict[str, Any]]) -> list[int]:
        """Token ids of a conversation rendered with the model's chat template."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise InvalidRequestError(
                f"the model {self.loaded.served_name} has no chat template; use /v1/completions or /generate"
            )
        try:
            rendered = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception as error:  # jinja2 errors raised by the template itself
            raise InvalidRequestError(f"the model's chat template rejected these messages: {error}") from error
        return list(self.tokenizer(rendered, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """Text of token ids."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def new_rid(self) -> str:
        """A fresh request id."""
        return f"{uuid.uuid4().hex[:12]}-{next(self._rid_counter)}"

    async def generate(
        self,
        input_ids: Sequence[int],
        params: SamplingParams,
        *,
        rid: str | None = None,
        cache_namespace: str | None = None,
    ) -> AsyncIterator[GenerationEvent]:
        """Generate for one prompt, yielding an event each time the output grows.

        The last event is finished. ``cache_namespace`` (SGLang's ``extra_key``/``cache_salt``)
        keeps the request out of the shared prefix cache: it neither reads nor leaves shared
        blocks, so no other request can learn its prompt through timing.
        """
        if not self.healthy:
            raise EngineNotReadyError("the engine is not running")
        rid = rid or self.new_rid()
        prompt = list(input_ids)
        max_new_tokens = self.check_request(prompt, params)
        criteria = StopCriteria(
            max_new_tokens=max_new_tokens,
            stop_token_ids=self._stop_ids(params),
            stop_strings=tuple(params.stop_strings),
            stop_regexes=tuple(params.stop_regexes),
            no_stop_trim=params.no_stop_trim,
        )
        skip = params.skip_special_tokens
        tracker = OutputTracker(criteria, lambda ids: self.decode(ids, skip))
        live = _LiveRequest(
            rid=rid,
            key=f"{rid}#{next(self._rid_counter)}",
            tracker=tracker,
            queue=asyncio.Queue(),
            loop=asyncio.get_running_loop(),
            prompt_tokens=len(prompt),
            started=time.perf_counter(),
        )
        with self._lock:
            if rid in self._live:
                raise DuplicateRequestError(f"request id {rid!r} is already running; use a unique rid")
            self._live[rid] = live
            self._by_key[live.key] = live
            if cache_namespace is not None:
                self._isolated.add(live.key)
        try:
            self._submit(live, prompt, params, criteria)
            async for event in self._follow(live):
                yield event
        finally:
            self._finish(live)

    def abort(self, rid: str) -> bool:
        """Abort a running request; returns False if no such request runs."""
        live = self._live.get(rid)
        if live is None:
            return False
        self._deliver(live, _Abort("aborted by request"))
        return True

    def abort_all(self) -> int:
        """Abort every running request; returns how many there were."""
        return sum(self.abort(rid) for rid in list(self._live))

    async def flush_cache(self) -> None:
        """Forget every cached prefix. Refused while requests run, as SGLang does."""
        if not self.healthy:
            raise EngineNotReadyError("the engine is not running")
        if self._live:
            raise RequestsPendingError(
                f"cache not flushed: {len(self._live)} request(s) are running; retry when the engine is idle"
            )
        await asyncio.to_thread(self._evict_cached_blocks)

    def stats(self) -> EngineStats:
        """A copy of the counters, with the current running and queued request counts."""
        with self._lock:
            stats = EngineStats(**vars(self._stats))
        scheduler = getattr(getattr(self._manager, "batch_processor", None), "scheduler", None)
        if scheduler is not None:
            stats.running = len(scheduler.active_requests)
            stats.queued = len(scheduler.waiting_requests) + self._manager.input_queue.qsize()
        return stats

    @property
    def max_request_tokens(self) -> int:
        """Prompt plus new tokens that one request may hold."""
        cache_tokens = self.config.cache_tokens
        return self.context_length if cache_tokens is None else min(self.context_length, cache_tokens)

    @property
    def max_model_len(self) -> int:
        """The longest prompt plus output this engine serves (what ``/v1/models`` reports): the
        request limit, less the room the loop keeps (see :meth:`check_request`)."""
        return self.max_request_tokens - 2

    # ------------------------------------------------------------------ internals

    def check_request(self, prompt: list[int], params: SamplingParams) -> int:
        """Validate a request against the model and return the effective max_new_tokens."""
        for name, default in _UNSUPPORTED_DEFAULTS.items():
            if getattr(params, name) != default:
                raise InvalidRequestError(
                    f"sampling parameter {name!r} is not supported by the embedded engine "
                    f"(leave it at {default!r}); SGLang runtimes support it"
                )
        if not prompt:
            raise InvalidRequestError("the prompt is empty: send non-empty text or input_ids")
        bad = [token for token in prompt if not 0 <= token < self.vocab_size]
        if bad:
            raise InvalidRequestError(
                f"input_ids hold {len(bad)} id(s) outside the vocabulary [0, {self.vocab_size}), e.g. {bad[0]}"
            )
        limit = self.max_request_tokens
        # One token of room is kept for the extra step the loop runs (see the module docstring).
        if len(prompt) + 1 >= limit:
            raise ContextLengthError(
                f"the input ({len(prompt)} tokens) is longer than the engine's limit of {limit - 2} tokens "
                f"(context length {self.context_length}, KV cache {self.config.cache_tokens} tokens)"
            )
        return min(params.max_new_tokens, limit - len(prompt) - 2)

    def _stop_ids(self, params: SamplingParams) -> frozenset[int]:
        stop_ids = frozenset(params.stop_token_ids or ())
        return stop_ids if params.ignore_eos else stop_ids | self.eos_token_ids

    def _submit(self, live: _LiveRequest, prompt: list[int], params: SamplingParams, criteria: StopCriteria) -> None:
        from parrot_backend.engines.embedded.sampler import processor_kwargs

        with self._lock:
            self._stats.requests += 1
            self._stats.prompt_tokens += len(prompt)
        accepted = self._manager.add_request(
            prompt,
            request_id=live.key,
            # At least one token more than wanted, so the last wanted step registers its blocks.
            max_new_tokens=max(criteria.max_new_tokens, 1) + 1,
            streaming=True,
            eos_token_id=sorted(criteria.stop_token_ids),
            **processor_kwargs(params),
        )
        if accepted is None:
            raise EngineNotReadyError("the generation loop is not accepting requests")

    async def _follow(self, live: _LiveRequest) -> AsyncIterator[GenerationEvent]:
        while True:
            item = await live.queue.get()
            if isinstance(item, _Abort):
                snapshot = live.tracker.abort(live.last_ids, item.message)
            elif item.error is not None:
                live.library_done = True
                snapshot = live.tracker.abort(item.generated_tokens, f"generation failed: {item.error}")
            else:
                live.library_done = item.is_finished()
                live.last_ids = list(item.generated_tokens)
                snapshot = live.tracker.update(live.last_ids)
                if live.library_done and not snapshot.finished:
                    snapshot = live.tracker.abort(live.last_ids, "the generation loop ended the request")
            yield GenerationEvent(
                rid=live.rid,
                snapshot=snapshot,
                prompt_tokens=live.prompt_tokens,
                cached_tokens=self._prefix_hits.get(live.key, 0),
                e2e_latency=time.perf_counter() - live.started,
            )
            if snapshot.finished:
                return

    def _finish(self, live: _LiveRequest) -> None:
        final = live.tracker.final
        with self._lock:
            self._live.pop(live.rid, None)
            self._by_key.pop(live.key, None)
            self._isolated.discard(live.key)
            self._stats.cached_tokens += self._prefix_hits.pop(live.key, 0)
            self._stats.generation_tokens += len(final.output_ids if final else live.last_ids)
        if not live.library_done and self._manager is not None:
            self._manager.cancel_request(live.key)

    @staticmethod
    def _deliver(live: _LiveRequest, item: Any) -> None:
        """Hand an output or an abort to the request's waiter, on its event loop."""
        live.loop.call_soon_threadsafe(live.queue.put_nowait, item)

    def _dispatch_outputs(self) -> None:
        """Route the loop's outputs to the waiting requests (runs in its own thread)."""
        manager = self._manager
        while not self._closing.is_set():
            output = manager.get_result(timeout=0.1)
            if output is not None:
                live = self._by_key.get(output.request_id)
                if live is not None:  # else it ended already (cancelled, or aborted)
                    self._deliver(live, output)
                continue
            if not manager.is_running():
                error = getattr(manager.background_thread_status, "fatal_error", None)
                for live in list(self._live.values()):
                    self._deliver(live, _Abort(f"the generation loop stopped: {error}"))
                time.sleep(0.1)

    def _instrument_cache(self, cache: Any) -> None:
        """Count prefix hits and keep namespaced requests out of the shared blocks.

        The library finds shared blocks in ``search_prefix_match`` (once per request, when it is
        admitted) and publishes new ones in ``mark_complete_blocks``; both are wrapped here,
        before any request is submitted.
        """
        search, mark = cache.search_prefix_match, cache.mark_complete_blocks

        def search_prefix_match(request_id: str, prompt_ids: list[int]) -> int:
            if request_id in self._isolated:
                return 0
            matched = search(request_id, prompt_ids)
            if request_id in self._by_key:  # not one that ended before the loop admitted it
                self._prefix_hits.setdefault(request_id, matched)
            return matched

        def mark_complete_blocks(state: Any, complete_blocks: dict[str, int]) -> None:
            if state.request_id not in self._isolated:
                mark(state, complete_blocks)

        cache.search_prefix_match = search_prefix_match
        cache.mark_complete_blocks = mark_complete_blocks

    def _evict_cached_blocks(self) -> None:
        manager = self._manager
        deadline = time.monotonic() + 5.0
        while True:
            with manager.pause():
                processor = manager.batch_processor
                # Cancelled requests may linger one step in the loop, holding their blocks.
                if not processor.scheduler.has_pending_requests() or time.monotonic() > deadline:
                    processor.cache.evict_cached_blocks()
                    processor.cache.pool.try_to_free_sectors()
                    return
            time.sleep(0.02)


def _eos_ids(model: Any) -> list[int]:
    for source in (getattr(model, "generation_config", None), model.config):
        eos = getattr(source, "eos_token_id", None)
        if eos is not None:
            ids = [eos] if isinstance(eos, int) else list(eos)
            return [i for i in ids if i >= 0]
    return []
