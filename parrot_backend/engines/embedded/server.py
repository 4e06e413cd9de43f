"""The embedded engine's HTTP app: the part of SGLang's runtime API that Parrot and its peers use.

Routes and shapes follow sglang 0.5.23 (see ``shared/notes/sglang-api.md``): ``/generate``,
``/health``, ``/model_info``, ``/server_info`` (and their ``/get_*`` names), ``/flush_cache``,
``/abort_request``, ``/tokenize``, ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``
and ``/metrics``. The model loads in the background after start-up; until it is ready
``/health`` answers 503, which is how SGLang runtimes tell routers to wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from parrot_backend import __version__
from parrot_backend.engines.embedded.engine import EmbeddedEngine, GenerationEvent
from parrot_backend.engines.embedded.metrics import render_metrics
from parrot_backend.engines.openai_api import (
    ChatCompletionRequest,
    CompletionRequest,
    OpenAIReply,
    ReplyPiece,
    TokenizeRequest,
)
from parrot_backend.engines.sglang_api import GenerateRequest, SamplingParams
from parrot_backend.errors import EngineNotReadyError, InvalidRequestError
from parrot_backend.http_common import install_error_handlers, sse_response

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    """One prompt of a request, ready for the engine."""

    input_ids: list[int]
    params: SamplingParams
    rid: str
    cache_namespace: str | None
    index: int


class _EngineHolder:
    """The engine once loaded, or why it failed to load."""

    def __init__(self) -> None:
        self.engine: EmbeddedEngine | None = None
        self.error: BaseException | None = None

    def ready(self) -> EmbeddedEngine:
        if self.engine is None or not self.engine.healthy:
            reason = f"the model failed to load: {self.error}" if self.error else "the model is loading"
            raise EngineNotReadyError(f"engine not ready ({reason}); poll /health until it answers 200")
        return self.engine


def create_app(load_engine: Callable[[], EmbeddedEngine]) -> FastAPI:
    """Build the app; ``load_engine`` runs in a thread at start-up and returns a started engine."""
    holder = _EngineHolder()

    def load() -> None:
        try:
            holder.engine = load_engine()
        except BaseException as error:  # reported through /health and every route
            logger.exception("loading the engine failed")
            holder.error = error

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loader = threading.Thread(target=load, name="parrot-load", daemon=True)
        loader.start()
        yield
        loader.join(timeout=0)
        if holder.engine is not None:
            await asyncio.to_thread(holder.engine.shutdown)

    app = FastAPI(title="Parrot embedded engine", version=__version__, lifespan=lifespan)
    app.state.engines = holder
    app.add_middleware(_AssumeJSONBody)
    install_error_handlers(app, validation_status=400)

    @app.get("/health")
    @app.get("/health_generate")
    async def health() -> Response:
        """Empty 200 when the engine serves, 503 while it loads or after it broke."""
        healthy = holder.engine is not None and holder.engine.healthy
        return Response(status_code=200 if healthy else 503)

    @app.get("/model_info")
    @app.get("/get_model_info")
    async def model_info() -> dict[str, Any]:
        engine = holder.ready()
        path = str(engine.loaded.path)
        return {
            "model_path": path,
            "tokenizer_path": path,
            "served_model_name": engine.loaded.served_name,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": "default",
            "has_image_understanding": False,
            "has_audio_understanding": False,
        }

    @app.get("/server_info")
    @app.get("/get_server_info")
    async def server_info() -> dict[str, Any]:
        engine = holder.ready()
        config = engine.config
        stats = engine.stats()
        model = engine.loaded.model
        return {
            "model_path": str(engine.loaded.path),
            "tokenizer_path": str(engine.loaded.path),
            "served_model_name": engine.loaded.served_name,
            "context_length": engine.context_length,
            "max_context_length": engine.context_length,
            "max_total_num_tokens": config.cache_tokens,
            "page_size": config.block_size,
            "max_running_requests": config.max_running_requests,
            "max_prefill_tokens": config.max_batch_tokens,
            "schedule_policy": "fcfs",
            "disable_radix_cache": not engine.loaded.prefix_sharing,
            "device": str(model.device),
            "dtype": str(model.dtype).removeprefix("torch."),
            "version": __version__,
            "engine": "parrot-embedded (transformers continuous batching)",
            "num_running_reqs": stats.running,
            "num_queue_reqs": stats.queued,
        }

    @app.post("/flush_cache")
    async def flush_cache() -> PlainTextResponse:
        await holder.ready().flush_cache()
        return PlainTextResponse("Cache flushed.\n")

    @app.post("/abort_request")
    async def abort_request(request: Request) -> Response:
        body = await _json_object(request)
        engine = holder.ready()
        if body.get("abort_all"):
            engine.abort_all()
        elif isinstance(body.get("rid"), str):
            engine.abort(body["rid"])
        else:
            raise InvalidRequestError('send {"rid": "<request id>"} or {"abort_all": true}')
        return Response(status_code=200)

    @app.post("/tokenize")
    async def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        """Token ids and counts of a prompt, a list of prompts, or a chat (its template rendering)."""
        engine = holder.ready()
        tokens = [
            engine.tokenize(item, body.add_special_tokens)
            if isinstance(item, str)
            else engine.apply_chat_template(item)
            for item in body.items()
        ]
        return {**body.reply(tokens), "max_model_len": engine.max_model_len}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        engine = holder.ready()
        return {
            "object": "list",
            "data": [
                {
                    "id": engine.loaded.served_name,
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": "parrot",
                    "root": str(engine.loaded.path),
                    "max_model_len": engine.max_model_len,
                }
            ],
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        engine = holder.ready()
        body = render_metrics(engine.stats, engine.loaded.served_name)
        return Response(body, media_type="text/plain; version=0.0.4")

    @app.post("/generate")
    async def generate(body: GenerateRequest) -> Any:
        engine = holder.ready()
        jobs = _generate_jobs(engine, body)
        if body.stream:
            events = _merged(engine, jobs)
            return sse_response(_native_chunks(events, jobs, body, batch=body.is_batch))
        finals = await asyncio.gather(*(_final_event(engine, job) for job in jobs))
        results = [_native_json(event, job, body) for event, job in zip(finals, jobs, strict=True)]
        return results if body.is_batch else results[0]

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest) -> Any:
        engine = holder.ready()
        prompts = _completion_prompts(engine, body.prompt)
        params = body.sampling_params()
        jobs = [
            _job(engine, ids, params, body.rid if len(prompts) == 1 else None, body.cache_namespace, i)
            for i, ids in enumerate(prompts)
        ]
        reply = OpenAIReply("cmpl", "text_completion", engine.loaded.served_name, body)
        if body.stream:
            return sse_response(reply.stream(_pieces(_merged(engine, jobs)), chat=False))
        finals = await asyncio.gather(*(_final_event(engine, job) for job in jobs))
        return reply.complete([_piece(event) for event in finals], chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest) -> Any:
        engine = holder.ready()
        ids = engine.apply_chat_template(body.template_messages())
        job = _job(engine, ids, body.sampling_params(), body.rid, body.cache_namespace, 0)
        reply = OpenAIReply("chatcmpl", "chat.completion", engine.loaded.served_name, body)
        if body.stream:
            return sse_response(reply.stream(_pieces(_merged(engine, [job])), chat=True))
        return reply.complete([_piece(await _final_event(engine, job))], chat=True)

    return app


# ---------------------------------------------------------------------- errors


class _AssumeJSONBody:
    """Read every POST body as JSON, as SGLang's users expect of ``curl -d '{...}'``, which
    labels the body as a form. (FastAPI would otherwise refuse it as "not a dictionary".)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequestError(f"malformed JSON body: {error}") from error
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return body


# ---------------------------------------------------------------------- requests to jobs


def _job(
    engine: EmbeddedEngine,
    ids: list[int],
    params: SamplingParams,
    rid: str | None,
    namespace: str | None,
    index: int,
) -> _Job:
    engine.check_request(ids, params)  # fail with a 400 before any response starts
    return _Job(ids, params, rid or engine.new_rid(), namespace, index)


def _per_item(value: Any, count: int, name: str) -> list[Any]:
    """Broadcast a scalar to every batch item, or check a list has one value per item."""
    if isinstance(value, list):
        if len(value) != count:
            raise InvalidRequestError(f"{name} has {len(value)} items but the batch has {count} prompts")
        return value
    return [value] * count


def _generate_jobs(engine: EmbeddedEngine, body: GenerateRequest) -> list[_Job]:
    if (body.text is None) == (body.input_ids is None):
        raise InvalidRequestError("send exactly one of text or input_ids")
    if isinstance(body.return_logprob, list) and any(body.return_logprob) or body.return_logprob is True:
        raise InvalidRequestError("return_logprob is not supported by the embedded engine")
    if body.text is not None:
        texts = body.text if isinstance(body.text, list) else [body.text]
        if any(not text for text in texts):
            raise InvalidRequestError("text is empty: send a non-empty prompt")
        prompts = [engine.tokenize(text) for text in texts]
    else:
        ids = body.input_ids or []
        prompts = ids if body.is_batch else [ids]  # type: ignore[list-item]
    if not prompts:
        raise InvalidRequestError("the batch is empty")
    count = len(prompts)
    params = _per_item(body.sampling_params or SamplingParams(), count, "sampling_params")
    rids = _per_item(body.rid, count, "rid")
    extra_keys = _per_item(body.extra_key, count, "extra_key")
    salts = _per_item(body.cache_salt, count, "cache_salt")
    jobs = []
    for index, prompt in enumerate(prompts):
        namespace = None
        if extra_keys[index] is not None or salts[index] is not None:
            namespace = f"{extra_keys[index] or ''}\x00{salts[index] or ''}"
        jobs.append(_job(engine, list(prompt), params[index], rids[index], namespace, index))
    if len({job.rid for job in jobs}) != len(jobs):
        raise InvalidRequestError("rid values must be unique within a batch")
    return jobs


def _completion_prompts(engine: EmbeddedEngine, prompt: Any) -> list[list[int]]:
    if isinstance(prompt, str):
        prompts: list[Any] = [prompt]
    elif prompt and isinstance(prompt[0], int):
        prompts = [prompt]
    else:
        prompts = list(prompt)
    if not prompts:
        raise InvalidRequestError("prompt is empty")
    return [engine.tokenize(p) if isinstance(p, str) else list(p) for p in prompts]


# ---------------------------------------------------------------------- running jobs


def _events(engine: EmbeddedEngine, job: _Job) -> AsyncIterator[GenerationEvent]:
    return engine.generate(job.input_ids, job.params, rid=job.rid, cache_namespace=job.cache_namespace)


async def _final_event(engine: EmbeddedEngine, job: _Job) -> GenerationEvent:
    last: GenerationEvent | None = None
    async for event in _events(engine, job):
        last = event
    assert last is not None and last.finished  # generate always ends with a finished event
    return last


async def _merged(engine: EmbeddedEngine, jobs: list[_Job]) -> AsyncIterator[tuple[int, GenerationEvent]]:
    """Events of several jobs as they come, tagged with the job's index. Cancelling the consumer
    (a client that disconnects) cancels every job, which aborts them in the engine."""
    queue: asyncio.Queue[tuple[int, GenerationEvent] | BaseException | None] = asyncio.Queue()

    async def pump(job: _Job) -> None:
        try:
            async for event in _events(engine, job):
                await queue.put((job.index, event))
        except Exception as error:
            await queue.put(error)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(job)) for job in jobs]
    remaining = len(tasks)
    try:
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------------- responses


def _meta(event: GenerationEvent) -> dict[str, Any]:
    finish = event.snapshot.finish_reason
    return {
        "id": event.rid,
        "finish_reason": finish.to_json() if finish else None,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": len(event.snapshot.output_ids),
        "cached_tokens": event.cached_tokens,
        "e2e_latency": round(event.e2e_latency, 6),
    }


def _native_json(event: GenerationEvent, job: _Job, body: GenerateRequest) -> dict[str, Any]:
    result: dict[str, Any] = {
        "text": event.snapshot.text,
        "output_ids": event.snapshot.output_ids,
        "meta_info": _meta(event),
    }
    if body.return_prompt_token_ids:
        result["prompt_token_ids"] = job.input_ids
    return result


async def _native_chunks(
    events: AsyncIterator[tuple[int, GenerationEvent]],
    jobs: list[_Job],
    body: GenerateRequest,
    *,
    batch: bool,
) -> AsyncIterator[dict[str, Any]]:
    sent: dict[int, tuple[str, int]] = {}
    async for index, event in events:
        state = (event.snapshot.text, len(event.snapshot.output_ids))
        if sent.get(index) == state and not event.finished:
            continue  # nothing new to show (held-back text)
        sent[index] = state
        chunk = _native_json(event, jobs[index], body)
        if batch:
            chunk["index"] = index
        yield chunk


def _piece(event: GenerationEvent) -> ReplyPiece:
    finish = event.snapshot.finish_reason
    return ReplyPiece(
        text=event.snapshot.text,
        finish_reason=finish.openai_reason if finish else None,
        matched_stop=finish.matched if finish else None,
        prompt_tokens=event.prompt_tokens,
        cached_tokens=event.cached_tokens,
        completion_tokens=len(event.snapshot.output_ids),
    )


async def _pieces(
    events: AsyncIterator[tuple[int, GenerationEvent]],
) -> AsyncIterator[tuple[int, ReplyPiece]]:
    async for index, event in events:
        yield index, _piece(event)
